/* Groupings, with Storm's semantics, checked one by one on compiled subscriptions. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "grouping.h"

static char *fields[] = {"word", "n"};
static gale_stream_t stream = {.name = "default", .fields = fields, .n_fields = 2};
static gale_component_t comp = {.name = "src", .streams = &stream, .n_streams = 1};
static const uint32_t tasks[] = {4, 5, 6, 7};
static const int field0[] = {0};

static gale_tuple_data_t *tuple_of(const char *word, int64_t n)
{
    gale_value_t v[2] = {gale_str(word), gale_int(n)};
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&comp, 1, 0, v, 2, 4, 0, &err);
    cr_assert_not_null(d);
    return d;
}

static gale_sub_t sub_of(gale_grouping_t g)
{
    gale_sub_t s = {.grouping = g, .tasks = tasks, .n_tasks = 4, .local = tasks, .n_local = 4,
                    .fields = field0, .n_fields = 1};
    return s;
}

Test(grouping, fields_same_key_same_task_and_spreads_keys)
{
    gale_sub_t s = sub_of(GALE_GROUPING_FIELDS);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 3);
    int used[8] = {0};
    for (int k = 0; k < 200; k++) {
        char word[16];
        snprintf(word, sizeof word, "w%d", k);
        gale_tuple_data_t *a = tuple_of(word, 1), *b = tuple_of(word, 99); /* only the grouped field counts */
        uint32_t ta, tb;
        cr_assert_eq(gale_grouping_select(&s, &st, a, &ta), 1);
        cr_assert_eq(gale_grouping_select(&s, &st, b, &tb), 1);
        cr_assert_eq(ta, tb, "key %s went to %u and %u", word, ta, tb);
        used[ta]++;
        gale__tuple_discard(a);
        gale__tuple_discard(b);
    }
    for (int t = 4; t <= 7; t++) cr_assert_gt(used[t], 20, "task %d got %d of 200 keys", t, used[t]);
    gale_sub_state_destroy(&st);
}

Test(grouping, shuffle_is_balanced)
{
    gale_sub_t s = sub_of(GALE_GROUPING_SHUFFLE);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 12345);
    gale_tuple_data_t *d = tuple_of("x", 1);
    int used[8] = {0};
    for (int i = 0; i < 400; i++) {
        uint32_t t;
        cr_assert_eq(gale_grouping_select(&s, &st, d, &t), 1);
        used[t]++;
    }
    for (int t = 4; t <= 7; t++) cr_assert_eq(used[t], 100);
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, all_goes_to_every_task)
{
    gale_sub_t s = sub_of(GALE_GROUPING_ALL);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 0);
    gale_tuple_data_t *d = tuple_of("x", 1);
    uint32_t out[4];
    cr_assert_eq(gale_grouping_select(&s, &st, d, out), 4);
    for (int i = 0; i < 4; i++) cr_assert_eq(out[i], tasks[i]);
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, global_is_the_lowest_task)
{
    gale_sub_t s = sub_of(GALE_GROUPING_GLOBAL);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 77);
    for (int i = 0; i < 10; i++) {
        gale_tuple_data_t *d = tuple_of(i % 2 ? "a" : "b", i);
        uint32_t t;
        cr_assert_eq(gale_grouping_select(&s, &st, d, &t), 1);
        cr_assert_eq(t, 4);
        gale__tuple_discard(d);
    }
    gale_sub_state_destroy(&st);
}

Test(grouping, direct_is_never_chosen_by_the_grouping)
{
    gale_sub_t s = sub_of(GALE_GROUPING_DIRECT);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 0);
    gale_tuple_data_t *d = tuple_of("x", 1);
    uint32_t t;
    cr_assert_eq(gale_grouping_select(&s, &st, d, &t), 0);
    cr_assert(gale_sub_has_task(&s, 6));
    cr_assert_not(gale_sub_has_task(&s, 3));
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, local_or_shuffle_prefers_local_tasks)
{
    static const uint32_t local[] = {5, 7};
    gale_sub_t s = sub_of(GALE_GROUPING_LOCAL_OR_SHUFFLE);
    s.local = local;
    s.n_local = 2;
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 1);
    gale_tuple_data_t *d = tuple_of("x", 1);
    int used[8] = {0};
    for (int i = 0; i < 100; i++) {
        uint32_t t;
        gale_grouping_select(&s, &st, d, &t);
        used[t]++;
    }
    cr_assert_eq(used[5], 50);
    cr_assert_eq(used[7], 50);
    s.n_local = 0; /* none local: falls back to all */
    uint32_t t;
    gale_grouping_select(&s, &st, d, &t);
    cr_assert(t >= 4 && t <= 7);
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, local_or_shuffle_prefers_the_emitters_own_executor)
{
    static const uint32_t near[] = {6};
    gale_sub_t s = sub_of(GALE_GROUPING_LOCAL_OR_SHUFFLE);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 3);
    cr_assert_eq(gale_sub_state_set_near(&st, near, 1), 0);
    gale_tuple_data_t *d = tuple_of("x", 1);
    for (int i = 0; i < 20; i++) {
        uint32_t t;
        gale_grouping_select(&s, &st, d, &t);
        cr_assert_eq(t, 6, "went to %u, not the task on the same executor", t);
    }
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, partial_key_splits_a_hot_key_over_two_tasks)
{
    gale_sub_t s = sub_of(GALE_GROUPING_PARTIAL_KEY);
    gale_sub_state_t st;
    gale_sub_state_init(&st, &s, 0);
    gale_tuple_data_t *d = tuple_of("hot", 1);
    int used[8] = {0}, distinct = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t t;
        cr_assert_eq(gale_grouping_select(&s, &st, d, &t), 1);
        used[t]++;
    }
    for (int t = 4; t <= 7; t++)
        if (used[t]) distinct++;
    /* One key, two candidate tasks (unless both hashes agree), used evenly. */
    cr_assert(distinct == 2 || distinct == 1);
    if (distinct == 2)
        for (int t = 4; t <= 7; t++) cr_assert(used[t] == 0 || used[t] == 500, "task %d: %d", t, used[t]);
    gale__tuple_discard(d);
    gale_sub_state_destroy(&st);
}

Test(grouping, names_parse_and_print)
{
    const char *names[] = {"shuffle", "fields", "partial_key", "all", "global", "none", "direct",
                           "local_or_shuffle"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        gale_grouping_t g;
        cr_assert_eq(gale_grouping_parse(names[i], &g), 0, "%s", names[i]);
        cr_assert_str_eq(gale_grouping_name(g), names[i]);
    }
    gale_grouping_t g;
    cr_assert_eq(gale_grouping_parse("feilds", &g), GALE_ENOENT);
}
