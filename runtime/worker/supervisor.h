/*
 * supervisor.h: the worker processes of one topology on this host. A supervisor starts its slots as `gale worker`
 * processes, tells them each other's addresses, drives them through the lifecycle of local mode (run, drain, finish
 * in topological order, stop) from the status they report, restarts one that exits with backoff, and merges their
 * metrics at the end.
 *
 * Two users: `gale run --workers N` (gale_run_workers, run_workers.h: every slot of the topology here, on a loop of its own, ended by
 * the topology finishing, --duration or a signal) and the supervisor daemon (daemon.h: some or all slots of several
 * topologies on the daemon's loop, ended by a `kill` on its control port). When only some of a topology's slots run
 * here, the addresses of the others come from whoever assigned them (gale_sup_peers), and the end of the topology
 * is theirs to judge: a supervisor drains what it can see, not what it cannot.
 *
 * A worker's metrics die with it: after a restart, the table counts only its last life; the trees its spouts had
 * open are counted as lost (`lost_trees` in the metrics). A worker that says nothing for `worker_timeout_s` is
 * killed and restarted; one that dies QUICK_CRASHES times in a row soon after starting ends the run as failed.
 */
#ifndef GALE_SUPERVISOR_H
#define GALE_SUPERVISOR_H

#include <stdio.h>
#include <uv.h>

#include "checkpoint.h"
#include "topology.h"

/* Cluster mode's checkpoints, when a topology's slots are spread over several supervisors (supervisor_ckpt.c). The
   supervisor that runs slot 0 coordinates: it starts each checkpoint, counts every slot's part, writes the record,
   and restarts the whole topology from the latest complete checkpoint when a worker dies anywhere, in two phases
   (every worker stops, then every worker starts: no tuple of a life before the restart reaches one after it). The
   others carry its orders to their workers and their workers' news to it. Each message names a restart `epoch`;
   one from an earlier epoch is stale and ignored. */
typedef enum gale_sup_ckpt_kind {
    /* To the coordinator, about the sender's local slot `slot`: */
    GALE_SUPCK_UP = 1,  /* its worker runs, in its life `life` (a new life in the same epoch: it started anew) */
    GALE_SUPCK_DIED,    /* its worker died */
    GALE_SUPCK_STOPPED, /* its worker is stopped for restart `epoch` */
    GALE_SUPCK_PART,    /* its part of checkpoint `id`: ok and `bytes`, or `why` */
    /* From the coordinator, to every other supervisor: */
    GALE_SUPCK_STOP,  /* restart `epoch`: stop every worker, start none */
    GALE_SUPCK_START, /* every worker is stopped: start them (they restore the latest complete checkpoint) */
    GALE_SUPCK_BEGIN, /* checkpoint `id` starts (the workers' spouts inject its barriers) */
    GALE_SUPCK_COMMIT,
    GALE_SUPCK_ABORT,
} gale_sup_ckpt_kind_t;

typedef struct gale_sup_ckpt_msg {
    gale_sup_ckpt_kind_t kind;
    uint64_t epoch;
    int slot;        /* reports */
    uint64_t life;   /* UP and PART: the worker's life */
    uint64_t id;     /* PART, BEGIN, COMMIT, ABORT */
    bool ok;         /* PART */
    uint64_t bytes;  /* PART */
    const char *why; /* PART when not ok (borrowed) */
} gale_sup_ckpt_msg_t;

/* How the supervisors of one topology hear each other (the owner's: daemon_cluster.c through ZooKeeper). `send`
   runs on the supervisor's loop: a report (from every supervisor but the coordinator) or an order (from the
   coordinator). */
typedef struct gale_sup_ckpt_link {
    void (*send)(void *arg, const gale_sup_ckpt_msg_t *m);
    void *arg;
    uint64_t epoch; /* the latest order's restart epoch when this part starts (0: none yet) */
    bool stopped;   /* that order was a STOP: this part's workers wait for the START */
    bool rejoin;    /* the coordinator: orders exist, so the topology ran before: restart it all (its other parts
                       run with state this part's new workers do not have) */
} gale_sup_ckpt_link_t;

