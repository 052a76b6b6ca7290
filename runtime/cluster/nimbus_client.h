/*
 * nimbus_client.h: the client half of nimbus's control port (nimbus.h), for the `gale submit | list | kill` verbs:
 * finding the leading nimbus (given, or read from its election node in ZooKeeper), dialling it (a standby is left
 * for the leader it names, once), and uploading blobs. A leader that died keeps its election node until ZooKeeper
 * expires its session: meanwhile nothing answers there, and the client keeps a standby, which serves what needs no
 * leader (list) and refuses the rest with "not the leading nimbus: the leader is host=H port=P ...". Blocking calls on the calling thread, every wait bounded, on daemon_client.h's connection.
 */
#ifndef GALE_NIMBUS_CLIENT_H
#define GALE_NIMBUS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon_client.h"
#include "diag.h"

typedef struct gale_nimbus_target {
    const char *nimbus;   /* "HOST:PORT", or NULL: the leader is read from ZooKeeper */
    const char *zk_hosts; /* with nimbus NULL */
    const char *root;     /* NULL: "/gale" */
    const void *secret;   /* the cluster secret (borrowed) */
    size_t secret_len;
    int timeout_ms; /* each step */
} gale_nimbus_target_t;

/* The leader's "HOST:PORT" from ZooKeeper into buf. 0; GALE_ENOENT (no nimbus leads), or a zk.h code; `d` says. */
int gale_nimbus_leader(const gale_nimbus_target_t *t, char *buf, size_t cap, gale_diag_t *d);

/* An authenticated connection to the leading nimbus, or to a standby when the leader does not answer. 0 and *out
   (gale_daemon_client_free), or a negative code naming the leader that did not answer. */
int gale_nimbus_connect(const gale_nimbus_target_t *t, gale_daemon_client_t **out, gale_diag_t *d);

/* Uploads `len` bytes whose digest is `sha` unless nimbus has them ("has", then "put" and data lines). 0, or a
   negative code with nimbus's reason. *sent (may be NULL) says whether they had to be sent. */
int gale_nimbus_put(gale_daemon_client_t *c, const char *sha, const void *bytes, size_t len, int timeout_ms, int *sent,
                    gale_diag_t *d);

#endif
