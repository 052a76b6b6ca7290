/*
 * topo_record.h: what ZooKeeper holds of a topology in cluster mode, as the text of its node ROOT/topologies/NAME
 * (nimbus writes it, supervisors follow it), and what each supervisor reports of its part, as the text of its node
 * ROOT/status/NAME/SUPERVISOR. Both are lines of KEY=VALUE, so that `zkCli.sh get` shows them as they are.
 *
 * A topology's node:
 *   status=active|inactive|killing|rebalancing
 *                                    (killing, rebalancing: the supervisors drain for kill_wait_s and stop)
 *   version=V                        the placement's: raised whenever the slots move
 *   workers=N tasks=T                the worker slots, and the tasks (executors) of the model
 *   model=SHA                        the resolved model (topology_codec.h) as a blob
 *   secret=HEX                       the workers' shared secret (the node's ACL keeps it from anyone else)
 *   submitted_ms=MS kill_wait_s=S
 *   owner=NAME users=NAME,NAME       who submitted it, and who else may change it (deployer role)
 *   plugin=COMPONENT:SHA             the plugin file of each component that is not one of gale's own
 *   resource=COMPONENT:SHA           a shell component's folder, as a manifest blob (bundle.h)
 *   slot=SUPERVISOR                  one per slot, in slot order: the supervisor (HOST:PORT) that runs it
 *   swap=COMPONENT:SHA|-             while a hot swap runs: the plugin every part is to run for COMPONENT ("-":
 *                                    gale's own, the one it was submitted with); then plugin= says it
 *   swap_on=SUPERVISOR               the one part that swaps now: the parts go one after another
 *   next_workers=N next_tasks=T next_model=SHA after=active|inactive
 *                                    while rebalancing only: what nimbus places once every part has drained, and
 *                                    the status it goes back to (a nimbus that takes over finishes it)
 * A supervisor's report:
 *   version=V state=starting|running|refused|ended [swap=COMPONENT:SHA|-:done|refused]
 *   [error=TEXT to the end of the line]      (swap: what the part runs after a swap, or refused and why)
 */
#ifndef GALE_TOPO_RECORD_H
#define GALE_TOPO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "blobs.h"

#define GALE_TOPO_NAME_MAX 64

typedef enum gale_topo_status {
    GALE_TOPO_ACTIVE = 0,
    GALE_TOPO_INACTIVE,
    GALE_TOPO_KILLING,
    GALE_TOPO_REBALANCING,
} gale_topo_status_t;

const char *gale_topo_status_name(gale_topo_status_t s);

typedef struct gale_topo_file {
    char *component; /* owned */
    char sha[GALE_BLOB_HEX_LEN + 1];
} gale_topo_file_t;

typedef struct gale_topo_record {
    char name[GALE_TOPO_NAME_MAX];
    gale_topo_status_t status;
    int64_t version;
    int workers;
    uint32_t tasks;
    char model[GALE_BLOB_HEX_LEN + 1];
    char secret[GALE_BLOB_HEX_LEN + 1];
    char owner[64];  /* who submitted it (owner=: the submitter's identity); "" before roles */
    char users[512]; /* users=NAME,NAME: others who may change it as its owner may (config.users) */
    uint64_t submitted_ms;
    double kill_wait_s;
    gale_topo_file_t *plugins, *resources; /* owned */
    size_t n_plugins, n_resources;
    char **slots; /* [workers], owned: the supervisor of each slot */
    /* Rebalancing: the next placement's size and model, and the status after it. */
    int next_workers;
    uint32_t next_tasks;
    char next_model[GALE_BLOB_HEX_LEN + 1];
    gale_topo_status_t after;
    /* A hot swap under way: COMPONENT's plugin blob for every part ("-": gale's own); "" when none. */
    char swap_component[256];
    char swap_sha[GALE_BLOB_HEX_LEN + 1];
    char swap_on[128]; /* the supervisor whose part swaps now ("" none) */
} gale_topo_record_t;

/* Whether `name` may name a topology: [A-Za-z0-9_.-], 1 to GALE_TOPO_NAME_MAX - 1 characters. */
bool gale_topo_name_ok(const char *name);

/* Reads a node's text into *out (zeroed first; free it with gale_topo_record_free, on failure too). 0, or
   GALE_ECORRUPT with the line that is wrong in `why`. */
int gale_topo_record_parse(const char *text, gale_topo_record_t *out, char *why, size_t cap);

/* The node's text for `r`, malloc'd (the caller frees it), or NULL when out of memory. */
char *gale_topo_record_format(const gale_topo_record_t *r);

void gale_topo_record_free(gale_topo_record_t *r);

/* The slots of supervisor `sup` in `r`, into `slots` (room for r->workers); their number. */
int gale_topo_record_slots_of(const gale_topo_record_t *r, const char *sup, int *slots);

/* Adds a plugin or resource entry (component copied). 0 or GALE_ENOMEM. */
int gale_topo_record_add_file(gale_topo_file_t **files, size_t *n, const char *component, const char *sha);

typedef enum gale_topo_state {
    GALE_TOPO_STARTING = 0,
    GALE_TOPO_RUNNING,
    GALE_TOPO_REFUSED,
    GALE_TOPO_ENDED,
} gale_topo_state_t;

typedef struct gale_topo_report {
    int64_t version;
    gale_topo_state_t state;
    char swap[340]; /* "COMPONENT:SHA|-:done|refused", or "" */
    char error[512];
} gale_topo_report_t;

/* A report's text into `buf`, NUL-terminated (a newline in the error becomes a space). */
void gale_topo_report_format(const gale_topo_report_t *r, char *buf, size_t cap);
/* 0, or GALE_ECORRUPT. */
int gale_topo_report_parse(const char *text, gale_topo_report_t *out);
const char *gale_topo_state_name(gale_topo_state_t s);

#endif
