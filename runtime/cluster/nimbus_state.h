/*
 * nimbus_state.h: what the parts of nimbus share (nimbus.c: the session, the election and the control port;
 * nimbus_blobs.c: uploads and downloads by digest; nimbus_topos.c: topologies, their placement and the verbs).
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
#include "zk.h"

#define NIMBUS_PATH_MAX 512

typedef struct pending pending_t;

/* What nimbus keeps of a control connection. */
typedef struct nconn {
    gale_ctl_conn_t *conn;
    gale_blob_writer_t *upload; /* a `put` under way: its data lines come next */
    char upload_sha[GALE_BLOB_HEX_LEN + 1];
    pending_t *pending; /* a submit or kill whose reply is not yet due holds the connection */
} nconn_t;

typedef struct nimbus {
    const gale_nimbus_opts_t *o;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t reopen;
    uv_timer_t tick; /* pending replies, and the placement of slots whose supervisor left */
    gale_zk_t *zk;
    gale_election_t *election;
    gale_ctl_server_t *server;
    int port;
    char root[256];
    char folder[NIMBUS_PATH_MAX];         /* ROOT/nimbus: the election */
    char sups_folder[NIMBUS_PATH_MAX];    /* ROOT/supervisors */
    char topos_folder[NIMBUS_PATH_MAX];   /* ROOT/topologies */
    char status_folder[NIMBUS_PATH_MAX];  /* ROOT/status */
    char workers_folder[NIMBUS_PATH_MAX]; /* ROOT/workers */
    char blobs_folder[NIMBUS_PATH_MAX];   /* ROOT/blobs */
    char about[200];
    char **sups; /* the supervisors registered, as last listed (sorted names HOST:PORT) */
    size_t n_sups;
    pending_t *pendings;
    int session_ms;
    int rc;
} nimbus_t;

/* nimbus_blobs.c */
void nimbus_cmd_has(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
void nimbus_cmd_put(nimbus_t *n, nconn_t *x, char **tok, int ntok);
/* A line of a `put` under way ("data BASE64" or "end"). */
void nimbus_upload_line(nimbus_t *n, nconn_t *x, char *line);
void nimbus_cmd_get(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok);
/* Whether the blob is here or in ZooKeeper (then copied here). */
bool nimbus_blob_known(nimbus_t *n, const char *sha);
/* The first bytes of a blob known here (for the ELF check), into buf; their number, or a negative code. */
long nimbus_blob_head(nimbus_t *n, const char *sha, unsigned char *buf, size_t cap);

/* nimbus_topos.c */
void nimbus_cmd_submit(nimbus_t *n, nconn_t *x, char **tok, int ntok);
void nimbus_cmd_list(nimbus_t *n, gale_ctl_conn_t *c);
void nimbus_cmd_kill(nimbus_t *n, nconn_t *x, char **tok, int ntok);
void nimbus_cmd_activate(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok, bool active);
void nimbus_cmd_supervisors(nimbus_t *n, gale_ctl_conn_t *c);
/* The leader's work, every tick: replies that are due, kills to finish, slots to move. */
void nimbus_topos_tick(nimbus_t *n);
/* The connection is going: its pending reply answers no one. */
void nimbus_topos_forget_conn(nimbus_t *n, nconn_t *x);
/* Frees every pending record (at exit). */
void nimbus_topos_free(nimbus_t *n);

#endif
