/*
 * election.h: leader election among processes that share a ZooKeeper folder (nimbus, for now), ZooKeeper's own
 * recipe: each candidate creates an ephemeral sequential node "n-" under the folder, holding its description; the
 * lowest number leads; every other candidate watches only the node just below its own (no herd when the leader
 * goes), and when that one goes it looks again. A leader that dies or closes its session loses its node, and with
 * it the lead, within the session timeout (at once, for a session that is closed).
 *
 * Everything runs on the session's loop: gale_election_watch() must be given every watch event of the session
 * (zk.h has one watch callback per session), and it calls `changed` when this candidate starts or stops leading.
 */
#ifndef GALE_ELECTION_H
#define GALE_ELECTION_H

#include <stdbool.h>
#include <stddef.h>

#include "zk.h"

typedef struct gale_election gale_election_t;

/* Joins the election in `folder` (created if missing) with `about` as this candidate's node data (borrowed for the
   call). `changed(arg, leading)` is called on the loop when this candidate becomes the leader and if it stops
   being it (its session expired). 0 and *out, or a zk.h code. `zk` is borrowed and must outlive the election. */
int gale_election_join(gale_zk_t *zk, const char *folder, const char *about, void (*changed)(void *arg, bool leading),
                       void *arg, gale_election_t **out);

/* Hands a watch event of the session to the election; returns whether it was the election's. */
bool gale_election_watch(gale_election_t *e, gale_zk_event_t event, const char *path);

/* The session expired: the candidate's node is gone, so is any lead (changed(false) if it led). */
void gale_election_lost(gale_election_t *e);

bool gale_election_leading(const gale_election_t *e);

/* The leader's node data into `buf` (cap bytes, NUL-terminated), read now. 0; GALE_ENOENT when there is none. */
int gale_election_leader(gale_election_t *e, char *buf, size_t cap);

/* Leaves the election (deletes its node, so that the next candidate leads at once) and frees it. NULL is a no-op. */
void gale_election_leave(gale_election_t *e);

#endif
