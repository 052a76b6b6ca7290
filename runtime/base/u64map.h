/*
 * u64map.h: an open-addressing hash map from non-zero 64-bit keys to fixed-size values, stored inline.
 *
 * Linear probing with backward-shift deletion (no tombstones), so lookups stay short however many entries come and
 * go: tuple-tree ids are random and short-lived, which is exactly the acker's and the spouts' pattern.
 * Pointers returned by get/put are valid until the next put or del.
 */
#ifndef GALE_U64MAP_H
#define GALE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct gale_u64map {
    char *slots;    /* cap slots of (uint64_t key, value bytes); key 0 marks an empty slot */
    size_t cap;     /* a power of two */
    size_t count;
    size_t value_size;
    size_t slot_size;
} gale_u64map_t;

/* 0 or GALE_ENOMEM. */
int gale_u64map_init(gale_u64map_t *m, size_t value_size, size_t initial);
void gale_u64map_destroy(gale_u64map_t *m);

/* The value of `key`, or NULL. */
void *gale_u64map_get(const gale_u64map_t *m, uint64_t key);
/* The value of `key`, inserted zeroed when absent (*created says which). NULL when out of memory. */
void *gale_u64map_put(gale_u64map_t *m, uint64_t key, int *created);
/* Removes `key`; returns 1 if it was there. */
int gale_u64map_del(gale_u64map_t *m, uint64_t key);

/* Iteration: `*pos` starts at 0; returns the next key (0 at the end) and its value in *value. Deleting the entry
   just returned is allowed only through gale_u64map_del_at(). */
uint64_t gale_u64map_next(const gale_u64map_t *m, size_t *pos, void **value);
/* Deletes the entry last returned by gale_u64map_next at `*pos`, adjusting `*pos` so iteration visits every
   remaining entry (an entry shifted back over the hole may be seen again: callers must tolerate a revisit of an
   entry they kept). */
void gale_u64map_del_at(gale_u64map_t *m, size_t *pos);

#endif
