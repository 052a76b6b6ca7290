/*
 * ctl_server.h: the authenticated line server that the supervisor daemon (daemon.h) and nimbus (nimbus.h) both
 * listen with, so that one piece of code holds the rules every control port of a cluster keeps:
 *   - text lines, each ended by '\n', at most GALE_CTL_LINE_MAX bytes (a longer one closes the connection);
 *   - on connect the server sends "BANNER challenge NONCE" (NONCE: 64 hex digits, 32 random bytes), and the first
 *     line must be "auth PROOF", PROOF = hex of HMAC-SHA256(the cluster secret, nonce || 'C' || four zero bytes);
 *     anything else gets "error authentication failed" and the connection closed;
 *   - a connection that has not authenticated within 10 s is closed, and at most 64 are open: over that the oldest
 *     one that has not authenticated is closed to make room, so that idle ones cannot lock clients out;
 *   - refusals before authentication are logged at most once per 10 s, with a count.
 * What an authenticated line means is the owner's: `line` gets each one. Everything runs on the owner's loop.
 */
#ifndef GALE_CTL_SERVER_H
#define GALE_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define GALE_CTL_LINE_MAX 16384

typedef struct gale_ctl_server gale_ctl_server_t;
typedef struct gale_ctl_conn gale_ctl_conn_t;
struct gale_audit;

typedef struct gale_ctl_server_opts {
    const char *banner; /* the challenge line's start, e.g. "gale-supervisor 1" (borrowed, must outlive it) */
    const char *who;    /* the log's component name: "supervisor", "nimbus" (borrowed likewise) */
    const void *secret; /* the cluster secret (borrowed likewise) */
    size_t secret_len;
    void *arg;
    /* An authenticated line, NUL-terminated, writable, borrowed for the call. */
    void (*line)(void *arg, gale_ctl_conn_t *c, char *line);
    /* The connection is going (the peer left, or it was refused): forget every pointer to it. May be NULL. */
    void (*closed)(void *arg, gale_ctl_conn_t *c);
    /* The audit log (audit.h; borrowed, may be NULL) and the verbs that change the cluster (NULL-terminated): each
       such line is recorded with its connection's identity and address when its answer (the first "ok" or "error"
       line sent back) goes, or when the client leaves before it. Failed authentications are recorded as the log
       reports them: the first after a quiet interval, then one line with the count per interval. */
    struct gale_audit *audit;
    const char *const *audited;
    /* TLS (tls.h; borrowed, may be NULL): every connection is a TLS 1.3 session of the cluster's CA first, the
       challenge is sent once its handshake is done, and an authenticated connection's identity is its
       certificate's name rather than "cluster-secret". A peer TLS refuses is closed, counted with the other
       refusals before authentication. */
    struct gale_tls_ctx *tls;
} gale_ctl_server_opts_t;

/* Listens on host:port (port 0: any) on `loop`. 0 with *out and *bound_port (the port it got), or GALE_EIO with
   the reason logged; on failure the loop must run once more to close what was opened. */
int gale_ctl_server_listen(uv_loop_t *loop, const char *host, int port, const gale_ctl_server_opts_t *o,
                           gale_ctl_server_t **out, int *bound_port);

/* Sets the audit log after the listen (whose name may hold the port it got); before the loop runs. */
void gale_ctl_server_set_audit(gale_ctl_server_t *s, struct gale_audit *audit);

/* Stops listening and closes every connection (each gets `closed`); the memory goes once the loop has run. NULL is
   a no-op. */
void gale_ctl_server_close(gale_ctl_server_t *s);

/* Sends `len` bytes and a newline; a connection that is closing gets nothing. */
void gale_ctl_send(gale_ctl_conn_t *c, const char *text, size_t len);
void gale_ctl_sendf(gale_ctl_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends "event TEXT" to every authenticated connection. */
void gale_ctl_event(gale_ctl_server_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends "error WHY" and hangs up once it is sent. */
void gale_ctl_refuse(gale_ctl_conn_t *c, const char *why);

/* Who is on `c` once authenticated: the identity (a certificate's name, "cluster-secret" or "http-token") and the
   role (its certificate's: admin, deployer, viewer, node; "admin" without TLS, where the secret is the only
   credential and its holder may do everything). */
const char *gale_ctl_identity(const gale_ctl_conn_t *c);
const char *gale_ctl_role(const gale_ctl_conn_t *c);
/* Answers "error refused: WHY" and records the action under way as refused; the connection stays. */
void gale_ctl_deny(gale_ctl_conn_t *c, const char *why);

/* Whether `c` is closing or hanging up: replies to it are dropped. */
bool gale_ctl_gone(const gale_ctl_conn_t *c);

/* The owner's pointer of a connection (NULL until set). */
void gale_ctl_set_user(gale_ctl_conn_t *c, void *user);
void *gale_ctl_user(const gale_ctl_conn_t *c);

/* Starts the audit record of the action `line` on `c`, when its verb is one the owner audits (the server does it for
   each authenticated line; an owner does it for a line it hands a capture connection). */
void gale_ctl_audit_begin(gale_ctl_conn_t *c, const char *line);
/* Makes a capture connection's actions audited, as of `identity` from `source` (both copied). */
void gale_ctl_capture_audit(gale_ctl_conn_t *c, struct gale_audit *audit, const char *const *audited,
                            const char *source, const char *identity);

/* A connection in this process, of no server: a command handed to the owner's `line` with it is answered into
   memory, the same lines a client would read (the HTTP actions of nimbus go through the control protocol so).
   NULL when out of memory; the text ("" when none) lives until gale_ctl_capture_free. */
gale_ctl_conn_t *gale_ctl_capture_new(void);
const char *gale_ctl_capture_text(const gale_ctl_conn_t *c);
void gale_ctl_capture_free(gale_ctl_conn_t *c);

#endif
