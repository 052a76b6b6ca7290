/*
 * Checkpoints in cluster mode (test_cluster.h: a real ZooKeeper, nimbus, supervisors): wordcount_stateful.cfg over
 * two supervisors, one slot each, with running counts through the transactional sink. The worker of the supervisor
 * that does not coordinate is SIGKILLed, then the coordinator's own worker during a checkpoint; each time every
 * worker of the topology starts again from the latest complete checkpoint, and the committed output is exactly
 * what a run never killed writes. With the file backend and with a real redis-server.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_cluster.h"
#include "counts_check.h"

TestSuite(cluster_checkpoint, .init = tl_use_test_plugins, .timeout = 300);

#define TOPO "wordcount_stateful"

typedef struct run {
    tl_cluster_t c;
    char *input, *out, *state;
    tl_redis_t redis; /* port 0: the file backend */
    long counts[TL_COUNTS_VOCAB];
} run_t;

static uint64_t run_latest(const run_t *r) { return tl_state_latest(r->state, r->redis.port, TOPO); }

/* The supervisor whose worker runs slot `slot`, and that worker's pid, once it runs (bounded); asserts. */
static int holder(const run_t *r, int slot, pid_t not, pid_t *pid)
{
    for (double until = tl_now_s() + 30; tl_now_s() < until; tl_sleep_ms(10))
        for (int i = 0; i < r->c.n_sups; i++) {
            pid_t p = tl_worker_pid(r->c.sup[i].pid, slot);
            if (p > 0 && p != not ) {
                *pid = p;
                return i;
            }
        }
    cr_assert_fail("no worker runs slot %d", slot);
    return -1;
}

static uint64_t wait_latest(const run_t *r, uint64_t at_least, double timeout_s)
{
    uint64_t id;
    for (double until = tl_now_s() + timeout_s; (id = run_latest(r)) < at_least && tl_now_s() < until;) tl_sleep_ms(5);
    if (id < at_least) {
        char *a = tl_daemon_log(&r->c.sup[0]), *b = tl_daemon_log(&r->c.sup[1]);
        cr_assert_fail("checkpoint %" PRIu64 " never completed (the latest is %" PRIu64 ")\nsupervisor 0:\n%s\n"
                       "supervisor 1:\n%s",
                       at_least, id, a, b);
    }
    return id;
}

/* The sink's committed lines, once there are `want` of them (bounded); malloc'd. */
static char *output_of(const run_t *r, long want, double timeout_s)
{
    char *text = NULL;
    for (double until = tl_now_s() + timeout_s;; tl_sleep_ms(50)) { /* once at least */
        free(text);
        text = tl_read_file(r->out, NULL);
        long lines = 0;
        for (const char *p = text; p && (p = strchr(p, '\n')); p++) lines++;
        if (lines >= want || tl_now_s() >= until) break;
    }
    cr_assert_not_null(text, "no output at %s", r->out);
    return text;
}

/* The cluster (`n_sups` supervisors of one slot each), the input, and wordcount_stateful submitted over two workers with
   running counts through the transactional sink; with `redis`, a redis-server of the test's own as the backend. */
