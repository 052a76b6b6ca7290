/*
 * `gale monitor` end to end: against a `gale run --http` of held.cfg with an unbounded spout, a header and a line
 * per component every interval, with rates that grow from nothing; `--component` keeps one; bad URLs, a port where
 * nothing listens, an unknown component or topology are one-line errors (exit 1), a bad --interval a usage error
 * (exit 2); a run that ends while monitor watches it ends monitor with 0; and the same lines from a cluster's
 * topology through nimbus (--nimbus and --zk).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_cluster.h"
#include "testlib.h"

TestSuite(monitor, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 120);

/* `gale run --http 0 --set numbers.count=0 held.cfg` (an unbounded spout), up to its "at http://..." line. */
static void start(tl_http_run_t *r)
{
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(r, "tests/topologies/e2e/held.cfg", unbounded);
}

/* `gale monitor ARGS...` (NULL-terminated), bounded by `timeout_s`. */
static tl_result_t monitor(double timeout_s, const char *const *args)
{
    const char *argv[24] = {tl_gale(), "monitor"};
    int n = 2;
    while (*args && n < 23) argv[n++] = *args++;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, timeout_s, &r), 0);
    cr_assert_not(r.timed_out, "gale monitor timed out:\n%s%s", r.out, r.err);
    return r;
}

#define MONITOR(timeout_s, ...) monitor((timeout_s), (const char *const[]){__VA_ARGS__, NULL})

/* One line of monitor's output, its columns read back. */
typedef struct line {
    char time[40], component[64], kind[8], executed[32], latency[32], capacity[32];
    double emitted, transferred, acked, failed;
} line_t;

static bool parse_line(const char *text, line_t *l)
{
    return sscanf(text, "%39s %63s %7s %lf %lf %31s %lf %lf %31s %31s", l->time, l->component, l->kind, &l->emitted,
                  &l->transferred, l->executed, &l->acked, &l->failed, l->latency, l->capacity) == 10;
}

/* Checks monitor's stdout: a header, then `per` lines for each component of `names` (in that order within each
   interval), each well formed; the lines into `lines` (at most `cap`), their number returned. */
static int check_output(const char *out, const char *const *names, int n_names, int per, line_t *lines, int cap)
{
    char *copy = strdup(out), *save = NULL;
    char *header = strtok_r(copy, "\n", &save);
    cr_assert_not_null(header, "no output");
    cr_assert(!strncmp(header, "time ", 5) && strstr(header, " component ") && strstr(header, " emitted/s ") &&
                  strstr(header, " executed/s ") && strstr(header, " capacity"),
              "not a header: %s", header);
    int n = 0;
    for (char *text = strtok_r(NULL, "\n", &save); text; text = strtok_r(NULL, "\n", &save), n++) {
        cr_assert_lt(n, cap, "too many lines:\n%s", out);
        cr_assert(parse_line(text, &lines[n]), "not a line of figures: '%s'\n%s", text, out);
        cr_assert_str_eq(lines[n].component, names[n % n_names], "line %d: %s\n%s", n, text, out);
        cr_assert(strlen(lines[n].time) == 24 && lines[n].time[10] == 'T', "%s", text);
    }
    cr_assert_eq(n, n_names * per, "%d lines, not %d:\n%s", n, n_names * per, out);
    free(copy);
    return n;
}

/* The executed/s of a bolt's line (spouts have "-"). */
static double executed(const line_t *l)
{
    cr_assert_str_eq(l->kind, "bolt");
    return atof(l->executed);
}

Test(monitor, it_prints_a_header_and_each_components_rates_every_interval)
{
    tl_http_run_t r;
    start(&r);
    double t0 = tl_now_s();
    tl_result_t m = MONITOR(60, r.url, "--interval", "0.5", "--count", "3");
    double took = tl_now_s() - t0;
    cr_assert_eq(m.status, 0, "%s%s", m.out, m.err);
    line_t lines[16];
    const char *const both[] = {"numbers", "probe"};
    check_output(m.out, both, 2, 3, lines, 16);
    /* A rate needs two polls: the first line comes after one interval, the last after three. */
    cr_assert_geq(took, 1.4, "3 intervals of 0.5 s in %.2f s", took);
    for (int i = 0; i < 6; i += 2) {
        cr_assert_str_eq(lines[i].kind, "spout");
        cr_assert_gt(lines[i].emitted, 0, "numbers emits: %s", m.out);
        cr_assert_str_eq(lines[i].executed, "-", "a spout executes nothing: %s", m.out);
        cr_assert_str_eq(lines[i].capacity, "-", "a spout has no capacity: %s", m.out);
        cr_assert_gt(executed(&lines[i + 1]), 0, "probe executes: %s", m.out);
        cr_assert_geq(atof(lines[i + 1].capacity), 0, "%s", m.out);
        cr_assert_eq(lines[i].failed, 0, "%s", m.out);
    }
    cr_assert_str_eq(m.err, "", "%s", m.err);
    tl_result_free(&m);

    m = MONITOR(60, r.url, "--component", "probe", "--interval", "0.2", "--count", "3");
    cr_assert_eq(m.status, 0, "%s%s", m.out, m.err);
    const char *const probe[] = {"probe"};
    check_output(m.out, probe, 1, 3, lines, 16);
    for (int i = 0; i < 3; i++) cr_assert_gt(executed(&lines[i]), 0, "%s", m.out);
    tl_result_free(&m);
    tl_http_run_free(&r);
}

