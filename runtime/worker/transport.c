#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "hmac.h"
#include "log.h"
#include "tcp_listen.h"
#include "ratelog.h"
#include "tls.h"

#define HANDSHAKE_MS 3000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* Rejected handshakes are logged at most once per REJECT_LOG_MS, with a count: a probe of the port made 10,780
   lines when each had its own. */
#define REJECT_LOG_MS 10000

/* Reads go straight into the frame reader's buffer: room for READ_ROOM bytes once authenticated, for a few
   handshake frames before (a client without the secret gets no more than that out of us). A reader that grew past
   READ_KEEP for one big frame gives it back once the frame is handled. */
#define READ_ROOM (256u << 10)
#define HANDSHAKE_ROOM (4 * (5 + GALE_HANDSHAKE_MAX))
#define READ_KEEP (4 * READ_ROOM)
/* The kernel's buffers of each connection, both ways. Left to Linux's autotuning, they grow to megabytes on a busy
   connection, and everything in them is in flight when backpressure holds the spouts: a bolt that turns each
   sentence into words then queues ten times that for its peer (a word count's two workers peaked at 103-156 MB
   together so, 36-65 MB with 128 KiB). 128 KiB still carries 1.3 GB/s at a round trip of 0.1 ms. */
#define SOCKET_BUFFER (128 << 10)
/* With TLS, what the socket gives goes here first (records), and what the session makes goes out through a buffer of
   this size: 64 KiB is four full records. */
#define TLS_CHUNK (64u << 10)

_Static_assert(GALE_HELLO_LEN == 16 + GALE_NONCE_LEN, "HELLO is [u32 version][u32 id][u64 placement][nonce]");
_Static_assert(GALE_SHA256_LEN <= GALE_HANDSHAKE_MAX, "AUTH fits the handshake's frame limit");

typedef enum { CONN_HELLO, CONN_AUTH, CONN_UP } conn_state_t;

typedef struct conn {
    uv_tcp_t tcp; /* first: handle->data is not needed to find the conn */
    uv_timer_t timer;
    gale_transport_t *t;
    struct conn *next;
    bool client;
    bool closing;
    int open; /* handles not yet closed */
    uint32_t peer;
    uint64_t placement; /* the peer's, as its HELLO said */
    conn_state_t state;
    unsigned char my_nonce[GALE_NONCE_LEN], peer_nonce[GALE_NONCE_LEN];
    gale_frame_reader_t reader;
    gale_tls_t *tls; /* NULL: in clear */
    char *cipher;    /* with TLS: what the socket read, before the session opens it (TLS_CHUNK bytes) */
    bool hello_sent; /* with TLS, a client says HELLO once its TLS handshake is done */
} conn_t;

typedef struct peer {
    gale_transport_t *t;
    uint32_t id;
    bool dial; /* we connect to it */
    char host[64];
    int port;
    conn_t *up;
    uint64_t min_placement; /* its connections under an earlier placement are refused */
    uv_timer_t retry;
    bool retry_open;
    unsigned backoff_ms;
} peer_t;

struct gale_transport {
    uv_loop_t *loop;
    uint32_t self;
    uint64_t placement;
    gale_tls_ctx_t *tls; /* borrowed; NULL: connections in clear */
    unsigned char *secret;
    size_t secret_len, max_frame;
    gale_transport_cb_t cb;
    void *arg;
    uv_tcp_t listener;
    bool listening, closing, paused;
    int open; /* handles of the transport itself (listener, retry timers, reject_timer) and connections */
    conn_t *conns;
    peer_t **peers;
    size_t n_peers;
    gale_transport_stats_t stats;
    /* The log of rejected handshakes: a line, then a count until REJECT_LOG_MS have passed (reject_timer). */
    uv_timer_t reject_timer;
    bool reject_timer_open;
    gale_ratelog_t rejects;
};

typedef struct write_req {
    uv_write_t req;
    char data[];
} write_req_t;

static void maybe_free(gale_transport_t *t)
{
    if (!t->closing || t->open > 0) return;
    for (size_t i = 0; i < t->n_peers; i++) free(t->peers[i]);
    free(t->peers);
    explicit_bzero(t->secret, t->secret_len); /* a secret is wiped before its memory goes back */
    free(t->secret);
    free(t);
}

