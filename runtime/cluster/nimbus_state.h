/*
 * nimbus_state.h: what the parts of nimbus share (nimbus.c: the session, the election and the control port;
 * nimbus_blobs.c: uploads and downloads by digest; nimbus_topos.c: topologies, their placement and the verbs;
 * nimbus_rebalance.c: rebalance; nimbus_stats.c: the merged figures).
 * Not for other files: nimbus.h is the interface.
 */
#ifndef GALE_NIMBUS_STATE_H
#define GALE_NIMBUS_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "blobs.h"
#include "ctl_server.h"
#include "election.h"
#include "nimbus.h"
#include "topo_record.h"
#include "topology.h"
#include "zk.h"

#define NIMBUS_PATH_MAX 512

typedef struct pending pending_t;
typedef struct nconn nconn_t;

typedef enum { P_SUBMIT, P_KILL, P_REBALANCE, P_SWAP } pending_kind_t;

/* A reply owed: a submit answers once every worker runs, a kill once every part ended, a rebalance once the
   topology drained and its new placement runs. */
struct pending {
    pending_t *next;
    pending_kind_t kind;
    char name[GALE_TOPO_NAME_MAX];
    int64_t version;
    nconn_t *x; /* who asked; NULL when that connection is gone, or for a kill a takeover found */
    uint64_t started_ms, deadline_ms;
    bool placed;      /* a rebalance: the new placement is written, its workers are awaited */
    uint64_t said_ms; /* a rebalance that waits for room: when the log last said so */
    char why[700];    /* a swap going back: why */
};

/* The registered supervisors and their free slots. */
typedef struct sup_slots {
    char **names; /* sorted, as ZooKeeper lists them */
    int *total, *free_slots;
    size_t n;
} sup_slots_t;

/* What the supervisors reported of one version of a topology. */
typedef struct reports {
    int running, ended, refused;
    char refusal[700];
} reports_t;

/* What nimbus keeps of a control connection. */
struct nconn {
    gale_ctl_conn_t *conn;
    gale_blob_writer_t *upload; /* a `put` under way: its data lines come next */
    char upload_sha[GALE_BLOB_HEX_LEN + 1];
    pending_t *pending; /* a submit or kill whose reply is not yet due holds the connection */
};

struct nimbus {
    const gale_nimbus_opts_t *o;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t reopen;
    uv_timer_t tick; /* pending replies, and the placement of slots whose supervisor left */
    gale_zk_t *zk;
    gale_election_t *election;
    gale_ctl_server_t *server;
    struct gale_audit *audit; /* who did what (audit.h) */
    int port;
    char root[256];
    char folder[NIMBUS_PATH_MAX];         /* ROOT/nimbus: the election */
    char sups_folder[NIMBUS_PATH_MAX];    /* ROOT/supervisors */
    char topos_folder[NIMBUS_PATH_MAX];   /* ROOT/topologies */
    char status_folder[NIMBUS_PATH_MAX];  /* ROOT/status */
    char workers_folder[NIMBUS_PATH_MAX]; /* ROOT/workers */
    char blobs_folder[NIMBUS_PATH_MAX];   /* ROOT/blobs */
    char positions_folder[NIMBUS_PATH_MAX]; /* ROOT/positions: where the spouts resume (sup_node.h) */
    char stats_folder[NIMBUS_PATH_MAX];     /* ROOT/stats: each part's figures (sup_node.h) */
    char ckpt_folder[NIMBUS_PATH_MAX];      /* ROOT/checkpoints: the checkpoints' orders and reports (ckpt_link.h) */
    char about[200];
    char **sups; /* the supervisors registered, as last listed (sorted names HOST:PORT) */
    size_t n_sups;
    pending_t *pendings;
    int session_ms;
    int rc;
};
typedef struct nimbus nimbus_t;

