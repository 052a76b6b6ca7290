#include "ring.h"

#include <stdlib.h>

#include "gale.h"

int gale_ring_init(gale_ring_t *r, size_t capacity)
{
    size_t cap = 2;
    while (cap < capacity) cap <<= 1;
    r->slots = calloc(cap, sizeof(void *));
    if (!r->slots) return GALE_ENOMEM;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->tail_cache = 0;
    r->head_cache = 0;
    return 0;
}

void gale_ring_destroy(gale_ring_t *r)
{
    free(r->slots);
    r->slots = NULL;
}

size_t gale_ring_push(gale_ring_t *r, void *const *items, size_t n)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t cap = r->mask + 1;
    size_t room = cap - (head - r->tail_cache);
    if (room < n) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        room = cap - (head - r->tail_cache);
    }
    if (n > room) n = room;
    for (size_t i = 0; i < n; i++) r->slots[(head + i) & r->mask] = items[i];
    if (n) atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

size_t gale_ring_pop(gale_ring_t *r, void **out, size_t max)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t avail = r->head_cache - tail;
    if (avail < max) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->head_cache - tail;
    }
    if (max > avail) max = avail;
    for (size_t i = 0; i < max; i++) out[i] = r->slots[(tail + i) & r->mask];
    if (max) atomic_store_explicit(&r->tail, tail + max, memory_order_release);
    return max;
}

int gale_ring_empty(gale_ring_t *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) ==
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

double gale_ring_fill(const gale_ring_t *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed),
           tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t used = head - tail; /* the producer's position runs ahead of the consumer's */
    return used > r->mask + 1 ? 1.0 : (double)used / (double)(r->mask + 1);
}