static peer_t *find_peer(const gale_transport_t *t, uint32_t id)
{
    for (size_t i = 0; i < t->n_peers; i++)
        if (t->peers[i]->id == id) return t->peers[i];
    return NULL;
}

static peer_t *add_peer(gale_transport_t *t, uint32_t id)
{
    peer_t *p = find_peer(t, id);
    if (p) return p;
    peer_t **ps = realloc(t->peers, (t->n_peers + 1) * sizeof *ps);
    if (!ps) return NULL;
    t->peers = ps;
    p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->t = t;
    p->id = id;
    p->backoff_ms = BACKOFF_MIN_MS;
    t->peers[t->n_peers++] = p;
    return p;
}

/* ---- writing ------------------------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error, which closes the connection */
    free(req);
}

/* Straight into the socket when nothing is queued before us (the usual case: no copy, no request); what the kernel
   did not take is copied into a write request, which keeps the caller's buffer free for its next frame. */
static int write_raw(conn_t *c, const void *data, size_t len)
{
    if (c->closing) return GALE_EAGAIN;
    uv_buf_t direct = uv_buf_init((char *)data, (unsigned)len);
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &direct, 1);
    if (sent > 0) {
        data = (const char *)data + sent;
        len -= (size_t)sent;
        if (!len) return 0;
    } else if (sent != UV_EAGAIN && sent != UV_ENOSYS) {
        return sent; /* the connection is broken: its read side reports it and closes it */
    }
    write_req_t *w = malloc(sizeof *w + len);
    if (!w) return GALE_ENOMEM;
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
    if (rc) free(w);
    return rc;
}

/* What the TLS session has for the network (handshake, records, alerts), to the socket. */
static int flush_tls(conn_t *c)
{
    char chunk[TLS_CHUNK];
    size_t n;
    int rc = 0;
    while (!rc && (n = gale_tls_take(c->tls, chunk, sizeof chunk)) > 0) rc = write_raw(c, chunk, n);
    return rc;
}

/* Plaintext (whole frames, batched by the caller) to the peer: as it is, or through the session as records. */
static int write_bytes(conn_t *c, const void *data, size_t len)
{
    if (!c->tls) return write_raw(c, data, len);
    if (c->closing) return GALE_EAGAIN;
    int rc = gale_tls_write(c->tls, data, len);
    return rc ? rc : flush_tls(c);
}

/* A handshake frame: HELLO carries [u32 version][u32 id][u64 placement][nonce], AUTH the proof. */
static int send_handshake(conn_t *c, uint8_t type, const void *payload, size_t len)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, type);
    gale_buf_put(&b, payload, len);
    gale_frame_end(&b, start);
    int rc = b.failed ? GALE_ENOMEM : write_bytes(c, b.p, b.len);
    gale_buf_free(&b);
    return rc;
}

static int send_hello(conn_t *c)
{
    char p[GALE_HELLO_LEN];
    gale_le_put(p, GALE_WIRE_VERSION, 4);
    gale_le_put(p + 4, c->t->self, 4);
    gale_le_put(p + 8, c->t->placement, 8);
    memcpy(p + 16, c->my_nonce, GALE_NONCE_LEN);
    return send_handshake(c, GALE_FRAME_HELLO, p, sizeof p);
}

static int send_auth(conn_t *c, char role)
{
    unsigned char proof[GALE_SHA256_LEN];
    int rc = gale_auth_proof(c->t->secret, c->t->secret_len, c->peer_nonce, role, c->t->self, proof);
    return rc ? rc : send_handshake(c, GALE_FRAME_AUTH, proof, sizeof proof);
}

/* ---- closing ------------------------------------------------------------------------------------------------ */

static void schedule_dial(peer_t *p, gale_transport_t *t);

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->open > 0) return;
    gale_transport_t *t = c->t;
    for (conn_t **pp = &t->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    bool big = c->reader.cap > READ_KEEP;
    gale_frame_reader_destroy(&c->reader);
    gale_tls_free(c->tls);
    free(c->cipher);
    free(c);
#ifdef __GLIBC__
    /* glibc may keep a freed block of many MiB in its heap rather than give it back, once its mmap threshold has
       risen past that size (it does after the first such free): 60 connections that had each sent a few MB once
       left 632 MB held after they closed. Rare: only a big frame grows a reader past READ_KEEP. */
    if (big) malloc_trim(0);
#else
    (void)big;
#endif
    t->open--;
    maybe_free(t);
}

