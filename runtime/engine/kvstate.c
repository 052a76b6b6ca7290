#include "kvstate.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"
#include "mpread.h"
#include "task.h"
#include "tuple.h"

#define MAGIC "GALEST01"
#define HEADER_SIZE (8 + 8 + 4 + 4 + 4 + 8)
#define ENTRY_HEADER (2 + 4 + 4)

void gale_kvstate_init(gale_kvstate_t *s)
{
    memset(s, 0, sizeof *s);
    gale_kvmap_init(&s->map);
}

void gale_kvstate_destroy(gale_kvstate_t *s)
{
    gale_kvmap_destroy(&s->map);
    gale_buf_free(&s->scratch);
}

uint32_t gale_kvstate_key_group(const char *key, size_t klen, uint32_t key_groups)
{
    return (uint32_t)(gale__hash_value(key, klen) % key_groups);
}

/* Flink's KeyGroupRangeAssignment: group g goes to task g * p / G, so task i owns [ceil(iG/p), ceil((i+1)G/p)). */
void gale_kvstate_group_range(uint32_t index, uint32_t parallelism, uint32_t key_groups, uint32_t *lo, uint32_t *hi)
{
    *lo = (uint32_t)(((uint64_t)index * key_groups + parallelism - 1) / parallelism);
    *hi = (uint32_t)(((uint64_t)(index + 1) * key_groups + parallelism - 1) / parallelism);
}

static void put_le(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (char)(v >> (8 * i));
}

static uint64_t get_le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | (unsigned char)p[i];
    return v;
}

struct gale_kvsnap {
    gale_buf_t *out;
    uint32_t key_groups;
    uint64_t entries;
};

static int put_entry(gale_buf_t *out, uint32_t group, const char *k, size_t kl, const char *v, size_t vl)
{
    char *p = gale_buf_append(out, ENTRY_HEADER + kl + vl);
    if (!p) return GALE_ENOMEM;
    put_le(p, group, 2);
    put_le(p + 2, kl, 4);
    put_le(p + 6, vl, 4);
    memcpy(p + ENTRY_HEADER, k, kl);
    memcpy(p + ENTRY_HEADER + kl, v, vl);
    return 0;
}

int gale_kvstate_put_given(gale_kvsnap_t *w, uint32_t group, const char *key, size_t klen, const char *value,
                           size_t vlen)
{
    if (group >= w->key_groups) return GALE_EINVAL;
    int rc = put_entry(w->out, group | GALE_KV_GIVEN_GROUP, key, klen, value, vlen);
    if (!rc) w->entries++;
    return rc;
}

int gale_kvstate_encode(const gale_kvstate_t *s, uint64_t checkpoint, uint32_t index, uint32_t parallelism,
                        uint32_t key_groups, int (*more)(void *arg, gale_kvsnap_t *w), void *arg, gale_buf_t *out)
{
    size_t start = out->len;
    char *h = gale_buf_append(out, HEADER_SIZE);
    if (!h) return GALE_ENOMEM;
    memcpy(h, MAGIC, 8);
    put_le(h + 8, checkpoint, 8);
    put_le(h + 16, index, 4);
    put_le(h + 20, parallelism, 4);
    put_le(h + 24, key_groups, 4);
    put_le(h + 28, s->map.count, 8);
    size_t pos = 0;
    for (const gale_kv_entry_t *e; (e = gale_kvmap_next(&s->map, &pos));) {
        const char *k = gale_kv_key(e);
        if (put_entry(out, gale_kvstate_key_group(k, e->klen, key_groups), k, e->klen, k + e->klen, e->vlen))
            return GALE_ENOMEM;
    }
    if (more) {
        gale_kvsnap_t w = {.out = out, .key_groups = key_groups, .entries = s->map.count};
        int rc = more(arg, &w);
        if (rc) return rc;
        put_le(out->p + start + 28, w.entries, 8); /* the header's count, with the runtime's entries */
    }
    char *t = gale_buf_append(out, 4);
    if (!t) return GALE_ENOMEM;
    put_le(t, gale_crc32c(0, out->p + start, out->len - 4 - start), 4);
    return 0;
}

/* One well-formed MessagePack value filling exactly [p, p + n). */
static bool one_value(const char *p, size_t n)
{
    gale_value_t v;
    size_t used;
    return n && gale_mp_read(p, n, &v, &used) == 0 && used == n;
}

