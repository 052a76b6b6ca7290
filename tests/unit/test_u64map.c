/* The open-addressing map, against a reference (a plain array) under random puts and deletes. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "acker.h"
#include "u64map.h"

Test(u64map, random_operations_match_a_reference)
{
    gale_u64map_t m;
    cr_assert_eq(gale_u64map_init(&m, sizeof(uint64_t), 4), 0);
    enum { KEYS = 2000 };
    static uint64_t ref[KEYS]; /* ref[i]: value of key i+1, 0 when absent */
    uint64_t rng = 99;
    for (int step = 0; step < 200000; step++) {
        uint64_t k = gale_rand64(&rng) % KEYS + 1;
        if (gale_rand64(&rng) % 3) {
            int created;
            uint64_t *v = gale_u64map_put(&m, k, &created);
            cr_assert_not_null(v);
            cr_assert_eq(created, ref[k - 1] == 0);
            *v = ref[k - 1] = (uint64_t)step + 1;
        } else {
            cr_assert_eq(gale_u64map_del(&m, k), ref[k - 1] != 0);
            ref[k - 1] = 0;
        }
    }
    size_t live = 0;
    for (uint64_t k = 1; k <= KEYS; k++) {
        uint64_t *v = gale_u64map_get(&m, k);
        if (ref[k - 1]) {
            live++;
            cr_assert_not_null(v, "key %lu lost", (unsigned long)k);
            cr_assert_eq(*v, ref[k - 1]);
        } else {
            cr_assert_null(v);
        }
    }
    cr_assert_eq(m.count, live);
    /* Deleting while iterating visits and removes every entry. */
    size_t pos = 0, seen = 0;
    void *v;
    while (gale_u64map_next(&m, &pos, &v)) {
        gale_u64map_del_at(&m, &pos);
        seen++;
    }
    cr_assert_eq(seen, live);
    cr_assert_eq(m.count, 0);
    gale_u64map_destroy(&m);
}