static void say_rejected(uint64_t n, const char *last)
{
    if (n)
        gale_logf(GALE_LOG_WARN, "transport", "%llu connections rejected in the last %d s (last: %s)",
                  (unsigned long long)n, REJECT_LOG_MS / 1000, last);
}

static void flush_rejected(gale_transport_t *t)
{
    say_rejected(gale_ratelog_due(&t->rejects, uv_now(t->loop), true), t->rejects.last);
}

static void on_reject_timer(uv_timer_t *h) { flush_rejected(h->data); }

static void on_reject_timer_closed(uv_handle_t *h)
{
    gale_transport_t *t = h->data;
    t->open--;
    maybe_free(t);
}

/* A connection that never authenticated was closed for `what`: logged at once if no line went out in the last
   REJECT_LOG_MS, else counted for the line the timer writes when they have passed. */
static void log_rejected(gale_transport_t *t, const char *what)
{
    uint64_t now = uv_now(t->loop), earlier = 0;
    if (gale_ratelog_event(&t->rejects, now, what, &earlier)) {
        say_rejected(earlier, t->rejects.last); /* a count whose timer has not run yet goes first */
        gale_logf(GALE_LOG_WARN, "transport", "closing the connection %s", what);
        return;
    }
    if (t->closing) return; /* gale_transport_close writes the count */
    if (!t->reject_timer_open) {
        uv_timer_init(t->loop, &t->reject_timer);
        uv_unref((uv_handle_t *)&t->reject_timer); /* a pending log line keeps no loop alive */
        t->reject_timer.data = t;
        t->reject_timer_open = true;
        t->open++;
    }
    if (!uv_is_active((uv_handle_t *)&t->reject_timer))
        uv_timer_start(&t->reject_timer, on_reject_timer, t->rejects.said_ms + REJECT_LOG_MS - now, 0);
}