typedef struct gale_assignment {
    const char *id;               /* names the run in logs and events */
    const char *exe;              /* the gale binary to run as `gale worker` */
    const char *file;             /* the topology file */
    const char *const *sets;      /* --set assignments, passed on to the workers */
    size_t n_sets;
    int workers;                  /* worker slots of the whole topology (>= 1) */
    const int *slots;             /* the slots that run here, n_slots of them; NULL: all */
    int n_slots;
    int threads;                  /* executor threads per worker; 0: the topology's, else cores / slots here */
    int cores;                    /* the cores this host's share is counted from; 0: the host's online cores */
    const char *secret;           /* hex, the same for every worker of the topology; NULL: a new random one */
    const char *host;             /* the address workers listen on and are reached at; NULL: 127.0.0.1 */
    const char *tls;              /* DIR/NAME: the workers speak TLS to each other with DIR/ca.crt, DIR/NAME.crt and
                                     DIR/NAME.key (tls.h); NULL: in clear */
    bool model;                   /* `file` is a resolved model (topology_codec.h): cluster mode's */
    bool inactive;                /* start deactivated (gale_sup_set_active) */
    /* Cluster mode's fence (control.h, `lease`): the workers take tuples until lease_until_ns on CLOCK_MONOTONIC,
       renewed with gale_sup_lease; a worker started or restarted gets the last lease before it starts. Without
       `leased` the workers are never fenced. */
    bool leased;
    uint64_t lease_until_ns;
    /* Cluster mode: the version of the placement under which these slots were placed here (topo_record.h), told
       to every peer with the workers' addresses (HOST:PORT@PLACEMENT) and in their handshakes, so that the copy of
       a slot placed elsewhere since cannot reach its peers (transport.h). 0 elsewhere: no such fence. */
    uint64_t placement;
    /* Where replayable spout tasks resume (gale_replayable), from the life of the topology before this one (cluster
       mode keeps them in ZooKeeper): each goes to the local worker that runs the task; others are ignored. */
    const uint32_t *resume_tasks;
    const uint64_t *resume_positions;
    int n_resume;
    bool fresh_state; /* checkpoints: wipe the topology's state before the run instead of restoring it */
    /* Checkpoints with only some slots here: how this part hears the others (borrowed for the call; NULL: refused,
       unless every slot is here). */
    const gale_sup_ckpt_link_t *ckpt_link;
} gale_assignment_t;

typedef struct gale_sup gale_sup_t;

/* What a supervisor tells its owner. Every callback may be NULL. */
typedef struct gale_sup_events {
    void *arg;
    /* A local worker has a new address (first start or restart): when not every slot runs here, the owner passes
       it on to the other supervisors and answers with gale_sup_peers. */
    void (*address)(void *arg, gale_sup_t *s, int slot, const char *addr);
    /* A local worker exited (`signal` or `status`) and is restarted in `backoff_ms`. */
    void (*restarting)(void *arg, gale_sup_t *s, int slot, int signal, int64_t status, unsigned backoff_ms);
    /* Every worker has exited and every handle is closed: the owner may read the metrics and free `s`. */
    void (*ended)(void *arg, gale_sup_t *s);
} gale_sup_events_t;

/* Starts the assignment's workers on `loop`. The assignment's strings are copied; `topo` is borrowed and must
   outlive the supervisor. 0 and *out, or a negative code (GALE_EINVAL for a bad assignment). */
int gale_sup_start(uv_loop_t *loop, const gale_topology_t *topo, const gale_assignment_t *a,
                   const gale_sup_events_t *ev, gale_sup_t **out);
/* Every slot's address ("host:port[@placement]", `n` = workers), from whoever knows the remote ones: local workers start once
   they have them. Entries for local slots are ignored (this supervisor knows them better). */
int gale_sup_peers(gale_sup_t *s, const char *const *addrs, int n);
/* Deactivates the spouts, drains for up to `wait_s` seconds (and when every slot is here, finishes the bolts in
   order once drained), then stops the workers. A second call stops them at once. */
