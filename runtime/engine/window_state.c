/*
 * window_state.c: a window in a checkpoint (window.h), as entries of the task's snapshot (kvstate.h) that the
 * runtime gives their key group: each tuple the window holds, in the group of the key its grouping routed it by,
 * so that after a restore at another parallelism it is held by the task that its key goes to now; and the window's
 * clock (watermark, last window's end, count of inputs) in every group, so that each new task has every old task's.
 *
 *   key   [ "\0gale.window", TASK_INDEX, SEQ ]          value [ TS, SRC_TASK, STREAM, ACKED, RAW ]
 *   key   [ "\0gale.window", TASK_INDEX, nil, GROUP ]   value [ WATERMARK, FIRED_END, ARRIVALS, CLOCK_MS ]
 *
 * A restored tuple belongs to no tree (the trees died with the run; the spouts replay what came after the
 * checkpoint), so acking it later tells no one.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "kvstate.h"
#include "mpread.h"
#include "mpwrite.h"
#include "runtime.h"
#include "window.h"
#include "window_run.h"

#define MARK "\0gale.window"
#define MARK_LEN 12

static int buf_write(void *data, const char *p, size_t n)
{
    gale_buf_put(data, p, n);
    return 0;
}

/* The key group a tuple of the window belongs to: its fields grouping's, else one by its place (spread). */
static uint32_t group_of(const gale_window_run_t *w, const gale_tuple_t *in, uint64_t seq, uint32_t key_groups)
{
    const win_input_t *input = gale__window_input_of(w, in->data);
    const gale_input_t *sub = input ? input->in : NULL;
    if (sub && sub->grouping == GALE_GROUPING_FIELDS && sub->n_fields)
        return (uint32_t)(gale__tuple_hash_fields(in->data, sub->field_index, sub->n_fields, 0) % key_groups);
    return (uint32_t)(seq % key_groups);
}

typedef struct snap {
    gale_task_t *t;
    gale_buf_t key, value;
} snap_t;

static void pack_mark(msgpack_packer *pk, uint32_t index, size_t items)
{
    msgpack_pack_array(pk, items);
    msgpack_pack_str(pk, MARK_LEN);
    msgpack_pack_str_body(pk, MARK, MARK_LEN);
    msgpack_pack_uint32(pk, index);
}

int gale__window_snapshot(void *task, gale_kvsnap_t *out)
{
    gale_task_t *t = task;
    gale_window_run_t *w = t->win;
    uint32_t groups = (uint32_t)t->rt->topo->config.state_key_groups, index = t->base.task_index;
    gale_buf_t key = {0}, value = {0};
    msgpack_packer kp, vp;
    msgpack_packer_init(&kp, &key, buf_write);
    msgpack_packer_init(&vp, &value, buf_write);
    int rc = 0;
    for (size_t i = w->head; i < w->end && !rc; i++) {
        const gale_tuple_t *in = w->q[i];
        const gale_tuple_data_t *d = in->data;
        key.len = value.len = 0;
        pack_mark(&kp, index, 3);
        msgpack_pack_uint64(&kp, i - w->head);
        msgpack_pack_array(&vp, 5);
        msgpack_pack_int64(&vp, w->ts[i]);
        msgpack_pack_uint32(&vp, d->src_task);
        msgpack_pack_uint16(&vp, d->stream);
        i < w->acked ? msgpack_pack_true(&vp) : msgpack_pack_false(&vp);
        msgpack_pack_bin(&vp, d->raw_len);
        msgpack_pack_bin_body(&vp, d->raw, d->raw_len);
        rc = key.failed || value.failed ? GALE_ENOMEM
                                        : gale_kvstate_put_given(out, group_of(w, in, i - w->head, groups), key.p,
                                                                 key.len, value.p, value.len);
    }
    for (uint32_t g = 0; g < groups && !rc; g++) { /* the clock, in every group: every new task gets it */
        key.len = value.len = 0;
        pack_mark(&kp, index, 4);
        msgpack_pack_nil(&kp);
        msgpack_pack_uint32(&kp, g);
        msgpack_pack_array(&vp, 4);
        msgpack_pack_int64(&vp, w->wm);
        msgpack_pack_int64(&vp, w->fired_end);
        msgpack_pack_uint64(&vp, w->arrivals);
        msgpack_pack_int64(&vp, w->clock_ms);
        rc = key.failed || value.failed ? GALE_ENOMEM
                                        : gale_kvstate_put_given(out, g, key.p, key.len, value.p, value.len);
    }
    gale_buf_free(&key);
    gale_buf_free(&value);
    return rc;
}