/* Walks the entries, checking each; calls `fn` for each when given. */
static int walk(const char *p, size_t len, gale_snapshot_info_t *info, char *why, size_t cap,
                int (*fn)(void *arg, uint32_t group, const char *k, uint32_t kl, const char *v, uint32_t vl), void *arg)
{
    if (len < HEADER_SIZE + 4 || memcmp(p, MAGIC, 8)) {
        snprintf(why, cap, "not a gale state snapshot (%zu bytes, no %s header)", len, MAGIC);
        return GALE_ECORRUPT;
    }
    uint32_t crc = (uint32_t)get_le(p + len - 4, 4);
    if (crc != gale_crc32c(0, p, len - 4)) {
        snprintf(why, cap, "checksum mismatch (damaged or torn)");
        return GALE_ECORRUPT;
    }
    info->checkpoint = get_le(p + 8, 8);
    info->task_index = (uint32_t)get_le(p + 16, 4);
    info->parallelism = (uint32_t)get_le(p + 20, 4);
    info->key_groups = (uint32_t)get_le(p + 24, 4);
    info->entries = get_le(p + 28, 8);
    if (!info->parallelism || info->task_index >= info->parallelism || !info->key_groups ||
        info->key_groups > GALE_KV_GIVEN_GROUP) {
        snprintf(why, cap, "a header that makes no sense (task %u of %u, %u key groups)", info->task_index,
                 info->parallelism, info->key_groups);
        return GALE_ECORRUPT;
    }
    size_t at = HEADER_SIZE, end = len - 4;
    for (uint64_t i = 0; i < info->entries; i++) {
        if (end - at < ENTRY_HEADER) goto short_;
        uint32_t g = (uint32_t)get_le(p + at, 2), kl = (uint32_t)get_le(p + at + 2, 4),
                 vl = (uint32_t)get_le(p + at + 6, 4);
        at += ENTRY_HEADER;
        if (end - at < (uint64_t)kl + vl) goto short_;
        const char *k = p + at, *v = p + at + kl;
        bool given = g & GALE_KV_GIVEN_GROUP;
        if ((g & ~GALE_KV_GIVEN_GROUP) >= info->key_groups || !one_value(k, kl) || !one_value(v, vl) ||
            (!given && gale_kvstate_key_group(k, kl, info->key_groups) != g)) {
            snprintf(why, cap, "entry %llu is malformed", (unsigned long long)i + 1);
            return GALE_ECORRUPT;
        }
        at += (size_t)kl + vl;
        if (fn) {
            int rc = fn(arg, g, k, kl, v, vl);
            if (rc) return rc;
        }
    }
    if (at != end) {
        snprintf(why, cap, "%zu bytes after the last of %llu entries", end - at, (unsigned long long)info->entries);
        return GALE_ECORRUPT;
    }
    return 0;
short_:
    snprintf(why, cap, "ends inside its entries (it says %llu)", (unsigned long long)info->entries);
    return GALE_ECORRUPT;
}

int gale_snapshot_check(const char *p, size_t len, gale_snapshot_info_t *info, char *why, size_t cap)
{
    return walk(p, len, info, why, cap, NULL, NULL);
}

typedef struct restore_arg {
    gale_kvstate_t *s;
    uint32_t lo, hi;
} restore_arg_t;

static int restore_one(void *arg, uint32_t group, const char *k, uint32_t kl, const char *v, uint32_t vl)
{
    restore_arg_t *a = arg;
    group &= ~GALE_KV_GIVEN_GROUP;
    if (group < a->lo || group >= a->hi) return 0;
    return gale_kvmap_put(&a->s->map, gale_kv_hash(k, kl), k, kl, v, vl);
}

int gale_kvstate_restore(gale_kvstate_t *s, const char *p, size_t len, uint32_t key_groups, uint32_t lo, uint32_t hi,
                         char *why, size_t cap)
{
    gale_snapshot_info_t info;
    int rc = gale_snapshot_check(p, len, &info, why, cap);
    if (rc) return rc;
    if (info.key_groups != key_groups) {
        snprintf(why, cap, "it has %u key groups, the topology %u (state_key_groups cannot change)", info.key_groups,
                 key_groups);
        return GALE_EINVAL;
    }
    restore_arg_t a = {s, lo, hi};
    rc = walk(p, len, &info, why, cap, restore_one, &a);
    if (rc == GALE_ENOMEM) snprintf(why, cap, "out of memory");
    return rc;
}

