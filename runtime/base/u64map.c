#include "u64map.h"

#include <stdlib.h>
#include <string.h>

#include "gale.h"

static uint64_t *key_at(const gale_u64map_t *m, size_t i) { return (uint64_t *)(m->slots + i * m->slot_size); }
static void *val_at(const gale_u64map_t *m, size_t i) { return m->slots + i * m->slot_size + 8; }

static size_t home(const gale_u64map_t *m, uint64_t key)
{
    /* Keys are often random already; the multiply spreads the ones that are not (message ids 1, 2, 3 ...). */
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
}

int gale_u64map_init(gale_u64map_t *m, size_t value_size, size_t initial)
{
    size_t cap = 16;
    while (cap < initial * 2) cap <<= 1;
    m->value_size = value_size;
    m->slot_size = 8 + ((value_size + 7) & ~(size_t)7);
    m->slots = calloc(cap, m->slot_size);
    if (!m->slots) return GALE_ENOMEM;
    m->cap = cap;
    m->count = 0;
    return 0;
}

void gale_u64map_destroy(gale_u64map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void *gale_u64map_get(const gale_u64map_t *m, uint64_t key)
{
    for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
        uint64_t k = *key_at(m, i);
        if (k == key) return val_at(m, i);
        if (k == 0) return NULL;
    }
}

static int grow(gale_u64map_t *m)
{
    gale_u64map_t bigger;
    if (gale_u64map_init(&bigger, m->value_size, m->cap)) return GALE_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k = *key_at(m, i);
        if (!k) continue;
        size_t j = home(&bigger, k);
        while (*key_at(&bigger, j)) j = (j + 1) & (bigger.cap - 1);
        memcpy(bigger.slots + j * bigger.slot_size, m->slots + i * m->slot_size, m->slot_size);
    }
    bigger.count = m->count;
    free(m->slots);
    *m = bigger;
    return 0;
}

void *gale_u64map_put(gale_u64map_t *m, uint64_t key, int *created)
{
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m)) return NULL; /* keep the load under 3/4 */
    size_t i = home(m, key);
    for (;; i = (i + 1) & (m->cap - 1)) {
        uint64_t k = *key_at(m, i);
        if (k == key) {
            if (created) *created = 0;
            return val_at(m, i);
        }
        if (k == 0) break;
    }
    *key_at(m, i) = key;
    memset(val_at(m, i), 0, m->value_size);
    m->count++;
    if (created) *created = 1;
    return val_at(m, i);
}

/* Backward-shift deletion: pull later entries of the probe run back into the hole. */
static void delete_slot(gale_u64map_t *m, size_t hole)
{
    size_t mask = m->cap - 1;
    for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
        uint64_t k = *key_at(m, j);
        if (!k) break;
        size_t h = home(m, k);
        /* The entry at j may move to the hole if its home is not cyclically in (hole, j]. */
        if (((j - h) & mask) >= ((j - hole) & mask)) {
            memcpy(m->slots + hole * m->slot_size, m->slots + j * m->slot_size, m->slot_size);
            hole = j;
        }
    }
    *key_at(m, hole) = 0;
    m->count--;
}

int gale_u64map_del(gale_u64map_t *m, uint64_t key)
{
    for (size_t i = home(m, key);; i = (i + 1) & (m->cap - 1)) {
        uint64_t k = *key_at(m, i);
        if (k == 0) return 0;
        if (k == key) {
            delete_slot(m, i);
            return 1;
        }
    }
}

uint64_t gale_u64map_next(const gale_u64map_t *m, size_t *pos, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        uint64_t k = *key_at(m, *pos);
        if (k) {
            *value = val_at(m, *pos);
            (*pos)++;
            return k;
        }
    }
    return 0;
}

void gale_u64map_del_at(gale_u64map_t *m, size_t *pos)
{
    delete_slot(m, *pos - 1);
    (*pos)--; /* the slot may now hold a shifted entry: visit it again */
}
