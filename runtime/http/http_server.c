#include "http_server.h"

#include <http_parser.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gale.h"
#include "log.h"
#include "tcp_listen.h"
#include "tls.h"

#define READ_CHUNK 16384
#define SWEEP_MS 1000
#define LINGER_MS 2000 /* a hung-up connection's reading of what the client still sends */

typedef struct conn {
    struct conn *next;
    gale_http_server_t *s;
    uv_tcp_t tcp;
    http_parser parser;
    /* The request being read: its head's text (URL and the Authorization value, NUL-separated) and body. */
    gale_buf_t url, auth, body;
    size_t head_bytes;
    int headers;
    char field[16];   /* the start of the header name being read, to know Authorization */
    size_t field_len; /* its whole length */
    bool last_field;  /* the last callback was a header name's (a value's starts a new header) */
    bool in_auth;     /* the header value being read is Authorization's */
    bool too_big;     /* its declared body is over the bound */
    bool in_request;  /* bytes of a request arrived since the last answer */
    bool closing, hanging_up;
    bool eof;           /* the client shut its side: close once the answers in flight are sent */
    int writes;         /* answers queued, not yet sent */
    uint64_t active_ms; /* uv_now at the last request's start or the last answer */
    gale_tls_t *tls;    /* HTTPS; NULL: in clear */
    char rbuf[READ_CHUNK];
} conn_t;

struct gale_http_server {
    gale_http_server_opts_t o;
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t sweep;
    conn_t *conns;
    int n_conns;
    int handles;
    bool closing;
    gale_http_counts_t counts;
};

static http_parser_settings settings;

static void maybe_free(gale_http_server_t *s)
{
    if (s->closing && s->handles == 0 && !s->conns) free(s);
}

static void reset_request(conn_t *c)
{
    c->url.len = c->auth.len = c->body.len = 0;
    c->head_bytes = 0;
    c->headers = 0;
    c->field_len = 0;
    c->last_field = c->in_auth = c->too_big = false;
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    gale_http_server_t *s = c->s;
    for (conn_t **p = &s->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    s->n_conns--;
    gale_tls_free(c->tls);
    gale_buf_free(&c->url), gale_buf_free(&c->auth), gale_buf_free(&c->body);
    free(c);
    maybe_free(s);
}

static void close_conn(conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- answering ---------------------------------------------------------------------------------------------------- */

typedef struct write_req {
    uv_write_t w;
    conn_t *c;
    char *data;
} write_req_t;

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    if (status < 0) close_conn(c); /* else the client's close, or the sweep, ends it */
}

/* No more requests: once what was written is sent, our side is shut, and what the client still sends is read and
   dropped until it closes or LINGER_MS pass (nginx's lingering close). Closing at once would, with its bytes unread,
   reset the connection, and a client could lose the answer that says why (a 431 to a 1 MB header). */
static void hang_up(conn_t *c)
{
    if (c->closing || c->hanging_up) return;
    c->hanging_up = true;
    c->active_ms = uv_now(c->s->loop);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req) req->data = c;
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
        free(req);
        close_conn(c);
    }
}

static void on_written(uv_write_t *w, int status)
{
    write_req_t *req = (write_req_t *)w;
    conn_t *c = req->c;
    c->writes--;
    if (status < 0 || (c->eof && !c->writes)) close_conn(c);
    free(req->data);
    free(req);
}

const char *gale_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : "Error";
    }
}

