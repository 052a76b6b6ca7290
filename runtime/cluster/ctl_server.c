#include "ctl_server.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "gale.h"
#include "hmac.h"
#include "lines.h"
#include "log.h"
#include "tcp_listen.h"
#include "ratelog.h"
#include "tls.h"

#define MAX_CONNS 64
/* A connection must authenticate within this time, or idle ones would fill MAX_CONNS and lock out their owners. */
#define AUTH_TIMEOUT_MS 10000
/* Refusals before authentication are logged once per this interval, with a count: one probe made 10,780 lines. */
#define REJECT_LOG_MS 10000

struct gale_ctl_conn {
    struct gale_ctl_conn *next;
    gale_ctl_server_t *s;
    uv_tcp_t tcp;
    gale_lines_t lines;
    char buf[GALE_CTL_LINE_MAX];
    unsigned char nonce[GALE_NONCE_LEN];
    bool authed, closing, hanging_up;
    uint64_t opened_ms; /* uv_now when accepted */
    void *user;
    gale_buf_t *capture; /* an in-process connection (gale_ctl_capture_new): what is sent goes here */
    /* Auditing (audit.h): the log and verbs (the server's, or a capture's own), who this is, and the action under
       way, recorded when its answer goes. */
    gale_audit_t *audit;
    const char *const *audited;
    char source[80], identity[64], role[16];
    gale_tls_t *tls;    /* NULL: in clear */
    char cipher[16384]; /* with TLS: what the socket read, before the session opens it */
    bool act_open, refusing;
    char act[32], target[128], detail[512];
};

struct gale_ctl_server {
    gale_ctl_server_opts_t o;
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t sweep; /* refuses connections that do not authenticate in time */
    gale_ctl_conn_t *conns;
    int handles; /* of the server itself still open: freed when 0 and no connection is left */
    bool closing;
    gale_ratelog_t rejects; /* refusals before authentication: a line, then counts (ratelog.h) */
};

static void maybe_free(gale_ctl_server_t *s)
{
    if (s->closing && s->handles == 0 && !s->conns) free(s);
}

/* ---- writing ------------------------------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

bool gale_ctl_gone(const gale_ctl_conn_t *c) { return c->closing || c->hanging_up; }

/* The identity of a connection authenticated with the cluster secret: anyone who holds it (TLS names users). */
#define SECRET_IDENTITY "cluster-secret"

static void audit_event(gale_audit_t *audit, const char *who, const gale_audit_event_t *e)
{
    int rc = audit ? gale_audit_append(audit, e) : 0;
    if (rc)
        gale_logf(GALE_LOG_ERROR, who, "the audit log cannot be written: %s (%s %s)", gale_strerror(rc), e->action,
                  e->target ? e->target : "");
}

static void audit_end(gale_ctl_conn_t *c, const char *result, const char *answer, size_t len);

void gale_ctl_audit_begin(gale_ctl_conn_t *c, const char *line)
{
    if (!c->audit || !c->audited) return;
    char verb[32] = "", target[128] = "";
    if (sscanf(line, "%31s %127s", verb, target) < 1) return;
    bool audited = false;
    for (const char *const *v = c->audited; *v && !audited; v++) audited = !strcmp(*v, verb);
    if (!audited) return;
    if (c->act_open) {
        static const char next[] = "no answer yet: another command came (the action goes on)";
        audit_end(c, "unanswered", next, sizeof next - 1);
    }
    c->act_open = true;
    snprintf(c->act, sizeof c->act, "%s", verb);
    snprintf(c->target, sizeof c->target, "%s", target);
    gale_audit_redact(line, c->detail, sizeof c->detail);
}

/* The answer of the action under way: its record. */
static void audit_end(gale_ctl_conn_t *c, const char *result, const char *answer, size_t len)
{
    c->act_open = false;
    char detail[1024];
    snprintf(detail, sizeof detail, "%s -> %.*s", c->detail, (int)(len > 400 ? 400 : len), answer);
    gale_audit_event_t e = {.identity = c->identity[0] ? c->identity : NULL,
                            .source = c->source,
                            .action = c->act,
                            .target = c->target[0] ? c->target : NULL,
                            .result = result,
                            .detail = detail};
    audit_event(c->audit, c->s ? c->s->o.who : "nimbus", &e);
}

void gale_ctl_capture_audit(gale_ctl_conn_t *c, gale_audit_t *audit, const char *const *audited, const char *source,
                            const char *identity)
{
    c->audit = audit;
    c->audited = audited;
    snprintf(c->source, sizeof c->source, "%s", source);
    snprintf(c->identity, sizeof c->identity, "%s", identity);
    snprintf(c->role, sizeof c->role, "admin"); /* the HTTP actions' tokens are made with the cluster secret */
}

