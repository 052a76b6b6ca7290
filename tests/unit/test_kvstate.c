/* A task's key-value state: the byte map under it, the operations on gale values, snapshots with key groups, and
   snapshots that are damaged. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmap.h"
#include "kvstate.h"
#include "mpread.h"
#include "tuple.h"

static gale_value_t str(const char *s) { return gale_str(s); }

Test(kvmap, put_get_delete_many_with_backward_shift)
{
    gale_kvmap_t m;
    gale_kvmap_init(&m);
    char k[32], v[32];
    for (int i = 0; i < 5000; i++) {
        int kl = snprintf(k, sizeof k, "key%d", i), vl = snprintf(v, sizeof v, "v%d", i * 7);
        cr_assert_eq(gale_kvmap_put(&m, gale_kv_hash(k, (size_t)kl), k, (size_t)kl, v, (size_t)vl), 0);
    }
    cr_assert_eq(m.count, 5000);
    /* Delete the odd ones: every even one must still be found after the shifts. */
    for (int i = 1; i < 5000; i += 2) {
        int kl = snprintf(k, sizeof k, "key%d", i);
        cr_assert_eq(gale_kvmap_del(&m, gale_kv_hash(k, (size_t)kl), k, (size_t)kl), 1);
    }
    cr_assert_eq(m.count, 2500);
    for (int i = 0; i < 5000; i++) {
        int kl = snprintf(k, sizeof k, "key%d", i), vl = snprintf(v, sizeof v, "v%d", i * 7);
        const gale_kv_entry_t *e = gale_kvmap_get(&m, gale_kv_hash(k, (size_t)kl), k, (size_t)kl);
        if (i % 2) {
            cr_assert_null(e, "key%d was deleted", i);
        } else {
            cr_assert_not_null(e, "key%d lost", i);
            cr_assert_eq(e->vlen, (uint32_t)vl);
            cr_assert_eq(memcmp(gale_kv_value(e), v, (size_t)vl), 0);
        }
    }
    size_t pos = 0, seen = 0;
    while (gale_kvmap_next(&m, &pos)) seen++;
    cr_assert_eq(seen, 2500);
    cr_assert_eq(gale_kvmap_del(&m, gale_kv_hash("nope", 4), "nope", 4), 0);
    gale_kvmap_destroy(&m);
}

Test(kvmap, replacing_a_value_keeps_one_entry_and_counts_bytes)
{
    gale_kvmap_t m;
    gale_kvmap_init(&m);
    uint64_t h = gale_kv_hash("a", 1);
    cr_assert_eq(gale_kvmap_put(&m, h, "a", 1, "xyz", 3), 0);
    cr_assert_eq(gale_kvmap_put(&m, h, "a", 1, "x", 1), 0);
    cr_assert_eq(m.count, 1);
    cr_assert_eq(m.bytes, 2);
    cr_assert_eq(gale_kvmap_get(&m, h, "a", 1)->vlen, 1);
    gale_kvmap_destroy(&m);
}

Test(kvstate, values_of_every_type_round_trip)
{
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    gale_value_t items[3] = {gale_int(1), str("two"), gale_double(3.5)};
    gale_value_t key = gale_array(items, 3), val = gale_map((gale_value_t[]){str("n"), gale_int(-7)}, 1);
    cr_assert_eq(gale_kvstate_put(&s, &key, &val), 0);
    gale_value_t k2 = gale_int(42), v2 = gale_bytes("\0\1\2", 3);
    cr_assert_eq(gale_kvstate_put(&s, &k2, &v2), 0);
    gale_value_t out, item;
    cr_assert_eq(gale_kvstate_get(&s, &key, &out), 0);
    cr_assert_eq(out.type, GALE_MAP);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(gale_mp_item(&out, 1, &item), 0);
    cr_assert_eq(item.i, -7);
    cr_assert_eq(gale_kvstate_get(&s, &k2, &out), 0);
    cr_assert_eq(out.type, GALE_BYTES);
    cr_assert_eq(out.s.len, 3);
    /* An int key and the same number as a string are different keys. */
    gale_value_t k3 = str("42");
    cr_assert_eq(gale_kvstate_get(&s, &k3, &out), GALE_ENOENT);
    cr_assert_eq(gale_kvstate_delete(&s, &k2), 0);
    cr_assert_eq(gale_kvstate_delete(&s, &k2), GALE_ENOENT);
    cr_assert_eq(s.map.count, 1);
    gale_value_t bad = {.type = GALE_ARRAY, .n = 2}; /* neither items nor raw bytes */
    cr_assert_eq(gale_kvstate_put(&s, &bad, &val), GALE_EINVAL);
    cr_assert_eq(gale_kvstate_put(&s, &key, &bad), GALE_EINVAL);
    gale_kvstate_destroy(&s);
}

