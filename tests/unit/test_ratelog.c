/*
 * The log-flood rules (ratelog.h): which occurrences of an error are worth a line, and rejected connections said
 * once per interval with a count.
 */
#include <criterion/criterion.h>

#include "ratelog.h"

Test(ratelog, the_first_ten_then_every_power_of_two)
{
    uint64_t said = 0;
    for (uint64_t n = 1; n <= 100000; n++) said += gale_log_worth(n);
    /* 1..10, then 16, 32, ..., 65536. */
    cr_assert_eq(said, 10 + 13);
    cr_assert(gale_log_worth(1024));
    cr_assert_not(gale_log_worth(1025));
}

Test(ratelog, an_event_is_said_then_counted_until_the_interval_has_passed)
{
    gale_ratelog_t r = {.interval_ms = 10000};
    uint64_t earlier = 99;
    cr_assert(gale_ratelog_event(&r, 1000, "bad proof", &earlier), "the first is said");
    cr_assert_eq(earlier, 0);
    for (int i = 0; i < 500; i++) cr_assert_not(gale_ratelog_event(&r, 1000 + (uint64_t)i, "bad header", NULL));
    cr_assert_str_eq(r.last, "bad header");
    cr_assert_eq(gale_ratelog_due(&r, 5000, false), 0, "not before the interval");
    cr_assert_eq(gale_ratelog_due(&r, 11000, false), 500);
    cr_assert_eq(gale_ratelog_due(&r, 30000, false), 0, "nothing pending");
    /* Counted within the interval, then an event after it: said, with the count of the earlier ones first. */
    cr_assert(gale_ratelog_event(&r, 30000, "x", NULL));
    cr_assert_not(gale_ratelog_event(&r, 30001, "y", NULL));
    cr_assert_not(gale_ratelog_event(&r, 30002, "z", NULL));
    cr_assert(gale_ratelog_event(&r, 41000, "w", &earlier));
    cr_assert_eq(earlier, 2);
    cr_assert_str_eq(r.last, "z");
    /* At close, whatever is pending goes out. */
    cr_assert_not(gale_ratelog_event(&r, 41001, "v", NULL));
    cr_assert_eq(gale_ratelog_due(&r, 41002, true), 1);
}
