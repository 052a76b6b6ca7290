/*
 * sup_node.h: a supervisor daemon's link to ZooKeeper in cluster mode. Everything runs on the daemon's loop.
 *  - Its node ROOT/supervisors/HOST:PORT: ephemeral (it goes with the daemon's session, so nimbus learns that a
 *    host is gone within the session timeout), its data one line of KEY=VALUE words: "host=H port=P slots=N
 *    free=M version=V". Published again with a new session when the old one expires.
 *  - Its workers' addresses, ROOT/workers/TOPOLOGY/SLOT (ephemeral, data HOST:PORT), and the addresses of the
 *    other slots of the topologies it runs part of, followed through watches: a worker restarted on a new port
 *    anywhere reaches its peers without anyone passing addresses by hand.
 *  - The resume positions of each topology's replayable spout tasks, ROOT/positions/NAME/COMPONENT.INDEX.OF
 *    (persistent, data the position in decimal; OF the component's parallelism, as a position means something
 *    only among as many tasks): written by whoever runs the task, read when a part starts, so that a spout moved
 *    to another host, or started again by a rebalance that kept its parallelism, goes on where it was.
 *  - The topologies nimbus placed (ROOT/topologies, topo_record.h), followed through watches, and this daemon's
 *    report on each of its parts (ROOT/status/NAME/HOST:PORT, ephemeral).
 *  - The figures of each of its parts, ROOT/stats/NAME/HOST:PORT (ephemeral): its workers' metrics merged, with
 *    the histograms, so that nimbus merges the hosts' into exact figures for `gale stats NAME`.
 */
#ifndef GALE_SUP_NODE_H
#define GALE_SUP_NODE_H

#include <stddef.h>
#include <uv.h>

#include "topo_record.h"

typedef struct gale_sup_node gale_sup_node_t;

typedef struct gale_sup_node_opts {
    const char *zk_hosts;
    const char *root;       /* NULL: "/gale" */
    int session_timeout_ms; /* 0: 20000 */
    const void *secret;     /* the cluster secret (borrowed for the call) */
    size_t secret_len;
    const char *host; /* the daemon's control address */
    int port;
    int slots;
    const char *version; /* gale's */
} gale_sup_node_opts_t;

/* Opens the session and publishes the node with every slot free. 0 and *out; a zk.h code with `why` filled. `loop`
   is borrowed; on failure too it must run once more to close what was opened. */
int gale_sup_node_start(uv_loop_t *loop, const gale_sup_node_opts_t *o, gale_sup_node_t **out, char *why,
                        size_t why_cap);

/* The daemon's free slots changed: the node says so. */
void gale_sup_node_free_slots(gale_sup_node_t *n, int free_slots);

/* A local worker of topology `id` (re)started at `addr`: published as ROOT/workers/ID/SLOT. 0 or a zk.h code. */
int gale_sup_node_publish_worker(gale_sup_node_t *n, const char *id, int slot, const char *addr);

/* Called with every slot's address, in slot order, once all `n_slots` are known and again whenever one changes. */
typedef void (*gale_sup_node_peers_fn)(void *arg, const char *const *addrs, int n_slots);

/* Follows the addresses of topology `id`'s `n_slots` slots (at most one follower per id). 0 or a zk.h code. */
int gale_sup_node_follow(gale_sup_node_t *n, const char *id, int n_slots, gale_sup_node_peers_fn peers, void *arg);

/* The topology ended here: stop following it, and take down the addresses of `slots` (its local ones). */
void gale_sup_node_forget_topology(gale_sup_node_t *n, const char *id, const int *slots, int n_slots);

/* Called with every topology of the cluster, parsed (a node that does not parse is logged and left out), once
   when following starts and again after each change (bursts are taken together). `topos` is borrowed for the
   call. */
typedef void (*gale_sup_node_topos_fn)(void *arg, const gale_topo_record_t *topos, size_t n);

