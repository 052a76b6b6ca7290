/*
 * kvmap.h: a hash map from byte strings to byte strings, each entry one owned allocation [key][value].
 *
 * The per-task key-value state of stateful plugins (engine/state.h) keeps its entries here, keys and values
 * already encoded as MessagePack. Open addressing with linear probing and backward-shift deletion (no tombstones),
 * the table doubled at 0.7 load, so that a state that churns keys stays as fast as one that only grows. Each slot
 * keeps the key's hash, so a probe compares bytes only on a hash match, and iteration is by slot: the order is the
 * table's, stable while nothing is put or deleted.
 *
 * Ownership: the map owns every entry; pointers it returns are valid until the next put, delete or destroy.
 * Single-threaded: the owner's thread only.
 */
#ifndef GALE_KVMAP_H
#define GALE_KVMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct gale_kv_entry {
    uint64_t hash;
    char *mem; /* [key][value], NULL: an empty slot */
    uint32_t klen, vlen;
} gale_kv_entry_t;

typedef struct gale_kvmap {
    gale_kv_entry_t *slots;
    size_t cap; /* a power of two, or 0 before the first put */
    size_t count;
    size_t bytes; /* keys and values together, for the memory a state reports */
} gale_kvmap_t;

/* A stable 64-bit hash of bytes (FNV-1a folded by a final mix): the same on every run and machine. */
uint64_t gale_kv_hash(const void *p, size_t n);

/* An empty map (nothing allocated until the first put). */
void gale_kvmap_init(gale_kvmap_t *m);
void gale_kvmap_destroy(gale_kvmap_t *m);
/* Removes every entry; keeps the table. */
void gale_kvmap_clear(gale_kvmap_t *m);

/* The entry of `key` (hash `h`, from gale_kv_hash), or NULL. */
const gale_kv_entry_t *gale_kvmap_get(const gale_kvmap_t *m, uint64_t h, const void *key, size_t klen);
/* Sets `key` to `value` (both copied). 0, GALE_ENOMEM (the map unchanged), GALE_ELIMIT (a key or value of 4 GiB
   or more). */
int gale_kvmap_put(gale_kvmap_t *m, uint64_t h, const void *key, size_t klen, const void *value, size_t vlen);
/* Removes `key`; 1 when it was there, else 0. */
int gale_kvmap_del(gale_kvmap_t *m, uint64_t h, const void *key, size_t klen);

/* Iteration: `*pos` starts at 0; returns the next entry, or NULL at the end. */
const gale_kv_entry_t *gale_kvmap_next(const gale_kvmap_t *m, size_t *pos);

static inline const char *gale_kv_key(const gale_kv_entry_t *e) { return e->mem; }
static inline const char *gale_kv_value(const gale_kv_entry_t *e) { return e->mem + e->klen; }

#endif