/* ---- the operations ----------------------------------------------------------------------------------------- */

static int buf_write(void *data, const char *p, size_t n)
{
    gale_buf_put(data, p, n);
    return 0;
}

/* `v` encoded into the state's scratch buffer. */
static int encode(gale_kvstate_t *s, const gale_value_t *v)
{
    if (!v || gale__values_bound(v, 1) < 0) return GALE_EINVAL;
    s->scratch.len = 0;
    s->scratch.failed = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->scratch, buf_write);
    gale__pack_value(&pk, v);
    return s->scratch.failed ? GALE_ENOMEM : 0;
}

int gale_kvstate_get(gale_kvstate_t *s, const gale_value_t *key, gale_value_t *out)
{
    int rc = encode(s, key);
    if (rc) return rc;
    const gale_kv_entry_t *e =
        gale_kvmap_get(&s->map, gale_kv_hash(s->scratch.p, s->scratch.len), s->scratch.p, s->scratch.len);
    if (!e) return GALE_ENOENT;
    size_t used;
    return gale_mp_read(gale_kv_value(e), e->vlen, out, &used);
}

int gale_kvstate_put(gale_kvstate_t *s, const gale_value_t *key, const gale_value_t *value)
{
    if (!value || gale__values_bound(value, 1) < 0) return GALE_EINVAL;
    int rc = encode(s, key);
    if (rc) return rc;
    size_t klen = s->scratch.len;
    /* The value after the key in the same buffer: one encoding pass, no second allocation. */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->scratch, buf_write);
    gale__pack_value(&pk, value);
    if (s->scratch.failed) return GALE_ENOMEM;
    const char *k = s->scratch.p;
    return gale_kvmap_put(&s->map, gale_kv_hash(k, klen), k, klen, k + klen, s->scratch.len - klen);
}

int gale_kvstate_delete(gale_kvstate_t *s, const gale_value_t *key)
{
    int rc = encode(s, key);
    if (rc) return rc;
    return gale_kvmap_del(&s->map, gale_kv_hash(s->scratch.p, s->scratch.len), s->scratch.p, s->scratch.len)
               ? 0
               : GALE_ENOENT;
}

int gale_kvstate_next(const gale_kvstate_t *s, uint64_t *cursor, gale_value_t *key, gale_value_t *value)
{
    size_t pos = (size_t)*cursor;
    const gale_kv_entry_t *e = gale_kvmap_next(&s->map, &pos);
    *cursor = pos;
    if (!e) return GALE_ENOENT;
    size_t used;
    int rc = gale_mp_read(gale_kv_key(e), e->klen, key, &used);
    return rc ? rc : gale_mp_read(gale_kv_value(e), e->vlen, value, &used);
}

/* ---- the host functions ------------------------------------------------------------------------------------- */

static gale_kvstate_t *task_state(gale_ctx_t *ctx)
{
    gale_task_t *t = gale__task(ctx);
    return t->base.phase == GALE_PHASE_OPEN || t->base.phase == GALE_PHASE_RUN ? &t->kv : NULL;
}

int gale__state_get(gale_ctx_t *ctx, const gale_value_t *key, gale_value_t *out)
{
    gale_kvstate_t *s = task_state(ctx);
    return s ? gale_kvstate_get(s, key, out) : GALE_ESTATE;
}

int gale__state_put(gale_ctx_t *ctx, const gale_value_t *key, const gale_value_t *value)
{
    gale_kvstate_t *s = task_state(ctx);
    return s ? gale_kvstate_put(s, key, value) : GALE_ESTATE;
}

int gale__state_delete(gale_ctx_t *ctx, const gale_value_t *key)
{
    gale_kvstate_t *s = task_state(ctx);
    return s ? gale_kvstate_delete(s, key) : GALE_ESTATE;
}

int gale__state_next(gale_ctx_t *ctx, uint64_t *cursor, gale_value_t *key, gale_value_t *value)
{
    gale_kvstate_t *s = task_state(ctx);
    return s ? gale_kvstate_next(s, cursor, key, value) : GALE_ESTATE;
}

size_t gale__state_count(gale_ctx_t *ctx)
{
    gale_kvstate_t *s = task_state(ctx);
    return s ? s->map.count : 0;
}

uint64_t gale__state_restored(gale_ctx_t *ctx) { return gale__task(ctx)->kv.restored; }
