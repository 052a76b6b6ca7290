/*
 * Checkpoints through the gale binary (local mode): exact counts after SIGKILLs, barrier alignment held against
 * what the spouts emitted before each barrier, checkpoints that fail and are not restored, a restore at another
 * parallelism, and the errors a user meets (a damaged checkpoint, a parallelism above the key groups, a cluster
 * submit with a relative state folder);
 * in worker mode, exact counts after workers are SIGKILLed (every worker starts again from the checkpoint).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "counts_check.h"

TestSuite(checkpoint, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 240);

#define VOCAB TL_COUNTS_VOCAB

/* The sink's {"word": "wN", "count": C} lines hold each word exactly once, with exactly its count. */
static void assert_counts(const char *out_path, const long counts[VOCAB])
{
    char *text = tl_read_file(out_path, NULL);
    cr_assert_not_null(text, "no output at %s", out_path);
    static long seen[VOCAB];
    memset(seen, 0, sizeof seen);
    long lines = 0;
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        unsigned w;
        long c;
        cr_assert_eq(sscanf(p, "{\"word\": \"w%u\", \"count\": %ld}", &w, &c), 2, "line %.60s", p);
        cr_assert(w < VOCAB);
        cr_assert_eq(seen[w], 0, "w%u twice in the output", w);
        seen[w] = c;
        lines++;
    }
    for (unsigned w = 0; w < VOCAB; w++)
        cr_assert_eq(seen[w], counts[w], "w%u: counted %ld, the file has %ld", w, seen[w], counts[w]);
    cr_assert_eq(lines, VOCAB);
    free(text);
}

static uint64_t latest(const char *state, const char *topo) { return tl_state_latest(state, 0, topo); }

static uint64_t wait_latest(const char *state, const char *topo, uint64_t at_least, pid_t pid, double timeout_s)
{
    double until = tl_now_s() + timeout_s;
    uint64_t id;
    while ((id = latest(state, topo)) < at_least && tl_now_s() < until && tl_alive(pid)) tl_sleep_ms(2);
    return id;
}

static long stats_number(const char *dir, const char *key)
{
    char *p = tl_path("%s/stats.json", dir);
    char *text = tl_read_file(p, NULL);
    free(p);
    cr_assert_not_null(text, "no --stats in %s", dir);
    long v = tl_json_number(strstr(text, "\"checkpoints\""), key);
    free(text);
    return v;
}

typedef struct wc {
    char *dir, *input, *state, *out;
    long counts[VOCAB];
    tl_redis_t redis; /* port 0: the file backend */
    char redis_at[64];
    const char *workers; /* `gale run --workers N`; NULL: local mode */
} wc_t;

/* The latest complete checkpoint's id in the run's backend, 0 when none. */
static uint64_t wc_latest(const wc_t *w) { return tl_state_latest(w->state, w->redis.port, "wordcount_stateful"); }

/* Whether a checkpoint above the latest is being written. */
static bool wc_writing(const wc_t *w) { return tl_state_writing(w->state, w->redis.port, "wordcount_stateful"); }

static uint64_t wc_wait_latest(const wc_t *w, uint64_t at_least, pid_t pid, double timeout_s)
{
    double until = tl_now_s() + timeout_s;
    uint64_t id;
    while ((id = wc_latest(w)) < at_least && tl_now_s() < until && tl_alive(pid)) tl_sleep_ms(2);
    return id;
}

static void wc_init(wc_t *w, long lines)
{
    memset(w, 0, sizeof *w);
    w->dir = tl_tmpdir();
    w->input = tl_path("%s/input.txt", w->dir);
    w->state = tl_path("%s/state", w->dir);
    w->out = tl_path("%s/counts.jsonl", w->dir);
    tl_counts_make(w->input, lines, w->counts);
}

static void wc_free(wc_t *w)
{
    tl_rmtree(w->dir);
    free(w->dir), free(w->input), free(w->state), free(w->out);
}

/* `gale run` of `cfg` over w's files, in a folder of its own (run N), with `extra` arguments (NULL-terminated, or
   NULL) before the file; its pid. */