static void close_conn(conn_t *c, const char *why)
{
    if (c->closing) return;
    gale_transport_t *t = c->t;
    c->closing = true;
    if (why) {
        t->stats.rejected++;
        char what[160];
        if (c->client || c->state != CONN_HELLO)
            snprintf(what, sizeof what, "%s peer %u: %s", c->client ? "to" : "from", c->peer, why);
        else
            snprintf(what, sizeof what, "from an unidentified client: %s", why);
        snprintf(t->stats.last_rejected, sizeof t->stats.last_rejected, "%s", what);
        /* An authenticated peer knows the secret: what it does wrong is rare and worth a line each. */
        if (c->state == CONN_UP) gale_logf(GALE_LOG_WARN, "transport", "closing the connection %s", what);
        else log_rejected(t, what);
    }
    peer_t *p = c->state == CONN_UP ? find_peer(t, c->peer) : NULL;
    if (p && p->up == c) {
        p->up = NULL;
        if (t->cb.on_peer && !t->closing) t->cb.on_peer(t->arg, p->id, false);
    }
    if (c->client && !t->closing && (p = find_peer(t, c->peer)) && p->dial && !p->up) schedule_dial(p, t);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_handshake_timeout(uv_timer_t *h) { close_conn(h->data, "no handshake in time"); }

/* ---- the handshake and frames -------------------------------------------------------------------------------- */

static void mark_up(conn_t *c)
{
    gale_transport_t *t = c->t;
    peer_t *p = add_peer(t, c->peer);
    if (!p) {
        close_conn(c, "out of memory");
        return;
    }
    c->state = CONN_UP;
    gale_frame_reader_limit(&c->reader, t->max_frame);
    uv_timer_stop(&c->timer);
    if (c->placement > p->min_placement) p->min_placement = c->placement; /* it proved it knows the secret */
    if (p->up && p->up != c) close_conn(p->up, NULL); /* one connection per pair: the newest wins */
    p->up = c;
    p->backoff_ms = BACKOFF_MIN_MS;
    if (t->cb.on_peer) t->cb.on_peer(t->arg, p->id, true);
}

/* Returns false when the connection was closed. */
static bool handle_frame(conn_t *c, const gale_frame_t *f)
{
    gale_transport_t *t = c->t;
    if (c->state == CONN_UP) {
        if (f->type == GALE_FRAME_HELLO || f->type == GALE_FRAME_AUTH) {
            close_conn(c, "handshake frame after the handshake");
            return false;
        }
        t->stats.frames_in++;
        t->cb.on_frame(t->arg, c->peer, f);
        return !c->closing;
    }
    if (c->state == CONN_HELLO) {
        char why[96];
        if (f->type != GALE_FRAME_HELLO) {
            close_conn(c, "expected HELLO");
            return false;
        }
        /* The version comes first, so that a later layout can still say which it is (version 1, without it, had
           36 bytes). */
        uint32_t version = f->len >= 4 ? (uint32_t)gale_le_get(f->payload, 4) : 0;
        if (f->len != GALE_HELLO_LEN || version != GALE_WIRE_VERSION) {
            if (f->len != GALE_HELLO_LEN)
                snprintf(why, sizeof why, "a HELLO of %zu bytes, not %d: another wire version than %d", f->len,
                         GALE_HELLO_LEN, GALE_WIRE_VERSION);
            else
                snprintf(why, sizeof why, "wire version %u, this one speaks %d (a different gale?)", version,
                         GALE_WIRE_VERSION);
            close_conn(c, why);
            return false;
        }
        uint32_t id = (uint32_t)gale_le_get(f->payload + 4, 4);
        if (c->client && id != c->peer) {
            close_conn(c, "the peer is not the one dialled");
            return false;
        }
        c->peer = id;
        c->placement = gale_le_get(f->payload + 8, 8);
        const peer_t *p = find_peer(t, id);
        if (p && c->placement < p->min_placement) {
            snprintf(why, sizeof why, "it speaks for placement %llu, superseded here by %llu (fenced)",
                     (unsigned long long)c->placement, (unsigned long long)p->min_placement);
            t->stats.fenced++;
            close_conn(c, why);
            return false;
        }
        memcpy(c->peer_nonce, f->payload + 16, GALE_NONCE_LEN);
        c->state = CONN_AUTH;
        if (!c->client && (send_hello(c) || send_auth(c, 's'))) {
            close_conn(c, "cannot answer the handshake");
            return false;
        }
        return true;
    }
    /* CONN_AUTH: the other side's proof over the nonce we sent */
    char role = c->client ? 's' : 'c';
    if (f->type != GALE_FRAME_AUTH || f->len != GALE_SHA256_LEN ||
        !gale_auth_check(t->secret, t->secret_len, c->my_nonce, role, c->peer, (const unsigned char *)f->payload)) {
        close_conn(c, "authentication failed (wrong topology secret?)");
        return false;
    }
    if (c->client && send_auth(c, 'c')) {
        close_conn(c, "cannot answer the handshake");
        return false;
    }
    mark_up(c);
    return !c->closing;
}

/* No buffer per read, no copy (in clear; with TLS the records land in c->cipher). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = (conn_t *)h;
    if (c->tls) {
        if (!c->cipher) c->cipher = malloc(TLS_CHUNK);
        buf->base = c->cipher;
        buf->len = c->cipher ? TLS_CHUNK : 0;
        return;
    }
    size_t room = 0;
    buf->base = gale_frame_reader_room(&c->reader, c->state == CONN_UP ? READ_ROOM : HANDSHAKE_ROOM, &room);
    buf->len = buf->base ? room : 0; /* out of memory: libuv reports UV_ENOBUFS to on_read */
}

static void handle_frames(conn_t *c);

/* With TLS: the handshake as far as it goes (a client says HELLO once it is done), then the plaintext into the frame
   reader, as much as its room takes, the frames handled, and again while the session has more: a paused transport
   leaves the rest inside the session until it resumes. */
