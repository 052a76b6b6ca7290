/*
 * The drain rule (drain.h), every transition: the end that comes by itself, what holds a drain, stops in each
 * state, deadlines passed with trees open, a finish that never comes back, a failed open, parts whose status is
 * stale, records lost with a dead worker.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "drain.h"

#define MS 1000000ull
#define S 1000000000ull

static const int ORDER[] = {3, 1, 2};

/* A run with two spout tasks, both done, everything idle and settled. */
static gale_flow_t quiet_flow(void)
{
    return (gale_flow_t){.idle = true, .activity = 100, .spouts_done = 2, .spout_tasks = 2, .finish_acked = true};
}

/* Steps until a command comes back, at most `n` samples 2 ms apart from *now. */
static gale_drain_cmd_t step_until_cmd(gale_drain_t *d, const gale_flow_t *f, uint64_t *now, int n)
{
    gale_drain_cmd_t c = {0};
    for (int i = 0; i < n && c.kind == GALE_DRAIN_NONE; i++) {
        c = gale_drain_step(d, f, *now);
        *now += 2 * MS;
    }
    return c;
}

Test(drain, ends_by_itself_finishing_every_bolt_in_order)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 3, 0);
    gale_flow_t f = quiet_flow();
    f.spouts_done = 1;
    uint64_t now = 0;
    cr_assert_eq(step_until_cmd(&d, &f, &now, 50).kind, GALE_DRAIN_NONE, "a spout is not done yet");
    cr_assert_eq(d.state, GALE_DRAIN_RUNNING);
    f.spouts_done = 2;
    gale_drain_cmd_t c = gale_drain_step(&d, &f, now);
    cr_assert_eq(c.kind, GALE_DRAIN_NONE);
    cr_assert_eq(d.state, GALE_DRAIN_DRAINING);
    for (int k = 0; k < 3; k++) {
        c = step_until_cmd(&d, &f, &now, 10);
        cr_assert_eq(c.kind, GALE_DRAIN_FINISH, "finish %d", k);
        cr_assert_eq(c.component, ORDER[k]);
        cr_assert_null(c.note);
        cr_assert_eq(d.state, GALE_DRAIN_FINISHING);
    }
    c = step_until_cmd(&d, &f, &now, 10);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert_null(c.note);
    cr_assert_not(d.incomplete);
    cr_assert_not(d.failed);
    /* Final: nothing more comes. */
    cr_assert_eq(step_until_cmd(&d, &f, &now, 10).kind, GALE_DRAIN_NONE);
    cr_assert_eq(gale_drain_request_stop(&d, now, S).kind, GALE_DRAIN_NONE);
}

Test(drain, quiet_takes_two_unchanged_idle_samples)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 0);
    gale_flow_t f = quiet_flow();
    gale_drain_step(&d, &f, 0);                                   /* running -> draining */
    cr_assert_eq(gale_drain_step(&d, &f, 1).kind, GALE_DRAIN_NONE); /* the first sample: nothing to compare */
    cr_assert_eq(gale_drain_step(&d, &f, 2).kind, GALE_DRAIN_NONE); /* unchanged once */
    f.activity++;                                                   /* something moved between samples */
    cr_assert_eq(gale_drain_step(&d, &f, 3).kind, GALE_DRAIN_NONE);
    cr_assert_eq(gale_drain_step(&d, &f, 4).kind, GALE_DRAIN_NONE);
    cr_assert_eq(gale_drain_step(&d, &f, 5).kind, GALE_DRAIN_FINISH);
}

typedef struct holder {
    const char *what;
    gale_flow_t f;
} holder_t;

Test(drain, what_holds_a_drain_and_what_does_not)
{
    gale_flow_t base = quiet_flow();
    holder_t holds[] = {
        {"busy", base}, {"in flight", base}, {"open trees", base}, {"a replay due", base}, {"stale", base},
    };
    holds[0].f.idle = false;
    holds[1].f.in_flight = true;
    holds[2].f.open_trees = 5;
    holds[3].f.open_trees = 5, holds[3].f.kept = 5, holds[3].f.retrying = 1;
    holds[4].f.stale = true;
    for (size_t i = 0; i < sizeof holds / sizeof *holds; i++) {
        gale_drain_t d;
        gale_drain_init(&d, ORDER, 1, 0);
        uint64_t now = 0;
        cr_assert_eq(step_until_cmd(&d, &holds[i].f, &now, 200).kind, GALE_DRAIN_NONE, "%s", holds[i].what);
        cr_assert_neq(d.state, GALE_DRAIN_FINISHING, "%s", holds[i].what);
    }
    /* Trees that bolts keep on purpose are theirs to settle in finish: they do not hold the drain before it. */
    gale_flow_t kept = base;
    kept.open_trees = 5, kept.kept = 5;
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 0);
    uint64_t now = 0;
    cr_assert_eq(step_until_cmd(&d, &kept, &now, 10).kind, GALE_DRAIN_FINISH);
}