static pid_t wc_spawn(wc_t *w, const char *cfg, int n, const char *const *extra)
{
    char *run = tl_path("%s/run%d", w->dir, n);
    mkdir(run, 0755);
    char *lines = tl_path("lines.path=%s", w->input), *sink = tl_path("sink.path=%s", w->out),
         *state = tl_path("config.state_path=%s", w->state), *stats = tl_path("%s/stats.json", run);
    const char *argv[40] = {tl_gale(),
                            "run",
                            "--quiet",
                            "--stats",
                            stats,
                            "--set",
                            lines,
                            "--set",
                            sink,
                            "--set",
                            state,
                            "--set",
                            "config.checkpoint_interval_ms=50"};
    int k = 13;
    if (w->redis.port) {
        snprintf(w->redis_at, sizeof w->redis_at, "config.state_redis=127.0.0.1:%d", w->redis.port);
        const char *redis[] = {"--set", "config.state_backend=redis", "--set", w->redis_at};
        for (int i = 0; i < 4; i++) argv[k++] = redis[i];
    }
    if (w->workers) argv[k++] = "--workers", argv[k++] = w->workers;
    for (int i = 0; extra && extra[i] && k < 30; i++) argv[k++] = extra[i];
    argv[k++] = cfg;
    argv[k] = NULL;
    pid_t pid = tl_spawn(argv, run);
    cr_assert(pid > 0);
    tl_remember(pid);
    free(run), free(lines), free(sink), free(state), free(stats);
    return pid;
}

/* A redis-server of the test's own, in w's folder: the run's backend from now on. */
static void wc_start_redis(wc_t *w)
{
    char *rdir = tl_path("%s/redis", w->dir);
    mkdir(rdir, 0755);
    tl_redis_start(&w->redis, rdir);
    free(rdir);
}

/* A finished input leaves no key of gale's behind in Redis. */
static void assert_redis_empty(const tl_redis_t *r)
{
    const char *keys[] = {"KEYS", "gale:*", NULL};
    char *left = tl_redis_call(r->port, keys);
    cr_assert(left && !strcmp(left, "*0"), "keys left in Redis: %s", left);
    free(left);
}

static void sigkill(pid_t pid)
{
    kill(pid, SIGKILL);
    bool late;
    tl_wait(pid, 30, &late);
}

/* Two runs SIGKILLed (the first inside a checkpoint when it can catch one), then a third to the end. Returns the
   latest complete checkpoint the third run started from. */
static uint64_t kill_twice_then_finish(wc_t *w, const char *cfg, const char *const *extra)
{
    pid_t p1 = wc_spawn(w, cfg, 1, extra);
    uint64_t id = wc_wait_latest(w, 2, p1, 60);
    cr_assert(id >= 2, "run 1 completed no second checkpoint (at %" PRIu64 ")", id);
    /* The next checkpoint's snapshots appear before its record: kill it then, inside the checkpoint. */
    double until = tl_now_s() + 5;
    bool inside = false;
    while (tl_now_s() < until && !(inside = wc_writing(w)))
        usleep(100); /* a spin would take a core from the run it waits for */
    sigkill(p1);
    uint64_t after1 = wc_latest(w);
    cr_log_info("run 1 killed %s a checkpoint, the latest complete one being %" PRIu64, inside ? "inside" : "between",
                after1);
    pid_t p2 = wc_spawn(w, cfg, 2, extra);
    id = wc_wait_latest(w, after1 + 2, p2, 60);
    cr_assert(id >= after1 + 2, "run 2 did not go on checkpointing from %" PRIu64, after1);
    sigkill(p2);
    uint64_t after2 = wc_latest(w);
    pid_t p3 = wc_spawn(w, cfg, 3, extra);
    bool late;
    cr_assert_eq(tl_wait(p3, 120, &late), 0, "run 3 failed");
    return after2;
}

Test(checkpoint, wordcount_stateful_is_exact_after_two_sigkills_one_during_a_checkpoint)
{
    wc_t w;
    wc_init(&w, 300000);
    const char *extra[] = {"--set", "sink.transactional=true", NULL};
    uint64_t after2 = kill_twice_then_finish(&w, "topologies/wordcount_stateful.cfg", extra);
    assert_counts(w.out, w.counts);
    char *run3 = tl_path("%s/run3", w.dir);
    cr_assert_eq(stats_number(run3, "restored"), (long)after2);
    cr_assert_gt(stats_number(run3, "restored_entries"), VOCAB, "the counts and the spout's position");
    cr_assert_gt(stats_number(run3, "completed"), 0);
    cr_assert_eq(latest(w.state, "wordcount_stateful"), 0, "a finished input leaves no state behind");
    free(run3);
    wc_free(&w);
}

