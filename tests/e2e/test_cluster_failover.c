/*
 * Failover in cluster mode (test_cluster.h: a real ZooKeeper, two nimbus, supervisors with --zk, the gale verbs):
 *   - the leading nimbus SIGKILLed under an endless topology: the standby leads once ZooKeeper expires the dead
 *     one's session; the topology never stops meanwhile (its sink grows, its workers are the same processes);
 *     `gale list` and `gale kill` work through the new leader, found through ZooKeeper or given by its port; and
 *     the new leader serves the blobs that were put to the dead one (it has them through ZooKeeper) to a supervisor
 *     with an empty cache;
 *   - a supervisor hung with SIGSTOP, its workers with it: its ZooKeeper session expires, nimbus moves its slot,
 *     every word still arrives; after SIGCONT the supervisor finds its session gone and stops its old worker, which
 *     past its lease (fencing) writes nothing more into the sink.
 * Each test prints what it measured ("failover: ..." lines on stderr).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobs.h"
#include "test_cluster.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(failover, .init = use_plugins, .timeout = 240);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a test measured, on stderr (shown by tests/run.sh's log whatever Criterion's verbosity). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("failover: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (long)st.st_size;
}

/* Waits (bounded) until `path` has more than `than` bytes. */
static bool grows_past(const char *path, long than, double seconds)
{
    for (double end = now_s() + seconds; now_s() < end; tl_sleep_ms(10))
        if (file_size(path) > than) return true;
    return file_size(path) > than;
}

/* pids[i][k]: the worker of slot k that supervisor i runs now (0: none); supervisors that are stopped have none. */
static void worker_pids(const tl_cluster_t *c, pid_t pids[TL_CLUSTER_SUPS][4])
{
    memset(pids, 0, sizeof(pid_t[TL_CLUSTER_SUPS][4]));
    for (int i = 0; i < c->n_sups; i++)
        for (int k = 0; k < 4 && c->sup[i].pid > 0; k++) pids[i][k] = tl_worker_pid(c->sup[i].pid, k);
}

static int count_workers(const tl_cluster_t *c)
{
    pid_t pids[TL_CLUSTER_SUPS][4];
    worker_pids(c, pids);
    int n = 0;
    for (int i = 0; i < c->n_sups; i++)
        for (int k = 0; k < 4; k++) n += pids[i][k] > 0;
    return n;
}

/* Waits (bounded) until no supervisor runs a worker. */
static void wait_no_workers(const tl_cluster_t *c, double seconds)
{
    for (double end = now_s() + seconds; count_workers(c) && now_s() < end;) tl_sleep_ms(20);
    cr_assert_eq(count_workers(c), 0, "%d workers still run", count_workers(c));
}

static void assert_ok(tl_result_t r, const tl_cluster_t *c, int nimbus)
{
    char *log = r.status ? tl_cluster_nimbus_log(c, nimbus) : NULL;
    cr_assert_eq(r.status, 0, "%s%s\nnimbus %d:\n%s", r.out, r.err, nimbus, log);
    free(log);
}

/* The hex SHA-256 of a file's bytes: its name as a blob. */
static void file_sha(const char *path, char hex[GALE_BLOB_HEX_LEN + 1])
{
    uint64_t size;
    cr_assert_eq(gale_blob_digest_file(path, hex, &size), 0, "%s", path);
}

/* Numbers (e2e_spout) -> slowed (chaos, about 400 a second) -> probe (e2e_probe) -> sink, tracked, forever. The
   two test plugins are not gale's own: submit ships them as blobs. Set sink.path. */