/* A port where nothing listens: one the kernel just gave and took back. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

/* Monitor with `args` fails with `status` and says each of `said` on stderr; an error (not a usage error) is one
   line "gale monitor: ...". */
static void refused(int status, const char *const *args, const char *const *said)
{
    tl_result_t m = monitor(60, args);
    cr_assert_eq(m.status, status, "%s: exit %d, not %d\n%s%s", args[0], m.status, status, m.out, m.err);
    cr_assert_str_eq(m.out, "", "%s: %s", args[0], m.out);
    cr_assert(!strncmp(m.err, "gale monitor: ", 14), "%s", m.err);
    if (status == 1) cr_assert(strchr(m.err, '\n') == m.err + strlen(m.err) - 1, "not one line: %s", m.err);
    for (; *said; said++) cr_assert_not_null(strstr(m.err, *said), "%s: no '%s' in: %s", args[0], *said, m.err);
    tl_result_free(&m);
}

#define REFUSED(status, args, ...) refused((status), (args), (const char *const[]){__VA_ARGS__, NULL})

Test(monitor, bad_input_is_a_clear_error)
{
    tl_http_run_t r;
    start(&r);
    char *dead = tl_path("http://127.0.0.1:%d", dead_port()), *path = tl_path("%s/api/v1", r.url);
    REFUSED(1, ((const char *const[]){"ftp://127.0.0.1:80", NULL}), "is not a URL http://HOST:PORT");
    REFUSED(1, ((const char *const[]){"http://127.0.0.1", NULL}), "want http://HOST:PORT");
    REFUSED(1, ((const char *const[]){"http://127.0.0.1:99999", NULL}), "the port must be 1 to 65535");
    REFUSED(1, ((const char *const[]){path, NULL}), "nothing may follow the port");
    REFUSED(1, ((const char *const[]){"held", NULL}), "is not a URL", "--zk or --nimbus");
    REFUSED(1, ((const char *const[]){dead, NULL}), dead, "Connection refused");
    REFUSED(1, ((const char *const[]){r.url, "--component", "nope", NULL}), "no component 'nope'", "numbers, probe");
    REFUSED(1, ((const char *const[]){r.url, "--topology", "other", NULL}), "no topology named 'other'", "held");
    REFUSED(2, ((const char *const[]){r.url, "--interval", "0", NULL}), "--interval", "usage: gale monitor");
    REFUSED(2, ((const char *const[]){r.url, "--interval", "0.05", NULL}), "--interval", "usage: gale monitor");
    REFUSED(2, ((const char *const[]){r.url, "--interval", "x", NULL}), "--interval", "usage: gale monitor");
    REFUSED(2, ((const char *const[]){r.url, "--count", "0", NULL}), "--count", "usage: gale monitor");
    REFUSED(2, ((const char *const[]){r.url, "--bogus", NULL}), "unknown option '--bogus'");
    REFUSED(2, ((const char *const[]){"--interval", "1", NULL}), "usage: gale monitor");
    REFUSED(2, ((const char *const[]){r.url, "--nimbus", "127.0.0.1:1", NULL}), "not both");
    /* The run is unharmed by all that. */
    tl_result_t m = MONITOR(60, r.url, "--interval", "0.2", "--count", "1");
    cr_assert_eq(m.status, 0, "%s%s", m.out, m.err);
    tl_result_free(&m);
    free(dead), free(path);
    tl_http_run_free(&r);
}

/* A server on 127.0.0.1 that answers every connection with `answer` and closes it, in a child process (remembered,
   killed after the test): its port. */
static int fake_server(const char *answer)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) && !listen(fd, 8) &&
              !getsockname(fd, (struct sockaddr *)&a, &len));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        for (int n = 0; n < 100; n++) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) continue;
            char req[4096];
            (void)!recv(c, req, sizeof req, 0); /* the request's head: one read is enough for monitor's */
            (void)!send(c, answer, strlen(answer), MSG_NOSIGNAL);
            close(c);
        }
        _exit(0);
    }
    tl_remember(pid);
    close(fd);
    return ntohs(a.sin_port);
}

