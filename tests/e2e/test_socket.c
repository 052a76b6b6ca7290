/*
 * The socket spout through the gale binary: lines over TCP to a listening spout, length-prefixed records over a
 * Unix socket with one over the limit, a spout that connects to the test, a peer that cannot be reached (an error,
 * or with retry a connection once it comes up), bad settings, backpressure (a slow topology stops the spout
 * reading, so the sender's writes stop: bounded memory), and the shipped socket_wordcount.cfg.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testlib.h"

TestSuite(socket, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 120);

/* socket -> file_sink, in `dir` (its journal: DIR/failed.journal), with the spout's settings `spout` (libconfig,
   inside settings = { ... }). */
static char *write_cfg(const char *dir, const char *spout, const char *bolts_before_sink)
{
    char *cfg = tl_path("%s/sock.cfg", dir);
    char *text = tl_path(
        "name = \"sock\";\nconfig = { ackers = 1; max_spout_pending = 1000; journal = \"%s/failed.journal\"; };\n"
        "spouts = ( { name = \"in\"; plugin = \"socket\"; settings = { %s }; } );\n"
        "bolts = ( %s{ name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/out.jsonl\"; };"
        " inputs = ( { from = \"%s\"; grouping = \"shuffle\"; } ); } );\n",
        dir, spout, bolts_before_sink ? bolts_before_sink : "", dir, bolts_before_sink ? "slow" : "in");
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

static pid_t run(const char *dir, const char *cfg)
{
    char *stats = tl_path("%s/stats.json", dir);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", stats, cfg, NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert(pid > 0);
    tl_remember(pid);
    free(stats);
    return pid;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        cr_assert(w > 0, "write: %s", strerror(errno));
        p += w, n -= (size_t)w;
    }
}

static int tcp_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

/* A TCP socket bound to an ephemeral port of 127.0.0.1 (not listening yet): its fd, and the port in *port. */
static int bound_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The TCP port the run's listening spout took (it listens on port 0), once it listens (bounded); asserts. */
static int spout_port(pid_t pid)
{
    int port = 0;
    for (double until = tl_now_s() + 20; !port && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(20))
        port = tl_listening_port(pid);
    cr_assert(port > 0, "the spout never listened");
    return port;
}

/* The run ended with status 0; its log on failure. */
static void wait_ok(const char *dir, pid_t pid)
{
    bool late;
    int st = tl_wait(pid, 60, &late);
    char *err = tl_path("%s/err.txt", dir), *log = tl_read_file(err, NULL);
    cr_assert_eq(st, 0, "gale run ended with %d%s\n%s", st, late ? " (timed out)" : "", log);
    free(err), free(log);
}

/* The sink's lines, each {"line": "..."}, against "r0".."r(n-1)" in order. */
static void assert_lines(const char *dir, long n)
{
    char *out = tl_path("%s/out.jsonl", dir), *text = tl_read_file(out, NULL);
    cr_assert_not_null(text, "no output");
    long i = 0;
    for (char *p = text, *nl; *p && (nl = strchr(p, '\n')); p = nl + 1, i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"line\": \"r%ld\"}", i);
        cr_assert(!strncmp(p, want, strlen(want)) && p[strlen(want)] == '\n', "line %ld: %.40s (want %s)", i, p, want);
    }
    cr_assert_eq(i, n, "%ld lines, %ld sent", i, n);
    free(out), free(text);
}

Test(socket, lines_over_tcp_to_a_listening_spout_arrive_each_once_in_order)
{
    char *dir = tl_tmpdir(), *cfg = write_cfg(dir, "listen = \"127.0.0.1:0\"; done_on_close = true;", NULL);
    pid_t pid = run(dir, cfg);
    int port = spout_port(pid);
    int fd = tcp_to(port);
    const long n = 100000;
    char *buf = malloc(16 * (size_t)n), *p = buf;
    for (long i = 0; i < n; i++) p += sprintf(p, i % 2 ? "r%ld\r\n" : "r%ld\n", i); /* \r\n ends a line too */
    send_all(fd, buf, (size_t)(p - buf));
    close(fd);
    wait_ok(dir, pid);
    assert_lines(dir, n);
    char *stats = tl_path("%s/stats.json", dir), *doc = tl_read_file(stats, NULL);
    cr_assert(doc && strstr(doc, "\"name\": \"in\""), "%s", doc);
    cr_assert_eq(tl_json_number(strstr(doc, "\"name\": \"in\""), "acked"), n, "%s", doc);
    cr_assert_eq(tl_json_number(strstr(doc, "\"name\": \"in\""), "errors"), 0, "%s", doc);
    free(buf), free(stats), free(doc), free(cfg);
    tl_rmtree(dir);
    free(dir);
}