const char *gale_ctl_identity(const gale_ctl_conn_t *c) { return c->identity; }
const char *gale_ctl_role(const gale_ctl_conn_t *c) { return c->capture && !c->role[0] ? "admin" : c->role; }

void gale_ctl_deny(gale_ctl_conn_t *c, const char *why)
{
    c->refusing = true;
    gale_ctl_sendf(c, "error refused: %s", why);
    c->refusing = false;
}

/* Bytes to the socket, copied into a write request. */
static void write_raw(gale_ctl_conn_t *c, const char *data, size_t len)
{
    uv_write_t *req = malloc(sizeof *req + len);
    if (!req) return;
    memcpy(req + 1, data, len);
    uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) free(req);
}

/* What the TLS session has for the network. */
static void flush_tls(gale_ctl_conn_t *c)
{
    char chunk[16384];
    size_t n;
    while ((n = gale_tls_take(c->tls, chunk, sizeof chunk)) > 0) write_raw(c, chunk, n);
}

void gale_ctl_send(gale_ctl_conn_t *c, const char *text, size_t len)
{
    if (gale_ctl_gone(c)) return;
    if (c->act_open && len >= 2 && !strncmp(text, "ok", 2) && (len == 2 || text[2] == ' '))
        audit_end(c, "ok", text, len);
    else if (c->act_open && len >= 5 && !strncmp(text, "error", 5) && (len == 5 || text[5] == ' '))
        audit_end(c, c->refusing ? "refused" : "error", text, len);
    if (c->capture) {
        gale_buf_put(c->capture, text, len);
        gale_buf_puts(c->capture, "\n");
        return;
    }
    if (c->tls) { /* the line and its newline in one TLS write: one record */
        char *line = malloc(len + 1);
        if (!line) return;
        memcpy(line, text, len);
        line[len] = '\n';
        if (!gale_tls_write(c->tls, line, len + 1)) flush_tls(c);
        free(line);
        return;
    }
    uv_write_t *req = malloc(sizeof *req + len + 1);
    if (!req) return;
    char *copy = (char *)(req + 1);
    memcpy(copy, text, len);
    copy[len] = '\n';
    uv_buf_t b = uv_buf_init(copy, (unsigned)len + 1);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) free(req);
}

static void vsendf(gale_ctl_conn_t *c, const char *prefix, const char *fmt, va_list ap)
{
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    if (n < 0) return;
    if (*prefix) {
        char *both = NULL;
        n = asprintf(&both, "%s%s", prefix, text);
        free(text);
        text = n < 0 ? NULL : both;
    }
    if (text) gale_ctl_send(c, text, (size_t)n);
    free(text);
}

void gale_ctl_sendf(gale_ctl_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsendf(c, "", fmt, ap);
    va_end(ap);
}

void gale_ctl_event(gale_ctl_server_t *s, const char *fmt, ...)
{
    for (gale_ctl_conn_t *c = s->conns; c; c = c->next) {
        if (!c->authed) continue;
        va_list ap;
        va_start(ap, fmt);
        vsendf(c, "event ", fmt, ap);
        va_end(ap);
    }
}

void gale_ctl_set_user(gale_ctl_conn_t *c, void *user) { c->user = user; }

gale_ctl_conn_t *gale_ctl_capture_new(void)
{
    gale_ctl_conn_t *c = calloc(1, sizeof *c);
    if (c && !(c->capture = calloc(1, sizeof *c->capture))) {
        free(c);
        return NULL;
    }
    if (c) c->authed = true;
    return c;
}

const char *gale_ctl_capture_text(const gale_ctl_conn_t *c)
{
    return c->capture->p && !c->capture->failed ? c->capture->p : "";
}

void gale_ctl_capture_free(gale_ctl_conn_t *c)
{
    if (!c) return;
    gale_buf_free(c->capture);
    free(c->capture);
    free(c);
}
void *gale_ctl_user(const gale_ctl_conn_t *c) { return c->user; }