static void pump_tls(conn_t *c)
{
    while (!c->closing) {
        bool was_ready = gale_tls_ready(c->tls);
        int rc = gale_tls_handshake(c->tls);
        if (flush_tls(c) && !c->closing) return close_conn(c, "cannot write the TLS handshake");
        if (rc == GALE_EAGAIN) return;
        if (rc) {
            char why[300];
            snprintf(why, sizeof why, "TLS: %s", gale_tls_error(c->tls));
            return close_conn(c, why);
        }
        if (!was_ready && c->client && !c->hello_sent) {
            c->hello_sent = true;
            if (send_hello(c)) return close_conn(c, "cannot start");
        }
        if (c->state == CONN_UP && c->t->paused) return;
        size_t room = 0, got = 0;
        char *at = gale_frame_reader_room(&c->reader, c->state == CONN_UP ? READ_ROOM : HANDSHAKE_ROOM, &room);
        if (!at) return close_conn(c, "out of memory");
        rc = gale_tls_read(c->tls, at, room, &got);
        if (flush_tls(c) && !c->closing) return close_conn(c, "cannot write to the peer");
        if (rc == GALE_EAGAIN) return handle_frames(c);
        if (rc) {
            char why[300];
            snprintf(why, sizeof why, "TLS: %s", gale_tls_error(c->tls));
            return close_conn(c, c->state == CONN_UP && strstr(why, "closed the session") ? NULL : why);
        }
        gale_frame_reader_commit(&c->reader, got);
        handle_frames(c);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = (conn_t *)s;
    (void)buf;
    if (c->tls && n > 0) {
        if (gale_tls_feed(c->tls, c->cipher, (size_t)n)) return close_conn(c, "out of memory");
        return pump_tls(c);
    }
    if (n < 0) {
        /* Hanging up before the handshake is done counts as refused: a client with the wrong secret is the side
           that notices first (the server's proof does not check out) and leaves. */
        close_conn(c, c->state == CONN_UP ? NULL : n == UV_EOF ? "closed during the handshake" : uv_strerror((int)n));
        return;
    }
    if (n) gale_frame_reader_commit(&c->reader, (size_t)n);
    handle_frames(c);
}

/* Hands every whole frame in c's reader to the user, but stops at once when the user paused the transport from
   a frame's callback: one read holds up to READ_ROOM bytes, many frames, and a receiver that stopped because its
   executors have enough must not be given the rest (a worker took in 20-25 thousand entries past its limit of
   1024 so). They wait in the reader until the pause ends. */
static void handle_frames(conn_t *c)
{
    int rc = 0;
    gale_frame_t f;
    while (!rc && !(c->state == CONN_UP && c->t->paused) && (rc = gale_frame_next(&c->reader, &f)) == 1) {
        if (!handle_frame(c, &f)) return;
        rc = 0;
    }
    if (rc == GALE_ELIMIT && c->state != CONN_UP) {
        char why[96];
        snprintf(why, sizeof why, "a frame of %llu bytes before authentication (at most %d)",
                 (unsigned long long)gale_le_get(c->reader.buf + c->reader.pos, 4), 1 + GALE_HANDSHAKE_MAX);
        close_conn(c, why);
    } else if (rc < 0) {
        close_conn(c, rc == GALE_ELIMIT ? "frame over the size limit" : "malformed frame");
    } else if (c->state == CONN_UP) {
        gale_frame_reader_trim(&c->reader, READ_KEEP);
    }
}

static conn_t *new_conn(gale_transport_t *t, bool client, uint32_t peer)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->t = t;
    c->client = client;
    c->peer = peer;
    c->state = CONN_HELLO;
    gale_frame_reader_init(&c->reader, GALE_HANDSHAKE_MAX);
    if (gale_auth_nonce(c->my_nonce) || (t->tls && !(c->tls = gale_tls_new(t->tls, !client)))) {
        gale_frame_reader_destroy(&c->reader);
        free(c);
        return NULL;
    }
    uv_tcp_init(t->loop, &c->tcp);
    /* Frames are batched already: Nagle's algorithm would only hold a small one back until the peer's delayed ACK
       (up to 40 ms on Linux), which is what a quiet stream's latency would then be. libuv applies it to the socket
       once there is one. */
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_init(t->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open = 2;
    c->next = t->conns;
    t->conns = c;
    t->open++;
    uv_timer_start(&c->timer, on_handshake_timeout, HANDSHAKE_MS, 0);
    return c;
}

/* ---- listening and dialling ---------------------------------------------------------------------------------- */

/* Over GALE_MAX_UNAUTH accepted connections that have not authenticated, the oldest goes: refusing the newest
   instead would let anyone who opens that many idle connections lock every real peer out. */
static void evict_unauthenticated(gale_transport_t *t)
{
    size_t n = 0;
    conn_t *oldest = NULL;
    for (conn_t *c = t->conns; c; c = c->next) /* newest first */
        if (!c->client && !c->closing && c->state != CONN_UP) n++, oldest = c;
    if (n <= GALE_MAX_UNAUTH) return;
    t->stats.evicted++;
    char why[96];
    snprintf(why, sizeof why, "evicted: over %d connections not authenticated", GALE_MAX_UNAUTH);
    close_conn(oldest, why);
}

/* Best effort: a kernel that refuses keeps its own sizes, which only costs memory. */
static void size_buffers(conn_t *c)
{
    int send = SOCKET_BUFFER, recv = SOCKET_BUFFER;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &send);
    uv_recv_buffer_size((uv_handle_t *)&c->tcp, &recv);
}