/* The journal in `dir` holds exactly `n` records, each a rejected nil value, and `says` is in one's error. */
static void assert_rejected(const char *dir, long n, const char *says)
{
    char *journal = tl_path("%s/failed.journal", dir);
    long got;
    char *lines = tl_journal_json(journal, NULL, &got);
    cr_assert_eq(got, n, "%s", lines);
    long rejected = 0;
    for (const char *p = lines; (p = strstr(p, "\"values\": [null], \"cause\": \"rejected\"")); p++) rejected++;
    cr_assert_eq(rejected, n, "%s", lines);
    cr_assert_not_null(strstr(lines, says), "'%s' not in:\n%s", says, lines);
    free(journal), free(lines);
}

Test(socket, length_prefixed_records_over_a_unix_socket_and_one_too_large_is_dropped_and_journaled)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/feed.sock", dir);
    char *settings =
        tl_path("listen = \"unix:%s\"; framing = \"length\"; max_record_kb = 1; done_on_close = true;", path);
    char *cfg = write_cfg(dir, settings, NULL);
    pid_t pid = run(dir, cfg);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    bool connected = false;
    for (double until = tl_now_s() + 20; !connected && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(20))
        connected = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    cr_assert(connected, "the spout never listened on %s", path);
    /* r0, then 2000 bytes (over 1 KiB), then r1, each as a 4-byte big-endian length and its bytes */
    static char big[2000];
    memset(big, 'x', sizeof big);
    const char *records[] = {"r0", big, "r1"};
    size_t lens[] = {2, sizeof big, 2};
    for (int i = 0; i < 3; i++) {
        unsigned char len[4] = {0, 0, (unsigned char)(lens[i] >> 8), (unsigned char)lens[i]};
        send_all(fd, (const char *)len, 4);
        send_all(fd, records[i], lens[i]);
    }
    close(fd);
    wait_ok(dir, pid);
    /* bytes are written as base64 by the sink: "r0" is "cjA=", "r1" is "cjE=" */
    char *out = tl_path("%s/out.jsonl", dir), *text = tl_read_file(out, NULL);
    cr_assert(text && !strcmp(text, "{\"line\": \"cjA=\"}\n{\"line\": \"cjE=\"}\n"), "%s", text);
    char *err = tl_path("%s/err.txt", dir), *log = tl_read_file(err, NULL);
    cr_assert(log && strstr(log, "a record of 2000 bytes from unix:"), "%s", log);
    cr_assert(strstr(log, "is over max_record_kb (1): dropped"), "%s", log);
    char *stats = tl_path("%s/stats.json", dir), *doc = tl_read_file(stats, NULL);
    cr_assert(doc && strstr(doc, "{\"name\": \"records_too_large\", \"type\": \"counter\", \"value\": 1}"), "%s", doc);
    cr_assert_eq(tl_json_number(strstr(doc, "\"name\": \"in\""), "failed"), 1, "%s", doc);
    assert_rejected(dir, 1, "\"error\": \"a record of 2000 bytes from unix:");
    free(out), free(text), free(err), free(log), free(stats), free(doc), free(cfg), free(settings), free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(socket, a_line_over_the_limit_is_dropped_and_journaled_whether_or_not_its_end_came_with_it)
{
    char *dir = tl_tmpdir();
    char *cfg = write_cfg(dir, "listen = \"127.0.0.1:0\"; max_record_kb = 1; done_on_close = true;", NULL);
    pid_t pid = run(dir, cfg);
    int fd = tcp_to(spout_port(pid));
    static char feed[200000];
    size_t n = (size_t)sprintf(feed, "r0\n");
    memset(feed + n, 'x', 2000), n += 2000, feed[n++] = '\n'; /* its end in the same write */
    n += (size_t)sprintf(feed + n, "r1\n");
    memset(feed + n, 'y', 150000), n += 150000, feed[n++] = '\n'; /* longer than a read */
    n += (size_t)sprintf(feed + n, "r2\n");
    send_all(fd, feed, n);
    close(fd);
    wait_ok(dir, pid);
    assert_lines(dir, 3);
    char *err = tl_path("%s/err.txt", dir), *log = tl_read_file(err, NULL);
    cr_assert(log && strstr(log, "a line of 2000 bytes from 127.0.0.1:0 is over max_record_kb (1): dropped"), "%s",
              log);
    cr_assert(strstr(log, "with no end in sight: dropped"), "%s", log);
    assert_rejected(dir, 2,
                    "\"error\": \"a line from 127.0.0.1:0 is over max_record_kb (1) with no end in sight: dropped\"");
    free(err), free(log), free(cfg);
    tl_rmtree(dir);
    free(dir);
}

