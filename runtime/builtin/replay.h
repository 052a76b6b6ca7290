/*
 * replay.h: feeding journaled tuples back in, to see whether a fix works or why a bolt broke them.
 *
 * A replay set is the list of tuples to feed, each with the spout it came from. Run through a whole topology
 * (gale_runtime_opts_t.spout_override = &gale__replay_spout, with the set as its argument), every spout is replaced by a built-in replay spout that emits its own tuples from the
 * set, with their original message ids, and then says it is done; the set counts how they end. Fed to one bolt
 * (gale_trace_bolt, trace.h), the bolt runs alone on this thread and every emit, ack, fail and log line it makes is printed
 * for each input.
 */
#ifndef GALE_REPLAY_H
#define GALE_REPLAY_H

#include <stdatomic.h>
#include <stdio.h>

#include "journal.h"
#include "topology.h"

typedef struct gale_replay_item {
    int component;     /* the spout's index in the topology */
    char *stream;      /* owned */
    uint64_t msg_id;
    char *values;      /* the encoded array, owned */
    size_t values_len;
} gale_replay_item_t;

typedef struct gale_replay_set {
    gale_replay_item_t *items;
    size_t n, cap;
    atomic_ulong acked, failed, rejected; /* outcomes of a run through a topology */
} gale_replay_set_t;

/* Adds a record for `topo`; GALE_ENOENT (with the reason in diag) when its spout is not in the topology. */
int gale_replay_add(gale_replay_set_t *s, const gale_topology_t *topo, const gale_journal_record_t *r,
                    gale_diag_t *diag);
void gale_replay_free(gale_replay_set_t *s);

/* The built-in spout that replaces a topology's spouts in a replay run. */
extern const gale_plugin_t gale__replay_spout;


#endif
