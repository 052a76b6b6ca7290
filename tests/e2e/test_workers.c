/*
 * Worker mode through the gale binary: a topology across processes survives workers killed with SIGKILL and
 * workers that crash, loses nothing it acked, and leaves no process behind, however the supervisor ends.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(workers, .init = use_plugins, .timeout = 180);

static void check_words(const char *out, const long counts[10])
{
    long seen = 0;
    int k = tl_words_short(out, counts, &seen);
    cr_assert_eq(k, -1, "'%s' reached the sink %ld times, the input has it %ld times", k >= 0 ? TL_VOCAB[k] : "",
                 seen, k >= 0 ? counts[k] : 0);
}

static long count_of(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

Test(workers, a_worker_killed_twice_midrun_loses_nothing_acked)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *sink = tl_path("%s/sink.jsonl", dir);
    long counts[10];
    tl_make_lines(in, counts);
    char *set_sink = tl_path("sink.path=%s", sink), *set_in = tl_path("lines.path=%s", in);
    const char *argv[] = {tl_gale(), "run", "--workers", "3", "--set", set_in, "--set", set_sink,
                          "tests/topologies/e2e/lines_sink.cfg", NULL};
    pid_t sup = tl_spawn(argv, dir);
    cr_assert_gt(sup, 0);
    /* The spout is task 1, in worker 0: kill worker 1, let it come back, then kill it again. */
    pid_t victims[2] = {0, 0};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 400 && !(victims[round] = tl_worker_pid(sup, 1)); i++) tl_sleep_ms(10);
        cr_assert_gt(victims[round], 0, "worker 1 not found");
        cr_assert(round == 0 || victims[1] != victims[0], "the same process twice");
        tl_sleep_ms(700);
        kill(victims[round], SIGKILL);
        for (int i = 0; i < 300 && tl_alive(victims[round]); i++) tl_sleep_ms(10);
    }
    bool timed_out;
    int st = tl_wait(sup, 150, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out, "the run did not complete\n%s", err);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    cr_assert_eq(count_of(err, "worker 1 was killed by signal 9: restarting it"), 2, "%s", err);
    cr_assert_not_null(strstr(err, "(2 restarts)"), "%s", err);
    /* Every line acked: the spout's worker lived through it all, so its figure is whole. */
    const char *row = strstr(err, "\nlines ");
    cr_assert_not_null(row, "%s", err);
    long tasks, emitted, executed, rate, acked;
    cr_assert_eq(sscanf(row + 1, "lines spout %ld %ld %ld %ld %*s %*s %ld", &tasks, &emitted, &executed, &rate, &acked), 5);
    cr_assert_eq(acked, 3000, "%ld of 3000 lines acked\n%s", acked, err);
    char *out = tl_read_file(sink, NULL);
    cr_assert_not_null(out);
    check_words(out, counts);
    free(out), free(err), free(err_path), free(set_sink), free(set_in), free(sink), free(in);
    tl_rmtree(dir);
    free(dir);
}

Test(workers, chaos_crash_after_restarts_a_worker_by_itself)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *sink = tl_path("%s/sink.jsonl", dir);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 100; i++) fprintf(f, "line %d\n", i);
    fclose(f);
    char *set_sink = tl_path("sink.path=%s", sink), *set_in = tl_path("lines.path=%s", in);
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "--threads", "1", "--set", set_in, "--set", set_sink,
                          "tests/topologies/e2e/crash_one.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 150, &r), 0);
    cr_assert_not(r.timed_out, "%s", r.err);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "chaos: crashing the process after 60 inputs"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "worker 1 was killed by signal 6: restarting it"), "%s", r.err);
    char *out = tl_read_file(sink, NULL);
    cr_assert_not_null(out);
    for (int i = 0; i < 100; i++) { /* every line reached the sink, some perhaps twice: at least once */
        char want[64];
        snprintf(want, sizeof want, "{\"line\": \"line %d\"}\n", i);
        cr_assert_not_null(strstr(out, want), "line %d never reached the sink\n%s", i, r.err);
    }
    const char *row = strstr(r.err, "\nlines ");
    long tasks, emitted, executed, rate, acked;
    cr_assert(row && sscanf(row + 1, "lines spout %ld %ld %ld %ld %*s %*s %ld", &tasks, &emitted, &executed, &rate, &acked) == 5);
    cr_assert_eq(acked, 100, "%s", r.err);
    free(out);
    tl_result_free(&r);
    free(set_sink), free(set_in), free(sink), free(in);
    tl_rmtree(dir);
    free(dir);
}

