#include "tuple.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mpread.h"
#include "pool.h"

static long bound_one(const gale_value_t *v, int depth)
{
    switch (v->type) {
    case GALE_NIL:
    case GALE_BOOL: return 1;
    case GALE_INT:
    case GALE_UINT:
    case GALE_DOUBLE: return 9;
    case GALE_STR:
    case GALE_BYTES:
        if (v->s.len > UINT32_MAX || (!v->s.ptr && v->s.len)) return GALE_EINVAL;
        return 5 + (long)v->s.len;
    case GALE_ARRAY:
    case GALE_MAP: {
        if (v->c.raw) return (long)v->c.raw_len;
        if (!v->c.items && v->n) return GALE_EINVAL;
        if (depth >= GALE_MP_MAX_DEPTH) return GALE_EINVAL;
        size_t count = v->type == GALE_MAP ? 2 * (size_t)v->n : v->n;
        long total = 5;
        for (size_t i = 0; i < count; i++) {
            long b = bound_one(&v->c.items[i], depth + 1);
            if (b < 0) return b;
            total += b;
        }
        return total;
    }
    }
    return GALE_EINVAL;
}

long gale__values_bound(const gale_value_t *values, size_t n)
{
    long total = 5;
    for (size_t i = 0; i < n; i++) {
        long b = bound_one(&values[i], 0);
        if (b < 0) return b;
        total += b;
        if (total > UINT32_MAX) return GALE_ELIMIT;
    }
    return total;
}

/* msgpack-c's packer writes through a callback; ours appends to the tuple's own buffer, sized by the bound. */
typedef struct cursor {
    char *p;
    size_t len;
} cursor_t;

static int cursor_write(void *data, const char *buf, size_t len)
{
    cursor_t *c = data;
    char *dst = c->p + c->len;
    c->len += len;
    /* The packer writes headers a few bytes at a time: copy those inline rather than call memcpy. */
    if (len <= 16) {
        for (size_t i = 0; i < len; i++) dst[i] = buf[i];
        return 0;
    }
    memcpy(dst, buf, len);
    return 0;
}

void gale__pack_value(msgpack_packer *pk, const gale_value_t *v)
{
    switch (v->type) {
    case GALE_NIL: msgpack_pack_nil(pk); break;
    case GALE_BOOL: v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case GALE_INT: msgpack_pack_int64(pk, v->i); break;
    case GALE_UINT: msgpack_pack_uint64(pk, v->u); break;
    case GALE_DOUBLE: msgpack_pack_double(pk, v->d); break;
    case GALE_STR:
        msgpack_pack_str(pk, v->s.len);
        msgpack_pack_str_body(pk, v->s.ptr, v->s.len);
        break;
    case GALE_BYTES:
        msgpack_pack_bin(pk, v->s.len);
        msgpack_pack_bin_body(pk, v->s.ptr, v->s.len);
        break;
    case GALE_ARRAY:
    case GALE_MAP:
        if (v->c.raw) { /* MessagePack is self-delimiting: the bytes as they are */
            pk->callback(pk->data, v->c.raw, v->c.raw_len);
            break;
        }
        if (v->type == GALE_ARRAY) msgpack_pack_array(pk, v->n);
        else msgpack_pack_map(pk, v->n);
        for (size_t i = 0, count = v->type == GALE_MAP ? 2 * (size_t)v->n : v->n; i < count; i++)
            gale__pack_value(pk, &v->c.items[i]);
        break;
    }
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The block's layout: header | vals | deliveries | roots | ids | offsets | raw bytes; its size. */
static size_t tuple_layout(size_t n, uint32_t max_dlv, uint32_t n_roots, size_t raw_cap, size_t *dlv_at,
                           size_t *roots_at, size_t *off_at, size_t *raw_at)
{
    size_t sz = sizeof(gale_tuple_data_t) + n * sizeof(gale_value_t);
    *dlv_at = sz;
    sz += (size_t)max_dlv * sizeof(gale_tuple_t);
    *roots_at = sz;
    sz += (size_t)n_roots * 8 + (size_t)max_dlv * n_roots * 8;
    *off_at = sz;
    sz = align8(sz + (n + 1) * sizeof(uint32_t));
    *raw_at = sz;
    return sz + raw_cap;
}

size_t gale__tuple_block_bytes(const gale_tuple_data_t *d)
{
    if (d->pool_class != GALE_POOL_NONE) return gale__pool_class_bytes(d->pool_class);
    size_t a, b, c, e;
    return tuple_layout(d->n_values, d->max_deliveries, d->n_roots, d->raw_len, &a, &b, &c, &e) + 16; /* malloc's */
}

static gale_tuple_data_t *tuple_alloc(size_t n, uint32_t max_dlv, uint32_t n_roots, size_t raw_cap)
{
    size_t dlv_at, roots_at, off_at, raw_at;
    size_t sz = tuple_layout(n, max_dlv, n_roots, raw_cap, &dlv_at, &roots_at, &off_at, &raw_at);
    uint8_t cls;
    int16_t owner;
    char *m = gale__pool_alloc(sz, &cls, &owner);
    if (!m) return NULL;
    gale_tuple_data_t *d = (gale_tuple_data_t *)m;
    atomic_init(&d->refs, 0);
    d->pool_class = cls;
    d->pool_owner = owner;
    d->n_values = (uint16_t)n;
    d->n_roots = n_roots;
    d->n_deliveries = 0;
    d->max_deliveries = max_dlv;
    d->origin_ns = 0;
    d->dlv = (gale_tuple_t *)(m + dlv_at);
    d->roots = (uint64_t *)(m + roots_at);
    d->off = (uint32_t *)(m + off_at);
    d->raw = m + raw_at;
    return d;
}

/* Fills the views and offsets by reading the encoded array back; this also validates raw containers. */
static int index_values(gale_tuple_data_t *d)
{
    gale_type_t t;
    uint32_t n;
    size_t off;
    int rc = gale_mp_read_container(d->raw, d->raw_len, &t, &n, &off);
    if (rc) return GALE_ECORRUPT;
    if (t != GALE_ARRAY || n != d->n_values) return GALE_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        size_t used;
        d->off[i] = (uint32_t)off;
        rc = gale_mp_read(d->raw + off, d->raw_len - off, &d->vals[i], &used);
        if (rc) return rc == GALE_ENOTSUP ? GALE_ENOTSUP : GALE_ECORRUPT;
        off += used;
    }
    d->off[n] = (uint32_t)off;
    return off == d->raw_len ? 0 : GALE_ECORRUPT;
}