/* nimbus_blobs.c */
void nimbus_cmd_has(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
void nimbus_cmd_put(nimbus_t *n, nconn_t *x, char **tok, int ntok);
/* A line of a `put` under way ("data BASE64" or "end"). */
void nimbus_upload_line(nimbus_t *n, nconn_t *x, char *line);
void nimbus_cmd_get(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
/* Whether the blob is here or in ZooKeeper (then copied here). */
bool nimbus_blob_known(nimbus_t *n, const char *sha);
/* Keeps `bytes` as a blob (here and in ZooKeeper), its digest into `sha`. 0 or a code. */
int nimbus_blob_store(nimbus_t *n, const char *bytes, size_t len, char sha[GALE_BLOB_HEX_LEN + 1]);
/* The model of topology `r` (its blob, r->model) read into *out (the caller's, gale_topology_free). 0, or a code
   with `why` filled. */
int nimbus_read_model(nimbus_t *n, const gale_topo_record_t *r, gale_topology_t **out, char *why, size_t cap);
/* The first bytes of a blob known here (for the ELF check), into buf; their number, or a negative code. */
long nimbus_blob_head(nimbus_t *n, const char *sha, unsigned char *buf, size_t cap);

/* nimbus_topos.c: the topologies' nodes, the supervisors' slots and reports, the replies owed */
uint64_t nimbus_wall_ms(void);
/* ROOT/topologies/NAME into *r (free it, on failure too) and its node version. 0, GALE_ENOENT, or a code. */
int nimbus_read_topo(nimbus_t *n, const char *name, gale_topo_record_t *r, int32_t *version);

/* nimbus_roles.c: whether the client on `c` may run the verb tok[0] (on topology tok[1]); when not, it has been
   told which role it needs, and the refusal is in the audit log. */
bool nimbus_may(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
/* Writes r's node: created, or set at node `version` (GALE_EAGAIN: it changed meanwhile). */
int nimbus_write_topo(nimbus_t *n, const gale_topo_record_t *r, int32_t version, bool create);
/* Deletes `path` and everything under it, as far as it can. */
void nimbus_delete_tree(nimbus_t *n, const char *path);
/* The registered supervisors with their slots, less the slots every topology gives each (`skip`, when not NULL,
   is left out: the topology being placed again). 0 or a zk.h code; free *s either way. */
int nimbus_read_sup_slots(nimbus_t *n, const char *skip, sup_slots_t *s);
void nimbus_sup_slots_free(sup_slots_t *s);
int nimbus_sup_index(const sup_slots_t *s, const char *name);
/* "A: 2 free of 4, B: 0 free of 2" into buf. */
void nimbus_say_free(const sup_slots_t *s, char *buf, size_t cap);
/* What the supervisors say of topology `name` at `version`. */
void nimbus_read_reports(nimbus_t *n, const char *name, int64_t version, reports_t *out);
/* The supervisors that hold a slot of `r` and are registered. */
int nimbus_count_holders(nimbus_t *n, const gale_topo_record_t *r);
/* The slots of `r` with no worker address in ZooKeeper yet, described into buf; their number. */
int nimbus_slots_without_worker(nimbus_t *n, const gale_topo_record_t *r, char *buf, size_t cap);
/* Reads topology tok[1] for a verb, answering the errors on `c`. 0 with *r (free it, on failure too). */
int nimbus_verb_topo(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok, const char *usage, gale_topo_record_t *r,
                     int32_t *version);
/* A reply owed to `x` (NULL: to no one), due by `wait_s` from now; NULL when out of memory. */
pending_t *nimbus_add_pending(nimbus_t *n, pending_kind_t kind, const char *name, int64_t version, nconn_t *x,
                              double wait_s);
/* Answers (when someone still waits) and drops the record. */
void nimbus_settle(nimbus_t *n, pending_t *p, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pending_t *nimbus_pending_for(nimbus_t *n, const char *name);
void nimbus_cmd_submit(nimbus_t *n, nconn_t *x, char **tok, int ntok);
void nimbus_cmd_list(nimbus_t *n, gale_ctl_conn_t *c);
void nimbus_cmd_kill(nimbus_t *n, nconn_t *x, char **tok, int ntok);
void nimbus_cmd_activate(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok, bool active);
void nimbus_cmd_supervisors(nimbus_t *n, gale_ctl_conn_t *c);
/* The leader's work, every tick: replies that are due, kills to finish, slots to move. */
void nimbus_topos_tick(nimbus_t *n);
/* nimbus_rebalance.c */
void nimbus_cmd_rebalance(nimbus_t *n, nconn_t *x, char **tok, int ntok);

/* nimbus_swap.c: `swap NAME COMPONENT SHA`, and its next step every tick */
void nimbus_cmd_swap(nimbus_t *n, nconn_t *x, char **tok, int ntok);
void nimbus_tick_swap(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version, uint64_t now);

/* nimbus_stats.c: `stats NAME [json]`, the figures of every part merged */
/* The parts' documents of placement `version` of topology `name` (owned, each past its version line), their
   number in *n_docs. 0 (none: no parts yet) or a zk.h code. */
int nimbus_read_parts(nimbus_t *n, const char *name, int64_t version, char ***docs, int *n_docs);
void nimbus_cmd_stats(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
/* A rebalance's next step: place it once it drained, answer once its new workers run. */
void nimbus_tick_rebalance(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version, uint64_t now);

/* The connection is going: its pending reply answers no one. */
void nimbus_topos_forget_conn(nimbus_t *n, nconn_t *x);
/* Frees every pending record (at exit). */
void nimbus_topos_free(nimbus_t *n);

#endif