/* Answers that are not a gale endpoint's. */
Test(monitor, an_answer_that_is_not_a_gale_document_is_a_clear_error)
{
    static const struct {
        const char *answer, *said;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>", "is not JSON"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "no topologies[]"},
        {"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"},
        {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "HTTP 500"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"topologies\": []}", "mid-answer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *url = tl_path("http://127.0.0.1:%d", fake_server(cases[i].answer));
        REFUSED(1, ((const char *const[]){url, NULL}), url, cases[i].said);
        free(url);
    }
    /* A topology's document without spouts[] and bolts[]. */
    const char *summary = "{\"topologies\": [{\"name\": \"t\"}]}";
    char *answer = tl_path("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(summary), summary);
    char *url = tl_path("http://127.0.0.1:%d", fake_server(answer));
    REFUSED(1, ((const char *const[]){url, NULL}), "no spouts[] and bolts[]");
    free(url), free(answer);
}

/* Lines in the file at `path` (0 when unreadable). */
static int lines_in(const char *path)
{
    char *text = tl_read_file(path, NULL);
    int n = 0;
    for (const char *p = text; p && (p = strchr(p, '\n')); p++) n++;
    free(text);
    return n;
}

Test(monitor, it_exits_0_once_the_run_it_watches_ends)
{
    tl_http_run_t r;
    start(&r);
    char *dir = tl_tmpdir(), *out = tl_path("%s/out.txt", dir), *err_path = tl_path("%s/err.txt", dir);
    const char *argv[] = {tl_gale(), "monitor", r.url, "--interval", "0.3", NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert_gt(pid, 0);
    tl_remember(pid);
    /* Its header and a first interval's lines, written as they come (stdout is a file here). */
    for (int i = 0; i < 300 && lines_in(out) < 3 && tl_alive(pid); i++) tl_sleep_ms(100);
    cr_assert_geq(lines_in(out), 3, "no lines within 30 s");
    kill(r.pid, SIGINT);
    bool timed_out;
    tl_wait(r.pid, 60, &timed_out);
    cr_assert_not(timed_out);
    double ended = tl_now_s();
    int status = tl_wait(pid, 30, &timed_out);
    double after = tl_now_s() - ended;
    char *err = tl_read_file(err_path, NULL);
    cr_assert_not(timed_out, "monitor still ran 30 s after the run ended");
    cr_assert_eq(status, 0, "%s", err);
    cr_assert_not_null(strstr(err, "the endpoint stopped answering"), "%s", err);
    cr_assert_lt(after, 15, "monitor took %.1f s to see the end", after);
    cr_log_info("monitor ended %.2f s after the run", after);
    free(err), free(out), free(err_path);
    tl_rmtree(dir), free(dir);
    tl_http_run_free(&r);
}

/* ---- the cluster ------------------------------------------------------------------------------------------------ */

TestSuite(monitor_cluster, .init = tl_use_test_plugins, .timeout = 240);

Test(monitor_cluster, it_prints_a_cluster_topologys_rates_through_nimbus)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 2);
    /* Workers report every second, so that each interval of 1.5 s holds a report. */
    tl_result_t r = TL_VERB(&c, "submit", "--set", "numbers.count=0", "--set", "config.metrics_interval_s=1",
                            "tests/topologies/e2e/held.cfg");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    char *nimbus = tl_path("127.0.0.1:%d", c.nimbus[0].port);
    /* Right after the submit nimbus has no figures yet: monitor waits for the first. */
    r = TL_VERB_AT(&c, nimbus, "monitor", "--interval", "1.5", "--count", "2", "held");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    line_t lines[8];
    const char *const both[] = {"numbers", "probe"};
    check_output(r.out, both, 2, 2, lines, 8);
    cr_assert_gt(lines[0].emitted + lines[2].emitted, 0, "numbers emits:\n%s", r.out);
    cr_assert_gt(executed(&lines[1]) + executed(&lines[3]), 0, "probe executes:\n%s", r.out);
    cr_assert_str_eq(lines[1].capacity, "-", "the cluster's figures have no capacity:\n%s", r.out);
    tl_result_free(&r);
    /* Through ZooKeeper, one component. */
    r = TL_VERB(&c, "monitor", "--component", "numbers", "--interval", "1.5", "--count", "1", "held");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *const spout[] = {"numbers"};
    check_output(r.out, spout, 1, 1, lines, 8);
    tl_result_free(&r);
    r = TL_VERB_AT(&c, nimbus, "monitor", "--count", "1", "nope");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "no topology named nope"), "%s", r.err);
    tl_result_free(&r);
    r = TL_VERB(&c, "kill", "--wait", "1", "held");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    free(nimbus);
    tl_cluster_free(&c);
}
