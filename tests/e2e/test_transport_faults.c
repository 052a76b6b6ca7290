/*
 * The worker transport under hostile and oversized input, through the gale binary: a flood of unauthenticated
 * connections announcing 16 MiB frames costs a worker little memory and few log lines while its real peer's tuples
 * go on flowing, and a tuple over the frame limit between workers is failed alone, at its sender, without taking
 * the tuples batched with it down with the connection.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(transport_faults, .init = use_plugins, .timeout = 240);

/* The number after `"key": ` in the metrics of component `name` in a --stats document. */
static long figure(const char *doc, const char *name, const char *key)
{
    char want[96];
    snprintf(want, sizeof want, "{\"name\": \"%s\"", name);
    const char *at = strstr(doc, want);
    cr_assert_not_null(at, "no component %s in\n%s", name, doc);
    snprintf(want, sizeof want, "\"%s\": ", key);
    const char *v = strstr(at, want);
    cr_assert_not_null(v, "no %s for %s in\n%s", key, name, doc);
    return strtol(v + strlen(want), NULL, 10);
}

/* How many times the probe executed each n in 1..max (the "execute probe#T n" lines of its events file). */
static int *executions(const char *events_path, long max)
{
    int *seen = calloc((size_t)max + 1, sizeof *seen);
    char *text = tl_read_file(events_path, NULL);
    cr_assert_not_null(text, "no events from the probe");
    for (const char *p = text; (p = strstr(p, "execute ")); p++) {
        long n = -1;
        if (sscanf(p, "execute %*s %ld", &n) == 1 && n >= 1 && n <= max) seen[n]++;
    }
    free(text);
    return seen;
}

/* A connection to 127.0.0.1:port that sent `len` bytes of `bytes` (or as many as the other side took before it hung
   up, or before 2 s passed); -1 if it could not connect. Left open. */
static int connect_and_send(int port, const void *bytes, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, (const char *)bytes + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    return fd;
}

enum { FLOOD = 80, FLOOD_BYTES = 3 << 20 };

/* 80 connections that each announce a 16 MiB frame and send 3 MB of it took a worker from 12 MB to 1 GB before the
   handshake had a frame limit of its own (and left 632 MB held after they closed), with one log line each. */