Test(kvstate, iteration_visits_every_entry_once)
{
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    for (int i = 0; i < 300; i++) {
        gale_value_t k = gale_int(i), v = gale_int(i * i);
        cr_assert_eq(gale_kvstate_put(&s, &k, &v), 0);
    }
    static bool seen[300];
    uint64_t cursor = 0;
    gale_value_t k, v;
    int n = 0;
    while (gale_kvstate_next(&s, &cursor, &k, &v) == 0) {
        cr_assert_eq(k.type, GALE_INT);
        cr_assert(k.i >= 0 && k.i < 300 && !seen[k.i]);
        seen[k.i] = true;
        cr_assert_eq(v.i, k.i * k.i);
        n++;
    }
    cr_assert_eq(n, 300);
    gale_kvstate_destroy(&s);
}

Test(kvstate, key_group_ranges_cover_every_group_once)
{
    for (uint32_t p = 1; p <= 13; p++) {
        uint32_t next = 0;
        for (uint32_t i = 0; i < p; i++) {
            uint32_t lo, hi;
            gale_kvstate_group_range(i, p, 128, &lo, &hi);
            cr_assert_eq(lo, next, "p=%u i=%u", p, i);
            cr_assert(hi > lo);
            next = hi;
        }
        cr_assert_eq(next, 128);
    }
}

static void fill_words(gale_kvstate_t *s, int n)
{
    char w[32];
    for (int i = 0; i < n; i++) {
        snprintf(w, sizeof w, "word%d", i);
        gale_value_t k = str(w), v = gale_int(i);
        cr_assert_eq(gale_kvstate_put(s, &k, &v), 0);
    }
}

Test(kvstate, snapshot_restores_whole_and_split_by_key_group)
{
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    fill_words(&s, 1000);
    gale_buf_t b = {0};
    cr_assert_eq(gale_kvstate_encode(&s, 7, 0, 1, 128, NULL, NULL, &b), 0);
    gale_snapshot_info_t info;
    char why[256];
    cr_assert_eq(gale_snapshot_check(b.p, b.len, &info, why, sizeof why), 0, "%s", why);
    cr_assert_eq(info.checkpoint, 7);
    cr_assert_eq(info.entries, 1000);
    /* Three new tasks take disjoint parts that together are the whole. */
    size_t total = 0;
    for (uint32_t i = 0; i < 3; i++) {
        gale_kvstate_t part;
        gale_kvstate_init(&part);
        uint32_t lo, hi;
        gale_kvstate_group_range(i, 3, 128, &lo, &hi);
        cr_assert_eq(gale_kvstate_restore(&part, b.p, b.len, 128, lo, hi, why, sizeof why), 0, "%s", why);
        total += part.map.count;
        size_t pos = 0;
        for (const gale_kv_entry_t *e; (e = gale_kvmap_next(&part.map, &pos));) {
            uint32_t g = gale_kvstate_key_group(gale_kv_key(e), e->klen, 128);
            cr_assert(g >= lo && g < hi);
        }
        gale_kvstate_destroy(&part);
    }
    cr_assert_eq(total, 1000);
    gale_kvstate_t other;
    gale_kvstate_init(&other);
    cr_assert_eq(gale_kvstate_restore(&other, b.p, b.len, 64, 0, 64, why, sizeof why), GALE_EINVAL);
    cr_assert(strstr(why, "128 key groups"), "%s", why);
    gale_kvstate_destroy(&other);
    gale_buf_free(&b);
    gale_kvstate_destroy(&s);
}

