/*
 * The worker transport on 127.0.0.1: mutual authentication, frames both ways, refusal of wrong secrets, garbage
 * and oversized frames (the endpoint keeps serving its good peers), reconnection after a peer restarts, and a loop
 * that closes clean. Every wait is bounded.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "testlib_uv.h"
#include "transport.h"

typedef struct box {
    int up[8];
    int frames[8];
    char last[64];
    size_t last_len;
    uint8_t last_type;
} box_t;

static void on_frame(void *arg, uint32_t peer, const gale_frame_t *f)
{
    box_t *b = arg;
    b->frames[peer]++;
    b->last_type = f->type;
    b->last_len = f->len < sizeof b->last ? f->len : sizeof b->last;
    memcpy(b->last, f->payload, b->last_len);
}

static void on_peer(void *arg, uint32_t peer, bool up) { ((box_t *)arg)->up[peer] = up; }

static const gale_transport_cb_t CB = {on_frame, on_peer};

static void send_text(gale_transport_t *t, uint32_t peer, uint8_t type, const char *text)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, type);
    gale_buf_puts(&b, text);
    gale_frame_end(&b, start);
    cr_assert_eq(gale_transport_send(t, peer, b.p, b.len), 0);
    gale_buf_free(&b);
}

/* Calls `check` for each connected TCP socket of this process, and returns how many there are; -1 as soon as a
   check says no. */
static int each_connected_socket(bool (*check)(int fd))
{
    int n = 0;
    for (int fd = 3; fd < 1024; fd++) {
        int type = 0;
        socklen_t len = sizeof type;
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM) continue;
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) || peer.ss_family != AF_INET) continue;
        if (!check(fd)) return -1;
        n++;
    }
    return n;
}

static bool has_nodelay(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;
    return !getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) && on;
}

/* Connected TCP sockets of this process, -1 if one has Nagle's algorithm on. */
static int connected_sockets_with_nodelay(void) { return each_connected_socket(has_nodelay); }

/* Two transports on `loop`, 1 dialling 2, authenticated: the start of most tests here. */
static void connect_pair(uv_loop_t *loop, box_t *ba, box_t *bb, gale_transport_t **a, gale_transport_t **b)
{
    uv_loop_init(loop);
    cr_assert_eq(gale_transport_new(loop, 1, "secret", 6, 0, &CB, ba, a), 0);
    cr_assert_eq(gale_transport_new(loop, 2, "secret", 6, 0, &CB, bb, b), 0);
    int port;
    cr_assert_eq(gale_transport_listen(*b, "127.0.0.1", 0, &port), 0);
    cr_assert_eq(gale_transport_connect(*a, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(loop, ba->up[2] && bb->up[1], 5000), "no handshake");
}

static void close_all(uv_loop_t *loop, gale_transport_t **ts, int n)
{
    for (int i = 0; i < n; i++)
        if (ts[i]) gale_transport_close(ts[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(loop), 0, "the loop did not close clean: a handle was left open");
}

Test(transport, peers_authenticate_and_exchange_frames, .timeout = 30)
{
    uv_loop_t loop;
    box_t ba = {0}, bb = {0};
    gale_transport_t *a, *b;
    connect_pair(&loop, &ba, &bb, &a, &b);
    send_text(a, 2, GALE_FRAME_TUPLES, "from a");
    send_text(b, 1, GALE_FRAME_OPS, "from b");
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] == 1 && ba.frames[2] == 1, 5000));
    cr_assert_eq(bb.last_type, GALE_FRAME_TUPLES);
    cr_assert_eq(memcmp(bb.last, "from a", 6), 0);
    cr_assert_eq(ba.last_type, GALE_FRAME_OPS);
    send_text(a, 2, GALE_FRAME_PRESSURE, "\001");
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] == 2, 5000), "a PRESSURE frame did not pass");
    cr_assert_eq(bb.last_type, GALE_FRAME_PRESSURE);
    /* Both ends of the connection are in this process: each must have Nagle off, or a small frame waits for the
       peer's delayed ACK (40 ms). */
    cr_assert_eq(connected_sockets_with_nodelay(), 2, "connected TCP sockets with TCP_NODELAY");
    gale_transport_t *all[] = {a, b};
    close_all(&loop, all, 2);
}