Test(transport_faults, a_flood_of_unauthenticated_16_mib_frames_leaves_memory_and_the_log_bounded)
{
    char *dir = tl_tmpdir(), *events = tl_path("%s/events", dir), *stats = tl_path("%s/stats.json", dir);
    char *set_events = tl_path("probe.events=%s", events);
    enum { COUNT = 20000 };
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "--stats", stats, "--set", set_events,
                          "--set", "numbers.count=20000", "--set", "probe.delay_us=200",
                          "tests/topologies/e2e/numbers.cfg", NULL};
    pid_t sup = tl_spawn(argv, dir);
    cr_assert_gt(sup, 0);
    /* Worker 1 runs the probe and listens for worker 0; flood it once tuples flow. */
    pid_t w1 = 0;
    int port = tl_worker_port(sup, 1, 10, &w1);
    cr_assert_gt(port, 0, "worker 1's port not found");
    for (int i = 0; i < 1000; i++) {
        char *text = tl_read_file(events, NULL);
        bool flowing = text && strstr(text, "execute ");
        free(text);
        if (flowing) break;
        tl_sleep_ms(10);
    }
    long rss0 = tl_status_kb(w1, "VmRSS"), hwm0 = tl_status_kb(w1, "VmHWM");
    cr_assert_gt(rss0, 0);
    char *flood = calloc(1, FLOOD_BYTES);
    const unsigned char header[] = {0x01, 0x00, 0x00, 0x01, 3}; /* a TUPLES frame of 16 MiB, the frame limit */
    memcpy(flood, header, sizeof header);
    int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++) fds[i] = connect_and_send(port, flood, FLOOD_BYTES);
    long hwm1 = tl_status_kb(w1, "VmHWM");
    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(flood);
    tl_sleep_ms(300);
    long rss1 = tl_status_kb(w1, "VmRSS");
    cr_assert(tl_alive(w1), "worker 1 did not live through the flood");

    bool timed_out;
    int st = tl_wait(sup, 200, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out, "the run did not complete\n%s", err);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    cr_log_info("worker 1: VmRSS %ld -> %ld KiB, VmHWM %ld -> %ld KiB", rss0, rss1, hwm0, hwm1);
    cr_assert_lt(hwm1 - hwm0, 64 * 1024, "the flood took worker 1's peak RSS from %ld to %ld KiB", hwm0, hwm1);
    cr_assert_lt(rss1 - rss0, 64 * 1024, "worker 1 held %ld KiB after the flood, %ld before", rss1, rss0);
    cr_assert_not_null(strstr(err, "(0 restarts)"), "%s", err);
    /* Each connection refused with its reason, in a line per 10 s with a count: not a line each. */
    long lines, rejected = tl_rejected_in_log(err, &lines);
    cr_assert_geq(rejected, FLOOD, "%ld rejected connections logged\n%s", rejected, err);
    cr_assert_leq(lines, 4, "%ld log lines for %ld rejected connections\n%s", lines, rejected, err);
    cr_assert_not_null(strstr(err, "connections rejected in the last 10 s (last: from an unidentified client: a frame "
                                   "of 16777217 bytes before authentication"), "%s", err);
    /* The real peer's tuples: every one, once. */
    int *seen = executions(events, COUNT);
    for (long n = 1; n <= COUNT; n++) cr_assert_eq(seen[n], 1, "tuple %ld executed %d times\n%s", n, seen[n], err);
    char *doc = tl_read_file(stats, NULL);
    cr_assert_not_null(doc, "no metrics\n%s", err);
    cr_assert_eq(figure(doc, "numbers", "acked"), COUNT, "%s", doc);
    cr_assert_eq(figure(doc, "numbers", "failed"), 0, "%s", doc);
    free(doc), free(seen), free(err), free(err_path), free(set_events), free(events), free(stats);
    tl_rmtree(dir);
    free(dir);
}

/* 40 numbered tuples, every 10th of 17 MiB (over the 16 MiB frame limit), from worker 0 to a probe in worker 1; with
   `acking`, through managed replay (one retry) into a journal. Returns the run's stderr; *seen gets the probe's
   executions of 1..40 and *stats (when acking) the metrics. */
static char *run_big_tuples(bool acking, const char *dir, int **seen, char **stats_doc)
{
    char *events = tl_path("%s/events", dir), *stats = tl_path("%s/stats.json", dir);
    char *set_events = tl_path("probe.events=%s", events), *set_journal = tl_path("config.journal=%s/journal", dir);
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "--quiet", "--stats", stats, "--set", set_events,
                          "--set", set_journal, "--set", acking ? "config.ackers=1" : "config.ackers=0",
                          "--set", "numbers.count=40", "--set", "numbers.big_every=10",
                          "--set", "numbers.big=17825792", "tests/topologies/e2e/numbers.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 200, &r), 0);
    cr_assert_not(r.timed_out, "the run did not complete\n%s", r.err);
    /* README, "The gale command": a run that ends exits 0, whatever its tuples did. */
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    *seen = executions(events, 40);
    *stats_doc = tl_read_file(stats, NULL);
    char *err = r.err;
    r.err = NULL;
    tl_result_free(&r);
    free(events), free(stats), free(set_events), free(set_journal);
    return err;
}