void gale_sup_kill(gale_sup_t *s, double wait_s, const char *why);

/* Storm's activate and deactivate: an inactive topology's spouts are not called (open, but neither activated nor
   asked for tuples), while the trees in flight finish and bolts run; workers restarted meanwhile start inactive.
   Unlike a kill's deactivation, it is undone by activating again. */
void gale_sup_set_active(gale_sup_t *s, bool active);
/* Hot swap of bolt `component` to the plugin file at `path` (each worker loads it; "-": the topology's own), one
   local worker at a time, each checking it first (the same streams and fields); when one refuses, dies or does not
   answer, those already swapped go back. `done` is called once on the loop with NULL, or why nothing changed. 0;
   GALE_EAGAIN while another swap runs or the topology stops; GALE_EINVAL for a bad name or path. */
int gale_sup_swap(gale_sup_t *s, const char *component, const char *path, void (*done)(void *arg, const char *why),
                  void *arg);
/* A leased assignment's new lease (ignored for others): every local worker takes tuples until `until_ns`. */
void gale_sup_lease(gale_sup_t *s, uint64_t until_ns);
bool gale_sup_active(const gale_sup_t *s);

/* The positions of the local workers' replayable spout tasks, as they last told them (or as they were seeded),
   into tasks/positions (room for `cap`); their number. */
int gale_sup_positions(const gale_sup_t *s, uint32_t *tasks, uint64_t *positions, int cap);

const char *gale_sup_id(const gale_sup_t *s);
/* True when a worker failed to open its tasks, ended badly when stopped, or crashed soon after each start until
   the supervisor gave up on it. */
bool gale_sup_failed(const gale_sup_t *s);
/* True when the topology stopped with work not done: tuple trees open or a finish not run at the stop, or trees
   lost with a worker that died (its spouts' pending trees). Judged only by a supervisor that has every slot, except
   the trees lost with a local worker. */
bool gale_sup_incomplete(const gale_sup_t *s);
/* One line per local worker: "worker ID SLOT state=running|starting|restarting|stopped pid=P addr=A restarts=N
   last_exit=signal:9|status:1|none", ended by '\n'. */
void gale_sup_health(const gale_sup_t *s, FILE *out);
/* The metrics, merged over the local workers (metrics_merge.c): as a table, or as `gale run --stats` writes them
   (`mergeable`: with the histograms, for merging again with other hosts' figures). */
void gale_sup_report(const gale_sup_t *s, FILE *out);
int gale_sup_metrics_json(const gale_sup_t *s, bool mergeable, FILE *out);
/* The same merged figures as a record (metrics_merge.h), the losses added in: NULL when out of memory; free with
   gale_merged_free. */
struct gale_merged *gale_sup_merged(const gale_sup_t *s);
/* Slot `slot`'s address as this supervisor knows it ("HOST:PORT", "" while unknown), `slot` from 0 to the
   topology's slots; NULL past them. */
const char *gale_sup_address(const gale_sup_t *s, int slot);
/* True from a kill until the end. */
bool gale_sup_stopping(const gale_sup_t *s);
/* How many figures the local workers have sent: it changes whenever gale_sup_metrics_json's answer may have. */
uint64_t gale_sup_stats_seq(const gale_sup_t *s);
/* With checkpoints (config.checkpoint_interval_ms), the coordinator's figures: true and *out; false without, and
   in a part of a cluster topology that does not coordinate. */
bool gale_sup_checkpoints(const gale_sup_t *s, gale_checkpoint_stats_t *out);
/* Cluster mode's checkpoints: a message from another supervisor of the topology (a report, to the coordinator; an
   order, to the others), as its link carried it. Ignored without a link, and when stale. */
void gale_sup_ckpt_hear(gale_sup_t *s, const gale_sup_ckpt_msg_t *m);
/* Only after `ended` (or before the loop ran, if start failed half-way: it does not). */
void gale_sup_free(gale_sup_t *s);

#endif