Test(transport, a_wrong_secret_is_refused_and_good_peers_are_still_served, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bs = {0}, bc = {0}, ba = {0};
    gale_transport_t *server, *intruder, *a;
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bs, &server);
    gale_transport_new(&loop, 3, "guess!", 6, 0, &CB, &bc, &intruder);
    gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a);
    int port;
    gale_transport_listen(server, "127.0.0.1", 0, &port);
    gale_transport_connect(intruder, 2, "127.0.0.1", port);
    gale_transport_stats_t st;
    cr_assert(RUN_UNTIL(&loop, (gale_transport_stats(server, &st), st.rejected >= 1), 5000), "not refused");
    cr_assert_not(bc.up[2], "the intruder got in");
    /* The intruder is the side that sees a proof it cannot check; the server sees it hang up. Each says why. */
    gale_transport_stats_t ist;
    cr_assert(RUN_UNTIL(&loop, (gale_transport_stats(intruder, &ist), ist.rejected >= 1), 5000));
    cr_assert(strstr(ist.last_rejected, "authentication failed"), "%s", ist.last_rejected);
    gale_transport_stats(server, &st);
    cr_assert(strstr(st.last_rejected, "closed during the handshake"), "%s", st.last_rejected);
    cr_assert_not(bs.up[3]);
    cr_assert_not(gale_transport_peer_up(server, 3));
    cr_assert_eq(gale_transport_send(intruder, 2, "x", 1), GALE_EAGAIN);
    gale_transport_connect(a, 2, "127.0.0.1", port);
    cr_assert(RUN_UNTIL(&loop, bs.up[1], 5000));
    send_text(a, 2, GALE_FRAME_TUPLES, "still here");
    cr_assert(RUN_UNTIL(&loop, bs.frames[1] == 1, 5000));
    cr_assert_eq(bs.frames[3], 0);
    gale_transport_t *all[] = {server, intruder, a};
    close_all(&loop, all, 3);
}

/* A raw TCP client that writes `bytes` once connected. */
typedef struct raw {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_write_t w;
    char bytes[300];
    size_t len;
    bool closed;
} raw_t;

static void raw_closed(uv_handle_t *h) { ((raw_t *)h)->closed = true; }
static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    free(buf->base);
    if (n < 0) uv_close((uv_handle_t *)s, raw_closed); /* the server hung up on us */
}
static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    buf->base = malloc(n);
    buf->len = n;
}
static void raw_connected(uv_connect_t *req, int status)
{
    raw_t *r = req->data;
    if (status < 0) {
        uv_close((uv_handle_t *)&r->tcp, raw_closed);
        return;
    }
    uv_buf_t buf = uv_buf_init(r->bytes, (unsigned)r->len);
    uv_write(&r->w, (uv_stream_t *)&r->tcp, &buf, 1, NULL);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}
static void raw_send(uv_loop_t *loop, raw_t *r, int port)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &r->tcp);
    r->req.data = r;
    uv_tcp_connect(&r->req, &r->tcp, (const struct sockaddr *)&addr, raw_connected);
}

Test(transport, garbage_oversized_and_early_frames_close_only_their_connection, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bs = {0}, ba = {0};
    gale_transport_t *server, *a;
    gale_transport_new(&loop, 2, "secret", 6, 4096, &CB, &bs, &server);
    gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a);
    int port;
    gale_transport_listen(server, "127.0.0.1", 0, &port);
    raw_t junk = {0}, big = {0}, early = {0};
    uint64_t x = 7;
    for (size_t i = 0; i < sizeof junk.bytes; i++) junk.bytes[i] = (char)((x = x * 6364136223846793005ull + 1) >> 56);
    junk.len = sizeof junk.bytes;
    const unsigned char oversized[] = {0x00, 0x00, 0x00, 0x40, GALE_FRAME_TUPLES}; /* 1 GiB */
    memcpy(big.bytes, oversized, sizeof oversized);
    big.len = sizeof oversized;
    const unsigned char tuples_first[] = {0x03, 0x00, 0x00, 0x00, GALE_FRAME_TUPLES, 'h', 'i'};
    memcpy(early.bytes, tuples_first, sizeof tuples_first);
    early.len = sizeof tuples_first;
    raw_send(&loop, &junk, port);
    raw_send(&loop, &big, port);
    raw_send(&loop, &early, port);
    cr_assert(RUN_UNTIL(&loop, junk.closed && big.closed && early.closed, 5000), "a bad connection was kept open");
    gale_transport_stats_t st;
    gale_transport_stats(server, &st);
    cr_assert_eq(st.rejected, 3);
    cr_assert_eq(st.frames_in, 0, "a frame from an unauthenticated connection got through");
    gale_transport_connect(a, 2, "127.0.0.1", port);
    cr_assert(RUN_UNTIL(&loop, bs.up[1], 5000), "the server stopped serving");
    send_text(a, 2, GALE_FRAME_TUPLES, "ok");
    cr_assert(RUN_UNTIL(&loop, bs.frames[1] == 1, 5000));
    gale_transport_t *all[] = {server, a};
    close_all(&loop, all, 2);
}