static bool window_key(const char *k, size_t kl);

/* A restored tuple, until the window is rebuilt in order. */
typedef struct held {
    int64_t ts;
    uint32_t old_index;
    uint64_t seq;
    bool acked;
    gale_tuple_t *dlv;
} held_t;

static int cmp_held(const void *a, const void *b)
{
    const held_t *x = a, *y = b;
    if (x->acked != y->acked) return x->acked ? -1 : 1; /* what left every window first */
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    if (x->old_index != y->old_index) return x->old_index < y->old_index ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads entry (key k, value v) if it is the window's: 1 (taken, into *h or the clock), 0 (not the window's), or
   GALE_ECORRUPT. */
static int read_entry(gale_task_t *t, const char *k, size_t kl, const char *v, size_t vl, held_t *h, bool *clock,
                      int64_t clk[4])
{
    if (!window_key(k, kl)) return 0;
    gale_value_t key, index, seq, val, f[5];
    size_t used;
    gale_mp_read(k, kl, &key, &used);
    if (gale_mp_item(&key, 1, &index) || index.type != GALE_INT || gale_mp_item(&key, 2, &seq) ||
        gale_mp_read(v, vl, &val, &used) || val.type != GALE_ARRAY)
        return GALE_ECORRUPT;
    if (seq.type == GALE_NIL) { /* the clock */
        if (val.n != 4) return GALE_ECORRUPT;
        for (uint32_t i = 0; i < 4; i++)
            if (gale_mp_item(&val, i, &f[i]) || (f[i].type != GALE_INT && f[i].type != GALE_UINT)) return GALE_ECORRUPT;
        for (int i = 0; i < 4; i++) clk[i] = f[i].i;
        *clock = true;
        return 1;
    }
    if (seq.type != GALE_INT || val.n != 5) return GALE_ECORRUPT;
    for (uint32_t i = 0; i < 5; i++)
        if (gale_mp_item(&val, i, &f[i])) return GALE_ECORRUPT;
    if (f[0].type != GALE_INT || f[1].type != GALE_INT || f[2].type != GALE_INT || f[3].type != GALE_BOOL ||
        f[4].type != GALE_BYTES)
        return GALE_ECORRUPT;
    const gale_component_t *src = gale_topology_task_component(t->rt->topo, (uint32_t)f[1].i);
    if (!src || f[2].i < 0 || (size_t)f[2].i >= src->n_streams) return GALE_ECORRUPT;
    int err;
    gale_tuple_data_t *d =
        gale__tuple_decode(src, (uint32_t)f[1].i, (uint16_t)f[2].i, f[4].s.ptr, f[4].s.len, 1, 0, &err);
    if (!d) return err == GALE_ENOMEM ? GALE_ENOMEM : GALE_ECORRUPT;
    *h = (held_t){.ts = f[0].i,
                  .old_index = (uint32_t)index.i,
                  .seq = (uint64_t)seq.i,
                  .acked = f[3].b,
                  .dlv = gale__tuple_deliver(d, t->base.task_id)};
    *clock = false;
    return 1;
}

/* Whether an encoded key is one of the window's. */
static bool window_key(const char *k, size_t kl)
{
    gale_value_t key, item;
    size_t used;
    return gale_mp_read(k, kl, &key, &used) == 0 && key.type == GALE_ARRAY && key.n >= 3 &&
           gale_mp_item(&key, 0, &item) == 0 && item.type == GALE_STR && item.s.len == MARK_LEN &&
           !memcmp(item.s.ptr, MARK, MARK_LEN);
}

/* The map without the window's entries, so that the plugin never sees them: made again, which is one pass where
   deleting them one by one would move the others each time. 0 or GALE_ENOMEM (the map unchanged). */