Test(drain, a_stop_while_running_deactivates_and_bounds_the_drain)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 2, 0);
    gale_flow_t f = quiet_flow();
    f.spouts_done = 0; /* unbounded spouts */
    f.open_trees = 7;  /* and trees that never complete */
    uint64_t now = 0;
    step_until_cmd(&d, &f, &now, 5);
    gale_drain_cmd_t c = gale_drain_request_stop(&d, now, 1 * S);
    cr_assert_eq(c.kind, GALE_DRAIN_DEACTIVATE);
    cr_assert_not_null(c.note);
    cr_assert_eq(d.state, GALE_DRAIN_DRAINING);
    /* A deactivated spout counts as done: the drain waits for the trees only, and not past the deadline. */
    uint64_t deadline = now + 1 * S;
    while (now <= deadline) {
        cr_assert_eq(gale_drain_step(&d, &f, now).kind, GALE_DRAIN_NONE);
        now += 10 * MS;
    }
    c = gale_drain_step(&d, &f, now);
    cr_assert_eq(c.kind, GALE_DRAIN_FINISH, "the finishes run after a drain that timed out");
    cr_assert_eq(c.component, ORDER[0]);
    cr_assert(c.warn);
    cr_assert_not_null(strstr(c.note, "drain timeout"), "%s", c.note);
    cr_assert(d.hurried);
    /* Hurried: the next finish comes once this one is acknowledged and, busy as the run still is, the grace is
       over. */
    f.idle = false;
    c = step_until_cmd(&d, &f, &now, (int)(GALE_DRAIN_FINISH_GRACE_NS / (2 * MS)) + 5);
    cr_assert_eq(c.kind, GALE_DRAIN_FINISH);
    cr_assert_eq(c.component, ORDER[1]);
    f.idle = true; /* quiet now: no need to wait out the grace */
    c = step_until_cmd(&d, &f, &now, 5);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert(d.incomplete, "stopped with 7 trees open");
    cr_assert_eq(d.open_at_stop, 7);
}

Test(drain, a_first_stop_during_its_own_drain_is_not_ignored)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 0);
    gale_flow_t f = quiet_flow();
    f.open_trees = 3; /* the drain that came by itself waits for these with no deadline */
    uint64_t now = 0;
    step_until_cmd(&d, &f, &now, 100);
    cr_assert_eq(d.state, GALE_DRAIN_DRAINING);
    cr_assert_eq(d.deadline_ns, UINT64_MAX);
    gale_drain_cmd_t c = gale_drain_request_stop(&d, now, 500 * MS);
    cr_assert_eq(c.kind, GALE_DRAIN_DEACTIVATE);
    cr_assert_not_null(c.note, "the stop is said in the log");
    cr_assert_eq(d.deadline_ns, now + 500 * MS);
    c = step_until_cmd(&d, &f, &now, 300);
    cr_assert_eq(c.kind, GALE_DRAIN_FINISH);
    c = step_until_cmd(&d, &f, &now, 5);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert(d.incomplete);
}

Test(drain, a_second_stop_finishes_now_and_a_third_stops_at_once)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 3, 0);
    gale_flow_t f = quiet_flow();
    f.spouts_done = 0, f.idle = false;
    uint64_t now = 0;
    gale_drain_step(&d, &f, now);
    cr_assert_eq(gale_drain_request_stop(&d, now, 10 * S).kind, GALE_DRAIN_DEACTIVATE);
    gale_drain_step(&d, &f, now += MS);
    gale_drain_cmd_t c = gale_drain_request_stop(&d, now += MS, 10 * S);
    cr_assert_eq(c.kind, GALE_DRAIN_FINISH, "the second stop starts the finishes without waiting");
    cr_assert_eq(c.component, ORDER[0]);
    cr_assert(d.hurried);
    c = gale_drain_request_stop(&d, now += MS, 10 * S);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert(c.warn);
    cr_assert(d.incomplete, "two finishes never ran");
}