static void on_connection(uv_stream_t *server, int status)
{
    gale_transport_t *t = server->data;
    if (status < 0 || t->closing) return;
    conn_t *c = new_conn(t, false, 0);
    if (!c) return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
        close_conn(c, "cannot accept");
    else {
        size_buffers(c);
        evict_unauthenticated(t);
    }
}

int gale_transport_listen(gale_transport_t *t, const char *host, int port, int *bound)
{
    struct sockaddr_in addr; /* IPv4 only: peers are told HOST:PORT (control.h) */
    int rc = uv_ip4_addr(host ? host : "127.0.0.1", port, &addr), got = 0;
    if (rc) return rc;
    uv_tcp_init(t->loop, &t->listener);
    t->listener.data = t;
    t->listening = true;
    t->open++;
    if ((rc = gale_tcp_listen(&t->listener, host ? host : "127.0.0.1", port, 64, on_connection, &got))) return rc;
    if (bound) *bound = got;
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    if (status < 0) {
        close_conn(c, NULL); /* not up yet: the dialler retries with backoff */
        return;
    }
    if (c->closing) return;
    size_buffers(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) return close_conn(c, "cannot start");
    if (c->tls) pump_tls(c); /* the ClientHello; HELLO follows the TLS handshake */
    else if (send_hello(c)) close_conn(c, "cannot start");
}

static void dial(peer_t *p, gale_transport_t *t)
{
    struct sockaddr_in addr;
    if (t->closing || p->up || uv_ip4_addr(p->host, p->port, &addr)) return;
    conn_t *c = new_conn(t, true, p->id);
    uv_connect_t *req = c ? malloc(sizeof *req) : NULL;
    if (!req) {
        if (c) close_conn(c, "out of memory");
        return;
    }
    req->data = c;
    if (uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&addr, on_connect)) {
        free(req);
        close_conn(c, NULL);
    }
}

static void on_retry(uv_timer_t *h)
{
    peer_t *p = h->data;
    dial(p, p->t);
}

static void on_retry_closed(uv_handle_t *h)
{
    gale_transport_t *t = ((peer_t *)h->data)->t;
    t->open--;
    maybe_free(t);
}

