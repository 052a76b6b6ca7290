/*
 * transport.h: authenticated, framed TCP connections between workers, on a libuv loop.
 *
 * Each endpoint has a peer id. It listens, and it connects to the peers it is told about (one connection per pair:
 * by convention the lower id connects), reconnecting with backoff when a connection drops. A connection carries
 * frames (frame.h) only after a mutual handshake proved that both ends know the topology's secret:
 *
 *   client -> HELLO(version, id, placement, nonce_c)
 *   server -> HELLO(version, id, placement, nonce_s), AUTH(proof(secret, nonce_c, 's', server id))
 *   client -> AUTH(proof(secret, nonce_s, 'c', client id))
 *
 * HELLO's payload is [u32 GALE_WIRE_VERSION][u32 id][u64 placement][nonce], AUTH's the 32-byte proof. Until a connection is
 * authenticated it may send only frames of that size (GALE_HANDSHAKE_MAX bytes of payload), so that a client
 * without the secret cannot make the endpoint buffer a 16 MiB frame; at most GALE_MAX_UNAUTH accepted connections
 * may be unauthenticated at once (a new one evicts the oldest, so that a real peer always gets in), and each has a
 * few seconds to finish. A connection that sends anything else before it is authenticated, speaks another wire
 * version, fails the proof, sends a malformed or oversized frame, or is too slow is closed with a reason; those
 * reasons are logged one line per 10 s with a count (a port scanner must not flood the log). Nothing a peer sends
 * can crash or stall the endpoint: it only loses its own connection.
 *
 * Cluster mode's fence between peers: `placement` is the version of the placement under which the endpoint's slot
 * was placed where it runs (topo_record.h, version=; 0 outside cluster mode). Once an endpoint knows that peer P
 * runs under placement V (gale_transport_fence, or an authenticated HELLO of P that said V), it closes and refuses
 * every connection of P that speaks for an earlier placement: a worker whose slot was placed elsewhere while its
 * host hung cannot take its place back, nor feed its peers, when it wakes up (daemon_lease.c stops its tasks; this
 * stops its sockets). A restarted worker keeps its slot's placement.
 *
 * With TLS (gale_transport_set_tls), every connection is a TLS 1.3 session first (tls.h: mutual, certificates of
 * the cluster's CA), and the handshake above and every frame travel inside it: encrypted, and between peers whose
 * certificates the CA signed. A peer refused by TLS (another CA, expired, no certificate) is closed with TLS's
 * reason, logged as the other refusals are. Frames are batched as before: one batch is one TLS write, which makes
 * records of up to 16 KiB, and the records go out in as few socket writes. Without TLS, frames travel in clear, and
 * an attacker on the path could relay a handshake: that is for a single trusted host (loopback).
 */
#ifndef GALE_TRANSPORT_H
#define GALE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

/* The layout of the handshake and of the frames after it; both ends must speak the same. */
#define GALE_WIRE_VERSION 5
#define GALE_HELLO_LEN (4 + 4 + 8 + 32)
#define GALE_HANDSHAKE_MAX GALE_HELLO_LEN /* AUTH's 32 bytes are fewer */
#define GALE_MAX_UNAUTH 64

typedef struct gale_transport gale_transport_t;

typedef struct gale_transport_cb {
    /* An authenticated peer's frame; the payload is valid during the call only. */
    void (*on_frame)(void *arg, uint32_t peer, const gale_frame_t *f);
    /* A peer came up (authenticated) or went down. May be NULL. */
    void (*on_peer)(void *arg, uint32_t peer, bool up);
} gale_transport_cb_t;

typedef struct gale_transport_stats {
    uint64_t frames_in, frames_out;
    uint64_t rejected; /* connections closed for a bad handshake or bad frames */
    uint64_t evicted;  /* of those, unauthenticated ones closed to make room for a newer one */
    uint64_t fenced;   /* of those, a peer's connections that spoke for a superseded placement */
    char last_rejected[160]; /* the reason the last one was closed ("" if none) */
} gale_transport_stats_t;

/*
 * A new endpoint with id `self` on `loop`. The secret is copied. `max_frame` bounds a frame's payload (0: the
 * default). 0 or GALE_ENOMEM.
 */
int gale_transport_new(uv_loop_t *loop, uint32_t self, const void *secret, size_t secret_len, size_t max_frame,
                       const gale_transport_cb_t *cb, void *arg, gale_transport_t **out);

struct gale_tls_ctx;
/* Every connection from now on through TLS with `tls`'s certificates (borrowed: it must outlive the endpoint); set it
   before listening and connecting. */
void gale_transport_set_tls(gale_transport_t *t, struct gale_tls_ctx *tls);

/* The placement this endpoint speaks for (0 until set), told to every peer in HELLO: set it before listening. */
void gale_transport_set_placement(gale_transport_t *t, uint64_t placement);

/* Peer `peer` runs under placement `min` now: its connections that speak for an earlier one are closed, and refused
   from now on. 1 when that raised what the endpoint knew, 0 when it knew as much, GALE_ENOMEM. */
int gale_transport_fence(gale_transport_t *t, uint32_t peer, uint64_t min);

/* Listens on 127.0.0.1 (or `host`) at `port` (0: any); *bound gets the port. 0 or a negative libuv error. */
int gale_transport_listen(gale_transport_t *t, const char *host, int port, int *bound);

/* Connects to peer `peer` at host:port, and reconnects after losing it (backoff from 50 ms to 2 s). */
int gale_transport_connect(gale_transport_t *t, uint32_t peer, const char *host, int port);

/* Queues a whole frame (header included, as gale_frame_begin/end make it) for `peer`. GALE_EAGAIN when the peer is
   not connected and authenticated: the caller decides (fail the tuples fast). The bytes are copied. */
int gale_transport_send(gale_transport_t *t, uint32_t peer, const void *frame, size_t len);

bool gale_transport_peer_up(const gale_transport_t *t, uint32_t peer);
/* The largest frame payload a peer accepts (the `max_frame` given to new): a sender must not batch past it. */
size_t gale_transport_max_frame(const gale_transport_t *t);
/* Bytes queued for `peer` and not yet taken by the kernel: a sender that sees it grow slows down. */
size_t gale_transport_queued(const gale_transport_t *t, uint32_t peer);
/* Stops (or resumes) reading from every connection: TCP flow control then pushes back on the senders. */
void gale_transport_pause(gale_transport_t *t, bool pause);
void gale_transport_stats(const gale_transport_t *t, gale_transport_stats_t *out);

/* Closes every connection and the listener; the endpoint is freed once libuv has closed them all (run the loop). */
void gale_transport_close(gale_transport_t *t);

#endif