Test(socket, a_spout_that_connects_reads_what_the_peer_sends)
{
    int port, lfd = bound_socket(&port);
    cr_assert_eq(listen(lfd, 1), 0);
    char *dir = tl_tmpdir();
    char *settings = tl_path("connect = \"127.0.0.1:%d\"; done_on_close = true;", port);
    char *cfg = write_cfg(dir, settings, NULL);
    pid_t pid = run(dir, cfg);
    int fd = accept(lfd, NULL, NULL);
    cr_assert(fd >= 0);
    char buf[64];
    for (int i = 0; i < 3; i++) {
        int n = snprintf(buf, sizeof buf, "r%d\n", i);
        send_all(fd, buf, (size_t)n);
    }
    close(fd);
    wait_ok(dir, pid);
    assert_lines(dir, 3);
    close(lfd);
    free(cfg), free(settings);
    tl_rmtree(dir);
    free(dir);
}

Test(socket, a_peer_that_cannot_be_reached_is_an_error_at_open_naming_it)
{
    int port;
    close(bound_socket(&port)); /* a port that was free a moment ago, closed again: refused */
    char *dir = tl_tmpdir();
    char *settings = tl_path("connect = \"127.0.0.1:%d\";", port);
    char *cfg = write_cfg(dir, settings, NULL);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_neq(r.status, 0);
    char want[96];
    snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d: Connection refused", port);
    cr_assert(strstr(r.err, want), "%s", r.err);
    tl_result_free(&r);
    const char *bad[][2] = {
        {"listen = \"127.0.0.1:0\"; connect = \"127.0.0.1:1\";", "give one of the settings"},
        {"listen = \"nowhere\";", "\"nowhere\": not HOST:PORT or unix:PATH"},
        {"listen = \"127.0.0.1:0\"; framing = \"csv\";", "framing \"csv\": \"line\" or \"length\""}};
    for (int i = 0; i < 3; i++) {
        char *c = write_cfg(dir, bad[i][0], NULL);
        const char *av[] = {tl_gale(), "run", "--quiet", c, NULL};
        cr_assert_eq(tl_run(av, NULL, 60, &r), 0);
        cr_assert_neq(r.status, 0, "%s", bad[i][0]);
        cr_assert(strstr(r.err, bad[i][1]), "%s\n%s", bad[i][0], r.err);
        tl_result_free(&r);
        free(c);
    }
    free(cfg), free(settings);
    tl_rmtree(dir);
    free(dir);
}

Test(socket, with_retry_a_peer_that_comes_up_later_is_connected_to)
{
    int port, lfd = bound_socket(&port); /* bound, not listening yet: a connect is refused */
    char *dir = tl_tmpdir();
    char *settings = tl_path("connect = \"127.0.0.1:%d\"; retry = true; done_on_close = true;", port);
    char *cfg = write_cfg(dir, settings, NULL);
    pid_t pid = run(dir, cfg);
    char *err = tl_path("%s/err.txt", dir), *log = NULL;
    for (double until = tl_now_s() + 20; tl_now_s() < until; tl_sleep_ms(20)) {
        free(log);
        log = tl_read_file(err, NULL);
        if (log && strstr(log, "retrying in the background")) break;
    }
    cr_assert(log && strstr(log, "Connection refused; retrying in the background"), "%s", log);
    cr_assert_eq(listen(lfd, 1), 0);
    int fd = accept(lfd, NULL, NULL);
    cr_assert(fd >= 0);
    send_all(fd, "r0\nr1\n", 6);
    close(fd);
    wait_ok(dir, pid);
    assert_lines(dir, 2);
    close(lfd);
    free(err), free(log), free(cfg), free(settings);
    tl_rmtree(dir);
    free(dir);
}

