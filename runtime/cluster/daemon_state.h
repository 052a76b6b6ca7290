/*
 * daemon_state.h: what the two halves of the supervisor daemon share: daemon.c (the control port, assignments and
 * their plugin check, the topologies' lives) and daemon_cluster.c (cluster mode: following what nimbus placed in
 * ZooKeeper). Not for other files: daemon.h is the interface.
 */
#ifndef GALE_DAEMON_STATE_H
#define GALE_DAEMON_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "confine.h"
#include "ctl_server.h"
#include "daemon.h"
#include "sup_fetch.h"
#include "sup_node.h"
#include "supervisor.h"
#include "topology.h"

#define ID_MAX 64

typedef struct supd supd_t;

/* How an assignment that came from ZooKeeper rather than a connection hears how it went: `error` NULL when its
   workers started. */
typedef void (*gale_daemon_reply_fn)(void *arg, const char *id, const char *error);

/* A topology assigned here: running while `sup` is set, then ended with its metrics kept until forgotten. */
typedef struct topo_rec {
    struct topo_rec *next;
    supd_t *d;
    char id[ID_MAX];
    char **sets; /* owned copies: the topology and the workers are given them */
    size_t n_sets;
    int *slots, n_slots;
    gale_topology_t *topo;
    gale_sup_t *sup;
    bool failed;
    char *stats;
    int workers, threads;
    char *secret; /* secret=, owned; NULL: a new one */
    /* Cluster mode (daemon_cluster.c): placed by nimbus through ZooKeeper, from a model. */
    bool cluster, killing, model;
    bool inactive;   /* deactivated by the user (gale_sup_set_active): wanted, also before `sup` exists */
    /* Where its replayable spouts resume, as ZooKeeper had them when it was placed here (owned): */
    uint32_t *resume_tasks;
    uint64_t *resume_positions;
    int n_resume;
    uint64_t *saved_positions; /* [topo->n_tasks + 1]: as last written to ZooKeeper (0: never), owned */
    uint64_t stats_said;       /* gale_sup_stats_seq when its figures last went to ZooKeeper */
    int64_t version; /* of the placement it runs */
    uint64_t session; /* cluster mode: the ZooKeeper session it started under (gale_sup_node_session) */
    struct gale_ckpt_link *ckpt_link; /* cluster mode's checkpoints over several hosts (ckpt_link.h); owned */
    /* Cluster mode's hot swap (daemon_swap.c): the node's plugin= lines when it started (owned); what a swap left
       it running for swap_component; the swap asked for, whether it runs, and what was reported of it. */
    gale_topo_file_t *plugins;
    size_t n_plugins;
    char swap_component[256], swap_sha[GALE_BLOB_HEX_LEN + 1];
    char swap_want_component[256], swap_want[GALE_BLOB_HEX_LEN + 1];
    bool swapping;
    char swap_report[340], swap_error[512];
    bool expired;     /* stopped since that session expired (daemon_lease.c) */
    /* While its plugins are checked in a child process (before `sup` exists): */
    gale_ctl_conn_t *conn;      /* who asked, to get the reply; NULL once that connection is gone */
    gale_daemon_reply_fn reply; /* or, for an assignment from ZooKeeper (conn NULL), whom to tell */
    void *reply_arg;
    pid_t check_pid;  /* 0 once reaped */
    int check_status; /* its wait status */
    bool check_eof, check_killed;
    int check_handles; /* handles of the check still open: the record is used until both are closed */
    uint64_t check_deadline_ms;
    uv_pipe_t check_pipe; /* the child's reply */
    uv_timer_t check_timer;
    char *check_out; /* what the child wrote, NUL-terminated, owned */
    size_t check_len;
} topo_rec_t;

struct dconn;
/* A `swap` under way: whom to answer (NULL once that connection is gone). */
typedef struct swap_job {
    struct dconn *x;
    char id[ID_MAX], component[256];
} swap_job_t;

/* What the daemon keeps of a control connection (ctl_server.h holds the rest). */
typedef struct dconn {
    struct dconn *next;
    gale_ctl_conn_t *conn;
    char waiting[ID_MAX]; /* a `wait` for this topology holds the connection */
    topo_rec_t *checking; /* an `assign` being checked holds the connection */
    struct swap_job *swapping; /* a `swap` under way holds the connection */
} dconn_t;

