/* windows.c: Storm UI's windows (10 minutes, 3 hours, 1 day) over a running topology's figures, on a clock the
   test drives: a day of figures in a few milliseconds. */
#include <criterion/criterion.h>
#include <string.h>

#include "http_server.h"
#include "windows.h"

/* A record of one bolt "work" of two tasks, whose figures the test sets. */
typedef struct fixture {
    gale_task_metrics_t task[2];
    gale_status_component_t comp;
    gale_status_t s;
} fixture_t;

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->comp = (gale_status_component_t){
        .name = "work", .kind = GALE_BOLT, .executors = 2, .first_task = 1, .tasks = 2, .task = f->task};
    f->s = (gale_status_t){.topology = "t", .status = "ACTIVE", .components = &f->comp, .n_components = 1, .tasks = 2};
}

/* Task 0 executed `n` tuples so far, each taking `ns` of execute time. */
static void set_executed(fixture_t *f, int task, uint64_t n, uint64_t ns)
{
    f->task[task].executed = n;
    f->task[task].exec.count = n;
    f->task[task].exec.sum_ns = n * ns;
}

static gale_status_t over(const gale_windows_t *w, fixture_t *f, int window, uint64_t now_ms, double *secs)
{
    gale_status_t out;
    cr_assert_eq(gale_windows_over(w, window, &f->s, now_ms, &out, secs), 0);
    return out;
}

Test(windows, a_window_holds_its_own_stretch_of_the_run_and_all_time_the_rest)
{
    fixture_t f;
    fixture_init(&f);
    gale_windows_t *w = gale_windows_new(2);
    cr_assert_not_null(w);
    /* A tuple a millisecond on task 0, recorded every 10 s for 20 minutes. */
    for (uint64_t ms = 0; ms <= 20 * 60 * 1000; ms += 10000) {
        set_executed(&f, 0, ms, 1000);
        gale_windows_record(w, &f.s, ms);
    }
    uint64_t now = 20 * 60 * 1000;
    double secs;
    gale_status_t ten = over(w, &f, GALE_WINDOW_10M, now, &secs);
    cr_assert_eq(ten.components[0].task[0].executed, 600000, "the last 10 minutes: %lu",
                 (unsigned long)ten.components[0].task[0].executed);
    cr_assert_eq(ten.components[0].sum.executed, 600000);
    cr_assert_float_eq(secs, 600.0, 1e-9);
    cr_assert_eq(ten.components[0].task[0].exec.count, 600000);
    cr_assert_eq(ten.components[0].task[0].exec.sum_ns, 600000ull * 1000);
    gale_status_free(&ten);
    /* Three hours and a day are longer than the run: the whole of it. */
    gale_status_t day = over(w, &f, GALE_WINDOW_1D, now, &secs);
    cr_assert_eq(day.components[0].sum.executed, now);
    cr_assert_float_eq(secs, 1200.0, 1e-9);
    gale_status_free(&day);
    /* Between records, a window stays within a step (a sixtieth) of its length. */
    set_executed(&f, 0, now + 5000, 1000);
    gale_status_t mid = over(w, &f, GALE_WINDOW_10M, now + 5000, &secs);
    cr_assert(secs >= 590 && secs <= 600, "%f s", secs);
    cr_assert_eq(mid.components[0].sum.executed, (uint64_t)(secs * 1000));
    gale_status_free(&mid);
    gale_windows_free(w);
}

Test(windows, a_day_of_three_minute_steps_keeps_the_last_day_only)
{
    fixture_t f;
    fixture_init(&f);
    gale_windows_t *w = gale_windows_new(2);
    uint64_t day = 86400ull * 1000, now = 0;
    for (; now <= 3 * day; now += 60000) { /* a tuple a second on task 1, recorded every minute, for 3 days */
        set_executed(&f, 1, now / 1000, 10);
        gale_windows_record(w, &f.s, now);
    }
    now -= 60000;
    double secs;
    gale_status_t d = over(w, &f, GALE_WINDOW_1D, now, &secs);
    cr_assert(secs > 86400 - 1440 - 1 && secs <= 86400, "%f s", secs);
    cr_assert_eq(d.components[0].sum.executed, (uint64_t)secs);
    gale_status_free(&d);
    gale_status_t h3 = over(w, &f, GALE_WINDOW_3H, now, &secs);
    cr_assert(secs > 10800 - 180 - 1 && secs <= 10800, "%f s", secs);
    gale_status_free(&h3);
    gale_windows_free(w);
}