/* A topology slower than the feed: the spout's buffer fills, it stops reading, and the sender's writes stop once the
   kernel's buffers are full too, far short of what it offers. */
Test(socket, a_slow_topology_stops_the_spout_reading_so_the_sender_is_pushed_back)
{
    char *dir = tl_tmpdir();
    char *cfg = write_cfg(dir, "listen = \"127.0.0.1:0\"; buffer_kb = 64;",
                          "{ name = \"slow\"; plugin = \"chaos\"; settings = { delay_ms = 1; };"
                          " inputs = ( { from = \"in\"; grouping = \"shuffle\"; } ); },");
    pid_t pid = run(dir, cfg);
    int port = spout_port(pid);
    int fd = tcp_to(port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    static char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i += 64) {
        memset(chunk + i, 'w', 63);
        chunk[i + 63] = '\n';
    }
    const size_t offered = 256u << 20; /* 256 MiB: 4 M lines, more than a 1 ms bolt takes in a minute */
    size_t written = 0;
    double quiet_since = tl_now_s();
    while (written < offered && tl_now_s() - quiet_since < 2) { /* until the writes stop for 2 s */
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w > 0) written += (size_t)w, quiet_since = tl_now_s();
        else tl_sleep_ms(5);
    }
    long rss = tl_status_kb(pid, "VmHWM");
    cr_log_info("the sender wrote %zu KiB of %zu before it was held back; gale's peak RSS %ld kB", written >> 10,
                offered >> 10, rss);
    cr_assert_lt(written, 64u << 20, "the spout read without bound: %zu bytes taken", written);
    cr_assert_lt(rss, 64 * 1024, "gale grew to %ld kB", rss);
    close(fd);
    kill(pid, SIGINT);
    bool late;
    tl_wait(pid, 30, &late);
    free(cfg);
    tl_rmtree(dir);
    free(dir);
}

static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines of `text` sorted, as one string (the tasks' outputs interleave in any order); malloc'd. */
static char *sorted_lines(char *text)
{
    char *lines[4096], *save = NULL;
    size_t n = 0;
    for (char *l = strtok_r(text, "\n", &save); l && n < 4096; l = strtok_r(NULL, "\n", &save)) lines[n++] = l;
    qsort(lines, n, sizeof *lines, by_text);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
    fclose(f);
    return out;
}

/* The shipped socket_wordcount.cfg counts what a feed sends as wordcount_file.cfg counts the same file. */
Test(socket, the_shipped_socket_wordcount_counts_a_feed_as_the_file_word_count_does)
{
    char *dir = tl_tmpdir(), *want = tl_path("%s/want.jsonl", dir), *got = tl_path("%s/got.jsonl", dir);
    char *sink_want = tl_path("sink.path=%s", want), *sink_got = tl_path("sink.path=%s", got);
    const char *file_run[] = {tl_gale(), "run", "--quiet", "--set", sink_want, "topologies/wordcount_file.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(file_run, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    const char *argv[] = {tl_gale(),
                          "run",
                          "--quiet",
                          "--set",
                          "lines.listen=\"127.0.0.1:0\"",
                          "--set",
                          sink_got,
                          "topologies/socket_wordcount.cfg",
                          NULL};
    pid_t pid = tl_spawn(argv, dir);
    tl_remember(pid);
    int port = spout_port(pid);
    size_t len;
    char *text = tl_read_file("topologies/data/sample.txt", &len);
    cr_assert_not_null(text);
    int fd = tcp_to(port);
    send_all(fd, text, len);
    close(fd);
    wait_ok(dir, pid);
    char *ta = tl_read_file(want, NULL), *tb = tl_read_file(got, NULL);
    cr_assert(ta && *ta && tb, "no output");
    char *a = sorted_lines(ta), *b = sorted_lines(tb);
    cr_assert_str_eq(a, b, "the socket's counts differ from the file's");
    free(a), free(b), free(ta), free(tb), free(text), free(want), free(got), free(sink_want), free(sink_got);
    tl_rmtree(dir);
    free(dir);
}
