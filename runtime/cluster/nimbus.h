/*
 * nimbus.h: `gale nimbus`, the coordinator of a cluster. All of its state is in ZooKeeper under one root, none only
 * in its memory, so that any nimbus can take over from another; several run, one leads (election.h).
 *
 * Its parts: the session (re-opened when it expires), the root with the cluster's ACL and the election (nimbus.c);
 * blobs uploaded and served by digest, copied into ZooKeeper for the next leader (nimbus_blobs.c); topologies, their
 * placement, the moving of slots whose supervisor left, and the verbs submit, list, kill, activate, deactivate and
 * supervisors (nimbus_topos.c); rebalance (nimbus_rebalance.c). The control port speaks ctl_server.h's protocol;
 * a standby answers the verbs that change the cluster with "error not the leading nimbus: the leader is ...".
 */
#ifndef GALE_NIMBUS_H
#define GALE_NIMBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"
#include "metrics_merge.h"
#include "topology.h"

typedef struct nimbus gale_nimbus_t;

/* Something that lives on nimbus's loop beside its control port (the HTTP endpoint): started once nimbus listens,
   stopped when it stops, both on the loop. A start that fails stops nimbus. */
typedef struct gale_nimbus_watcher {
    int (*start)(uv_loop_t *loop, gale_nimbus_t *n, void *arg);
    void (*stop)(void *arg);
    void *arg;
} gale_nimbus_watcher_t;

typedef struct gale_nimbus_opts {
    const char *zk_hosts;   /* "HOST:PORT[,HOST:PORT...]" */
    const char *root;       /* the folder of the cluster's nodes; NULL: "/gale" */
    const char *host;       /* how this nimbus is named to the others (its address) */
    int session_timeout_ms; /* 0: 20000, Storm's storm.zookeeper.session.timeout */
    const void *secret;     /* the cluster secret (borrowed): the ACL of every node, and the control port's */
    size_t secret_len;
    int port;             /* the control port; 0: any (printed as "listening HOST:PORT") */
    const char *data_dir; /* where the blobs live (blobs.h) */
    const char *audit_log;                /* the audit log (audit.h); NULL: DATA_DIR/nimbus-HOST-PORT-audit.log */
    struct gale_tls_ctx *tls;             /* its control port speaks TLS 1.3 (tls.h; borrowed); NULL: in clear */
    const gale_nimbus_watcher_t *watcher; /* NULL: none (borrowed) */
} gale_nimbus_opts_t;

/* Runs until SIGINT or SIGTERM, then leaves the election at once (the next nimbus leads without waiting for the
   session to time out). 0; a negative code, logged, when ZooKeeper cannot be reached at the start or refuses it. */
int gale_nimbus_run(const gale_nimbus_opts_t *o);

/* ---- for a watcher, on nimbus's loop ---- */

/* A command of the control port's protocol run in this process, as a client's would be (the same checks, the
   leader's verbs refused by a standby): its reply lines ("ok ..." or "error ...") into `reply`. A reply owed later
   (a kill's, once every part ended) goes to no one; the command goes on. It is audited as of `source` ("http"). */
void gale_nimbus_command(gale_nimbus_t *n, const char *line, const char *source, gale_buf_t *reply);

/* One topology as the HTTP status shows it: from its node, its model and its parts' figures in ZooKeeper. */
typedef struct gale_nimbus_view {
    char name[64];
    const char *status; /* Storm's words: "ACTIVE", "INACTIVE", "KILLED", "REBALANCING" */
    double uptime_s;    /* since it was submitted */
    int workers;
    gale_topology_t *model; /* owned */
    gale_merged_t *figures; /* owned: its parts' figures merged (zero before any report) */
    struct gale_nimbus_slot {
        char supervisor[128]; /* HOST:PORT of the supervisor the slot is placed on */
        char address[128];    /* the worker's HOST:PORT, "" while it has none */
    } * slots;                /* owned, [workers] */
} gale_nimbus_view_t;

/* Every topology of the cluster, in name order. 0 and *out (free with gale_nimbus_views_free), or a code. */
int gale_nimbus_views(gale_nimbus_t *n, gale_nimbus_view_t **out, size_t *count);
void gale_nimbus_views_free(gale_nimbus_view_t *v, size_t count);

typedef struct gale_nimbus_sup_view {
    char name[128]; /* HOST:PORT */
    int slots, used;
    char version[32];
} gale_nimbus_sup_view_t;

/* The registered supervisors. 0 and *out (free it), or a code. */
int gale_nimbus_supervisor_views(gale_nimbus_t *n, gale_nimbus_sup_view_t **out, size_t *count);
/* Whether this nimbus leads, and the leader's name into buf. */
bool gale_nimbus_leading(gale_nimbus_t *n, char *leader, size_t cap);

#endif