struct supd {
    const gale_daemon_opts_t *o;
    uv_loop_t loop;
    gale_ctl_server_t *server;
    dconn_t *dconns; /* the connections the daemon keeps something of */
    uv_signal_t sigint, sigterm;
    topo_rec_t *topos;
    topo_rec_t *checks; /* assignments whose plugins are being checked; their slots are counted in used_slots */
    int used_slots;
    int signals;
    gale_confine_t confine; /* the folders assignments may name: the daemon's own, then --allow-path (confine.h) */
    gale_sup_node_t *node;  /* with --zk: this daemon's node in ZooKeeper (sup_node.h) */
    struct fetch_job *jobs; /* cluster mode: topologies being fetched from nimbus (daemon_cluster.c) */
    struct done_part *done; /* cluster mode: parts that ended by themselves, not to be started again */
    const char *data_dir;   /* the blob cache and the run folders */
    struct gale_audit *audit; /* who did what (audit.h); NULL: none */
    uv_timer_t publish_timer; /* cluster mode: the spouts' positions and the parts' figures go to ZooKeeper */
    bool publish_timing;
    uv_timer_t lease_timer; /* cluster mode: renews the workers' lease (daemon_lease.c) */
    bool lease_timing;
    uint64_t lease_ns; /* the last lease (CLOCK_MONOTONIC ns), granted in session lease_session */
    uint64_t lease_session;
};

/* daemon.c */
topo_rec_t *gale__supd_find_any(supd_t *d, const char *id);
void gale__supd_free_rec(topo_rec_t *r);
/* Checks `r` (its topology loaded, slots, workers and secret set) and starts it, replying through r->reply; takes
   r either way. */
void gale__supd_assign(supd_t *d, topo_rec_t *r);
/* Appends to the audit log, when there is one (failures are logged). */
void gale__supd_audit(supd_t *d, const char *source, const char *identity, const char *action, const char *target,
                      const char *result, const char *detail);
/* Unlinks an ended record from d->topos and frees it. */
void gale__supd_drop(supd_t *d, topo_rec_t *r);

/* daemon_cluster.c */
/* Starts following ZooKeeper's topologies (d->node set). */
void gale__supd_cluster_start(supd_t *d);
/* A topology placed here ended: report it, and look again at what is wanted. */
void gale__supd_cluster_ended(supd_t *d, topo_rec_t *r);
/* The positions of r's replayable spouts that moved since they were last written, to ZooKeeper (r->sup set). */
void gale__supd_cluster_save_positions(supd_t *d, topo_rec_t *r);
/* r's figures, merged over its workers with their histograms, to ZooKeeper when the workers sent new ones. */
void gale__supd_cluster_publish_stats(supd_t *d, topo_rec_t *r);
/* Closes cluster mode's handles (the daemon is shutting down). */
void gale__supd_cluster_stop(supd_t *d);

/* How a fetch from nimbus is made now (the leader, this supervisor, the cache), into *fo, pointing into `nimbus`
   and `sup` (the caller's, which must outlive it). Whether a nimbus leads. */
bool gale__supd_fetch_opts(supd_t *d, char *nimbus, size_t nimbus_cap, char *sup, size_t sup_cap,
                           gale_sup_fetch_opts_t *fo);

/* daemon_swap.c: cluster mode's hot swap */
/* A running part against the node's swap=COMPONENT:SHA: starts or reports the swap. */
void gale__supd_swap_follow(supd_t *d, topo_rec_t *r, const gale_topo_record_t *rec);
/* The part's report (running), with what it says of its last swap. */
void gale__supd_swap_report(supd_t *d, topo_rec_t *r);

/* daemon_lease.c: cluster mode's fence */
void gale__supd_lease_start(supd_t *d);
void gale__supd_lease_stop(supd_t *d);
/* The lease a cluster part's workers start with; notes the session r starts under. */
uint64_t gale__supd_lease_for(supd_t *d, topo_rec_t *r);
/* Frees what cluster mode keeps (at exit). */
void gale__supd_cluster_free(supd_t *d);

#endif