Test(checkpoint, with_the_redis_backend_counts_are_exact_after_two_sigkills)
{
    wc_t w;
    wc_init(&w, 300000);
    wc_start_redis(&w);
    const char *extra[] = {"--set", "sink.transactional=true", NULL};
    uint64_t after2 = kill_twice_then_finish(&w, "topologies/wordcount_stateful.cfg", extra);
    assert_counts(w.out, w.counts);
    char *run3 = tl_path("%s/run3", w.dir);
    cr_assert_eq(stats_number(run3, "restored"), (long)after2);
    cr_assert_eq(wc_latest(&w), 0, "a finished input leaves no state behind in Redis");
    assert_redis_empty(&w.redis);
    tl_redis_kill(&w.redis);
    free(run3);
    wc_free(&w);
}

Test(checkpoint, running_counts_through_the_transactional_sink_are_the_failure_free_output)
{
    wc_t w;
    wc_init(&w, 30000);
    const char *extra[] = {"--set", "count.mode=running", "--set", "sink.transactional=true", NULL};
    kill_twice_then_finish(&w, "topologies/wordcount_stateful.cfg", extra);
    /* Every (word, k) for k = 1 .. the word's count, each exactly once: what a run never killed writes. */
    char *text = tl_read_file(w.out, NULL);
    cr_assert_not_null(text);
    long lines = 0, total = 0;
    for (unsigned i = 0; i < VOCAB; i++) total += w.counts[i];
    char fault[160];
    cr_assert_eq(tl_counts_check_running(text, w.counts, &lines, fault, sizeof fault), 0, "%s", fault);
    cr_assert_eq(lines, total, "%ld lines, a failure-free run writes %ld", lines, total);
    free(text);
    wc_free(&w);
}

/* A run killed at parallelism 2 (with `before` workers, NULL: local mode), then run to its end at 3 (with `after`). */
static void parallelism_changes(const char *before, const char *after)
{
    wc_t w;
    wc_init(&w, 200000);
    w.workers = before;
    char *cfg3 = tl_path("%s/three.cfg", w.dir), *src = tl_read_file("topologies/wordcount_stateful.cfg", NULL);
    cr_assert_not_null(src);
    /* The same topology with three counting tasks instead of two (the block's only "parallelism = 2;" after
       "word_count"). */
    char *at = strstr(strstr(src, "\"word_count\""), "parallelism = 2;");
    cr_assert_not_null(at);
    at[strlen("parallelism = ")] = '3';
    cr_assert_eq(tl_write_file(cfg3, src), 0);
    pid_t p1 = wc_spawn(&w, "topologies/wordcount_stateful.cfg", 1, NULL);
    uint64_t id = wait_latest(w.state, "wordcount_stateful", 2, p1, 60);
    cr_assert(id >= 2);
    sigkill(p1);
    w.workers = after;
    pid_t p2 = wc_spawn(&w, cfg3, 2, NULL);
    bool late;
    cr_assert_eq(tl_wait(p2, 120, &late), 0, "the run at parallelism 3 failed");
    assert_counts(w.out, w.counts); /* each word once: its count and its tuples met at one task */
    char *run2 = tl_path("%s/run2", w.dir);
    cr_assert_gt(stats_number(run2, "restored"), 0);
    free(run2), free(cfg3), free(src);
    wc_free(&w);
}

Test(checkpoint, state_moves_with_its_keys_when_the_parallelism_changes) { parallelism_changes(NULL, NULL); }

Test(checkpoint, in_worker_mode_state_moves_with_its_keys_to_more_workers_and_tasks)
{
    parallelism_changes("2", "3");
}

/* ---- barrier alignment, held against the spouts' positions ---------------------------------------------------- */

static char *write_align_cfg_with(const char *dir, long count, const char *bolt_extra, int interval_ms,
                                  const char *config_extra);

/* Two spouts at different rates into one bolt (alignment), `count` tuples each; `bolt_extra` goes into the bolt's
   settings. */
static char *write_align_cfg(const char *dir, long count, const char *bolt_extra, int interval_ms)
{
    return write_align_cfg_with(dir, count, bolt_extra, interval_ms, "");
}