Test(transport, a_dialler_reconnects_when_its_peer_comes_back, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t ba = {0}, bb = {0}, bb2 = {0};
    gale_transport_t *a, *b, *b2;
    gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a);
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb, &b);
    int port;
    gale_transport_listen(b, "127.0.0.1", 0, &port);
    gale_transport_connect(a, 2, "127.0.0.1", port);
    cr_assert(RUN_UNTIL(&loop, ba.up[2], 5000));
    gale_transport_close(b); /* the peer dies */
    cr_assert(RUN_UNTIL(&loop, !ba.up[2], 5000), "the loss was not noticed");
    cr_assert_eq(gale_transport_send(a, 2, "x", 1), GALE_EAGAIN, "sending to a peer that is down must fail fast");
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb2, &b2); /* and restarts on the same port */
    int port2;
    cr_assert_eq(gale_transport_listen(b2, "127.0.0.1", port, &port2), 0);
    cr_assert(RUN_UNTIL(&loop, ba.up[2] && bb2.up[1], 8000), "no reconnection");
    send_text(a, 2, GALE_FRAME_TUPLES, "again");
    cr_assert(RUN_UNTIL(&loop, bb2.frames[1] == 1, 5000));
    gale_transport_t *all[] = {a, b2};
    close_all(&loop, all, 2);
}

/* A raw client whose bytes are a handshake frame of `type` with `len` bytes of payload from `payload`. */
static void raw_frame(raw_t *r, uint8_t type, const void *payload, size_t len)
{
    gale_le_put(r->bytes + r->len, 1 + len, 4);
    r->bytes[r->len + 4] = (char)type;
    memcpy(r->bytes + r->len + 5, payload, len);
    r->len += 5 + len;
}

/* The HELLO payload of wire version `version` from peer `id`, with a nonce of zeros. */
static void hello_payload(char p[GALE_HELLO_LEN], uint32_t version, uint32_t id)
{
    memset(p, 0, GALE_HELLO_LEN);
    gale_le_put(p, version, 4);
    gale_le_put(p + 4, id, 4);
}

/* Runs until `r` was hung up on, and returns the reason the server gave. */
static const char *refusal(uv_loop_t *loop, gale_transport_t *server, raw_t *r, gale_transport_stats_t *st)
{
    cr_assert(RUN_UNTIL(loop, r->closed, 10000), "the connection was kept open");
    gale_transport_stats(server, st);
    return st->last_rejected;
}

/* Before authentication only handshake-sized frames are read: a client without the secret that announces a 16 MiB
   frame is closed at its header, not after the server buffered its bytes (60 such took a worker to 1 GB). */