static const char ENDLESS[] =
    "name = \"endless\";\n"
    "config = { ackers = 1; max_spout_pending = 20; message_timeout_s = 30; };\n"
    "spouts = ( { name = \"numbers\"; plugin = \"e2e_spout\"; settings = { reliable = true; }; } );\n"
    "bolts = (\n"
    "  { name = \"slow\"; plugin = \"chaos\"; parallelism = 2; settings = { delay_ms = 5; };\n"
    "    inputs = ( { from = \"numbers\"; } ); },\n"
    "  { name = \"probe\"; plugin = \"e2e_probe\"; parallelism = 2; inputs = ( { from = \"slow\"; } ); },\n"
    "  { name = \"sink\"; plugin = \"file_sink\"; parallelism = 2; settings = { path = \"-\"; };\n"
    "    inputs = ( { from = \"probe\"; } ); }\n"
    ");\n";

static void assert_listed(tl_result_t r, const tl_cluster_t *c, const char *how)
{
    assert_ok(r, c, 1);
    cr_assert_not_null(strstr(r.out, "topology endless status=active workers=3 executors=7 "), "%s: %s", how, r.out);
    cr_assert_not_null(strstr(r.out, " version=1\n"), "%s: the slots moved: %s", how, r.out);
    cr_assert_not_null(strstr(r.out, "\n1 topologies\n"), "%s: %s", how, r.out);
    tl_result_free(&r);
}

Test(failover, the_standby_leads_when_the_leader_is_killed_and_the_topology_runs_on)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 3, 1);
    tl_cluster_start_nimbus(&c, 1);
    tl_cluster_wait_log(&c, 1, "standing by: the leader is host=127.0.0.1");
    char standby[32];
    snprintf(standby, sizeof standby, "127.0.0.1:%d", c.nimbus[1].port);
    char *cfg = tl_path("%s/endless.cfg", c.dir), *out = tl_path("%s/out.jsonl", c.dir);
    char *set_out = tl_path("sink.path=%s", out);
    cr_assert_eq(tl_write_file(cfg, ENDLESS), 0);
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=3", "--set", set_out, cfg);
    assert_ok(r, &c, 0);
    cr_assert_not_null(strstr(r.out, "submitted endless version=1 workers=3 "), "%s", r.out);
    tl_result_free(&r);
    cr_assert(grows_past(out, 0, 60), "nothing reached the sink");
    pid_t before[TL_CLUSTER_SUPS][4], after[TL_CLUSTER_SUPS][4];
    worker_pids(&c, before);
    cr_assert_eq(count_workers(&c), 3);

    /* The leader dies: nothing leads until ZooKeeper expires its session (2 s), yet the topology runs on. */
    double t0 = now_s();
    cr_assert_eq(kill(c.nimbus[0].pid, SIGKILL), 0);
    bool timed_out;
    cr_assert_eq(tl_wait(c.nimbus[0].pid, 30, &timed_out), 128 + SIGKILL);
    c.nimbus[0].pid = 0;
    long at_death = file_size(out);
    /* Until then the dead leader's node is the lowest in the election, and nothing answers there: the standby
       serves the list. */
    r = TL_VERB(&c, "list");
    char *early = tl_cluster_nimbus_log(&c, 1);
    bool in_between = !strstr(early, "leading (");
    free(early);
    cr_assert_eq(r.status, 0, "gale list while the leader's session lived on: %s", r.err);
    cr_assert_not_null(strstr(r.out, "topology endless status=active workers=3 "), "%s", r.out);
    tl_result_free(&r);
    tl_cluster_wait_log(&c, 1, "leading (");
    double led = now_s() - t0;
    long at_lead = file_size(out);
    say("standby led after %.0f ms (2 s ZooKeeper session); the sink grew by %ld bytes meanwhile; gale list %s",
        led * 1000, at_lead - at_death,
        in_between ? "worked before it led, through it as a standby" : "came only after it led");
    cr_assert_lt(led, 30.0, "the standby took %.1f s to lead", led);
    cr_assert_gt(at_lead, at_death, "the sink did not grow while no nimbus led");

    /* The new leader knows the topology from ZooKeeper alone, found either way. */
    assert_listed(TL_VERB(&c, "list"), &c, "gale list --zk");
    assert_listed(TL_VERB_AT(&c, standby, "list"), &c, "gale list --nimbus");
    worker_pids(&c, after);
    cr_assert_eq(memcmp(before, after, sizeof before), 0, "a worker was started again across the failover");
    cr_assert(grows_past(out, file_size(out), 30), "the sink stopped growing after the failover");

    /* A kill through the standby given by its port. */
    r = TL_VERB_AT(&c, standby, "kill", "--wait", "2", "endless");
    assert_ok(r, &c, 1);
    cr_assert_str_eq(r.out, "killed endless\n");
    tl_result_free(&r);
    wait_no_workers(&c, 30);

    /* A supervisor with an empty cache gets a slot of the same topology again: its plugins come from the new
       leader, which was never sent them (they were put to the dead one) and has them through ZooKeeper. */
    char *late_data = tl_path("%s/late-data", c.dir), *probe = tl_path("%s/tests/plugins/e2e_probe.so", tl_build());
    char probe_sha[GALE_BLOB_HEX_LEN + 1];
    file_sha(probe, probe_sha);
    int late = tl_cluster_add_supervisor_with(&c, 1, 1, late_data);
    long resubmitted_at = file_size(out);
    r = TL_VERB(&c, "submit", "--set", "config.workers=4", "--set", set_out, cfg);
    assert_ok(r, &c, 1);
    cr_assert_not_null(strstr(r.out, "submitted endless version=1 workers=4 "), "%s", r.out);
    tl_result_free(&r);
    cr_assert_eq(count_workers(&c), 4);
    cr_assert_gt(tl_worker_pid(c.sup[late].pid, 0) + tl_worker_pid(c.sup[late].pid, 1) +
                     tl_worker_pid(c.sup[late].pid, 2) + tl_worker_pid(c.sup[late].pid, 3),
                 0, "the new supervisor runs no worker");
    cr_assert(gale_blob_has(late_data, probe_sha), "the new supervisor has no copy of e2e_probe.so");
    char *said = tl_daemon_log(&c.sup[late]), *fetching = tl_path("fetching it from nimbus at %s", standby);
    cr_assert_not_null(strstr(said, fetching), "%s", said);
    char *log = tl_cluster_nimbus_log(&c, 1), *stored = tl_path("stored blob %s", probe_sha);
    cr_assert_null(strstr(log, stored), "the plugin was put to the new leader again:\n%s", log);
    cr_assert(grows_past(out, resubmitted_at, 60), "nothing reached the sink after the new submit");
    r = TL_VERB(&c, "kill", "--wait", "2", "endless");
    assert_ok(r, &c, 1);
    tl_result_free(&r);
    wait_no_workers(&c, 30);
    free(cfg), free(out), free(set_out), free(late_data), free(probe), free(said), free(fetching), free(log);
    free(stored);
    tl_cluster_free(&c);
}