Test(drain, a_finish_that_never_comes_back_stops_the_run_after_the_grace)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 2, 0);
    gale_flow_t f = quiet_flow();
    uint64_t now = 0;
    cr_assert_eq(step_until_cmd(&d, &f, &now, 10).kind, GALE_DRAIN_FINISH);
    f.finish_acked = false; /* a bolt is stuck inside a call */
    gale_drain_request_stop(&d, now, 100 * MS);
    uint64_t start = now;
    gale_drain_cmd_t c = step_until_cmd(&d, &f, &now, 10000);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert_not_null(c.note);
    cr_assert_geq(now - start, 100 * MS + GALE_DRAIN_FINISH_GRACE_NS);
    cr_assert_leq(now - start, 100 * MS + GALE_DRAIN_FINISH_GRACE_NS + 10 * MS);
    cr_assert(d.incomplete);
}

Test(drain, a_task_that_failed_to_open_stops_the_run_at_once)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 3, 0);
    gale_flow_t f = quiet_flow();
    f.spouts_done = 0, f.failed = true;
    gale_drain_cmd_t c = gale_drain_step(&d, &f, 0);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert(d.failed);
    cr_assert(d.incomplete);
}

Test(drain, records_in_flight_count_as_lost_after_a_long_quiet)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 100);
    gale_flow_t f = quiet_flow();
    f.in_flight = true; /* sent by a worker that died before they arrived */
    uint64_t now = 0;
    gale_drain_step(&d, &f, now);
    int samples = 0;
    gale_drain_cmd_t c = {0};
    while (c.kind == GALE_DRAIN_NONE && samples < 1000) {
        c = gale_drain_step(&d, &f, now += 5 * MS);
        samples++;
    }
    cr_assert_eq(c.kind, GALE_DRAIN_FINISH);
    cr_assert_geq(samples, 100);
    cr_assert_leq(samples, 103);
    c = step_until_cmd(&d, &f, &now, 200);
    cr_assert_eq(c.kind, GALE_DRAIN_STOP);
    cr_assert_not(d.incomplete, "records lost with a dead worker are not this drain's to wait for");
}

Test(drain, a_spout_started_again_holds_its_own_drain_but_not_a_stop)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 0);
    gale_flow_t f = quiet_flow();
    uint64_t now = 0;
    gale_drain_step(&d, &f, now);
    cr_assert_eq(d.state, GALE_DRAIN_DRAINING);
    f.spouts_done = 1; /* its worker died and came back: its spout runs again, idle for the moment */
    cr_assert_eq(step_until_cmd(&d, &f, &now, 100).kind, GALE_DRAIN_NONE);
    cr_assert_eq(gale_drain_request_stop(&d, now, S).kind, GALE_DRAIN_DEACTIVATE);
    cr_assert_eq(step_until_cmd(&d, &f, &now, 10).kind, GALE_DRAIN_FINISH);
}

Test(drain, state_names)
{
    cr_assert_str_eq(gale_drain_state_name(GALE_DRAIN_RUNNING), "running");
    cr_assert_str_eq(gale_drain_state_name(GALE_DRAIN_DRAINING), "draining");
    cr_assert_str_eq(gale_drain_state_name(GALE_DRAIN_FINISHING), "finishing");
    cr_assert_str_eq(gale_drain_state_name(GALE_DRAIN_STOPPING), "stopping");
}

Test(drain, a_last_finish_that_never_comes_back_is_incomplete)
{
    gale_drain_t d;
    gale_drain_init(&d, ORDER, 1, 0);
    gale_flow_t f = quiet_flow();
    uint64_t now = 0;
    cr_assert_eq(step_until_cmd(&d, &f, &now, 10).kind, GALE_DRAIN_FINISH);
    cr_assert_eq(d.finish_pos, 1, "the only finish was issued");
    f.finish_acked = false; /* and never acknowledged */
    gale_drain_request_stop(&d, now, 0);
    gale_drain_request_stop(&d, now, 0);
    cr_assert_eq(gale_drain_request_stop(&d, now, 0).kind, GALE_DRAIN_STOP);
    cr_assert(d.incomplete, "a finish issued but not done is work not done");
}
