/*
 * ckpt_link.h: cluster mode's checkpoints across supervisors (supervisor.h, gale_sup_ckpt_link_t), carried through
 * ZooKeeper on the daemon's session (sup_node.h). For topology NAME:
 *   ROOT/checkpoints/NAME/orders/o-SEQ   the coordinator's orders (persistent, sequential: every other supervisor
 *                                         reads each in order; the latest ORDERS_KEPT stay, so that a part that
 *                                         starts learns the restart epoch and whether a restart is under way)
 *   ROOT/checkpoints/NAME/reports/r-SEQ  the others' reports (ephemeral, sequential: the coordinator reads each
 *                                         once, in order, and deletes it)
 * Each node's data is one line, "KIND EPOCH SLOT LIFE ID OK BYTES WHY" (gale_sup_ckpt_msg_t's fields; WHY, the
 * rest of the line, may be empty). Nimbus makes ROOT/checkpoints/NAME at the submit, keeps it over rebalances and
 * moves (the epoch must go on growing), and removes it with the topology.
 * Everything runs on the daemon's loop; each write is one synchronous round trip (zk.h), as rare as checkpoints.
 */
#ifndef GALE_CKPT_LINK_H
#define GALE_CKPT_LINK_H

#include <stdbool.h>

#include "sup_node.h"
#include "supervisor.h"

typedef struct gale_ckpt_link gale_ckpt_link_t;

/* Before the part of topology `name` starts: reads the latest order into `out` (epoch, stopped, rejoin), whose
   `send` writes to ZooKeeper from now on. `coord`: this part runs slot 0. 0 and *lk; or a zk.h code (no session,
   ZooKeeper unreachable) or GALE_ENOMEM, with `why`. */
int gale_ckpt_link_open(gale_sup_node_t *node, const char *name, bool coord, gale_ckpt_link_t **lk,
                        gale_sup_ckpt_link_t *out, char *why, size_t cap);
/* The part started as `s`: what its link hears goes to gale_sup_ckpt_hear(s, ...) from now on, starting with what
   is there already. */
void gale_ckpt_link_attach(gale_ckpt_link_t *lk, gale_sup_t *s);
/* Stops hearing (before `s` is freed). NULL is a no-op. */
void gale_ckpt_link_close(gale_ckpt_link_t *lk);

#endif