/* The same, with `config_extra` in its config group (another backend). */
static char *write_align_cfg_with(const char *dir, long count, const char *bolt_extra, int interval_ms,
                                  const char *config_extra)
{
    char *cfg = tl_path("%s/align.cfg", dir),
         *text = tl_path(
             "name = \"align\";\n"
             "config = { ackers = 1; threads = 2; checkpoint_interval_ms = %d; state_path = \"%s/state\"; %s };\n"
             "spouts = ( { name = \"a\"; plugin = \"ckpt_seq\"; settings = { count = %ld; every = 1; log = "
             "\"%s/log\"; }; },\n"
             "           { name = \"b\"; plugin = \"ckpt_seq\"; settings = { count = %ld; every = 7; log = "
             "\"%s/log\"; }; } );\n"
             "bolts = ( { name = \"sum\"; plugin = \"ckpt_sum\"; settings = { log = \"%s/log\"; %s };\n"
             "            inputs = ( { from = \"a\"; }, { from = \"b\"; } ); },\n"
             "          { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/out.jsonl\"; };\n"
             "            inputs = ( { from = \"sum\"; } ); } );\n",
             interval_ms, dir, config_extra, count, dir, count, dir, dir, bolt_extra, dir);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

typedef struct ck_log {
    long pos[4096][2], sum[4096][2]; /* by checkpoint id, for sources a and b; -1: not logged */
    bool commit[4096], rollback[4096];
    int max;
} ck_log_t;

static void read_log(const char *dir, ck_log_t *l)
{
    memset(l, 0, sizeof *l);
    memset(l->pos, -1, sizeof l->pos);
    memset(l->sum, -1, sizeof l->sum);
    char *p = tl_path("%s/log", dir), *text = tl_read_file(p, NULL);
    free(p);
    cr_assert_not_null(text, "no checkpoint was logged");
    for (char *s = text, *nl; *s; s = nl + 1) {
        nl = strchr(s, '\n');
        cr_assert_not_null(nl);
        *nl = 0;
        unsigned id, task;
        char src[8];
        long a, b;
        cr_assert_eq(sscanf(s, "%u", &id), 1);
        cr_assert(id < 4096);
        if (id > (unsigned)l->max) l->max = (int)id;
        if (sscanf(s, "%*u pos %7s %ld", src, &a) == 2) l->pos[id][src[0] == 'b'] = a;
        else if (sscanf(s, "%*u sum %u %7s %ld %ld", &task, src, &a, &b) == 4) l->sum[id][src[0] == 'b'] = a;
        else if (strstr(s, " commit ")) l->commit[id] = true;
        else if (strstr(s, " rollback ")) l->rollback[id] = true;
        else cr_assert_fail("a line that is not the probe's: %s", s);
    }
    free(text);
}

static void assert_totals(const char *dir, long count)
{
    char *p = tl_path("%s/out.jsonl", dir), *text = tl_read_file(p, NULL);
    free(p);
    cr_assert_not_null(text);
    char want[200];
    long long sum = (long long)count * (count + 1) / 2;
    snprintf(want, sizeof want, "{\"src\": \"a\", \"count\": %ld, \"sum\": %lld}", count, sum);
    cr_assert(strstr(text, want), "%s in %s", want, text);
    snprintf(want, sizeof want, "{\"src\": \"b\", \"count\": %ld, \"sum\": %lld}", count, sum);
    cr_assert(strstr(text, want), "%s in %s", want, text);
    free(text);
}

static int run_gale(const char *cfg, const char *dir, tl_result_t *r)
{
    char *stats = tl_path("%s/stats.json", dir);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    int rc = tl_run(argv, NULL, 180, r);
    free(stats);
    return rc;
}

Test(checkpoint, a_bolt_with_two_inputs_snapshots_exactly_what_preceded_the_barriers)
{
    char *dir = tl_tmpdir();
    char *cfg = write_align_cfg(dir, 400000, "", 20);
    tl_result_t r;
    cr_assert_eq(run_gale(cfg, dir, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    ck_log_t *l = malloc(sizeof *l);
    read_log(dir, l);
    int checked = 0;
    for (int id = 1; id <= l->max; id++) {
        /* A checkpoint the bolt kept no sums for either did not reach it (the run ended first: no commit) or came
           before any tuple (its barriers followed nothing: sums of 0, checked below like the others). */
        if (l->sum[id][0] < 0 && l->sum[id][1] < 0 && !l->commit[id]) continue;
        /* The bolt's count of each source at N is what that spout had emitted when it injected N's barrier. */
        for (int s = 0; s < 2; s++)
            cr_assert_eq(l->sum[id][s] < 0 ? 0 : l->sum[id][s], l->pos[id][s],
                         "checkpoint %d, source %c: the bolt "
                         "counted %ld, the spout's barrier followed its tuple %ld",
                         id, "ab"[s], l -> sum[id][s], l -> pos[id][s]);
        cr_assert(l->commit[id], "checkpoint %d completed without its commit", id);
        checked++;
    }
    cr_assert_geq(checked, 3, "only %d checkpoints", checked);
    assert_totals(dir, 400000);
    cr_assert_eq(stats_number(dir, "failed"), 0);
    cr_assert_eq(stats_number(dir, "completed"), checked);
    free(l);
    tl_result_free(&r);
    free(cfg);
    tl_rmtree(dir);
    free(dir);
}

Test(checkpoint, a_task_that_fails_its_part_abandons_that_checkpoint_and_the_run_goes_on)
{
    char *dir = tl_tmpdir();
    char *cfg = write_align_cfg(dir, 400000, "fail_every = 3;", 20);
    tl_result_t r;
    cr_assert_eq(run_gale(cfg, dir, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "checkpoint 3 failed: task sum"), "%s", r.err);
    ck_log_t *l = malloc(sizeof *l);
    read_log(dir, l);
    cr_assert_geq(l->max, 4);
    for (int id = 1; id <= l->max; id++) {
        if (l->pos[id][0] < 0) continue; /* not started (the run ended first) */
        if (id % 3 == 0) cr_assert(l->rollback[id] && !l->commit[id], "checkpoint %d must be rolled back", id);
        else if (l->sum[id][0] >= 0) cr_assert(l->commit[id] && !l->rollback[id], "checkpoint %d must commit", id);
    }
    assert_totals(dir, 400000);
    cr_assert_geq(stats_number(dir, "failed"), 1);
    free(l);
    tl_result_free(&r);
    free(cfg);
    tl_rmtree(dir);
    free(dir);
}

Test(checkpoint, a_checkpoint_the_backend_failed_is_never_restored)
{
    char *dir = tl_tmpdir();
    char *cfg = write_align_cfg(dir, 0, "", 20); /* unbounded spouts: the run is killed */
    /* Files where checkpoints 3 to 2000 would put their folders: the backend fails each of them. */
    char *topo = tl_path("%s/state/align", dir);
    char *mk = tl_path("mkdir -p %s && cd %s && for i in $(seq 3 2000); do echo x > chk-$i; done", topo, topo);
    cr_assert_eq(system(mk), 0);
    char *stats = tl_path("%s/stats.json", dir);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    pid_t pid = tl_spawn(argv, dir);
    tl_remember(pid);
    char *logp = tl_path("%s/log", dir);
    double until = tl_now_s() + 60;
    char *text = NULL;
    while (tl_now_s() < until && tl_alive(pid)) { /* until checkpoint 6 was rolled back */
        free(text);
        text = tl_read_file(logp, NULL);
        if (text && strstr(text, "\n6 rollback ")) break;
        tl_sleep_ms(5);
    }
    cr_assert(text && strstr(text, "\n6 rollback "), "checkpoints 3 to 6 were not rolled back");
    sigkill(pid);
    char *state = tl_path("%s/state", dir);
    cr_assert_eq(latest(state, "align"), 2, "the latest complete checkpoint is 2");
    free(state);
    char *err = tl_path("%s/err.txt", dir), *errs = tl_read_file(err, NULL);
    cr_assert(errs && strstr(errs, "checkpoint 3 failed: the file backend"), "%s", errs);
    /* Run again, to a bounded end, with the blockers gone: it restores 2, not a failed one. */
    char *rm = tl_path("find %s -maxdepth 1 -type f -name 'chk-*' -delete", topo);
    cr_assert_eq(system(rm), 0);
    free(cfg);
    char *dir2 = tl_path("%s/again", dir);
    mkdir(dir2, 0755);
    cfg = write_align_cfg(dir, 300000, "", 20);
    tl_result_t r;
    cr_assert_eq(run_gale(cfg, dir2, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(stats_number(dir2, "restored"), 2);
    assert_totals(dir, 300000);
    tl_result_free(&r);
    free(text), free(errs), free(err), free(rm), free(mk), free(topo), free(stats), free(logp), free(cfg), free(dir2);
    tl_rmtree(dir);
    free(dir);
}

/* ---- what a user meets ------------------------------------------------------------------------------------------- */

/* A run of wordcount_stateful killed after its second checkpoint: w's state holds one. */
static uint64_t killed_run(wc_t *w)
{
    pid_t p = wc_spawn(w, "topologies/wordcount_stateful.cfg", 1, NULL);
    uint64_t id = wait_latest(w->state, "wordcount_stateful", 2, p, 60);
    cr_assert(id >= 2);
    sigkill(p);
    return latest(w->state, "wordcount_stateful");
}

Test(checkpoint, a_damaged_snapshot_stops_the_run_naming_it_and_fresh_starts_over)
{
    wc_t w;
    wc_init(&w, 200000);
    uint64_t id = killed_run(&w);
    char *snap = tl_path("%s/wordcount_stateful/chk-%" PRIu64 "/count.0", w.state, id);
    char *bytes = tl_read_file(snap, NULL);
    cr_assert_not_null(bytes, "count's task 0 has state at %s", snap);
    size_t n = tl_file_size(snap);
    bytes[n / 2] ^= 0x20;
    FILE *f = fopen(snap, "w");
    fwrite(bytes, 1, n, f);
    fclose(f);
    pid_t p = wc_spawn(&w, "topologies/wordcount_stateful.cfg", 2, NULL);
    bool late;
    cr_assert_eq(tl_wait(p, 60, &late), 1, "a run that cannot restore its checkpoint must fail");
    char *err = tl_path("%s/run2/err.txt", w.dir), *text = tl_read_file(err, NULL);
    char want[200];
    snprintf(want, sizeof want, "cannot restore checkpoint %" PRIu64 " of 'count' (task 0's snapshot): checksum", id);
    cr_assert(text && strstr(text, want), "%s", text);
    cr_assert(strstr(text, "gale run --fresh"), "%s", text);
    /* --fresh: the state is wiped and the run counts from nothing, exactly. */
    p = wc_spawn(&w, "topologies/wordcount_stateful.cfg", 3, (const char *const[]){"--fresh", NULL});
    cr_assert_eq(tl_wait(p, 120, &late), 0);
    assert_counts(w.out, w.counts);
    char *run3 = tl_path("%s/run3", w.dir);
    cr_assert_eq(stats_number(run3, "restored"), 0);
    free(run3), free(err), free(text), free(bytes), free(snap);
    wc_free(&w);
}

/* Worker mode: one run of two workers, a worker SIGKILLed twice, the second time inside a checkpoint (made sure of:
   worker 1, which has no spout, is stopped, so that the checkpoint cannot complete, and worker 0 is killed once
   its spout's snapshot is written). Every worker starts again from the latest complete checkpoint each time. */
static void workers_killed_twice(wc_t *w)
{
    w->workers = "2";
    const char *extra[] = {"--set", "sink.transactional=true", NULL};
    pid_t p = wc_spawn(w, "topologies/wordcount_stateful.cfg", 1, extra);
    uint64_t id = wc_wait_latest(w, 2, p, 60);
    cr_assert(id >= 2, "no second checkpoint (at %" PRIu64 ")", id);
    pid_t w1 = 0;
    for (double until = tl_now_s() + 10; !w1 && tl_now_s() < until; tl_sleep_ms(5)) w1 = tl_worker_pid(p, 1);
    cr_assert(w1 > 0);
    kill(w1, SIGKILL);
    id = wc_wait_latest(w, id + 2, p, 60);
    cr_assert(tl_alive(p), "the run ended before it checkpointed again after the first kill");
    pid_t again = 0, w0 = 0;
    for (double until = tl_now_s() + 10; (again == w1 || !again || !w0) && tl_now_s() < until; tl_sleep_ms(5))
        again = tl_worker_pid(p, 1), w0 = tl_worker_pid(p, 0);
    cr_assert(again > 0 && again != w1 && w0 > 0, "worker 1 was not started again");
    kill(again, SIGSTOP);
    double until = tl_now_s() + 20;
    bool inside = false;
    while (tl_now_s() < until && !(inside = wc_writing(w))) usleep(200);
    kill(w0, SIGKILL);
    cr_assert(inside, "no checkpoint was under way with worker 1 stopped");
    bool late;
    int st = tl_wait(p, 120, &late);
    char *err_path = tl_path("%s/run1/err.txt", w->dir), *err = tl_read_file(err_path, NULL);
    cr_assert_eq(st, 0, "the run failed (%d)\n%s", st, err);
    cr_assert(err && strstr(err, "failed: worker 0 died"), "the checkpoint in flight was not abandoned\n%s", err);
    assert_counts(w->out, w->counts); /* each word once, with its count: no duplicate, nothing lost */
    char *run1 = tl_path("%s/run1", w->dir);
    cr_assert_gt(stats_number(run1, "completed"), 2);
    cr_assert_geq(stats_number(run1, "failed"), 1);
    cr_assert_eq(wc_latest(w), 0, "a finished input leaves no state behind");
    free(run1), free(err), free(err_path);
}

Test(checkpoint, in_worker_mode_counts_are_exact_after_a_worker_is_killed_twice_once_during_a_checkpoint)
{
    wc_t w;
    wc_init(&w, 600000);
    workers_killed_twice(&w);
    wc_free(&w);
}

Test(checkpoint, in_worker_mode_with_redis_counts_are_exact_after_a_worker_is_killed_twice)
{
    wc_t w;
    wc_init(&w, 600000);
    wc_start_redis(&w);
    workers_killed_twice(&w);
    assert_redis_empty(&w.redis);
    tl_redis_kill(&w.redis);
    wc_free(&w);
}

/* A run killed, its latest record then made a final one: the next run only commits it (in worker mode, each worker
   its own tasks' part, then exits). */
static void final_left_behind(const char *workers)
{
    wc_t w;
    wc_init(&w, 200000);
    w.workers = workers;
    const char *extra[] = {"--set", "count.mode=running", "--set", "sink.transactional=true", NULL};
    pid_t p = wc_spawn(&w, "topologies/wordcount_stateful.cfg", 1, extra);
    uint64_t id = wait_latest(w.state, "wordcount_stateful", 2, p, 60);
    cr_assert(id >= 2);
    sigkill(p);
    id = latest(w.state, "wordcount_stateful");
    /* As if the run had ended with its final checkpoint and died before its sink committed it. */
    char *rec = tl_path("%s/wordcount_stateful/latest", w.state), *text = tl_read_file(rec, NULL);
    cr_assert_not_null(text);
    char *more = tl_path("%sfinal\n", text);
    cr_assert_eq(tl_write_file(rec, more), 0);
    p = wc_spawn(&w, "topologies/wordcount_stateful.cfg", 2, extra);
    bool late;
    cr_assert_eq(tl_wait(p, 60, &late), 0);
    char *err = tl_path("%s/run2/err.txt", w.dir), *log = tl_read_file(err, NULL);
    char want[160];
    snprintf(want, sizeof want, "checkpoint %" PRIu64 " was the last run's final one", id);
    cr_assert(log && strstr(log, want), "%s", log);
    cr_assert_eq(latest(w.state, "wordcount_stateful"), 0, "the state is wiped after the commit");
    /* The output is what checkpoint id held: for each word, its running counts 1 .. m, none twice or missing. */
    char *out = tl_read_file(w.out, NULL);
    cr_assert(out && *out, "checkpoint %" PRIu64 "'s output was committed", id);
    static long top[VOCAB];
    memset(top, 0, sizeof top);
    char fault[160] = "";
    for (char *q = out, *nl; *q && !*fault && (nl = strchr(q, '\n')); q = nl + 1) {
        unsigned word;
        long k;
        if (sscanf(q, "{\"word\": \"w%u\", \"count\": %ld}", &word, &k) != 2 || word >= VOCAB)
            snprintf(fault, sizeof fault, "a line not the sink's: %.60s", q);
        else if (k != top[word] + 1) snprintf(fault, sizeof fault, "w%u: %ld after %ld", word, k, top[word]);
        else top[word] = k;
    }
    cr_assert_eq(*fault, 0, "%s", fault);
    free(out), free(log), free(err), free(more), free(text), free(rec);
    wc_free(&w);
}

Test(checkpoint, a_final_checkpoint_left_behind_is_committed_without_running_again) { final_left_behind(NULL); }

Test(checkpoint, in_worker_mode_a_final_checkpoint_left_behind_is_committed_by_each_worker) { final_left_behind("2"); }

Test(checkpoint, a_cluster_submit_with_a_relative_state_folder_is_refused_naming_it)
{
    char *dir = tl_tmpdir(), *secret = tl_path("%s/secret", dir);
    cr_assert_eq(tl_write_file(secret, "0123456789abcdef0123456789abcdef\n"), 0);
    chmod(secret, 0600);
    tl_result_t r;
    const char *argv[] = {
        tl_gale(), "submit", "--nimbus", "127.0.0.1:1", "--secret-file", secret, "topologies/wordcount_stateful.cfg",
        NULL};
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "config.state_path: \"gale-state\" is relative; in a cluster the file backend needs an "
                            "absolute folder"),
              "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(secret);
}

Test(checkpoint, a_transactional_sink_without_checkpoints_is_refused)
{
    char *dir = tl_tmpdir(), *path = tl_path("sink.path=%s/out.jsonl", dir);
    const char *cases[][3] = {
        {"topologies/wordcount_file.cfg", path, "needs config.checkpoint_interval_ms"},
        {"topologies/wordcount_stateful.cfg", "sink.path=-", "needs a file to write (path is \"-\")"}};
    for (int i = 0; i < 2; i++) {
        tl_result_t r;
        const char *argv[] = {tl_gale(), "run",       "--quiet",   "--set", "sink.transactional=true",
                              "--set",   cases[i][1], cases[i][0], NULL};
        cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
        cr_assert_eq(r.status, 1, "%s", r.err);
        cr_assert(strstr(r.err, cases[i][2]), "%s", r.err);
        tl_result_free(&r);
    }
    tl_rmtree(dir);
    free(dir), free(path);
}

Test(checkpoint, a_redis_server_that_goes_away_fails_checkpoints_and_the_run_goes_on)
{
    char *dir = tl_tmpdir(), *rdir = tl_path("%s/redis", dir);
    mkdir(rdir, 0755);
    tl_redis_t redis = {0};
    tl_redis_start(&redis, rdir);
    char extra[128];
    snprintf(extra, sizeof extra,
             "state_backend = \"redis\"; state_redis = \"127.0.0.1:%d\"; checkpoint_timeout_s = 2;", redis.port);
    char *cfg = write_align_cfg_with(dir, 0, "", 20, extra); /* unbounded spouts */
    char *stats = tl_path("%s/stats.json", dir), *logp = tl_path("%s/log", dir), *errp = tl_path("%s/err.txt", dir);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    pid_t pid = tl_spawn(argv, dir);
    tl_remember(pid);
    const char *get[] = {"GET", "gale:align:latest", NULL};
    uint64_t before = 0;
    for (double until = tl_now_s() + 60; tl_now_s() < until && before < 2 && tl_alive(pid); tl_sleep_ms(5)) {
        char *rec = tl_redis_call(redis.port, get), *at = rec ? strstr(rec, "\nid ") : NULL;
        before = at ? strtoull(at + 4, NULL, 10) : 0;
        free(rec);
    }
    cr_assert(before >= 2, "no checkpoint completed in Redis");
    tl_redis_kill(&redis);
    /* Checkpoints now fail, and the run goes on: the backend says so, or (a server gone without a word) the
       checkpoint's timeout does. */
    char *errs = NULL;
    bool failed = false;
    for (double until = tl_now_s() + 60; tl_now_s() < until && tl_alive(pid) && !failed; tl_sleep_ms(10)) {
        free(errs);
        errs = tl_read_file(errp, NULL);
        failed = errs && (strstr(errs, "failed: the redis backend") ||
                          strstr(errs, "failed: not complete within checkpoint_timeout_s"));
    }
    cr_assert(failed, "no checkpoint failed while Redis was away:\n%s", errs);
    cr_assert(tl_alive(pid), "the run must go on without its backend");
    /* The server back, with what it had: checkpoints complete again, above the one before it went. */
    tl_redis_start(&redis, rdir);
    uint64_t after = 0, first = 0;
    for (double until = tl_now_s() + 60; tl_now_s() < until && after <= before + 2 && tl_alive(pid); tl_sleep_ms(5)) {
        char *rec = tl_redis_call(redis.port, get), *at = rec ? strstr(rec, "\nid ") : NULL;
        after = at ? strtoull(at + 4, NULL, 10) : 0;
        if (!first) first = after;
        free(rec);
    }
    cr_assert_geq(first, before, "Redis lost its record over the restart");
    cr_assert_gt(after, before + 2, "no checkpoint completed after Redis came back (latest %" PRIu64 ")", after);
    sigkill(pid);
    ck_log_t *l = malloc(sizeof *l);
    read_log(dir, l);
    bool rolled = false;
    for (int id = (int)before + 1; id <= (int)after && id < 4096; id++) rolled = rolled || l->rollback[id];
    cr_assert(rolled, "the checkpoints while Redis was away were rolled back");
    /* Every checkpoint the bolt took still matches the spouts' positions at it. */
    for (int id = 1; id <= l->max; id++)
        if (l->sum[id][0] >= 0 && l->pos[id][0] >= 0) cr_assert_eq(l->sum[id][0], l->pos[id][0], "checkpoint %d", id);
    free(l), free(errs), free(stats), free(logp), free(errp), free(cfg), free(rdir);
    tl_redis_kill(&redis);
    tl_rmtree(dir);
    free(dir);
}
