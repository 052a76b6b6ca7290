/* The SPSC ring: order, bounds, and a two-thread stress that checks every item arrives once, in order. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "ring.h"

Test(ring, capacity_rounds_up_and_bounds_pushes)
{
    gale_ring_t r;
    cr_assert_eq(gale_ring_init(&r, 5), 0);
    void *items[10];
    for (uintptr_t i = 0; i < 10; i++) items[i] = (void *)(i + 1);
    cr_assert_eq(gale_ring_push(&r, items, 10), 8);
    cr_assert_eq(gale_ring_push(&r, items, 1), 0);
    void *out[10];
    cr_assert_eq(gale_ring_pop(&r, out, 3), 3);
    cr_assert_eq((uintptr_t)out[0], 1);
    cr_assert_eq((uintptr_t)out[2], 3);
    cr_assert_eq(gale_ring_push(&r, items, 10), 3);
    cr_assert_eq(gale_ring_pop(&r, out, 10), 8);
    cr_assert_eq((uintptr_t)out[0], 4);
    cr_assert_eq((uintptr_t)out[7], 3);
    cr_assert(gale_ring_empty(&r));
    gale_ring_destroy(&r);
}

#define STRESS_ITEMS 2000000u

static void *producer(void *arg)
{
    gale_ring_t *r = arg;
    void *batch[37];
    uintptr_t next = 1;
    while (next <= STRESS_ITEMS) {
        size_t n = 0;
        while (n < 37 && next + n <= STRESS_ITEMS) {
            batch[n] = (void *)(next + n);
            n++;
        }
        size_t done = 0;
        while (done < n) done += gale_ring_push(r, batch + done, n - done);
        next += n;
    }
    return NULL;
}

Test(ring, two_threads_every_item_once_in_order, .timeout = 60)
{
    gale_ring_t r;
    cr_assert_eq(gale_ring_init(&r, 256), 0);
    pthread_t th;
    pthread_create(&th, NULL, producer, &r);
    uintptr_t expect = 1;
    void *out[64];
    while (expect <= STRESS_ITEMS) {
        size_t n = gale_ring_pop(&r, out, 64);
        for (size_t i = 0; i < n; i++, expect++) cr_assert_eq((uintptr_t)out[i], expect);
    }
    pthread_join(th, NULL);
    cr_assert(gale_ring_empty(&r));
    gale_ring_destroy(&r);
}