Test(workers, no_worker_outlives_a_supervisor_killed_with_sigkill)
{
    char *dir = tl_tmpdir();
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "tests/topologies/e2e/slow.cfg", NULL};
    pid_t sup = tl_spawn(argv, dir);
    pid_t w[2] = {0, 0};
    for (int i = 0; i < 500 && !(w[0] && w[1]); i++) {
        if (!w[0]) w[0] = tl_worker_pid(sup, 0);
        if (!w[1]) w[1] = tl_worker_pid(sup, 1);
        tl_sleep_ms(10);
    }
    cr_assert(w[0] && w[1], "workers not found");
    tl_sleep_ms(300);
    kill(sup, SIGKILL);
    bool timed_out;
    tl_wait(sup, 10, &timed_out);
    for (int i = 0; i < 500 && (tl_alive(w[0]) || tl_alive(w[1])); i++) tl_sleep_ms(10);
    cr_assert_not(tl_alive(w[0]), "worker 0 outlived its supervisor");
    cr_assert_not(tl_alive(w[1]), "worker 1 outlived its supervisor");
    tl_rmtree(dir);
    free(dir);
}

Test(workers, sigterm_stops_every_worker_and_exits_zero)
{
    char *dir = tl_tmpdir();
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "tests/topologies/e2e/slow.cfg", NULL};
    pid_t sup = tl_spawn(argv, dir);
    pid_t w0 = 0;
    for (int i = 0; i < 500 && !(w0 = tl_worker_pid(sup, 0)); i++) tl_sleep_ms(10);
    tl_sleep_ms(500);
    kill(sup, SIGTERM);
    bool timed_out;
    int st = tl_wait(sup, 30, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out, "%s", err);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    cr_assert_not_null(strstr(err, "topology 'slow' ran"), "%s", err);
    cr_assert_not(tl_alive(w0));
    free(err), free(err_path);
    tl_rmtree(dir);
    free(dir);
}

/* Connects to 127.0.0.1:port, sends `len` bytes, and hangs up. */
static void throw_bytes(int port, const void *bytes, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        ssize_t w = send(fd, bytes, len, MSG_NOSIGNAL);
        (void)w;
        tl_sleep_ms(20);
    }
    close(fd);
}

Test(workers, a_worker_under_fuzz_keeps_serving_its_authenticated_peers)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *sink = tl_path("%s/sink.jsonl", dir);
    long counts[10];
    tl_make_lines(in, counts);
    char *set_sink = tl_path("sink.path=%s", sink), *set_in = tl_path("lines.path=%s", in);
    const char *argv[] = {tl_gale(), "run", "--workers", "2", "--set", set_in, "--set", set_sink,
                          "tests/topologies/e2e/lines_sink.cfg", NULL};
    pid_t sup = tl_spawn(argv, dir);
    pid_t w1 = 0;
    int port = tl_worker_port(sup, 1, 5, &w1);
    cr_assert_gt(port, 0, "worker 1's port not found");
    uint64_t x = 1;
    char junk[600];
    for (int round = 0; round < 40; round++) {
        size_t n = 1 + (size_t)(round * 37 % (int)sizeof junk);
        for (size_t k = 0; k < n; k++) junk[k] = (char)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
        throw_bytes(port, junk, n);                                      /* garbage */
        const unsigned char big[] = {0xff, 0xff, 0xff, 0x7f, 3};         /* a 2 GiB frame */
        throw_bytes(port, big, sizeof big);
        /* HELLO (wire version 5) as worker 1, then a forged AUTH */
        unsigned char hello[5 + 48] = {49, 0, 0, 0, 1, 5, 0, 0, 0, 1, 0, 0, 0};
        throw_bytes(port, hello, sizeof hello - (size_t)(round % 7));     /* some of them truncated */
        unsigned char forged[5 + 48 + 5 + 32] = {49, 0, 0, 0, 1, 5, 0, 0, 0, 1, 0, 0, 0};
        forged[53] = 33, forged[57] = 2;
        throw_bytes(port, forged, sizeof forged);
    }
    bool timed_out;
    int st = tl_wait(sup, 150, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir);
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out, "%s", err);
    cr_assert_eq(st, 0, "exit %d\n%s", st, err);
    cr_assert_not_null(strstr(err, "(0 restarts)"), "the worker did not survive the fuzzing\n%s", err);
    /* Refused with a reason each, logged one line per 10 s with a count: 160 lines would drown the log. */
    long lines, rejected = tl_rejected_in_log(err, &lines);
    cr_assert_gt(rejected, 40, "bad connections were not refused\n%s", err);
    cr_assert_leq(lines, 10, "%ld log lines for %ld rejected connections\n%s", lines, rejected, err);
    const char *row = strstr(err, "\nlines ");
    long tasks, emitted, executed, rate, acked;
    cr_assert(row && sscanf(row + 1, "lines spout %ld %ld %ld %ld %*s %*s %ld", &tasks, &emitted, &executed, &rate, &acked) == 5);
    cr_assert_eq(acked, 3000, "%s", err);
    char *out = tl_read_file(sink, NULL);
    check_words(out, counts);
    free(out), free(err), free(err_path), free(set_sink), free(set_in), free(sink), free(in);
    tl_rmtree(dir);
    free(dir);
}