/* ---- closing and refusing ----------------------------------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    gale_ctl_conn_t *c = h->data;
    gale_ctl_server_t *s = c->s;
    for (gale_ctl_conn_t **p = &s->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    gale_tls_free(c->tls);
    free(c);
    maybe_free(s);
}

static void close_conn(gale_ctl_conn_t *c)
{
    if (c->closing) return;
    if (c->act_open) {
        static const char left[] = "no answer yet: the client left (the action goes on)";
        audit_end(c, "unanswered", left, sizeof left - 1);
    }
    c->closing = true;
    if (c->s->o.closed) c->s->o.closed(c->s->o.arg, c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    gale_ctl_conn_t *c = req->data;
    (void)status;
    free(req);
    close_conn(c);
}

static void say_rejected(const gale_ctl_server_t *s, uint64_t n, const char *last)
{
    if (!n) return;
    gale_logf(GALE_LOG_WARN, s->o.who, "%llu control connections rejected in the last %d s, last: %s",
              (unsigned long long)n, REJECT_LOG_MS / 1000, last);
    gale_audit_event_t e = {
        .source = "control port", .action = "authenticate", .result = "refused", .detail = last, .count = n};
    audit_event(s->o.audit, s->o.who, &e);
}

/* Counts a refusal before authentication: the first after a quiet interval is logged at once, the rest as one line
   per REJECT_LOG_MS from the sweep, so that a probe cannot fill the log. */
static void note_rejected(gale_ctl_server_t *s, const gale_ctl_conn_t *c, const char *why)
{
    uint64_t earlier = 0;
    if (!gale_ratelog_event(&s->rejects, uv_now(s->loop), why, &earlier)) return;
    say_rejected(s, earlier, s->rejects.last);
    gale_logf(GALE_LOG_WARN, s->o.who, "a control connection from %s was refused before authenticating: %s", c->source,
              why);
    gale_audit_event_t e = {.source = c->source, .action = "authenticate", .result = "refused", .detail = why};
    audit_event(s->o.audit, s->o.who, &e);
}

void gale_ctl_refuse(gale_ctl_conn_t *c, const char *why)
{
    if (gale_ctl_gone(c)) return;
    if (c->capture) {
        c->refusing = true;
        gale_ctl_sendf(c, "error %s", why);
        c->hanging_up = true;
        return;
    }
    if (!c->authed) note_rejected(c->s, c, why);
    c->refusing = true; /* an action this answers is recorded as refused */
    gale_ctl_sendf(c, "error %s", why);
    c->hanging_up = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req) req->data = c;
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
        free(req);
        close_conn(c);
    }
}

/* ---- reading ------------------------------------------------------------------------------------------------------ */

static void handle_line(void *arg, char *line)
{
    gale_ctl_conn_t *c = arg;
    gale_ctl_server_t *s = c->s;
    if (gale_ctl_gone(c)) return;
    if (c->authed) {
        gale_ctl_audit_begin(c, line);
        return s->o.line(s->o.arg, c, line);
    }
    char *save = NULL, *verb = strtok_r(line, " \r", &save), *hex = verb ? strtok_r(NULL, " \r", &save) : NULL;
    if (!verb) return; /* an empty line */
    unsigned char proof[GALE_SHA256_LEN];
    if (strcmp(verb, "auth") || !hex || strtok_r(NULL, " \r", &save) || gale_hex_decode(hex, proof, sizeof proof) ||
        !gale_auth_check(s->o.secret, s->o.secret_len, c->nonce, 'C', 0, proof))
        return gale_ctl_refuse(c, "authentication failed");
    c->authed = true;
    /* With TLS, who it is: its certificate's name; without, anyone who holds the secret. */
    const char *name = c->tls ? gale_tls_peer(c->tls) : "";
    snprintf(c->identity, sizeof c->identity, "%s", *name ? name : SECRET_IDENTITY);
    snprintf(c->role, sizeof c->role, "%s", c->tls ? gale_tls_peer_role(c->tls) : "admin");
    gale_ctl_sendf(c, "ok authenticated");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    gale_ctl_conn_t *c = h->data;
    (void)hint;
    if (c->tls) {
        *buf = uv_buf_init(c->cipher, sizeof c->cipher);
        return;
    }
    buf->base = gale_lines_space(&c->lines, &buf->len);
}

static void send_challenge(gale_ctl_conn_t *c);

