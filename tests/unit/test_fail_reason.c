/* The table of fail reasons (fail_reason.h): texts by id, ids of several workers side by side, bounded. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fail_reason.h"

Test(fail_reason, a_text_is_taken_once_under_its_id)
{
    gale_reasons_t *r;
    cr_assert_eq(gale_reasons_new(3, &r), 0);
    uint32_t a = gale_reasons_put(r, "not a number", 12), b = gale_reasons_put(r, "too long", 8);
    cr_assert(a && b && a != b);
    cr_assert_eq(a >> 20, 3, "the worker index is in the top bits");
    char *t = gale_reasons_take(r, b);
    cr_assert_str_eq(t, "too long");
    free(t);
    cr_assert_null(gale_reasons_take(r, b), "taken once");
    t = gale_reasons_take(r, a);
    cr_assert_str_eq(t, "not a number");
    free(t);
    cr_assert_null(gale_reasons_take(r, 0));
    gale_reasons_free(r);
}

Test(fail_reason, ids_of_other_workers_with_the_same_counters_do_not_evict_each_other)
{
    gale_reasons_t *mine, *other;
    cr_assert_eq(gale_reasons_new(0, &mine), 0);
    cr_assert_eq(gale_reasons_new(1, &other), 0);
    uint32_t ids[2][200];
    for (int i = 0; i < 200; i++) {
        ids[0][i] = gale_reasons_put(mine, "mine", 4);
        ids[1][i] = gale_reasons_put(other, "theirs", 6);
        char *t = gale_reasons_take(other, ids[1][i]); /* sent ahead to `mine`, as a REASON frame does */
        gale_reasons_put_id(mine, ids[1][i], t, strlen(t));
        free(t);
    }
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 200; i++) {
            char *t = gale_reasons_take(mine, ids[w][i]);
            cr_assert_not_null(t, "worker %d's reason %d was evicted", w, i);
            cr_assert_str_eq(t, w ? "theirs" : "mine");
            free(t);
        }
    gale_reasons_free(mine);
    gale_reasons_free(other);
}

Test(fail_reason, the_table_is_bounded_and_texts_are_cut)
{
    gale_reasons_t *r;
    cr_assert_eq(gale_reasons_new(0, &r), 0);
    char big[GALE_REASON_MAX_LEN * 2];
    memset(big, 'x', sizeof big);
    uint32_t first = gale_reasons_put(r, big, sizeof big);
    char *t = gale_reasons_take(r, first);
    cr_assert_eq(strlen(t), GALE_REASON_MAX_LEN);
    free(t);
    /* Far more reasons than slots, none taken (their ops were lost): the oldest are overwritten, the newest kept,
       and freeing the table frees what is left (LeakSanitizer checks). */
    uint32_t last = 0;
    for (int i = 0; i < 4 * GALE_REASONS_MAX; i++) last = gale_reasons_put(r, "lost", 4);
    t = gale_reasons_take(r, last);
    cr_assert_str_eq(t, "lost");
    free(t);
    gale_reasons_free(r);
}