Test(transport, a_frame_over_the_handshake_size_is_refused_at_its_header, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bs = {0};
    gale_transport_t *server;
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bs, &server);
    int port;
    gale_transport_listen(server, "127.0.0.1", 0, &port);
    raw_t big = {0};
    const unsigned char header[] = {0x01, 0x00, 0x00, 0x01, GALE_FRAME_TUPLES}; /* 16 MiB: the frame limit */
    memcpy(big.bytes, header, sizeof header);
    big.len = sizeof big.bytes; /* and some of its bytes */
    raw_send(&loop, &big, port);
    gale_transport_stats_t st;
    const char *why = refusal(&loop, server, &big, &st);
    cr_assert(strstr(why, "before authentication"), "refused for: %s", why);
    raw_t hello = {0};
    char p[GALE_HELLO_LEN + 1] = {0};
    raw_frame(&hello, GALE_FRAME_HELLO, p, sizeof p); /* one byte over */
    raw_send(&loop, &hello, port);
    why = refusal(&loop, server, &hello, &st);
    cr_assert(strstr(why, "before authentication"), "refused for: %s", why);
    cr_assert_eq(st.rejected, 2);
    gale_transport_t *all[] = {server};
    close_all(&loop, all, 1);
}

Test(transport, a_hello_of_another_wire_version_or_a_forged_proof_is_refused_with_its_reason, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bs = {0};
    gale_transport_t *server;
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bs, &server);
    int port;
    gale_transport_listen(server, "127.0.0.1", 0, &port);
    gale_transport_stats_t st;
    char p[GALE_HELLO_LEN];

    raw_t later = {0};
    hello_payload(p, GALE_WIRE_VERSION + 7, 1);
    raw_frame(&later, GALE_FRAME_HELLO, p, sizeof p);
    raw_send(&loop, &later, port);
    const char *why = refusal(&loop, server, &later, &st);
    char want[64];
    snprintf(want, sizeof want, "wire version %d,", GALE_WIRE_VERSION + 7);
    cr_assert(strstr(why, want), "refused for: %s", why);

    raw_t older = {0}; /* version 1's HELLO was [u32 id][nonce] */
    raw_frame(&older, GALE_FRAME_HELLO, p + 4, 4 + 32);
    raw_send(&loop, &older, port);
    why = refusal(&loop, server, &older, &st);
    cr_assert(strstr(why, "a HELLO of 36 bytes"), "refused for: %s", why);

    raw_t v2 = {0}; /* version 2's was [u32 version][u32 id][nonce], without the placement */
    hello_payload(p, 2, 1);
    raw_frame(&v2, GALE_FRAME_HELLO, p, 8 + 32);
    raw_send(&loop, &v2, port);
    why = refusal(&loop, server, &v2, &st);
    cr_assert(strstr(why, "a HELLO of 40 bytes, not 48"), "refused for: %s", why);

    raw_t forged = {0}; /* the right HELLO, then a proof made up without the secret */
    hello_payload(p, GALE_WIRE_VERSION, 1);
    raw_frame(&forged, GALE_FRAME_HELLO, p, sizeof p);
    char proof[32] = {1};
    raw_frame(&forged, GALE_FRAME_AUTH, proof, sizeof proof);
    raw_send(&loop, &forged, port);
    why = refusal(&loop, server, &forged, &st);
    cr_assert(strstr(why, "from peer 1: authentication failed"), "refused for: %s", why);
    cr_assert_eq(st.rejected, 4);
    cr_assert_eq(st.frames_in, 0);
    cr_assert_not(bs.up[1]);
    gale_transport_t *all[] = {server};
    close_all(&loop, all, 1);
}

/* Connections that never authenticate are bounded in number: over GALE_MAX_UNAUTH the oldest is evicted, so that a
   real peer still gets in while they sit there; and in time: each is closed after a few seconds. */