/*
 * The view of a value just encoded at `p` (len bytes), recorded while encoding so that nothing is read back: what a
 * reader of the encoded bytes would get (an integer that fits int64 reads back as GALE_INT). Containers given as raw
 * bytes are validated here, since they come from the plugin as they are.
 */
static int view_of(const gale_value_t *v, const char *p, size_t len, gale_value_t *out)
{
    switch (v->type) {
    case GALE_STR:
    case GALE_BYTES:
        *out = (gale_value_t){.type = v->type, .s = {p + len - v->s.len, v->s.len}};
        return 0;
    case GALE_UINT:
        *out = v->u > (uint64_t)INT64_MAX ? (gale_value_t){.type = GALE_UINT, .u = v->u}
                                          : (gale_value_t){.type = GALE_INT, .i = (int64_t)v->u};
        return 0;
    case GALE_ARRAY:
    case GALE_MAP:
        if (v->c.raw) {
            size_t used;
            int rc = gale_mp_read(p, len, out, &used);
            if (rc || used != len || out->type != v->type) return rc == GALE_ENOTSUP ? rc : GALE_ECORRUPT;
            return 0;
        }
        *out = (gale_value_t){.type = v->type, .n = v->n, .c = {NULL, p, len}};
        return 0;
    default:
        *out = *v;
        out->n = 0;
        return 0;
    }
}

static void set_origin(gale_tuple_data_t *d, const gale_component_t *src, uint32_t src_task, uint16_t stream)
{
    d->src = src;
    d->src_task = src_task;
    d->stream = stream;
}

gale_tuple_data_t *gale__tuple_new(const gale_component_t *src, uint32_t src_task, uint16_t stream,
                                   const gale_value_t *values, size_t n, uint32_t max_deliveries,
                                   uint32_t n_roots, int *err)
{
    long bound = n > UINT16_MAX ? GALE_ELIMIT : gale__values_bound(values, n);
    if (bound < 0) {
        *err = (int)bound;
        return NULL;
    }
    gale_tuple_data_t *d = tuple_alloc(n, max_deliveries, n_roots, (size_t)bound);
    if (!d) {
        *err = GALE_ENOMEM;
        return NULL;
    }
    set_origin(d, src, src_task, stream);
    cursor_t cur = {d->raw, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &cur, cursor_write);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        size_t start = cur.len;
        gale__pack_value(&pk, &values[i]);
        d->off[i] = (uint32_t)start;
        int rc = view_of(&values[i], cur.p + start, cur.len - start, &d->vals[i]);
        if (rc) {
            gale__tuple_discard(d);
            *err = rc;
            return NULL;
        }
    }
    d->off[n] = (uint32_t)cur.len;
    d->raw_len = (uint32_t)cur.len;
    return d;
}

