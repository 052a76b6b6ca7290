/*
 * tuple.h: the one tuple representation, from emit to the wire.
 *
 * An emit makes one gale_tuple_data_t: a single allocation holding the values encoded once as a MessagePack array
 * (the wire form too), a gale_value_t view of each value with strings pointing into those bytes, each value's byte
 * offsets (for hashing fields without decoding), and one gale_tuple_t per target task, called a delivery. A plugin
 * holds a delivery: it says which task received the tuple and carries that receiver's acking state (the tuple-tree
 * ids and the XOR of the edges anchored to it), while the values are shared and immutable.
 *
 * The data is reference counted by deliveries: each one released (after execute, or after the ack or fail of a kept
 * tuple) drops one reference, and the last frees the whole block. Nothing else owns it.
 */
#ifndef GALE_TUPLE_H
#define GALE_TUPLE_H

#include <stdatomic.h>
#include <stdint.h>

#include "gale.h"
#include "topology.h"

typedef struct gale_tuple_data gale_tuple_data_t;

/* Delivery states. */
enum {
    GALE_DLV_ACKED = 1u << 0,
    GALE_DLV_FAILED = 1u << 1,
    GALE_DLV_KEPT = 1u << 2,
    GALE_DLV_WINDOW = 1u << 3,        /* held by its task's window (window.h), which settles it */
    GALE_DLV_WINDOW_FAILED = 1u << 4, /* an execute_window over it failed: it is failed when it leaves */
};

struct gale_tuple {
    gale_tuple_data_t *data;
    uint32_t task;    /* the receiving task */
    uint32_t state;   /* GALE_DLV_* */
    uint32_t kept_at; /* while GALE_DLV_KEPT: its index in the task's list of kept inputs */
    uint64_t ack_val; /* XOR of the edge ids of tuples anchored to this one */
    uint64_t *ids;    /* data->n_roots tree ids, one per root (see ack.h) */
};

struct gale_tuple_data {
    atomic_uint refs;      /* first: overwritten by the pool's free list once the block is free */
    uint8_t pool_class;    /* pool.h: where the block goes back */
    int16_t pool_owner;
    uint16_t stream;       /* index into src->streams */
    uint16_t n_values;
    uint32_t src_task;
    const gale_component_t *src;
    uint32_t n_roots;
    uint32_t n_deliveries; /* used */
    uint32_t max_deliveries;
    uint32_t raw_len;
    uint64_t origin_ns;    /* latency marker: when the spout tuple this descends from was emitted (0: unsampled) */
    uint64_t *roots;       /* n_roots root ids of the trees this tuple belongs to */
    uint32_t *off;         /* n_values + 1 offsets into raw: value i is raw[off[i] .. off[i+1]) */
    char *raw;             /* the MessagePack array */
    gale_tuple_t *dlv;     /* max_deliveries deliveries */
    gale_value_t vals[];   /* views into raw */
};

/* The memory tuple `d`'s block takes: its pool class's size, or (not pooled) what it holds and malloc's overhead. */
size_t gale__tuple_block_bytes(const gale_tuple_data_t *d);

/* An upper bound of the encoded size of `n` values; GALE_EINVAL (as a negative ssize) for a malformed value
   (a container with neither items nor raw bytes, or nested deeper than GALE_MP_MAX_DEPTH). */
long gale__values_bound(const gale_value_t *values, size_t n);
/* Packs one value with `pk`: scalars packed, a container as its encoded bytes when it has them (it was read from a
   tuple or a setting), else from its items. The one encoder of values, for tuples and for what gale sends a
   multilang child. */
struct msgpack_packer;
void gale__pack_value(struct msgpack_packer *pk, const gale_value_t *v);

/*
 * Encodes `values` into a new tuple with room for `max_deliveries` deliveries of `n_roots` ids each. The values are
 * copied; containers given as raw bytes are validated. `src` and `stream` name where it was emitted.
 * Returns NULL with *err = GALE_ENOMEM or GALE_EINVAL / GALE_ECORRUPT for bad values. The tuple starts with no
 * reference: each delivery added with gale__tuple_deliver() takes one.
 */
gale_tuple_data_t *gale__tuple_new(const gale_component_t *src, uint32_t src_task, uint16_t stream,
                                   const gale_value_t *values, size_t n, uint32_t max_deliveries,
                                   uint32_t n_roots, int *err);

/*
 * Decodes a tuple whose values arrive as encoded bytes (the wire, a journal): `raw` must be one MessagePack array,
 * validated here against the limits of mpread.h. The bytes are copied. NULL with *err on failure.
 */
gale_tuple_data_t *gale__tuple_decode(const gale_component_t *src, uint32_t src_task, uint16_t stream,
                                      const char *raw, size_t raw_len, uint32_t max_deliveries, uint32_t n_roots,
                                      int *err);

/* Adds a delivery to `task`, taking one reference. Returns it (ids zeroed), or NULL when max_deliveries is used. */
gale_tuple_t *gale__tuple_deliver(gale_tuple_data_t *d, uint32_t task);

/* Drops one reference; the last one frees the tuple. */
void gale__tuple_release(gale_tuple_data_t *d);

/* Drops a tuple that was never delivered (no reference taken). */
void gale__tuple_discard(gale_tuple_data_t *d);

/* A stable 64-bit hash of the encoded bytes of the values at `idx` (fields grouping): equal values hash equal on
   every run and every machine. */
uint64_t gale__tuple_hash_fields(const gale_tuple_data_t *d, const int *idx, size_t n, uint64_t seed);

/* The same hash of one encoded value alone: what a fields grouping on one field hashes (a state's key groups). */
uint64_t gale__hash_value(const char *p, size_t len);

/* The host table's tuple readers. */
size_t gale__tuple_size(const gale_tuple_t *t);
int gale__tuple_get(const gale_tuple_t *t, size_t i, gale_value_t *out);
int gale__tuple_field(const gale_tuple_t *t, const char *field, gale_value_t *out);
const char *gale__tuple_stream(const gale_tuple_t *t);
const char *gale__tuple_component(const gale_tuple_t *t);
uint32_t gale__tuple_task(const gale_tuple_t *t);
void gale__tuple_fields(const gale_tuple_t *t, const char *const **fields, size_t *n_fields);

#endif
