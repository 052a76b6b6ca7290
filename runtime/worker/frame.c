#include "frame.h"

#include "fail_reason.h"

#include <stdlib.h>
#include <string.h>

#include "mpread.h"

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

void gale_frame_reader_limit(gale_frame_reader_t *r, size_t max) { r->max = max ? max : GALE_FRAME_MAX; }

void gale_frame_reader_trim(gale_frame_reader_t *r, size_t keep)
{
    if (r->pos != r->len || r->cap <= keep) return;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = r->pos = 0;
}

char *gale_frame_reader_room(gale_frame_reader_t *r, size_t want, size_t *room)
{
    /* Handed-out frames are dropped only when the room runs short: moving a partial frame to the front once per
       read would copy it again and again while it arrives. */
    if (r->cap - r->len < want && r->pos) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < want) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap - r->len < want) cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb) return NULL;
        r->buf = nb;
        r->cap = cap;
    }
    *room = r->cap - r->len;
    return r->buf + r->len;
}

void gale_frame_reader_commit(gale_frame_reader_t *r, size_t n) { r->len += n; }

int gale_frame_feed(gale_frame_reader_t *r, const void *data, size_t n)
{
    if (r->err) return r->err;
    if (!n) return 0;
    size_t room;
    char *dst = gale_frame_reader_room(r, n, &room);
    if (!dst) return GALE_ENOMEM;
    memcpy(dst, data, n);
    gale_frame_reader_commit(r, n);
    return 0;
}

int gale_frame_next(gale_frame_reader_t *r, gale_frame_t *out)
{
    if (r->err) return r->err;
    size_t left = r->len - r->pos;
    if (left < 4) return 0;
    uint64_t len = gale_le_get(r->buf + r->pos, 4);
    /* Checked before waiting for the bytes: a peer must not make us buffer a frame we would refuse anyway. */
    if (len == 0) return r->err = GALE_ECORRUPT;
    if (len - 1 > r->max) return r->err = GALE_ELIMIT;
    if (left - 4 < len) return 0;
    uint8_t type = (uint8_t)r->buf[r->pos + 4];
    if (type < GALE_FRAME_HELLO || type > GALE_FRAME_REASON) return r->err = GALE_ECORRUPT;
    out->type = type;
    out->payload = r->buf + r->pos + 5;
    out->len = (size_t)len - 1;
    r->pos += 4 + (size_t)len;
    return 1;
}

size_t gale_frame_begin(gale_buf_t *b, uint8_t type)
{
    size_t start = b->len;
    char *p = gale_buf_append(b, 5);
    if (p) {
        gale_le_put(p, 0, 4);
        p[4] = (char)type;
    }
    return start;
}

void gale_frame_end(gale_buf_t *b, size_t start)
{
    if (b->failed) return;
    gale_le_put(b->p + start, b->len - start - 4, 4);
}

#define ORIGIN_FLAG 0x80
#define ROOTS_FOLLOW 0x7f /* the header byte's count: a u32 count of roots follows */

size_t gale_frame_tuple_size(const gale_tuple_t *dlv, bool with_origin)
{
    const gale_tuple_data_t *d = dlv->data;
    return 15 + (d->n_roots >= ROOTS_FOLLOW ? 4 : 0) + (with_origin && d->origin_ns ? 8 : 0) + (size_t)d->n_roots * 16 +
           d->raw_len;
}

void gale_frame_put_tuple(gale_buf_t *b, const gale_tuple_t *dlv, bool with_origin)
{
    const gale_tuple_data_t *d = dlv->data;
    with_origin = with_origin && d->origin_ns;
    char *p = gale_buf_append(b, gale_frame_tuple_size(dlv, with_origin));
    if (!p) return;
    gale_le_put(p, dlv->task, 4);
    gale_le_put(p + 4, d->src_task, 4);
    gale_le_put(p + 8, d->stream, 2);
    bool many = d->n_roots >= ROOTS_FOLLOW;
    p[10] = (char)((many ? ROOTS_FOLLOW : d->n_roots) | (with_origin ? ORIGIN_FLAG : 0));
    p += 11;
    if (many) {
        gale_le_put(p, d->n_roots, 4);
        p += 4;
    }
    if (with_origin) {
        gale_le_put(p, d->origin_ns, 8);
        p += 8;
    }
    for (uint32_t r = 0; r < d->n_roots; r++, p += 16) {
        gale_le_put(p, d->roots[r], 8);
        gale_le_put(p + 8, dlv->ids[r], 8);
    }
    gale_le_put(p, d->raw_len, 4);
    memcpy(p + 4, d->raw, d->raw_len);
}