gale_tuple_data_t *gale__tuple_decode(const gale_component_t *src, uint32_t src_task, uint16_t stream,
                                      const char *raw, size_t raw_len, uint32_t max_deliveries, uint32_t n_roots,
                                      int *err)
{
    gale_type_t t;
    uint32_t n;
    size_t hdr;
    int rc = gale_mp_read_container(raw, raw_len, &t, &n, &hdr);
    if (rc || t != GALE_ARRAY || n > UINT16_MAX || n > raw_len - hdr || raw_len > UINT32_MAX) {
        *err = GALE_ECORRUPT;
        return NULL;
    }
    gale_tuple_data_t *d = tuple_alloc(n, max_deliveries, n_roots, raw_len);
    if (!d) {
        *err = GALE_ENOMEM;
        return NULL;
    }
    set_origin(d, src, src_task, stream);
    memcpy(d->raw, raw, raw_len);
    d->raw_len = (uint32_t)raw_len;
    rc = index_values(d);
    if (rc) {
        gale__tuple_discard(d);
        *err = rc;
        return NULL;
    }
    return d;
}

gale_tuple_t *gale__tuple_deliver(gale_tuple_data_t *d, uint32_t task)
{
    if (d->n_deliveries >= d->max_deliveries) return NULL;
    uint32_t i = d->n_deliveries++;
    gale_tuple_t *t = &d->dlv[i];
    t->data = d;
    t->task = task;
    t->state = 0;
    t->kept_at = 0;
    t->ack_val = 0;
    t->ids = d->roots + d->n_roots + (size_t)i * d->n_roots;
    for (uint32_t r = 0; r < d->n_roots; r++) t->ids[r] = 0;
    atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return t;
}

void gale__tuple_release(gale_tuple_data_t *d)
{
    if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) gale__pool_free(d, d->pool_class, d->pool_owner);
}

void gale__tuple_discard(gale_tuple_data_t *d) { gale__pool_free(d, d->pool_class, d->pool_owner); }

static uint64_t load64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Eight bytes at a time, with a murmur3 finaliser; defined on bytes, so it is the same on every machine. */
static uint64_t hash_bytes(const unsigned char *p, size_t len, uint64_t h)
{
    h ^= len * 0x9e3779b97f4a7c15ull;
    while (len >= 8) {
        h = (h ^ mix64(load64le(p))) * 0x100000001b3ull;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0; /* the last 0-7 bytes as a little-endian number, without a call to memcpy */
    for (size_t i = len; i > 0; i--) tail = tail << 8 | p[i - 1];
    return mix64(h ^ mix64(tail + len));
}

uint64_t gale__hash_value(const char *p, size_t len) { return hash_bytes((const unsigned char *)p, len, 0); }

uint64_t gale__tuple_hash_fields(const gale_tuple_data_t *d, const int *idx, size_t n, uint64_t seed)
{
    uint64_t h = seed;
    for (size_t k = 0; k < n; k++) {
        uint32_t a = d->off[idx[k]], b = d->off[idx[k] + 1];
        h = hash_bytes((const unsigned char *)d->raw + a, b - a, h);
    }
    return h;
}

size_t gale__tuple_size(const gale_tuple_t *t) { return t->data->n_values; }

int gale__tuple_get(const gale_tuple_t *t, size_t i, gale_value_t *out)
{
    if (i >= t->data->n_values) return GALE_ERANGE;
    *out = t->data->vals[i];
    return 0;
}

int gale__tuple_field(const gale_tuple_t *t, const char *field, gale_value_t *out)
{
    const gale_stream_t *s = &t->data->src->streams[t->data->stream];
    for (size_t i = 0; i < s->n_fields && i < t->data->n_values; i++)
        if (strcmp(s->fields[i], field) == 0) {
            *out = t->data->vals[i];
            return 0;
        }
    return GALE_ENOENT;
}

const char *gale__tuple_stream(const gale_tuple_t *t) { return t->data->src->streams[t->data->stream].name; }
const char *gale__tuple_component(const gale_tuple_t *t) { return t->data->src->name; }
uint32_t gale__tuple_task(const gale_tuple_t *t) { return t->data->src_task; }

void gale__tuple_fields(const gale_tuple_t *t, const char *const **fields, size_t *n_fields)
{
    const gale_stream_t *s = &t->data->src->streams[t->data->stream];
    *fields = (const char *const *)s->fields;
    *n_fields = s->n_fields;
}
