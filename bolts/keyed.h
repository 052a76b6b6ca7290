/*
 * keyed.h: a table of per-key entries for the shipped bolts that keep state by key (anomaly, rolling), header-only
 * as a plugin's helpers are: open addressing over the key's text, entries of the bolt's own struct, whose first
 * member is a keyed_head_t. A key is rendered to text once per tuple by keyed_text (a string as it is, any other
 * value as its JSON), so that the same key from a string field and from the state restored after a checkpoint
 * finds the same entry.
 */
#ifndef GALE_BOLT_KEYED_H
#define GALE_BOLT_KEYED_H

#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct keyed_head {
    char *key; /* NUL-terminated; NULL: an empty slot */
    size_t len;
} keyed_head_t;

typedef struct keyed {
    char *slots; /* cap entries of `size` bytes, each starting with a keyed_head_t */
    size_t size, cap, count;
} keyed_t;

static inline void keyed_init(keyed_t *t, size_t entry_size) { memset(t, 0, sizeof *t), t->size = entry_size; }

static inline keyed_head_t *keyed_at(const keyed_t *t, size_t i) { return (keyed_head_t *)(t->slots + i * t->size); }

static inline uint64_t keyed_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* The entry of key p[0..n), made (zeroed, its key copied) when new; NULL when out of memory. Entries move when the
   table grows: a pointer is good until the next call. */
static inline void *keyed_get(keyed_t *t, const char *p, size_t n)
{
    if (t->count * 2 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char *slots = calloc(cap, t->size);
        if (!slots) return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            keyed_head_t *e = keyed_at(t, i);
            if (!e->key) continue;
            size_t j = keyed_hash(e->key, e->len) & (cap - 1);
            while (((keyed_head_t *)(slots + j * t->size))->key) j = (j + 1) & (cap - 1);
            memcpy(slots + j * t->size, e, t->size);
        }
        free(t->slots);
        t->slots = slots, t->cap = cap;
    }
    size_t j = keyed_hash(p, n) & (t->cap - 1);
    for (keyed_head_t *e; (e = keyed_at(t, j))->key; j = (j + 1) & (t->cap - 1))
        if (e->len == n && !memcmp(e->key, p, n)) return e;
    keyed_head_t *e = keyed_at(t, j);
    memset(e, 0, t->size);
    if (!(e->key = malloc(n + 1))) return NULL;
    memcpy(e->key, p, n);
    e->key[n] = '\0';
    e->len = n;
    t->count++;
    return e;
}

/* Frees the keys and the table; the caller frees what its entries own first (walking keyed_at, key != NULL). */
static inline void keyed_free(keyed_t *t)
{
    for (size_t i = 0; i < t->cap; i++) free(keyed_at(t, i)->key);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* A key's text: a string's or bytes' own, else its JSON in buf (cut to cap - 1). */
static inline void keyed_text(gale_ctx_t *ctx, const gale_value_t *v, char *buf, size_t cap, const char **p,
                              size_t *len)
{
    if (v->type == GALE_STR || v->type == GALE_BYTES) {
        *p = v->s.ptr, *len = v->s.len;
        return;
    }
    size_t n = gale_to_json(ctx, v, buf, cap);
    *p = buf, *len = n < cap ? n : cap - 1;
}

#endif