static int drop_window_entries(gale_kvmap_t *map)
{
    gale_kvmap_t keep;
    gale_kvmap_init(&keep);
    size_t pos = 0;
    for (const gale_kv_entry_t *e; (e = gale_kvmap_next(map, &pos));) {
        const char *k = gale_kv_key(e);
        if (window_key(k, e->klen)) continue;
        if (gale_kvmap_put(&keep, e->hash, k, e->klen, gale_kv_value(e), e->vlen)) {
            gale_kvmap_destroy(&keep);
            return GALE_ENOMEM;
        }
    }
    gale_kvmap_destroy(map);
    *map = keep;
    return 0;
}

int gale__window_restore(gale_task_t *t, char *why, size_t cap)
{
    gale_window_run_t *w = t->win;
    gale_kvmap_t *map = &t->kv.map;
    held_t *held = NULL;
    size_t n = 0, room = 0, pos = 0, n_clocks = 0, n_entries = 0;
    int64_t wm = INT64_MAX, fired = INT64_MAX, clock = INT64_MIN;
    uint64_t arrivals = 0;
    int rc = 0;
    for (const gale_kv_entry_t *e; !rc && (e = gale_kvmap_next(map, &pos));) {
        held_t h;
        bool is_clock;
        int64_t clk[4];
        const char *k = gale_kv_key(e);
        int r = read_entry(t, k, e->klen, gale_kv_value(e), e->vlen, &h, &is_clock, clk);
        if (r == 0) continue;
        if (r < 0) {
            rc = r;
            snprintf(why, cap, "an entry of its window's state is damaged");
            break;
        }
        n_entries++;
        if (!w) { /* the window is gone from the topology: what it held is dropped */
            if (!is_clock) gale__tuple_release(h.dlv->data);
            continue;
        }
        if (is_clock) {
            n_clocks++;
            if (clk[0] < wm) wm = clk[0];
            if (clk[1] < fired) fired = clk[1];
            if ((uint64_t)clk[2] > arrivals) arrivals = (uint64_t)clk[2];
            if (clk[3] > clock) clock = clk[3];
            continue;
        }
        if (n == room) {
            size_t more = room ? room * 2 : 1024;
            held_t *nh = realloc(held, more * sizeof *nh);
            if (!nh) {
                gale__tuple_release(h.dlv->data);
                rc = GALE_ENOMEM;
                snprintf(why, cap, "out of memory restoring its window");
                break;
            }
            held = nh, room = more;
        }
        held[n++] = h;
    }
    if (!rc && n_entries && (rc = drop_window_entries(map))) snprintf(why, cap, "out of memory restoring its window");
    if (!rc && w && n && gale__window_reserve(w, n)) {
        rc = GALE_ENOMEM;
        snprintf(why, cap, "out of memory restoring its window");
    }
    if (!rc && w && n) { /* in window order: what had left every window first, then by time */
        qsort(held, n, sizeof *held, cmp_held);
        for (size_t i = 0; i < n; i++) {
            gale_tuple_t *in = held[i].dlv;
            in->state |= GALE_DLV_KEPT | GALE_DLV_WINDOW | (held[i].acked ? GALE_DLV_ACKED : 0);
            w->q[w->end] = in;
            w->ts[w->end++] = held[i].ts;
            if (held[i].acked) w->acked = w->end;
            w->held_bytes += gale__window_cost(in);
        }
        w->chain = w->acked;
        n = 0; /* all taken */
    }
    for (size_t i = 0; i < n; i++) gale__tuple_release(held[i].dlv->data); /* not taken: an error */
    free(held);
    if (rc || !w || !n_clocks) return rc;
    w->wm = wm, w->fired_end = fired, w->arrivals = arrivals, w->clock_ms = clock;
    if (!w->session && w->acked < w->end) { /* the next window to fire: after the last that did */
        int64_t fe = gale__window_first_end(w, w->ts[w->acked]);
        w->next_end = w->fired_end != INT64_MIN && fe <= w->fired_end ? w->fired_end + w->slide : fe;
    }
    return 0;
}