/* `len` bytes of `data` (malloc'd: taken) to the socket. 0, or -1 when the connection was closed. */
static int write_out(conn_t *c, char *data, size_t len)
{
    write_req_t *req = malloc(sizeof *req);
    if (!req) {
        free(data);
        close_conn(c);
        return -1;
    }
    req->c = c;
    req->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (uv_write(&req->w, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
        free(data), free(req);
        close_conn(c);
        return -1;
    }
    c->writes++;
    return 0;
}

/* What the TLS session has for the network (its records, handshake, alerts). 0, or -1 when closed. */
static int flush_tls(conn_t *c)
{
    size_t n;
    while ((n = gale_tls_pending(c->tls)) > 0) {
        char *chunk = malloc(n);
        if (!chunk) {
            close_conn(c);
            return -1;
        }
        if (write_out(c, chunk, gale_tls_take(c->tls, chunk, n))) return -1;
    }
    return 0;
}

/* Sends the answer (head and body in one write; takes the body's memory). */
static void send_answer(conn_t *c, int status, const char *type, gale_buf_t *body, bool keep_alive)
{
    if (c->closing || c->hanging_up) return gale_buf_free(body);
    if (body->failed) {
        gale_buf_free(body);
        *body = (gale_buf_t){0};
        status = 500;
        type = "text/plain";
        gale_buf_puts(body, "out of memory\n");
    }
    gale_buf_t out = {0};
    gale_buf_printf(&out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                    "X-Content-Type-Options: nosniff\r\n%s\r\n",
                    status, gale_http_reason(status), type, body->len, keep_alive ? "" : "Connection: close\r\n");
    if (body->len) gale_buf_put(&out, body->p, body->len);
    gale_buf_free(body);
    if (out.failed) {
        gale_buf_free(&out);
        return close_conn(c);
    }
    if (c->tls) { /* one TLS write of the whole answer, then its records */
        int rc = gale_tls_write(c->tls, out.p, out.len);
        gale_buf_free(&out);
        if (rc || flush_tls(c)) return close_conn(c);
    } else if (write_out(c, out.p, out.len)) {
        return;
    }
    c->active_ms = uv_now(c->s->loop);
    /* A client that asks and never reads would make us hold its answers without bound. */
    if (c->tcp.write_queue_size > GALE_HTTP_UNSENT_MAX) {
        c->s->counts.refused++;
        return close_conn(c);
    }
    if (!keep_alive) hang_up(c);
}

/* An answer of our own to a request that broke a rule, and the connection closed after it. */
static void refuse(conn_t *c, int status, const char *why)
{
    c->s->counts.refused++;
    gale_buf_t body = {0};
    gale_buf_printf(&body, "%s\n", why);
    send_answer(c, status, "text/plain; charset=utf-8", &body, false);
}

/* ---- reading ------------------------------------------------------------------------------------------------------ */

/* Counts head bytes against the bound; non-zero stops the parser (the caller refuses with 431). */
static int count_head(conn_t *c, size_t n)
{
    c->head_bytes += n;
    return c->head_bytes > GALE_HTTP_HEAD_MAX;
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    reset_request(c);
    c->in_request = true;
    c->active_ms = uv_now(c->s->loop);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (count_head(c, n)) return 1;
    gale_buf_put(&c->url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (count_head(c, n)) return 1;
    /* http-parser calls this again for the rest of a name split across reads: a new header follows a value. */
    if (!c->last_field) {
        if (++c->headers > GALE_HTTP_HEADERS_MAX) return 1;
        c->field_len = 0;
    }
    for (size_t i = 0; i < n && c->field_len + i < sizeof c->field; i++) c->field[c->field_len + i] = at[i];
    c->field_len += n;
    c->last_field = true;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (count_head(c, n)) return 1;
    if (c->last_field) /* the first of a value: the first Authorization header is the one */
        c->in_auth = c->field_len == 13 && !strncasecmp(c->field, "authorization", 13) && !c->auth.len;
    c->last_field = false;
    if (c->in_auth) gale_buf_put(&c->auth, at, n);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->body.len + n > GALE_HTTP_BODY_MAX) return 1;
    gale_buf_put(&c->body, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    /* A declared body over the bound is refused before it is read: 1 tells http-parser there is none to read, and
       the request completes at once, to be refused there. */
    c->too_big = p->content_length != ULLONG_MAX && p->content_length > GALE_HTTP_BODY_MAX;
    return c->too_big;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    gale_http_server_t *s = c->s;
    if (c->too_big) {
        refuse(c, 413, "request body too large");
        return 1;
    }
    gale_buf_put(&c->url, "", 1), gale_buf_put(&c->auth, "", 1), gale_buf_put(&c->body, "", 1);
    if (c->url.failed || c->auth.failed || c->body.failed) {
        refuse(c, 500, "out of memory");
        return 1;
    }
    char *query = strchr(c->url.p, '?');
    if (query) *query++ = 0;
    gale_http_req_t req = {.method = http_method_str((enum http_method)p->method),
                           .path = c->url.p,
                           .query = query ? query : "",
                           .authorization = c->auth.p,
                           .body = c->body.p,
                           .body_len = c->body.len - 1};
    gale_http_resp_t resp = {.status = 200, .content_type = "application/json"};
    s->o.handle(s->o.arg, &req, &resp);
    s->counts.requests++;
    c->in_request = false;
    bool keep = http_should_keep_alive(p) && !s->closing;
    send_answer(c, resp.status, resp.content_type, &resp.body, keep);
    return keep ? 0 : 1;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void parse(conn_t *c, const char *data, size_t n);

/* HTTPS: the handshake, then the plaintext through the parser, as much as the session has. A client that is refused
   (it does not speak TLS) is closed and counted. */
static void pump_tls(conn_t *c)
{
    char plain[READ_CHUNK];
    while (!c->closing && !c->hanging_up) {
        int rc = gale_tls_handshake(c->tls);
        if (flush_tls(c)) return;
        if (rc == GALE_EAGAIN) return;
        if (rc) {
            c->s->counts.refused++;
            gale_logf(GALE_LOG_DEBUG, c->s->o.who, "HTTPS: %s", gale_tls_error(c->tls));
            return close_conn(c);
        }
        size_t got = 0;
        rc = gale_tls_read(c->tls, plain, sizeof plain, &got);
        if (flush_tls(c)) return;
        if (rc == GALE_EAGAIN) return;
        if (rc) return close_conn(c);
        parse(c, plain, got);
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    /* A client may shut its side once it has asked (`nc -N`, a half-close): its answers still go out first. */
    if (n == UV_EOF && c->writes && !c->closing) {
        c->eof = true;
        uv_read_stop(st);
        return;
    }
    if (n == UV_EOF || n < 0) return close_conn(c);
    if (n == 0 || c->hanging_up || c->closing) return;
    if (!c->in_request) c->active_ms = uv_now(c->s->loop);
    if (c->tls) {
        if (gale_tls_feed(c->tls, buf->base, (size_t)n)) return close_conn(c);
        return pump_tls(c);
    }
    parse(c, buf->base, (size_t)n);
}

/* Bytes of requests through the parser, and the refusals of what breaks a rule. */
static void parse(conn_t *c, const char *data, size_t n)
{
    size_t done = http_parser_execute(&c->parser, &settings, data, n);
    if (c->hanging_up || c->closing) return; /* answered with Connection: close */
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_OK && done == n) return;
    if (c->head_bytes > GALE_HTTP_HEAD_MAX || c->headers > GALE_HTTP_HEADERS_MAX || e == HPE_HEADER_OVERFLOW)
        return refuse(c, 431, "request head too large");
    if (e == HPE_CB_body) return refuse(c, 413, "request body too large");
    refuse(c, 400, e == HPE_OK ? "bad request" : http_errno_description(e));
}

/* Over the bound, the connection idle the longest (not in the middle of a request, or else the oldest) goes. */
static void make_room(gale_http_server_t *s, conn_t *fresh)
{
    conn_t *victim = NULL;
    for (conn_t *o = s->conns; o; o = o->next) {
        if (o == fresh || o->closing) continue;
        if (!victim || (victim->in_request && !o->in_request) ||
            (victim->in_request == o->in_request && o->active_ms < victim->active_ms))
            victim = o;
    }
    if (victim) {
        s->counts.refused++;
        close_conn(victim);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    gale_http_server_t *s = server->data;
    if (status < 0 || s->closing) return;
    conn_t *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(s->loop, &c->tcp)) {
        free(c);
        return;
    }
    c->s = s;
    c->tcp.data = c;
    c->parser.data = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->active_ms = uv_now(s->loop);
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) return close_conn(c);
    s->counts.connections++;
    int open = 0;
    for (conn_t *o = s->conns; o; o = o->next) open += !o->closing;
    if (open > GALE_HTTP_CONNS_MAX) make_room(s, c);
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->o.tls && !(c->tls = gale_tls_new(s->o.tls, true))) return close_conn(c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_sweep(uv_timer_t *h)
{
    gale_http_server_t *s = h->data;
    uint64_t now = uv_now(s->loop);
    for (conn_t *c = s->conns; c; c = c->next)
        if (!c->closing && c->hanging_up && now - c->active_ms > LINGER_MS) close_conn(c);
        else if (!c->closing && now - c->active_ms > GALE_HTTP_IDLE_MS) {
            if (c->in_request) s->counts.refused++;
            close_conn(c);
        }
}

/* ---- the server --------------------------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    gale_http_server_t *s = h->data;
    s->handles--;
    maybe_free(s);
}

int gale_http_server_listen(uv_loop_t *loop, const char *host, int port, const gale_http_server_opts_t *o,
                            gale_http_server_t **out, int *bound_port)
{
    settings = (http_parser_settings){.on_message_begin = on_message_begin,
                                      .on_url = on_url,
                                      .on_header_field = on_header_field,
                                      .on_header_value = on_header_value,
                                      .on_headers_complete = on_headers_complete,
                                      .on_body = on_body,
                                      .on_message_complete = on_message_complete};
    gale_http_server_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->o = *o;
    s->loop = loop;
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->sweep);
    s->tcp.data = s->sweep.data = s;
    s->handles = 2;
    int rc = gale_tcp_listen(&s->tcp, host, port, 511, on_connection, bound_port);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, o->who, "cannot listen for HTTP on %s:%d: %s", host, port, uv_strerror(rc));
        gale_http_server_close(s);
        return GALE_EIO;
    }
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    /* The sweep alone must not keep a loop alive that has nothing else to do. */
    uv_unref((uv_handle_t *)&s->sweep);
    *out = s;
    return 0;
}

void gale_http_server_close(gale_http_server_t *s)
{
    if (!s || s->closing) return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    for (conn_t *c = s->conns; c; c = c->next) close_conn(c);
}

gale_http_counts_t gale_http_server_counts(const gale_http_server_t *s) { return s->counts; }

int gale_http_parse_addr(const char *spec, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(spec, ':'), *num = colon ? colon + 1 : spec;
    size_t hlen = colon ? (size_t)(colon - spec) : 0;
    char *end = NULL;
    long p = strtol(num, &end, 10);
    if (!*num || *end || p < 0 || p > 65535 || (colon && !hlen)) return GALE_EINVAL;
    int n = colon ? snprintf(host, cap, "%.*s", (int)hlen, spec) : snprintf(host, cap, "127.0.0.1");
    if (n < 0 || (size_t)n >= cap) return GALE_EINVAL;
    *port = (int)p;
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int gale_http_query_value(const char *query, const char *key, char *out, size_t cap)
{
    size_t key_len = strlen(key);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, key_len) || p[key_len] != '=') continue;
        size_t n = 0;
        for (const char *v = p + key_len + 1; *v && *v != '&' && n + 1 < cap; v++) {
            int hi, lo;
            if (*v == '%' && (hi = hex_digit(v[1])) >= 0 && (lo = hex_digit(v[2])) >= 0) {
                out[n++] = (char)(hi * 16 + lo);
                v += 2;
            } else {
                out[n++] = *v == '+' ? ' ' : *v;
            }
        }
        if (cap) out[n] = 0;
        return 1;
    }
    if (cap) out[0] = 0;
    return 0;
}