/* ---- a hung supervisor ---------------------------------------------------------------------------------------- */

/* The offsets of `pid`'s descriptors open on `path` (/proc/PID/fdinfo "pos:"), summed: with O_APPEND each moves
   only when that process writes. -1 when it has none open. */
static long write_offsets(pid_t pid, const char *path)
{
    char dir[64], want[PATH_MAX];
    if (!realpath(path, want)) return -1;
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    long sum = -1;
    for (struct dirent *e; d && (e = readdir(d));) {
        char link[PATH_MAX], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (strcmp(target, want)) continue;
        char *info_path = tl_path("/proc/%d/fdinfo/%s", (int)pid, e->d_name), *info = tl_read_file(info_path, NULL);
        const char *pos = info ? strstr(info, "pos:") : NULL;
        if (pos) sum = (sum < 0 ? 0 : sum) + atol(pos + 4);
        free(info), free(info_path);
    }
    if (d) closedir(d);
    return sum;
}

typedef struct hang_result {
    bool sink_open; /* the hung worker had the sink open (it ran a sink task) */
    bool wrote;     /* it wrote into the sink after SIGCONT */
    int writes;     /* how many times its offset in the sink moved, as seen every 5 ms */
    long grew;      /* the sink's growth from SIGCONT until it was gone (everyone's) */
} hang_result_t;

