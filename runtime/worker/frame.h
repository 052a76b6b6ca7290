/*
 * frame.h: the worker transport's wire format, sans-IO (bytes in, frames out), in the manner of hiredis's reader.
 *
 * A frame is [u32 length, little-endian, of what follows][u8 type][payload]. A reader is fed whatever the socket
 * gave and hands out whole frames; a frame longer than the reader's limit, or of an unknown type, poisons the
 * reader (the connection must be closed: there is no resynchronising inside a byte stream).
 *
 * A TUPLES payload is a sequence of records, one per delivery:
 *   [u32 target task][u32 source task][u16 stream][u8 n_roots | 0x80 if an origin follows][u64 origin, if so]
 *   [n_roots x (u64 root, u64 id)][u32 n][n bytes of values]
 * all little-endian, the values being the tuple's own MessagePack array. The origin is a latency marker's emit time
 * (CLOCK_MONOTONIC), sent only between workers of one host, where that clock is shared. Decoding checks every field against the
 * topology (tasks that exist, a stream the source declares, exactly its field count, valid MessagePack within
 * mpread.h's limits) before anything is built.
 *
 * An OPS payload is a sequence of 25-byte acker op records: [u8 kind][u32 task][u64 root][u64 val][u32 from].
 * A PRESSURE payload is one byte: 1 when the sender's bolts are behind (its peers hold their spouts), 0 when not.
 * A CONTROL payload is a sequence of 17-byte control items (lane.h's, the checkpoint barriers):
 *   [u8 kind][u32 source task][u32 target task][u64 checkpoint id]
 * sent in order with the TUPLES frames to the same peer: a barrier must reach its task behind the tuples its
 * source emitted before it, and ahead of those after (barrier.h).
 * A REASON payload is [u32 id][text]: why a tree failed (fail_reason.h), sent ahead of the OPS frame whose FAIL or
 * FAILED op names the id in its `val`, so that the receiver has the text when the op arrives.
 */
#ifndef GALE_FRAME_H
#define GALE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acker.h"
#include "buf.h"
#include "lane.h"
#include "topology.h"
#include "tuple.h"

enum {
    GALE_FRAME_HELLO = 1, /* handshake: peer id and nonce */
    GALE_FRAME_AUTH = 2,  /* handshake: the proof (hmac.h) */
    GALE_FRAME_TUPLES = 3,
    GALE_FRAME_OPS = 4,      /* acker ops, as gale_op_t records */
    GALE_FRAME_PRESSURE = 5, /* backpressure: one byte, 1 = "hold your spouts", 0 = "go on" */
    GALE_FRAME_CONTROL = 6,  /* control items: checkpoint barriers, watermarks */
    GALE_FRAME_REASON = 7,   /* why a tree failed, ahead of the op that names it */
};

#define GALE_FRAME_MAX (16u << 20)
/* A tuple's roots: up to 126 are counted in its header byte, more (an output anchored to a window) in a u32 after
   it; bounded by what fits in a frame. */
#define GALE_FRAME_MAX_ROOTS (GALE_FRAME_MAX / 16)
#define GALE_FRAME_OP_RECORD 25
#define GALE_FRAME_CONTROL_RECORD 17

/* Little-endian integers of n bytes, whatever the host's order. */
static inline void gale_le_put(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (char)(v >> (8 * i));
}

static inline uint64_t gale_le_get(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | (unsigned char)p[i];
    return v;
}

typedef struct gale_frame {
    uint8_t type;
    const char *payload; /* into the reader's buffer: valid until the next feed */
    size_t len;
} gale_frame_t;

typedef struct gale_frame_reader {
    char *buf;
    size_t len, cap, pos;
    size_t max; /* the largest payload accepted */
    int err;    /* the error that poisoned the reader, 0 if none */
} gale_frame_reader_t;

void gale_frame_reader_init(gale_frame_reader_t *r, size_t max);
void gale_frame_reader_destroy(gale_frame_reader_t *r);
/* Sets the largest payload accepted from the next frame on (0: GALE_FRAME_MAX): a connection accepts only
   handshake-sized frames until it is authenticated. */
void gale_frame_reader_limit(gale_frame_reader_t *r, size_t max);
/* Frees the buffer when it holds no partial frame and has grown past `keep` bytes, so that one big frame does not
   pin its memory for the connection's life. Frames handed out before are then invalid. */
void gale_frame_reader_trim(gale_frame_reader_t *r, size_t keep);
/* Appends bytes (copied). 0, GALE_ENOMEM, or the reader's error. */
int gale_frame_feed(gale_frame_reader_t *r, const void *data, size_t n);
/* Or without the copy: room for at least `want` more bytes inside the reader (NULL when out of memory), *room its
   size; the caller reads into it (a socket read) and then commits how many bytes it got. The room is valid until
   the next call on the reader. */
char *gale_frame_reader_room(gale_frame_reader_t *r, size_t want, size_t *room);
void gale_frame_reader_commit(gale_frame_reader_t *r, size_t n);
/* 1 with *out set, 0 when a whole frame is not there yet, or a negative error that poisons the reader:
   GALE_ELIMIT (longer than max), GALE_ECORRUPT (empty or of an unknown type). */
int gale_frame_next(gale_frame_reader_t *r, gale_frame_t *out);

/* Writing: begin returns where the frame starts; end fills in its length. */
size_t gale_frame_begin(gale_buf_t *b, uint8_t type);
void gale_frame_end(gale_buf_t *b, size_t start);

/* The bytes gale_frame_put_tuple appends for `dlv`: a sender checks it against the frame limit first, since a frame
   over the receiver's limit costs the whole connection, and every record batched with it. */
size_t gale_frame_tuple_size(const gale_tuple_t *dlv, bool with_origin);
/* Appends one delivery as a TUPLES record, with its latency marker's origin if it has one and `with_origin`. */
void gale_frame_put_tuple(gale_buf_t *b, const gale_tuple_t *dlv, bool with_origin);
/* Appends one op as an OPS record; reads one back from GALE_FRAME_OP_RECORD bytes at p. */
void gale_frame_put_op(gale_buf_t *b, const gale_op_t *op);
void gale_frame_get_op(const char *p, gale_op_t *op);

/* Appends a whole REASON frame for `id`'s text (cut to GALE_REASON_MAX_LEN); reads one back: 0 with *id, *text and
   *len (pointing into p), or GALE_ECORRUPT for a payload shorter than its id or a text over the limit. */
void gale_frame_put_reason(gale_buf_t *b, uint32_t id, const char *text);
int gale_frame_get_reason(const char *p, size_t len, uint32_t *id, const char **text, size_t *text_len);

/* Appends one control item as a CONTROL record; reads one back from GALE_FRAME_CONTROL_RECORD bytes at p, checked
   against the run's `n_all_tasks` task ids: 0, or GALE_ECORRUPT for an unknown kind or a task that is not there (task 0 included). */
void gale_frame_put_control(gale_buf_t *b, const gale_control_t *c);
int gale_frame_get_control(uint32_t n_all_tasks, const char *p, gale_control_t *c);

/*
 * Reads the next TUPLES record at *p (advancing it and *left) into a new tuple with one delivery to its target.
 * On success *out is the delivery (its data holds one reference). GALE_ECORRUPT for anything the topology does not
 * allow or that is malformed; *p is then meaningless.
 */
int gale_frame_get_tuple(const gale_topology_t *topo, const char **p, size_t *left, gale_tuple_t **out);

#endif