/* Runs `gale run --workers 2 --quiet --stats F ARGS...` to its end and returns F's text (the caller frees it). */
static char *stats_of_run(const char *const *args, size_t n_args)
{
    char *dir = tl_tmpdir(), *stats = tl_path("%s/stats.json", dir);
    const char *argv[24] = {tl_gale(), "run", "--workers", "2", "--quiet", "--stats", stats};
    size_t a = 7;
    for (size_t i = 0; i < n_args && a < 23; i++) argv[a++] = args[i];
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    char *doc = tl_read_file(stats, NULL);
    cr_assert_not_null(doc, "no metrics\n%s", r.err);
    tl_result_free(&r), free(stats);
    tl_rmtree(dir);
    free(dir);
    return doc;
}

/* The number after `"key": ` in a metrics document (from `from` on). */
static long field_of(const char *doc, const char *from, const char *key)
{
    long n = tl_json_number(from, key);
    cr_assert_geq(n, 0, "no %s in\n%s", key, doc);
    return n;
}

/* Executor threads of both workers, from the metrics of a run of wordcount_file.cfg with one more option. */
static long threads_of_run(const char *opt, const char *value)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir);
    long counts[10];
    tl_make_lines(in, counts);
    char *set_in = tl_path("lines.path=%s", in), *set_out = tl_path("sink.path=%s/out.jsonl", dir);
    const char *args[7] = {"--set", set_in, "--set", set_out};
    size_t n = 4;
    if (opt) args[n++] = opt, args[n++] = value;
    args[n++] = "topologies/wordcount_file.cfg";
    char *doc = stats_of_run(args, n);
    long threads = field_of(doc, doc, "threads");
    free(doc), free(set_in), free(set_out), free(in);
    tl_rmtree(dir);
    free(dir);
    return threads;
}

Test(workers, workers_share_the_hosts_cores_unless_told_otherwise)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN), each = cores / 2 > 1 ? cores / 2 : 1;
    cr_assert_eq(threads_of_run(NULL, NULL), 2 * each, "two workers on %ld cores", cores);
    cr_assert_eq(threads_of_run("--threads", "3"), 6, "--threads is per worker");
    cr_assert_eq(threads_of_run("--set", "config.threads=2"), 4, "config.threads is per worker");
}

/* Random sentences at full speed with acking off, the words split across two workers: each sentence a worker
   receives becomes six words for the other, so unless a worker whose bolts fall behind holds its peers' spouts
   (and stops reading as soon as it has enough), the queues between them grow without bound: 1.1 GB in 3 s before
   backpressure crossed workers, and 193-358 MB while a worker still took in 8192 entries and 1 MiB frames before
   it stopped reading: 37-78 MB since on a quiet machine, and up to 173 MB once while the other tests of the suite
   ran beside it (what is in flight when the spouts stop grows with how late the receiving worker is scheduled). */
Test(workers, memory_stays_bounded_without_acking_when_a_worker_falls_behind)
{
    const char *args[] = {"--duration", "3", "--set", "config.ackers=0", "topologies/wordcount.cfg"};
    char *doc = stats_of_run(args, 5);
    long kb = field_of(doc, doc, "peak_rss_kb");
    /* Summed over both workers; the sanitizers' own bookkeeping (ASan's quarantine) costs hundreds of MiB more. */
    long limit_mb = getenv("SANITIZE") && *getenv("SANITIZE") ? 1536 : 256;
    cr_assert_lt(kb, limit_mb * 1024, "peak RSS of the workers %ld KiB", kb);
    free(doc);
}

/* slow.cfg puts its spout in worker 0 and its bolt in worker 1: every tuple crosses, and so must the latency
   markers, or the bolt has no end-to-end figure. */
Test(workers, latency_markers_cross_workers_of_one_host)
{
    const char *args[] = {"--duration", "2", "tests/topologies/e2e/slow.cfg"};
    char *doc = stats_of_run(args, 3);
    const char *slow = strstr(doc, "{\"name\": \"slow\"");
    cr_assert_not_null(slow, "%s", doc);
    const char *e2e = strstr(slow, "\"e2e_ms_p50\": ");
    cr_assert_not_null(e2e, "%s", doc);
    cr_assert_neq(strncmp(e2e + strlen("\"e2e_ms_p50\": "), "null", 4), 0, "no marker reached the bolt\n%s", doc);
    free(doc);
}