/* Follows ROOT/topologies (one follower per node). 0 or a zk.h code. */
int gale_sup_node_follow_topologies(gale_sup_node_t *n, gale_sup_node_topos_fn fn, void *arg);

/* Reads the topologies again soon, as after a change: the follower wants to look at them once more. */
void gale_sup_node_topologies_again(gale_sup_node_t *n);

/* Publishes this daemon's report on topology `name` (ephemeral; replaced when there); `r` NULL deletes it. 0 or a
   zk.h code (logged). */
int gale_sup_node_report(gale_sup_node_t *n, const char *name, const gale_topo_report_t *r);

/* The largest figures document published: well under ZooKeeper's 1 MiB limit on a node (jute.maxbuffer). */
#define GALE_SUP_NODE_STATS_MAX (900u * 1024)

/* Publishes the figures of this daemon's part of topology `name` (a document of gale_sup_metrics_json, mergeable;
   borrowed); NULL deletes them. 0, GALE_ELIMIT (over GALE_SUP_NODE_STATS_MAX) or a zk.h code. */
int gale_sup_node_publish_stats(gale_sup_node_t *n, const char *name, const char *doc);

/* Saves the position of spout task `index` of `of` of `component` of topology `name`. 0 or a zk.h code. */
int gale_sup_node_save_position(gale_sup_node_t *n, const char *name, const char *component, int index, int of,
                                uint64_t position);

/* Called for each position saved for topology `name`. */
typedef void (*gale_sup_node_position_fn)(void *arg, const char *component, int index, int of, uint64_t position);

/* Reads the positions of topology `name` (none is no error). 0 or a zk.h code. */
int gale_sup_node_load_positions(gale_sup_node_t *n, const char *name, gale_sup_node_position_fn fn, void *arg);

/* The leading nimbus's control address, "HOST:PORT", read now from its election node. 0, GALE_ENOENT (no nimbus
   leads), or a zk.h code. */
int gale_sup_node_nimbus(gale_sup_node_t *n, char *buf, size_t cap);

/* Other modules' nodes on this daemon's session (ckpt_link.h): `fn` is called on the loop for each event under
   `folder` (`path` borrowed), and with `path` NULL once a new session replaced an expired one, whose watches died
   with it. The folder is copied. 0, GALE_EINVAL (too long) or GALE_ENOMEM. */
typedef void (*gale_sup_node_watch_fn)(void *arg, const char *path);
int gale_sup_node_watch(gale_sup_node_t *n, const char *folder, gale_sup_node_watch_fn fn, void *arg);
/* Every watch registered with `arg` is removed. */
void gale_sup_node_unwatch(gale_sup_node_t *n, void *arg);
/* The session, for such modules' calls (zk.h); NULL while there is none (it expired, a new one is being opened). */
struct gale_zk *gale_sup_node_zk(const gale_sup_node_t *n);
/* The cluster's root folder in ZooKeeper ("/gale" by default). */
const char *gale_sup_node_root(const gale_sup_node_t *n);

/* This daemon's name in the cluster, "HOST:PORT": what a topology's slot= lines say. */
const char *gale_sup_node_id(const gale_sup_node_t *n);

/* The number of the ZooKeeper session the node lives in (1 for the first, 2 after one expired, ...); 0 while there
   is none. What was started under an earlier session may have been placed elsewhere since. */
uint64_t gale_sup_node_session(const gale_sup_node_t *n);
/* The session timeout ZooKeeper granted, in ms; 0 while there is no session. */
int gale_sup_node_session_ms(const gale_sup_node_t *n);
/* Asks ZooKeeper, now, whether this daemon's node is there: 0 when it is, which shows that the session lived when
   the call was made (an expired one is refused); else a zk.h code. Blocks for a round trip. */
int gale_sup_node_check(gale_sup_node_t *n);

/* Deletes the node and closes the session (nimbus hears at once, not after the timeout); the memory goes once the
   loop has run. NULL is a no-op. */
void gale_sup_node_stop(gale_sup_node_t *n);

#endif