static void check_normal_tuples_arrived_once(const int *seen, const char *err)
{
    for (long n = 1; n <= 40; n++) {
        if (n % 10 == 0) cr_assert_eq(seen[n], 0, "big tuple %ld reached the probe\n%s", n, err);
        else cr_assert_eq(seen[n], 1, "tuple %ld executed %d times\n%s", n, seen[n], err);
    }
    /* The connection between the workers never carried a frame over the limit, so it was never dropped. */
    cr_assert_null(strstr(err, "frame over the size limit"), "%s", err);
    cr_assert_not_null(strstr(err, "[numbers#1] a tuple of 17825"), "no error line names the sender\n%s", err);
    cr_assert_not_null(strstr(err, "over the frame limit of 16777216 bytes"), "%s", err);
}

Test(transport_faults, a_tuple_over_the_frame_limit_fails_alone_and_its_tree_replays_into_the_journal)
{
    char *dir = tl_tmpdir(), *doc;
    int *seen;
    char *err = run_big_tuples(true, dir, &seen, &doc);
    check_normal_tuples_arrived_once(seen, err);
    cr_assert_not_null(doc, "no metrics\n%s", err);
    cr_assert_eq(figure(doc, "numbers", "acked"), 36, "%s", doc);
    cr_assert_eq(figure(doc, "numbers", "failed"), 4, "%s", doc);
    cr_assert_eq(figure(doc, "probe", "executed"), 36, "%s", doc);
    cr_assert_not_null(strstr(err, "its tree fails"), "%s", err);
    /* Failed by their sender, tried twice (max_retries = 1), then journaled. */
    char *journal = tl_path("%s/journal", dir);
    const char *argv[] = {tl_gale(), "journal", "ls", journal, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (int n = 10; n <= 40; n += 10) {
        char want[96];
        snprintf(want, sizeof want, " %d  fail     numbers#1               2\n", n);
        cr_assert_not_null(strstr(r.out, want), "no journal record of tuple %d\n%s", n, r.out);
    }
    tl_result_free(&r);
    free(journal), free(doc), free(seen), free(err);
    tl_rmtree(dir);
    free(dir);
}

Test(transport_faults, without_acking_a_tuple_over_the_frame_limit_is_dropped_alone_with_an_error)
{
    char *dir = tl_tmpdir(), *doc;
    int *seen;
    char *err = run_big_tuples(false, dir, &seen, &doc);
    check_normal_tuples_arrived_once(seen, err);
    cr_assert_not_null(strstr(err, "between workers: dropped (4 so far)"), "%s", err);
    cr_assert_not_null(doc, "no metrics\n%s", err);
    cr_assert_eq(figure(doc, "probe", "executed"), 36, "%s", doc);
    free(doc), free(seen), free(err);
    tl_rmtree(dir);
    free(dir);
}

/* Tuples each under the frame limit but over it together (6 MiB each, emitted back to back) must go in frames of
   their own, not in one the peer refuses: every one arrives, and the connection stays up. */
Test(transport_faults, tuples_under_the_frame_limit_that_exceed_it_together_all_cross)
{
    char *dir = tl_tmpdir(), *events = tl_path("%s/events", dir), *stats = tl_path("%s/stats.json", dir);
    char *set_events = tl_path("probe.events=%s", events);
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "--quiet", "--stats", stats, "--set", set_events,
                          "--set", "numbers.count=12", "--set", "numbers.big_every=1", "--set", "numbers.big=6291456",
                          "tests/topologies/e2e/numbers.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 200, &r), 0);
    cr_assert_not(r.timed_out, "the run did not complete\n%s", r.err);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_null(strstr(r.err, "frame over the size limit"), "%s", r.err);
    int *seen = executions(events, 12);
    for (long n = 1; n <= 12; n++) cr_assert_eq(seen[n], 1, "tuple %ld executed %d times\n%s", n, seen[n], r.err);
    char *doc = tl_read_file(stats, NULL);
    cr_assert_not_null(doc, "no metrics\n%s", r.err);
    cr_assert_eq(figure(doc, "numbers", "acked"), 12, "%s", doc);
    free(doc), free(seen);
    tl_result_free(&r);
    free(set_events), free(events), free(stats);
    tl_rmtree(dir);
    free(dir);
}
