/*
 * ring.h: a bounded single-producer single-consumer ring of pointers, moved in batches.
 *
 * Each pair of executors (producer, consumer) has its own ring, so no push or pop needs a lock or a read-modify-
 * write: the producer owns `head`, the consumer owns `tail`, and each publishes its position once per batch with
 * one release store. Each side caches the other's position and reads the shared one only when the cache says the
 * ring looks full (or empty), which keeps the cache line traffic to about one transfer per batch.
 */
#ifndef GALE_RING_H
#define GALE_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct gale_ring {
    alignas(64) atomic_size_t head; /* next slot the producer writes */
    size_t tail_cache;              /* producer's view of tail */
    alignas(64) atomic_size_t tail; /* next slot the consumer reads */
    size_t head_cache;              /* consumer's view of head */
    alignas(64) size_t mask;
    void **slots;
} gale_ring_t;

/* `capacity` is rounded up to a power of two (at least 2). Returns 0 or GALE_ENOMEM. */
int gale_ring_init(gale_ring_t *r, size_t capacity);
void gale_ring_destroy(gale_ring_t *r);

/* Producer: pushes up to n items, returns how many went in (fewer when the ring is full). */
size_t gale_ring_push(gale_ring_t *r, void *const *items, size_t n);
/* Consumer: pops up to max items into out, returns how many. */
size_t gale_ring_pop(gale_ring_t *r, void **out, size_t max);
/* Either side, approximate: whether the ring holds nothing. */
int gale_ring_empty(gale_ring_t *r);
/* Any thread, approximate: how much of the ring is taken, 0 to 1 (the figures' queue fill). */
double gale_ring_fill(const gale_ring_t *r);

#endif