Test(kvstate, the_key_group_follows_the_fields_grouping_hash)
{
    /* A word put as a key lands in the group of the same word routed by a one-field fields grouping: the hash of
       its encoding, which for a str of under 32 bytes is 0xa0|len then the bytes. */
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    gale_value_t k = str("hello"), v = gale_int(1);
    cr_assert_eq(gale_kvstate_put(&s, &k, &v), 0);
    size_t pos = 0;
    const gale_kv_entry_t *e = gale_kvmap_next(&s.map, &pos);
    cr_assert_eq(e->klen, 6);
    cr_assert_eq((unsigned char)gale_kv_key(e)[0], 0xa5);
    cr_assert_eq(gale_kvstate_key_group(gale_kv_key(e), e->klen, 128), gale__hash_value("\xa5hello", 6) % 128);
    gale_kvstate_destroy(&s);
}

Test(kvstate, damaged_snapshots_are_refused_with_a_reason)
{
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    fill_words(&s, 50);
    gale_buf_t b = {0};
    cr_assert_eq(gale_kvstate_encode(&s, 3, 1, 2, 128, NULL, NULL, &b), 0);
    char why[256];
    gale_snapshot_info_t info;
    gale_kvstate_t into;
    gale_kvstate_init(&into);
    /* Every truncation is refused. */
    for (size_t n = 0; n < b.len; n += 7)
        cr_assert_eq(gale_snapshot_check(b.p, n, &info, why, sizeof why), GALE_ECORRUPT, "length %zu", n);
    /* Every single flipped byte is refused (the CRC), and the state is left as it was. */
    for (size_t i = 0; i < b.len; i += 5) {
        b.p[i] ^= 0x40;
        cr_assert_eq(gale_kvstate_restore(&into, b.p, b.len, 128, 0, 128, why, sizeof why), GALE_ECORRUPT);
        b.p[i] ^= 0x40;
    }
    cr_assert_eq(into.map.count, 0);
    cr_assert_eq(gale_snapshot_check("GALEST01", 8, &info, why, sizeof why), GALE_ECORRUPT);
    cr_assert(strstr(why, "not a gale state snapshot"), "%s", why);
    gale_kvstate_destroy(&into);
    gale_buf_free(&b);
    gale_kvstate_destroy(&s);
}

/* The runtime's own entries (a window's tuples): their group is given, not their key's hash, and a restore takes
   them by that group as it takes the plugin's by theirs. */
static int add_given(void *arg, gale_kvsnap_t *w)
{
    (void)arg;
    char key[3] = {(char)0x91, (char)0xa1, 'x'}; /* ["x"]: any key, any group */
    for (uint32_t g = 0; g < 128; g += 16) {
        key[2] = (char)('a' + g / 16);
        int rc = gale_kvstate_put_given(w, g, key, sizeof key, "\x07", 1);
        if (rc) return rc;
    }
    return gale_kvstate_put_given(w, 128, key, sizeof key, "\x07", 1) == GALE_EINVAL ? 0 : GALE_EIO;
}

Test(kvstate, entries_of_a_given_group_go_to_the_task_that_owns_it)
{
    gale_kvstate_t s;
    gale_kvstate_init(&s);
    fill_words(&s, 20);
    gale_buf_t b = {0};
    cr_assert_eq(gale_kvstate_encode(&s, 4, 0, 1, 128, add_given, NULL, &b), 0);
    gale_snapshot_info_t info;
    char why[256];
    cr_assert_eq(gale_snapshot_check(b.p, b.len, &info, why, sizeof why), 0, "%s", why);
    cr_assert_eq(info.entries, 20 + 8, "the header counts the runtime's entries");
    size_t total = 0;
    for (uint32_t i = 0; i < 4; i++) { /* four tasks now: each takes the given entries of its 32 groups */
        gale_kvstate_t into;
        gale_kvstate_init(&into);
        uint32_t lo, hi;
        gale_kvstate_group_range(i, 4, 128, &lo, &hi);
        cr_assert_eq(gale_kvstate_restore(&into, b.p, b.len, 128, lo, hi, why, sizeof why), 0, "%s", why);
        size_t given = 0, pos = 0;
        for (const gale_kv_entry_t *e; (e = gale_kvmap_next(&into.map, &pos));)
            if (e->klen == 3 && (unsigned char)gale_kv_key(e)[0] == 0x91) given++;
        cr_assert_eq(given, 2, "task %u took %zu of the given entries", i, given);
        total += into.map.count;
        gale_kvstate_destroy(&into);
    }
    cr_assert_eq(total, 28, "every entry went to one task");
    gale_buf_free(&b);
    gale_kvstate_destroy(&s);
}