/* lines_sink over three supervisors of one slot; the one that runs slot 1 (not the spout's) is stopped with its
   worker, its slot moves and every word arrives; then it is resumed and must stop its old worker. What that
   worker did to the sink after SIGCONT goes into *res. */
static void hang_a_supervisor(hang_result_t *res)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 3, 1);
    char *lines = tl_path("%s/lines.txt", c.dir), *out = tl_path("%s/out.txt", c.dir);
    long counts[10];
    tl_make_lines(lines, counts);
    char *set_lines = tl_path("lines.path=%s", lines), *set_out = tl_path("sink.path=%s", out);
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=2", "--set", set_lines, "--set", set_out,
                            "tests/topologies/e2e/lines_sink.cfg");
    assert_ok(r, &c, 0);
    tl_result_free(&r);
    int victim = -1;
    for (int i = 0; i < 3; i++)
        if (tl_worker_pid(c.sup[i].pid, 1) > 0) victim = i;
    cr_assert_geq(victim, 0, "no supervisor runs slot 1");
    cr_assert(grows_past(out, 1000, 30), "the words do not flow");
    pid_t sup = c.sup[victim].pid, worker = tl_worker_pid(sup, 1);
    cr_assert_gt(worker, 0);
    cr_assert_eq(tl_worker_pid(sup, 0), 0, "the victim runs the spout's slot too");

    /* Hung: the supervisor first, so that it does not see its worker stop and start it again. */
    double t0 = now_s();
    cr_assert_eq(kill(sup, SIGSTOP), 0);
    cr_assert_eq(kill(worker, SIGSTOP), 0);
    tl_cluster_wait_log(&c, 0, "lines_sink: moved the slots of supervisors that left");
    double moved = now_s() - t0;
    int taker = -1;
    for (double end = now_s() + 60; taker < 0 && now_s() < end;) {
        for (int i = 0; i < 3; i++)
            if (i != victim && tl_worker_pid(c.sup[i].pid, 1) > 0) taker = i;
        if (taker < 0) tl_sleep_ms(10);
    }
    double running = now_s() - t0;
    cr_assert_geq(taker, 0, "no supervisor took slot 1 over");
    say("a hung supervisor's slot was moved after %.0f ms and ran elsewhere after %.0f ms (2 s session)", moved * 1000,
        running * 1000);
    cr_assert_lt(moved, 30.0);
    long seen = 0;
    int short_word = tl_words_arrive(out, counts, 90, &seen);
    cr_assert_eq(short_word, -1, "'%s' arrived %ld times of %ld", short_word >= 0 ? TL_VOCAB[short_word] : "", seen,
                 short_word >= 0 ? counts[short_word] : 0);
    say("every word arrived %.0f ms after the supervisor hung", (now_s() - t0) * 1000);
    /* The spout's worker was told that slot 1 runs under placement 2 now: the old copy is refused if it dials. */
    int spouts = -1;
    for (int i = 0; i < 3; i++)
        if (i != victim && tl_worker_pid(c.sup[i].pid, 0) > 0) spouts = i;
    cr_assert_geq(spouts, 0, "no supervisor runs slot 0");
    char *told = NULL;
    for (double end = now_s() + 30; now_s() < end; tl_sleep_ms(20)) {
        free(told);
        told = tl_daemon_log(&c.sup[spouts]);
        if (strstr(told, "worker 0: worker 1 was placed anew (placement 2)")) break;
    }
    cr_assert_not_null(strstr(told, "worker 0: worker 1 was placed anew (placement 2): its connections of placement 1 "
                                    "are refused from now on"),
                       "%s", told);
    free(told);

    /* Resumed: it learns that its session expired, registers again, finds slot 1 elsewhere and stops its worker. */
    long offsets = write_offsets(worker, out), size = file_size(out);
    res->sink_open = offsets >= 0;
    double t1 = now_s();
    cr_assert_eq(kill(sup, SIGCONT), 0);
    cr_assert_eq(kill(worker, SIGCONT), 0);
    for (double end = now_s() + 60; tl_alive(worker) && now_s() < end; tl_sleep_ms(5)) {
        long now = write_offsets(worker, out);
        if (now >= 0 && now != offsets) res->wrote = true, res->writes++, offsets = now;
    }
    double stopped = now_s() - t1;
    char *said = tl_daemon_log(&c.sup[victim]);
    cr_assert(!tl_alive(worker), "the resumed supervisor still runs its old worker after 60 s:\n%s", said);
    res->grew = file_size(out) - size;
    say("the resumed supervisor stopped the worker it no longer owns %.0f ms after SIGCONT", stopped * 1000);
    say("the resumed worker %s into the sink after SIGCONT (it %s the sink open; the sink grew %ld bytes meanwhile)",
        res->wrote ? "WROTE" : "wrote nothing", res->sink_open ? "had" : "did not have", res->grew);
    if (res->wrote) say("its offset in the sink moved %d time(s) after SIGCONT", res->writes);
    cr_assert_not_null(strstr(said, "in ZooKeeper again"), "%s", said);
    cr_assert_not_null(strstr(said, "lines_sink: its slots moved to other supervisors"), "%s", said);
    free(said);
    /* The supervisor's new node is in ZooKeeper; nimbus hears of it through its watch, a moment later. */
    char *joined = tl_path("supervisor %s joined", c.sup[victim].addr), *log = NULL;
    bool back = false;
    for (double end = now_s() + 30; !back && now_s() < end; tl_sleep_ms(back ? 0 : 20)) {
        free(log);
        log = tl_cluster_nimbus_log(&c, 0);
        const char *first = strstr(log, joined);
        back = first && strstr(first + 1, joined);
    }
    cr_assert(back, "nimbus did not see the supervisor come back in 30 s:\n%s", log);
    free(joined), free(log);
    cr_assert_eq(tl_worker_pid(sup, 1), 0, "the resumed supervisor started slot 1 again");

    r = TL_VERB(&c, "list");
    assert_ok(r, &c, 0);
    cr_assert_not_null(strstr(r.out, "topology lines_sink status=active workers=2 "), "%s", r.out);
    cr_assert_not_null(strstr(r.out, " version=2\n"), "%s", r.out);
    tl_result_free(&r);
    r = TL_VERB(&c, "kill", "--wait", "1", "lines_sink");
    assert_ok(r, &c, 0);
    tl_result_free(&r);
    wait_no_workers(&c, 30);
    free(lines), free(out), free(set_lines), free(set_out);
    tl_cluster_free(&c);
}

Test(failover, a_hung_supervisor_has_its_slot_moved_and_stops_its_old_worker_once_resumed)
{
    hang_result_t res = {0};
    hang_a_supervisor(&res);
}

/* What a worker whose supervisor lost its ZooKeeper session did after it was resumed: past its lease it takes no
   tuples, so that two copies of one task never both feed a sink (before fencing, it drained what it held into the
   sink when resumed: 16 KiB in one run). What no runtime can stop is the execute its sink task was in when SIGSTOP
   came (a plugin's own write): it ends when the process resumes, one write at most (its one sink task); a worker
   that went on taking tuples writes hundreds of times in the quarter second before it is stopped. */
Test(failover, a_resumed_worker_whose_slot_moved_feeds_no_sink)
{
    hang_result_t res = {0};
    hang_a_supervisor(&res);
    cr_assert(res.sink_open, "the hung worker ran no sink task: nothing to tell");
    cr_assert_leq(res.writes, 1,
                  "the resumed worker wrote into the sink %d times after its slot moved (the sink grew %ld bytes)",
                  res.writes, res.grew);
}