/* With TLS: the handshake (the challenge once it is done), then the plaintext into the line reader. */
static void pump_tls(gale_ctl_conn_t *c)
{
    while (!gale_ctl_gone(c)) {
        bool was_ready = gale_tls_ready(c->tls);
        int rc = gale_tls_handshake(c->tls);
        flush_tls(c);
        if (rc == GALE_EAGAIN) return;
        char why[300];
        if (rc) {
            snprintf(why, sizeof why, "TLS: %s", gale_tls_error(c->tls));
            note_rejected(c->s, c, why);
            return close_conn(c);
        }
        if (!was_ready) send_challenge(c);
        size_t room = 0, got = 0;
        char *at = gale_lines_space(&c->lines, &room);
        rc = gale_tls_read(c->tls, at, room, &got);
        flush_tls(c);
        if (rc == GALE_EAGAIN) return;
        if (rc) return close_conn(c);
        if (gale_lines_took(&c->lines, got, handle_line, c)) return gale_ctl_refuse(c, "line too long");
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    gale_ctl_conn_t *c = st->data;
    (void)buf;
    if (n < 0) return close_conn(c);
    if (c->tls) {
        if (n && gale_tls_feed(c->tls, c->cipher, (size_t)n)) return close_conn(c);
        return pump_tls(c);
    }
    if (gale_lines_took(&c->lines, (size_t)n, handle_line, c)) gale_ctl_refuse(c, "line too long");
}

/* The first line: BANNER challenge NONCE (with TLS, once the session is up). */
static void send_challenge(gale_ctl_conn_t *c)
{
    if (gale_auth_nonce(c->nonce)) return gale_ctl_refuse(c, "no randomness for the challenge");
    char hex[2 * GALE_NONCE_LEN + 1];
    gale_hex_encode(c->nonce, sizeof c->nonce, hex);
    gale_ctl_sendf(c, "%s challenge %s", c->s->o.banner, hex);
}

static void on_connection(uv_stream_t *server, int status)
{
    gale_ctl_server_t *s = server->data;
    if (status < 0 || s->closing) return;
    gale_ctl_conn_t *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(s->loop, &c->tcp)) {
        free(c);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    c->lines = (gale_lines_t){.buf = c->buf, .cap = sizeof c->buf};
    c->next = s->conns;
    c->opened_ms = uv_now(s->loop);
    s->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) return close_conn(c);
    c->audit = s->o.audit;
    c->audited = s->o.audited;
    struct sockaddr_storage peer;
    int plen = sizeof peer;
    char ip[64] = "?";
    if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen) && peer.ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)&peer, ip, sizeof ip);
        snprintf(c->source, sizeof c->source, "%s:%d", ip, ntohs(((const struct sockaddr_in *)&peer)->sin_port));
    } else snprintf(c->source, sizeof c->source, "%s", ip);
    /* Over the bound, the oldest connection that has not authenticated makes room: refusing the new one instead let
       64 idle connections, renewed before the sweep, lock every client out. Only when every open one has
       authenticated is the new one refused. */
    int open = 0;
    gale_ctl_conn_t *oldest = NULL;
    for (gale_ctl_conn_t *o = s->conns; o; o = o->next) {
        if (gale_ctl_gone(o)) continue;
        open++;
        if (o != c && !o->authed && (!oldest || o->opened_ms <= oldest->opened_ms)) oldest = o;
    }
    if (open > MAX_CONNS && oldest)
        gale_ctl_refuse(oldest, "too many control connections: this one, the oldest not authenticated, is closed to "
                                "make room");
    else if (open > MAX_CONNS)
        return gale_ctl_refuse(c, "too many control connections: every one of the 64 open has authenticated");
    if (s->o.tls && !(c->tls = gale_tls_new(s->o.tls, true))) return gale_ctl_refuse(c, "out of memory");
    if (!c->tls) send_challenge(c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_sweep(uv_timer_t *h)
{
    gale_ctl_server_t *s = h->data;
    uint64_t now = uv_now(s->loop);
    for (gale_ctl_conn_t *c = s->conns; c; c = c->next)
        if (!c->authed && now - c->opened_ms > AUTH_TIMEOUT_MS) gale_ctl_refuse(c, "no authentication in time");
    say_rejected(s, gale_ratelog_due(&s->rejects, now, false), s->rejects.last);
}

/* ---- the server --------------------------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    gale_ctl_server_t *s = h->data;
    s->handles--;
    maybe_free(s);
}

int gale_ctl_server_listen(uv_loop_t *loop, const char *host, int port, const gale_ctl_server_opts_t *o,
                           gale_ctl_server_t **out, int *bound_port)
{
    gale_ctl_server_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->o = *o;
    s->loop = loop;
    s->rejects.interval_ms = REJECT_LOG_MS;
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->sweep);
    s->tcp.data = s->sweep.data = s;
    s->handles = 2;
    int rc = gale_tcp_listen(&s->tcp, host, port, 64, on_connection, bound_port);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, o->who, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        gale_ctl_server_close(s);
        return GALE_EIO;
    }
    uv_timer_start(&s->sweep, on_sweep, 1000, 1000);
    *out = s;
    return 0;
}

void gale_ctl_server_set_audit(gale_ctl_server_t *s, gale_audit_t *audit) { s->o.audit = audit; }

void gale_ctl_server_close(gale_ctl_server_t *s)
{
    if (!s || s->closing) return;
    s->closing = true;
    say_rejected(s, gale_ratelog_due(&s->rejects, uv_now(s->loop), true), s->rejects.last);
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    for (gale_ctl_conn_t *c = s->conns; c; c = c->next) close_conn(c);
}