static void start_run(run_t *r, bool redis, int n_sups)
{
    memset(r, 0, sizeof *r);
    tl_cluster_start(&r->c, n_sups, 1);
    r->input = tl_path("%s/input.txt", r->c.dir);
    r->out = tl_path("%s/counts.jsonl", r->c.dir);
    r->state = tl_path("%s/state", r->c.dir);
    tl_counts_make(r->input, 40000, r->counts);
    char *lines = tl_path("lines.path=%s", r->input), *sink = tl_path("sink.path=%s", r->out),
         *state = tl_path("config.state_path=%s", r->state), at[96];
    /* Few lines in flight, so that the input lasts over what the test does to the run. */
    const char *args[40] = {"--set", "config.workers=2",
                            "--set", lines,
                            "--set", sink,
                            "--set", state,
                            "--set", "config.checkpoint_interval_ms=100",
                            "--set", "config.max_spout_pending=8",
                            "--set", "count.mode=running",
                            "--set", "sink.transactional=true",
                            "--set", "config.metrics_interval_s=1"};
    int n = 0;
    while (args[n]) n++;
    if (redis) {
        char *rdir = tl_path("%s/redis", r->c.dir);
        mkdir(rdir, 0755);
        tl_redis_start(&r->redis, rdir);
        free(rdir);
        snprintf(at, sizeof at, "config.state_redis=127.0.0.1:%d", r->redis.port);
        const char *more[] = {"--set", "config.state_backend=redis", "--set", at};
        for (int i = 0; i < 4; i++) args[n++] = more[i];
    }
    args[n++] = "topologies/" TOPO ".cfg";
    args[n] = NULL;
    tl_result_t res = tl_cluster_verb(&r->c, "submit", args);
    cr_assert_eq(res.status, 0, "%s%s", res.out, res.err);
    tl_result_free(&res);
    free(lines), free(sink), free(state);
}

/* Every (word, k) once in the committed output, and nothing more after further checkpoints; then the kill. */
static void finish_run(run_t *r)
{
    long total = 0;
    for (int i = 0; i < TL_COUNTS_VOCAB; i++) total += r->counts[i];
    double t0 = tl_now_s();
    char *text = output_of(r, total, 120);
    cr_log_info("the output was whole %.1f s after the last fault", tl_now_s() - t0);
    long got = 0;
    char fault[160];
    cr_assert_eq(tl_counts_check_running(text, r->counts, &got, fault, sizeof fault), 0, "%s", fault);
    cr_assert_eq(got, total, "%ld lines, a failure-free run writes %ld", got, total);
    free(text);
    wait_latest(r, run_latest(r) + 2, 30);
    text = output_of(r, total, 0);
    cr_assert_eq(tl_counts_check_running(text, r->counts, &got, fault, sizeof fault), 0, "%s", fault);
    cr_assert_eq(got, total, "later checkpoints added lines");
    free(text);
    /* gale stats: the coordinator's checkpoint figures, with the hosts' merged */
    long completed = -1;
    char *doc = NULL;
    for (double until = tl_now_s() + 30; completed < 1 && tl_now_s() < until; tl_sleep_ms(100)) {
        tl_result_t st = TL_VERB(&r->c, "stats", "--json", TOPO);
        free(doc);
        doc = strdup(st.status ? st.err : st.out);
        tl_result_free(&st);
        completed = tl_json_number(strstr(doc, "\"checkpoints\""), "completed");
    }
    cr_assert_geq(completed, 1, "gale stats shows no checkpoint completed:\n%s", doc);
    free(doc);
    tl_result_t res = TL_VERB(&r->c, "kill", "--wait", "1", TOPO);
    cr_assert_eq(res.status, 0, "%s", res.err);
    tl_result_free(&res);
    if (r->redis.port) tl_redis_kill(&r->redis);
    free(r->input), free(r->out), free(r->state);
    tl_cluster_free(&r->c);
}

static void killed_twice(bool redis)
{
    run_t r;
    start_run(&r, redis, 2);
    pid_t w0, w1;
    int coord = holder(&r, 0, 0, &w0), other = holder(&r, 1, 0, &w1);
    cr_assert_neq(coord, other, "one slot on each supervisor");
    uint64_t id = wait_latest(&r, 2, 60);
    /* 1. The worker of the supervisor that does not coordinate. */
    kill(w1, SIGKILL);
    cr_log_info("killed worker 1 (supervisor %d) after checkpoint %" PRIu64, other, id);
    pid_t again;
    holder(&r, 1, w1, &again);
    id = wait_latest(&r, id + 2, 60);
    pid_t now0;
    holder(&r, 0, 0, &now0);
    cr_assert_neq(now0, w0, "the coordinator's worker was started again with the others");
    /* 2. The coordinator's worker, inside a checkpoint when one can be caught. */
    bool inside = false;
    for (double until = tl_now_s() + 5;
         tl_now_s() < until && !(inside = tl_state_writing(r.state, r.redis.port, TOPO));)
        usleep(100);
    kill(now0, SIGKILL);
    cr_log_info("killed worker 0 (the coordinator's) %s a checkpoint, after %" PRIu64, inside ? "inside" : "between",
                run_latest(&r));
    pid_t later;
    holder(&r, 0, now0, &later);
    char *log = tl_daemon_log(&r.c.sup[coord]);
    cr_assert(strstr(log, "worker 1 died"), "%s", log);
    cr_assert(strstr(log, "every worker stopped: starting them"), "%s", log);
    free(log);
    finish_run(&r);
}

