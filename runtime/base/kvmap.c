#include "kvmap.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"

#define FIRST_CAP 64

uint64_t gale_kv_hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    /* FNV's low bits are weak for short keys; the table takes low bits. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void gale_kvmap_init(gale_kvmap_t *m) { memset(m, 0, sizeof *m); }

void gale_kvmap_clear(gale_kvmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].mem);
        m->slots[i].mem = NULL;
    }
    m->count = 0;
    m->bytes = 0;
}

void gale_kvmap_destroy(gale_kvmap_t *m)
{
    gale_kvmap_clear(m);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t find(const gale_kvmap_t *m, uint64_t h, const void *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const gale_kv_entry_t *e = &m->slots[i];
        if (!e->mem || (e->hash == h && e->klen == klen && (!klen || !memcmp(e->mem, key, klen)))) return i;
    }
}

const gale_kv_entry_t *gale_kvmap_get(const gale_kvmap_t *m, uint64_t h, const void *key, size_t klen)
{
    if (!m->cap) return NULL;
    const gale_kv_entry_t *e = &m->slots[find(m, h, key, klen)];
    return e->mem ? e : NULL;
}

static int grow(gale_kvmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : FIRST_CAP;
    gale_kv_entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return GALE_ENOMEM;
    gale_kvmap_t n = {slots, cap, 0, 0};
    for (size_t i = 0; i < m->cap; i++) {
        gale_kv_entry_t *e = &m->slots[i];
        if (e->mem) slots[find(&n, e->hash, e->mem, e->klen)] = *e;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int gale_kvmap_put(gale_kvmap_t *m, uint64_t h, const void *key, size_t klen, const void *value, size_t vlen)
{
    if (klen >= UINT32_MAX || vlen >= UINT32_MAX) return GALE_ELIMIT;
    if ((m->count + 1) * 10 > m->cap * 7 && grow(m)) return GALE_ENOMEM;
    char *mem = malloc(klen + vlen ? klen + vlen : 1);
    if (!mem) return GALE_ENOMEM;
    if (klen) memcpy(mem, key, klen);
    if (vlen) memcpy(mem + klen, value, vlen);
    gale_kv_entry_t *e = &m->slots[find(m, h, key, klen)];
    if (e->mem) {
        m->bytes -= e->klen + e->vlen;
        free(e->mem);
    } else {
        m->count++;
    }
    *e = (gale_kv_entry_t){h, mem, (uint32_t)klen, (uint32_t)vlen};
    m->bytes += klen + vlen;
    return 0;
}

int gale_kvmap_del(gale_kvmap_t *m, uint64_t h, const void *key, size_t klen)
{
    if (!m->cap) return 0;
    size_t mask = m->cap - 1, i = find(m, h, key, klen);
    if (!m->slots[i].mem) return 0;
    m->bytes -= m->slots[i].klen + m->slots[i].vlen;
    free(m->slots[i].mem);
    m->slots[i].mem = NULL;
    m->count--;
    /* Backward shift: move later entries of the cluster into the hole when their home is at or before it. */
    for (size_t j = (i + 1) & mask; m->slots[j].mem; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].mem = NULL;
            i = j;
        }
    }
    return 1;
}

const gale_kv_entry_t *gale_kvmap_next(const gale_kvmap_t *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++)
        if (m->slots[*pos].mem) return &m->slots[(*pos)++];
    return NULL;
}