Test(transport, idle_unauthenticated_connections_are_bounded_and_a_peer_still_gets_in, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bs = {0}, ba = {0};
    gale_transport_t *server, *a;
    gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bs, &server);
    gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a);
    int port;
    gale_transport_listen(server, "127.0.0.1", 0, &port);
    enum { N = GALE_MAX_UNAUTH + 6 };
    raw_t *idle = calloc(N, sizeof *idle);
    for (int i = 0; i < N; i++) {
        memcpy(idle[i].bytes, "\x29\x00", 2); /* the start of a HELLO's header, and then nothing */
        idle[i].len = 2;
        raw_send(&loop, &idle[i], port);
    }
    gale_transport_stats_t st;
    cr_assert(RUN_UNTIL(&loop, (gale_transport_stats(server, &st), st.evicted >= N - GALE_MAX_UNAUTH), 10000),
              "%llu evicted", (unsigned long long)st.evicted);
    cr_assert(strstr(st.last_rejected, "evicted") || strstr(st.last_rejected, "no handshake in time"), "%s",
              st.last_rejected);
    gale_transport_connect(a, 2, "127.0.0.1", port);
    cr_assert(RUN_UNTIL(&loop, bs.up[1] && ba.up[2], 10000), "a peer with the secret was locked out");
    send_text(a, 2, GALE_FRAME_TUPLES, "through");
    cr_assert(RUN_UNTIL(&loop, bs.frames[1] == 1, 5000));
    /* The rest wait for the handshake timeout (3 s), not longer. */
    int closed = 0;
    cr_assert(RUN_UNTIL(&loop, ({ closed = 0; for (int i = 0; i < N; i++) closed += idle[i].closed; closed == N; }),
                        20000), "%d of %d idle connections closed", closed, N);
    gale_transport_stats(server, &st);
    cr_assert(strstr(st.last_rejected, "no handshake in time"), "%s", st.last_rejected);
    cr_assert(bs.up[1], "the authenticated peer was closed with them");
    gale_transport_t *all[] = {server, a};
    close_all(&loop, all, 2);
    free(idle);
}

/* A receiver that pauses from a frame's callback gets no further frame until it resumes, even those that came in
   the same read, and then every one of them in order. */
typedef struct pausing {
    gale_transport_t *t;
    int seen, pause_at;
    bool in_order;
} pausing_t;

static void on_frame_pausing(void *arg, uint32_t peer, const gale_frame_t *f)
{
    pausing_t *p = arg;
    char want[16];
    snprintf(want, sizeof want, "frame %d", p->seen);
    if (f->len != strlen(want) || memcmp(f->payload, want, f->len)) p->in_order = false;
    if (++p->seen == p->pause_at) gale_transport_pause(p->t, true);
}

static void on_peer_quiet(void *arg, uint32_t peer, bool up) { (void)arg, (void)peer, (void)up; }

Test(transport, a_pause_from_a_frame_holds_the_rest_of_the_read_until_resumed, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t ba = {0};
    pausing_t pb = {.pause_at = 3, .in_order = true};
    gale_transport_cb_t cb_b = {on_frame_pausing, on_peer_quiet};
    gale_transport_t *a, *b;
    cr_assert_eq(gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a), 0);
    cr_assert_eq(gale_transport_new(&loop, 2, "secret", 6, 0, &cb_b, &pb, &b), 0);
    pb.t = b;
    int port;
    cr_assert_eq(gale_transport_listen(b, "127.0.0.1", 0, &port), 0);
    cr_assert_eq(gale_transport_connect(a, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(&loop, ba.up[2], 5000), "no handshake");
    /* One write of 200 small frames: they arrive in one or a few reads. */
    gale_buf_t all = {0};
    for (int i = 0; i < 200; i++) {
        size_t start = gale_frame_begin(&all, GALE_FRAME_TUPLES);
        gale_buf_printf(&all, "frame %d", i);
        gale_frame_end(&all, start);
    }
    cr_assert_eq(gale_transport_send(a, 2, all.p, all.len), 0);
    gale_buf_free(&all);
    cr_assert(RUN_UNTIL(&loop, pb.seen >= 3, 5000));
    RUN_UNTIL(&loop, false, 200); /* the rest of the read, and more reads, would come now */
    cr_assert_eq(pb.seen, 3, "frames were handed over while paused");
    pb.pause_at = 100;
    gale_transport_pause(b, false);
    cr_assert(RUN_UNTIL(&loop, pb.seen >= 100, 5000), "only %d frames after the first resume", pb.seen);
    RUN_UNTIL(&loop, false, 100);
    cr_assert_eq(pb.seen, 100);
    gale_transport_pause(b, false);
    cr_assert(RUN_UNTIL(&loop, pb.seen == 200, 5000), "%d of 200 frames", pb.seen);
    cr_assert(pb.in_order, "frames out of order");
    gale_transport_t *both[] = {a, b};
    close_all(&loop, both, 2);
}

/* The kernel's buffers of a connection are sized, not left to autotuning: what sits in them is in flight when
   backpressure holds the spouts. */