Test(cluster_checkpoint, over_two_supervisors_counts_are_exact_after_each_ones_worker_is_killed)
{
    killed_twice(false);
}

Test(cluster_checkpoint, with_redis_over_two_supervisors_counts_are_exact_after_workers_are_killed)
{
    killed_twice(true);
}

/* A rebalance to three counting tasks mid-run: the parts stop, start on the new model, and the coordinator restarts
   them all from the latest checkpoint, each new task taking the key groups it owns now. */
Test(cluster_checkpoint, a_rebalance_to_another_parallelism_moves_the_counts_with_their_words)
{
    run_t r;
    start_run(&r, false, 2);
    wait_latest(&r, 2, 60);
    tl_result_t res = TL_VERB(&r.c, "rebalance", "--parallelism", "count=3", "--wait", "1", TOPO);
    cr_assert_eq(res.status, 0, "%s%s", res.out, res.err);
    cr_assert(strstr(res.out, "rebalanced " TOPO " version=2 workers=2"), "%s", res.out);
    tl_result_free(&res);
    uint64_t at = run_latest(&r);
    wait_latest(&r, at + 2, 60);
    cr_log_info("rebalanced after checkpoint %" PRIu64, at);
    pid_t w0;
    char *log = tl_daemon_log(&r.c.sup[holder(&r, 0, 0, &w0)]);
    cr_assert(strstr(log, "this part of the topology starts anew while the others may run"), "%s", log);
    free(log);
    finish_run(&r);
}

/* The supervisor of slot 1 SIGKILLed with its worker: nimbus moves the slot to the third supervisor, whose new worker
   shows up as a new life of slot 1, and the coordinator restarts every worker from the latest checkpoint. */
Test(cluster_checkpoint, a_supervisor_killed_has_its_slot_moved_and_the_counts_stay_exact)
{
    run_t r;
    start_run(&r, false, 3);
    pid_t w0, w1;
    int coord = holder(&r, 0, 0, &w0), victim = holder(&r, 1, 0, &w1);
    wait_latest(&r, 2, 60);
    kill(r.c.sup[victim].pid, SIGKILL);
    kill(w1, SIGKILL);
    tl_wait(r.c.sup[victim].pid, 30, &(bool){false});
    r.c.sup[victim].pid = 0;
    tl_cluster_wait_log(&r.c, 0, TOPO ": moved the slots of supervisors that left");
    pid_t taken;
    int taker = holder(&r, 1, w1, &taken);
    cr_assert(taker != victim && taker != coord, "slot 1 went to the third supervisor (%d)", taker);
    char *log = NULL;
    for (double until = tl_now_s() + 30; tl_now_s() < until; tl_sleep_ms(50)) {
        free(log);
        log = tl_daemon_log(&r.c.sup[coord]);
        if (strstr(log, "worker 1 started anew") && strstr(log, "every worker stopped: starting them")) break;
    }
    cr_assert(strstr(log, "worker 1 started anew") && strstr(log, "every worker stopped: starting them"),
              "the coordinator did not restart the topology for slot 1's new life\n%s", log);
    free(log);
    finish_run(&r);
}
