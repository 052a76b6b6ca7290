#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "mpread.h"

static uint64_t get_le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | (unsigned char)p[i];
    return v;
}

static void put_le(gale_buf_t *b, uint64_t v, int n)
{
    char tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (char)(v >> (8 * i));
    gale_buf_put(b, tmp, (size_t)n);
}

void gale_frame_reader_init(gale_frame_reader_t *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max ? max : GALE_FRAME_MAX;
}

void gale_frame_reader_destroy(gale_frame_reader_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int gale_frame_feed(gale_frame_reader_t *r, const void *data, size_t n)
{
    if (r->err) return r->err;
    if (!n) return 0;
    if (r->pos) { /* drop what was handed out already */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n) cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb) return GALE_ENOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

int gale_frame_next(gale_frame_reader_t *r, gale_frame_t *out)
{
    if (r->err) return r->err;
    size_t left = r->len - r->pos;
    if (left < 4) return 0;
    uint64_t len = get_le(r->buf + r->pos, 4);
    /* Checked before waiting for the bytes: a peer must not make us buffer a frame we would refuse anyway. */
    if (len == 0) return r->err = GALE_ECORRUPT;
    if (len - 1 > r->max) return r->err = GALE_ELIMIT;
    if (left - 4 < len) return 0;
    uint8_t type = (uint8_t)r->buf[r->pos + 4];
    if (type < GALE_FRAME_HELLO || type > GALE_FRAME_OPS) return r->err = GALE_ECORRUPT;
    out->type = type;
    out->payload = r->buf + r->pos + 5;
    out->len = (size_t)len - 1;
    r->pos += 4 + (size_t)len;
    return 1;
}

size_t gale_frame_begin(gale_buf_t *b, uint8_t type)
{
    size_t start = b->len;
    put_le(b, 0, 4);
    gale_buf_put(b, (const char *)&type, 1);
    return start;
}

void gale_frame_end(gale_buf_t *b, size_t start)
{
    if (b->failed) return;
    uint64_t len = b->len - start - 4;
    for (int i = 0; i < 4; i++) b->p[start + (size_t)i] = (char)(len >> (8 * i));
}

void gale_frame_put_tuple(gale_buf_t *b, const gale_tuple_t *dlv)
{
    const gale_tuple_data_t *d = dlv->data;
    put_le(b, dlv->task, 4);
    put_le(b, d->src_task, 4);
    put_le(b, d->stream, 2);
    put_le(b, d->n_roots, 1);
    for (uint32_t r = 0; r < d->n_roots; r++) {
        put_le(b, d->roots[r], 8);
        put_le(b, dlv->ids[r], 8);
    }
    put_le(b, d->raw_len, 4);
    gale_buf_put(b, d->raw, d->raw_len);
}

/* The component that runs task `task`, or NULL. */
static const gale_component_t *component_of_task(const gale_topology_t *topo, uint32_t task)
{
    for (size_t i = 0; i < topo->n_components; i++) {
        const gale_component_t *c = &topo->components[i];
        if (task >= c->first_task && task < c->first_task + (uint32_t)c->parallelism) return c;
    }
    return NULL;
}

int gale_frame_get_tuple(const gale_topology_t *topo, const char **p, size_t *left, gale_tuple_t **out)
{
    const char *q = *p;
    size_t n = *left;
    if (n < 11) return GALE_ECORRUPT;
    uint32_t target = (uint32_t)get_le(q, 4), src = (uint32_t)get_le(q + 4, 4);
    uint16_t stream = (uint16_t)get_le(q + 8, 2);
    uint8_t n_roots = (uint8_t)q[10];
    q += 11, n -= 11;
    const gale_component_t *to = component_of_task(topo, target), *from = component_of_task(topo, src);
    if (!to || to->kind != GALE_BOLT || !from || stream >= from->n_streams || n_roots > GALE_FRAME_MAX_ROOTS ||
        n < (size_t)n_roots * 16 + 4)
        return GALE_ECORRUPT;
    const char *roots = q;
    q += (size_t)n_roots * 16, n -= (size_t)n_roots * 16;
    uint64_t vlen = get_le(q, 4);
    q += 4, n -= 4;
    if (vlen > n) return GALE_ECORRUPT;
    int err;
    gale_tuple_data_t *d = gale__tuple_decode(from, src, stream, q, (size_t)vlen, 1, n_roots, &err);
    if (!d) return GALE_ECORRUPT;
    if (d->n_values != from->streams[stream].n_fields) {
        gale__tuple_discard(d);
        return GALE_ECORRUPT;
    }
    d->n_roots = n_roots;
    for (uint32_t r = 0; r < n_roots; r++) d->roots[r] = get_le(roots + 16 * r, 8);
    gale_tuple_t *dlv = gale__tuple_deliver(d, target);
    for (uint32_t r = 0; r < n_roots; r++) dlv->ids[r] = get_le(roots + 16 * r + 8, 8);
    *p = q + vlen;
    *left = n - (size_t)vlen;
    *out = dlv;
    return 0;
}