Test(windows, figures_that_start_again_after_a_restart_count_from_zero)
{
    fixture_t f;
    fixture_init(&f);
    gale_windows_t *w = gale_windows_new(2);
    set_executed(&f, 0, 5000, 1000);
    gale_windows_record(w, &f.s, 0);
    set_executed(&f, 0, 40, 1000); /* the worker died and its next life has done 40 */
    double secs;
    gale_status_t ten = over(w, &f, GALE_WINDOW_10M, 5000, &secs);
    cr_assert_eq(ten.components[0].sum.executed, 40);
    cr_assert_eq(ten.components[0].task[0].exec.sum_ns, 40000);
    gale_status_free(&ten);
    gale_windows_free(w);
}

/* Storm's capacity is over the last 10 minutes: a bolt busy at first and idle since reads idle, though over all
   time it was busy. */
Test(windows, capacities_in_every_view_are_the_last_ten_minutes)
{
    fixture_t f;
    fixture_init(&f);
    gale_windows_t *w = gale_windows_new(2);
    set_executed(&f, 0, 0, 0);
    gale_windows_record(w, &f.s, 0);
    set_executed(&f, 0, 1000000, 600000); /* 600 s of work in the first 10 minutes: busy all the time */
    for (uint64_t ms = 10000; ms <= 30 * 60 * 1000; ms += 10000) gale_windows_record(w, &f.s, ms);
    f.s.figures_s = 1800;
    gale_status_views_t v;
    cr_assert_eq(gale_status_views(w, &f.s, 30 * 60 * 1000, -1, &v), 0);
    cr_assert_eq(v.n_stats, 4);
    cr_assert_eq(v.shown, &f.s);
    cr_assert_str_eq(v.stats[0]->window_id, "600");
    cr_assert_null(v.stats[3]->window_id, "all time last");
    gale_buf_t b = {0};
    gale_status_rest_topology(&b, v.shown, v.stats, v.n_stats);
    cr_assert_not_null(strstr(b.p, "\"capacity\": \"0.000\""), "%s", b.p);
    cr_assert_not_null(strstr(b.p, "\"topologyStats\": [{\"windowPretty\": \"10m 0s\", \"window\": \"600\""), "%s",
                       b.p);
    cr_assert_not_null(strstr(b.p, "{\"windowPretty\": \"All time\", \"window\": \":all-time\""), "%s", b.p);
    gale_buf_free(&b);
    gale_status_views_free(&v);
    /* Without the windows, capacity is over the run: a third of it busy. */
    f.s.capacity_of = NULL;
    gale_buf_t all = {0};
    const gale_status_t *only[] = {&f.s};
    gale_status_rest_topology(&all, &f.s, only, 1);
    cr_assert_not_null(strstr(all.p, "\"capacity\": \"0.333\""), "%s", all.p);
    gale_buf_free(&all);
    gale_windows_free(w);
}

Test(windows, storms_window_names_and_nothing_else)
{
    int win;
    cr_assert_eq(gale_window_parse("600", &win), 0);
    cr_assert_eq(win, GALE_WINDOW_10M);
    cr_assert_eq(gale_window_parse("86400", &win), 0);
    cr_assert_eq(win, GALE_WINDOW_1D);
    cr_assert_eq(gale_window_parse(":all-time", &win), 0);
    cr_assert_eq(win, -1);
    cr_assert_eq(gale_window_parse("", &win), 0);
    cr_assert_eq(win, -1);
    cr_assert_eq(gale_window_parse("601", &win), GALE_EINVAL);
    cr_assert_eq(gale_window_parse("600 ", &win), GALE_EINVAL);
    char v[16];
    cr_assert_eq(gale_http_query_value("sys=false&window=%3Aall-time", "window", v, sizeof v), 1);
    cr_assert_str_eq(v, ":all-time");
    cr_assert_eq(gale_http_query_value("xwindow=600", "window", v, sizeof v), 0);
    cr_assert_eq(gale_http_query_value("window=6000000000000000000000", "window", v, 8), 1);
    cr_assert_str_eq(v, "6000000", "cut to the room given");
}

Test(windows, a_record_of_another_shape_is_refused)
{
    fixture_t f;
    fixture_init(&f);
    gale_windows_t *w = gale_windows_new(3);
    gale_windows_record(w, &f.s, 0);
    gale_status_t out;
    double secs;
    cr_assert_eq(gale_windows_over(w, GALE_WINDOW_10M, &f.s, 0, &out, &secs), GALE_EINVAL);
    gale_status_free(&out);
    gale_windows_free(w);
}
