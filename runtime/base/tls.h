/*
 * tls.h: TLS 1.3 with mutual authentication (OpenSSL 3), as a session of memory BIOs that any event loop drives:
 * no socket and no thread of its own. What arrives from the network goes in (gale_tls_feed); the plaintext comes
 * out (gale_tls_read); plaintext to send goes in (gale_tls_write); and after every call the bytes the session has
 * for the network (handshake records, encrypted data, alerts) are taken out (gale_tls_take) and written by the
 * caller. A caller batches as before: one gale_tls_write of a batch of frames makes as few records as the size
 * allows (16 KiB each), and one socket write takes them all.
 *
 * A context holds a cluster's CA (the only one trusted), this process's certificate and its key. Both sides
 * present a certificate and both check the other's against the CA: a peer with none, with one of another CA,
 * expired or not yet valid, is refused in the handshake, and the session says why (gale_tls_error). Only TLS 1.3
 * is spoken. The peer's name (its certificate's common name) is its identity once the handshake is done.
 *
 * Every function returns 0 or a negative errno code: GALE_EAGAIN when the session needs more input, GALE_EPERM when
 * the handshake failed (the peer is not trusted), GALE_EIO when the stream is broken (with the reason in
 * gale_tls_error).
 */
#ifndef GALE_TLS_H
#define GALE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

typedef struct gale_tls_ctx gale_tls_ctx_t;
typedef struct gale_tls gale_tls_t;

/* The files of a node or a user: DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key, as `gale certs` makes them. */
typedef struct gale_tls_files {
    const char *ca;   /* the cluster CA's certificate (PEM) */
    const char *cert; /* this node's certificate (PEM), signed by the CA */
    const char *key;  /* its private key (PEM): keyfile.h's rule, readable by its owner only */
    bool web;         /* HTTPS: as a server, ask clients for no certificate (browsers, Prometheus, curl); the
                         server is still checked by its clients against the CA */
} gale_tls_files_t;

/* A context for both ends of connections (server and client). *out is the caller's (gale_tls_ctx_free). 0, or a
   negative errno code with the file and the reason in diag. */
int gale_tls_ctx_new(const gale_tls_files_t *f, gale_tls_ctx_t **out, gale_diag_t *diag);
/* The files of the folder `dir` for `name`: DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key (`web`: as gale_tls_files_t). */
int gale_tls_ctx_from_dir(const char *dir, const char *name, gale_tls_ctx_t **out, gale_diag_t *diag);
int gale_tls_ctx_from_dir_web(const char *dir, const char *name, gale_tls_ctx_t **out, gale_diag_t *diag);
void gale_tls_ctx_free(gale_tls_ctx_t *c); /* NULL is a no-op; a context outlives its sessions (refcounted) */
/* The name in this context's own certificate. */
const char *gale_tls_ctx_name(const gale_tls_ctx_t *c);

/* A session: `server` for the accepting side. NULL when out of memory. */
gale_tls_t *gale_tls_new(gale_tls_ctx_t *c, bool server);
void gale_tls_free(gale_tls_t *t); /* NULL is a no-op */

/* Bytes from the network. 0, or GALE_ENOMEM. */
int gale_tls_feed(gale_tls_t *t, const void *data, size_t len);
/* Runs the handshake as far as the input allows: 0 once it is done, GALE_EAGAIN while it needs more, GALE_EPERM
   when the peer was refused. */
int gale_tls_handshake(gale_tls_t *t);
bool gale_tls_ready(const gale_tls_t *t);
/* Plaintext into out (cap bytes): 0 with *got (> 0), GALE_EAGAIN when no whole record is in, GALE_EIO when the
   stream is broken or closed by the peer. The handshake is run first when it is not done. */
int gale_tls_read(gale_tls_t *t, void *out, size_t cap, size_t *got);
/* Plaintext to send: all of it is taken (into records waiting in gale_tls_out). 0, or GALE_EIO, or GALE_EAGAIN
   before the handshake is done. */
int gale_tls_write(gale_tls_t *t, const void *data, size_t len);
/* How many bytes wait for the network. */
size_t gale_tls_pending(const gale_tls_t *t);
/* Moves up to `cap` of them into buf: how many. */
size_t gale_tls_take(gale_tls_t *t, void *buf, size_t cap);

/* The peer's common name once the handshake is done ("" before). */
const char *gale_tls_peer(const gale_tls_t *t);
/* The peer's role, its certificate's organizational unit (certs.h: admin, deployer, viewer, node; "" for none). */
const char *gale_tls_peer_role(const gale_tls_t *t);
/* Why the last call failed: "certificate verify failed: certificate has expired", ... ("" when none). */
const char *gale_tls_error(const gale_tls_t *t);

#endif