static bool buffers_bounded(int fd)
{
    int snd = 0, rcv = 0;
    socklen_t len = sizeof snd;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len);
    len = sizeof rcv;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
    /* Linux doubles what it is asked for, for its own bookkeeping. */
    cr_assert_leq(snd, 2 * (128 << 10), "fd %d: SO_SNDBUF %d", fd, snd);
    cr_assert_leq(rcv, 2 * (128 << 10), "fd %d: SO_RCVBUF %d", fd, rcv);
    return true;
}

Test(transport, connections_have_bounded_kernel_buffers, .timeout = 30)
{
    uv_loop_t loop;
    box_t ba = {0}, bb = {0};
    gale_transport_t *a, *b;
    connect_pair(&loop, &ba, &bb, &a, &b);
    cr_assert_eq(each_connected_socket(buffers_bounded), 2);
    gale_transport_t *both[] = {a, b};
    close_all(&loop, both, 2);
}

/* Cluster mode's fence between peers: once peer 1's slot is known to run under placement 4, its connections under
   placement 3 (a worker whose host hung while its slot was placed elsewhere) are closed and refused, whether the
   endpoint was told (gale_transport_fence) or learned it from the new copy's handshake; the new copy keeps the
   connection however often the old one dials. */
static void old_copy_is_refused(bool told)
{
    uv_loop_t loop;
    box_t ba = {0}, bb = {0}, ba2 = {0};
    gale_transport_t *a, *b, *a2;
    uv_loop_init(&loop);
    cr_assert_eq(gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a), 0);
    cr_assert_eq(gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb, &b), 0);
    gale_transport_set_placement(a, 3);
    gale_transport_set_placement(b, 3);
    int port;
    cr_assert_eq(gale_transport_listen(b, "127.0.0.1", 0, &port), 0);
    cr_assert_eq(gale_transport_connect(a, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(&loop, ba.up[2] && bb.up[1], 5000), "no handshake");
    gale_transport_stats_t st;
    if (told) {
        cr_assert_eq(gale_transport_fence(b, 1, 4), 1);
        cr_assert_eq(gale_transport_fence(b, 1, 4), 0, "told twice: nothing new");
        cr_assert_eq(gale_transport_fence(b, 1, 2), 0, "an older placement lowers nothing");
        cr_assert(RUN_UNTIL(&loop, !ba.up[2] && !bb.up[1], 5000), "the old copy's connection was kept");
        gale_transport_stats(b, &st);
        cr_assert_eq(st.fenced, 1);
        cr_assert(strstr(st.last_rejected, "peer 1: it speaks for placement 3, superseded by 4 (fenced)"), "%s",
                  st.last_rejected);
    }
    /* The new copy of slot 1, placed under 4, comes in; the old one goes on dialling. */
    cr_assert_eq(gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba2, &a2), 0);
    gale_transport_set_placement(a2, 4);
    cr_assert_eq(gale_transport_connect(a2, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(&loop, ba2.up[2], 5000), "the new copy was not let in");
    gale_transport_stats(b, &st);
    uint64_t fenced = st.fenced;
    cr_assert(RUN_UNTIL(&loop, (gale_transport_stats(b, &st), st.fenced >= fenced + 3), 10000),
              "the old copy was not refused as it dialled again (fenced %llu)", (unsigned long long)st.fenced);
    cr_assert(strstr(st.last_rejected, "it speaks for placement 3, superseded here by 4 (fenced)"), "%s",
              st.last_rejected);
    cr_assert(ba2.up[2] && bb.up[1], "the old copy took the connection back");
    cr_assert_not(ba.up[2]);
    send_text(a2, 2, GALE_FRAME_TUPLES, "new");
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] >= 1 && !memcmp(bb.last, "new", 3), 5000));
    cr_assert_eq(gale_transport_send(a, 2, "x", 1), GALE_EAGAIN, "the old copy can send nothing");
    gale_transport_t *all[] = {a, a2, b};
    close_all(&loop, all, 3);
}

Test(transport, a_peer_of_a_superseded_placement_is_refused_once_told, .timeout = 30) { old_copy_is_refused(true); }

Test(transport, a_peer_of_a_superseded_placement_is_refused_once_its_successor_came, .timeout = 30)
{
    old_copy_is_refused(false);
}