void gale_frame_put_op(gale_buf_t *b, const gale_op_t *op)
{
    char *p = gale_buf_append(b, GALE_FRAME_OP_RECORD);
    if (!p) return;
    p[0] = (char)op->kind;
    gale_le_put(p + 1, op->task, 4);
    gale_le_put(p + 5, op->root, 8);
    gale_le_put(p + 13, op->val, 8);
    gale_le_put(p + 21, op->from, 4);
}

void gale_frame_get_op(const char *p, gale_op_t *op)
{
    *op = (gale_op_t){.kind = (uint32_t)(unsigned char)p[0], .task = (uint32_t)gale_le_get(p + 1, 4),
                      .root = gale_le_get(p + 5, 8), .val = gale_le_get(p + 13, 8),
                      .from = (uint32_t)gale_le_get(p + 21, 4)};
}

void gale_frame_put_reason(gale_buf_t *b, uint32_t id, const char *text)
{
    size_t start = gale_frame_begin(b, GALE_FRAME_REASON);
    size_t len = strlen(text);
    if (len > GALE_REASON_MAX_LEN) len = GALE_REASON_MAX_LEN;
    char *p = gale_buf_append(b, 4 + len);
    if (p) {
        gale_le_put(p, id, 4);
        memcpy(p + 4, text, len);
    }
    gale_frame_end(b, start);
}

int gale_frame_get_reason(const char *p, size_t len, uint32_t *id, const char **text, size_t *text_len)
{
    if (len < 4 || len - 4 > GALE_REASON_MAX_LEN) return GALE_ECORRUPT;
    *id = (uint32_t)gale_le_get(p, 4);
    *text = p + 4;
    *text_len = len - 4;
    return 0;
}

int gale_frame_get_tuple(const gale_topology_t *topo, const char **p, size_t *left, gale_tuple_t **out)
{
    const char *q = *p;
    size_t n = *left;
    if (n < 11) return GALE_ECORRUPT;
    uint32_t target = (uint32_t)gale_le_get(q, 4), src = (uint32_t)gale_le_get(q + 4, 4);
    uint16_t stream = (uint16_t)gale_le_get(q + 8, 2);
    uint32_t n_roots = (uint8_t)q[10] & ~ORIGIN_FLAG;
    bool has_origin = (uint8_t)q[10] & ORIGIN_FLAG;
    q += 11, n -= 11;
    if (n_roots == ROOTS_FOLLOW) {
        if (n < 4) return GALE_ECORRUPT;
        n_roots = (uint32_t)gale_le_get(q, 4);
        if (n_roots < ROOTS_FOLLOW) return GALE_ECORRUPT; /* one way to write each count */
        q += 4, n -= 4;
    }
    uint64_t origin = 0;
    if (has_origin) {
        if (n < 8) return GALE_ECORRUPT;
        origin = gale_le_get(q, 8);
        q += 8, n -= 8;
    }
    const gale_component_t *to = gale_topology_task_component(topo, target),
                           *from = gale_topology_task_component(topo, src);
    if (!to || to->kind != GALE_BOLT || !from || stream >= from->n_streams || n_roots > GALE_FRAME_MAX_ROOTS ||
        n < (size_t)n_roots * 16 + 4)
        return GALE_ECORRUPT;
    const char *roots = q;
    q += (size_t)n_roots * 16, n -= (size_t)n_roots * 16;
    uint64_t vlen = gale_le_get(q, 4);
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
    d->origin_ns = origin;
    for (uint32_t r = 0; r < n_roots; r++) d->roots[r] = gale_le_get(roots + 16 * r, 8);
    gale_tuple_t *dlv = gale__tuple_deliver(d, target);
    for (uint32_t r = 0; r < n_roots; r++) dlv->ids[r] = gale_le_get(roots + 16 * r + 8, 8);
    *p = q + vlen;
    *left = n - (size_t)vlen;
    *out = dlv;
    return 0;
}

void gale_frame_put_control(gale_buf_t *b, const gale_control_t *c)
{
    char rec[GALE_FRAME_CONTROL_RECORD];
    rec[0] = (char)c->kind;
    gale_le_put(rec + 1, c->from, 4);
    gale_le_put(rec + 5, c->to, 4);
    gale_le_put(rec + 9, c->id, 8);
    gale_buf_put(b, rec, sizeof rec);
}

int gale_frame_get_control(uint32_t n_all_tasks, const char *p, gale_control_t *c)
{
    *c = (gale_control_t){.kind = (uint8_t)p[0],
                          .from = (uint32_t)gale_le_get(p + 1, 4),
                          .to = (uint32_t)gale_le_get(p + 5, 4),
                          .id = gale_le_get(p + 9, 8)};
    bool barrier = c->kind == GALE_CONTROL_BARRIER, watermark = c->kind == GALE_CONTROL_WATERMARK;
    if ((!barrier && !watermark) || !c->from || c->from > n_all_tasks || !c->to || c->to > n_all_tasks ||
        (barrier && !c->id))
        return GALE_ECORRUPT;
    return 0;
}