static void schedule_dial(peer_t *p, gale_transport_t *t)
{
    if (!p->retry_open) {
        uv_timer_init(t->loop, &p->retry);
        p->retry.data = p;
        p->retry_open = true;
        t->open++;
    }
    uv_timer_start(&p->retry, on_retry, p->backoff_ms, 0);
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

int gale_transport_connect(gale_transport_t *t, uint32_t id, const char *host, int port)
{
    peer_t *p = add_peer(t, id);
    if (!p) return GALE_ENOMEM;
    if (!host) host = "127.0.0.1";
    bool moved = p->port != port || strcmp(p->host, host);
    p->dial = true;
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    /* The peer moved (its slot went to another host): the connection to where it was reaches a process that no
       longer is that peer, perhaps a hung one whose socket never closes. */
    if (moved && p->up) close_conn(p->up, NULL);
    dial(p, t);
    return 0;
}

/* ---- the rest ------------------------------------------------------------------------------------------------ */

int gale_transport_new(uv_loop_t *loop, uint32_t self, const void *secret, size_t secret_len, size_t max_frame,
                       const gale_transport_cb_t *cb, void *arg, gale_transport_t **out)
{
    gale_transport_t *t = calloc(1, sizeof *t);
    if (!t || !(t->secret = malloc(secret_len ? secret_len : 1))) {
        free(t);
        return GALE_ENOMEM;
    }
    memcpy(t->secret, secret, secret_len);
    t->secret_len = secret_len;
    t->loop = loop;
    t->rejects.interval_ms = REJECT_LOG_MS;
    t->self = self;
    t->max_frame = max_frame ? max_frame : GALE_FRAME_MAX;
    t->cb = *cb;
    t->arg = arg;
    *out = t;
    return 0;
}

int gale_transport_send(gale_transport_t *t, uint32_t peer, const void *frame, size_t len)
{
    peer_t *p = find_peer(t, peer);
    if (!p || !p->up) return GALE_EAGAIN;
    int rc = write_bytes(p->up, frame, len);
    if (!rc) t->stats.frames_out++;
    return rc ? GALE_EAGAIN : 0;
}

size_t gale_transport_max_frame(const gale_transport_t *t) { return t->max_frame; }

void gale_transport_set_tls(gale_transport_t *t, gale_tls_ctx_t *tls) { t->tls = tls; }

void gale_transport_set_placement(gale_transport_t *t, uint64_t placement) { t->placement = placement; }

int gale_transport_fence(gale_transport_t *t, uint32_t peer, uint64_t min)
{
    peer_t *p = add_peer(t, peer);
    if (!p) return GALE_ENOMEM;
    if (min <= p->min_placement) return 0;
    p->min_placement = min;
    char why[96];
    for (conn_t *c = t->conns; c; c = c->next) {
        /* Until the peer's HELLO came, its placement is not known: that HELLO is checked when it comes. */
        if (c->closing || c->state == CONN_HELLO || c->peer != peer || c->placement >= min) continue;
        snprintf(why, sizeof why, "it speaks for placement %llu, superseded by %llu (fenced)",
                 (unsigned long long)c->placement, (unsigned long long)min);
        t->stats.fenced++;
        close_conn(c, why);
    }
    return 1;
}

bool gale_transport_peer_up(const gale_transport_t *t, uint32_t peer)
{
    const peer_t *p = find_peer(t, peer);
    return p && p->up;
}

void gale_transport_stats(const gale_transport_t *t, gale_transport_stats_t *out) { *out = t->stats; }

size_t gale_transport_queued(const gale_transport_t *t, uint32_t peer)
{
    const peer_t *p = find_peer(t, peer);
    return p && p->up ? uv_stream_get_write_queue_size((const uv_stream_t *)&p->up->tcp) : 0;
}

void gale_transport_pause(gale_transport_t *t, bool pause)
{
    if (t->paused == pause) return;
    t->paused = pause;
    for (conn_t *c = t->conns; c; c = c->next) {
        if (c->closing || c->state != CONN_UP) continue;
        if (pause) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            continue;
        }
        if (c->tls) pump_tls(c); /* what a pause left in the reader and the session comes first */
        else handle_frames(c);   /* what a pause left in the reader comes first, and may pause us again */
        if (t->paused) break;
        if (!c->closing) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    gale_transport_t *t = h->data;
    t->open--;
    maybe_free(t);
}

void gale_transport_close(gale_transport_t *t)
{
    t->closing = true;
    for (conn_t *c = t->conns; c; c = c->next) close_conn(c, NULL);
    for (size_t i = 0; i < t->n_peers; i++)
        if (t->peers[i]->retry_open) uv_close((uv_handle_t *)&t->peers[i]->retry, on_retry_closed);
    if (t->listening) uv_close((uv_handle_t *)&t->listener, on_listener_closed);
    flush_rejected(t); /* the count of the last interval, with those the closing connections added */
    if (t->reject_timer_open) uv_close((uv_handle_t *)&t->reject_timer, on_reject_timer_closed);
    maybe_free(t); /* nothing was open: free now; else the last close callback frees it */
}
