/*
 * The supervisor daemon through the gale binary: topologies assigned over its control port with `gale ctl`, whole
 * or split over two daemons (the test plays nimbus, passing addresses between them), workers restarted, bad
 * secrets, files and lines refused with a reason, and nothing left running after SIGTERM.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_daemon.h"
#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(supervisor, .init = use_plugins, .timeout = 180);

/* `workers` slots of the file word count under the daemon give the counts of local mode. */
static void run_assigned(int workers)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, "a secret of the cluster, long enough", 4, NULL);
    char *local = tl_path("%s/local.txt", d.dir), *remote = tl_path("%s/remote.txt", d.dir);
    char *set_local = tl_path("sink.path=%s", local), *set_remote = tl_path("set=sink.path=%s", remote);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", set_local, "topologies/wordcount_file.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);

    char *n = tl_path("workers=%d", workers);
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "wc", "topologies/wordcount_file.cfg", n, set_remote));
    free(n);
    r = TL_CTL(&d, "wait", "wc");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "ended wc status=ok\n");
    tl_result_free(&r);
    r = TL_CTL(&d, "stats", "wc");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(tl_json_valid(r.out), "%s", r.out);
    char *merged = tl_path("\"workers\": %d", workers);
    cr_assert_not_null(strstr(r.out, merged), "%s", r.out);
    free(merged);
    tl_result_free(&r);

    /* Same counts; lines in another order (several workers' sinks write as they finish). */
    char *want = tl_read_file(local, NULL), *got = tl_read_file(remote, NULL);
    cr_assert(want && got && strlen(want) > 100);
    cr_assert_eq(strlen(want), strlen(got));
    for (char *line = strtok(want, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert_not_null(strstr(got, line), "local mode has %s, the daemon's run does not", line);
    free(want), free(got);

    r = TL_CTL(&d, "status");
    char *slots = tl_path("topology wc state=ended status=ok active=yes slots=%s", workers == 1 ? "0" : "0,1,2");
    cr_assert_not_null(strstr(r.out, slots), "%s", r.out);
    free(slots);
    tl_result_free(&r);
    tl_ctl_ok(&d, TL_CTL(&d, "forget", "wc"));
    r = TL_CTL(&d, "slots");
    cr_assert_str_eq(r.out, "slots=4 free=4\n");
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    free(local), free(remote), free(set_local), free(set_remote);
    tl_daemon_free(&d);
}

Test(supervisor, runs_an_assigned_topology_to_the_counts_of_local_mode) { run_assigned(3); }
/* One worker is a worker like any other: no peers, the same protocol (`assign workers=1` was refused). */
Test(supervisor, runs_a_one_worker_topology) { run_assigned(1); }

Test(supervisor, two_daemons_run_one_topology_when_told_each_others_addresses)
{
    tl_daemon_t a = {0}, b = {0};
    /* Both daemons get both paths (each checks every setting of an assignment), so both may serve this folder. */
    char *shared = tl_tmpdir();
    tl_daemon_start(&a, "the shared cluster secret", 2, shared);
    tl_daemon_start(&b, "the shared cluster secret", 2, shared);
    long counts[10];
    char *in = tl_path("%s/in.txt", shared), *out = tl_path("%s/out.txt", shared);
    tl_make_lines(in, counts);
    char *set_in = tl_path("set=lines.path=%s", in), *set_out = tl_path("set=sink.path=%s", out);
    const char *secret = "secret=00112233445566778899aabbccddeeff";
    tl_ctl_ok(&a, TL_CTL(&a, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=0", secret,
                   set_in, set_out, "set=slow.delay_ms=0"));
    tl_ctl_ok(&b, TL_CTL(&b, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=1,2", secret,
                   set_in, set_out, "set=slow.delay_ms=0"));
    char addr[3][32] = {{0}};
    for (int i = 0; i < 500 && !(addr[0][0] && addr[1][0] && addr[2][0]); i++) {
        tl_daemon_addresses(&a, "split", addr, 3);
        tl_daemon_addresses(&b, "split", addr, 3);
        tl_sleep_ms(10);
    }
    cr_assert(addr[0][0] && addr[1][0] && addr[2][0], "the workers did not report their addresses");
    tl_ctl_ok(&a, TL_CTL(&a, "peers", "split", addr[0], addr[1], addr[2]));
    tl_ctl_ok(&b, TL_CTL(&b, "peers", "split", addr[0], addr[1], addr[2]));

    /* Every word reaches the sink (in daemon b's workers) from the spout (in daemon a's). */
    long seen = 0;
    int short_word = tl_words_arrive(out, counts, 60, &seen);
    cr_assert_eq(short_word, -1, "'%s' reached the sink %ld times only\n%s", TL_VOCAB[short_word < 0 ? 0 : short_word],
                 seen, tl_daemon_log(&b));
    tl_ctl_ok(&a, TL_CTL(&a, "kill", "split", "wait=1"));
    tl_ctl_ok(&b, TL_CTL(&b, "kill", "split", "wait=1"));
    tl_result_t r = TL_CTL(&a, "wait", "split");
    cr_assert_str_eq(r.out, "ended split status=ok\n", "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&b, "wait", "split");
    cr_assert_str_eq(r.out, "ended split status=ok\n", "%s", r.err);
    tl_result_free(&r);
    /* The spout's metrics are in daemon a: every line acked across the two of them. */
    r = TL_CTL(&a, "stats", "split");
    cr_assert_not_null(strstr(r.out, "{\"name\": \"lines\", \"kind\": \"spout\", \"tasks\": 1, \"emitted\": 3000, "
                                     "\"transferred\": 3000, \"executed\": 0, \"acked\": 3000"),
                       "%s", r.out);
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&a), 0);
    cr_assert_eq(tl_daemon_stop(&b), 0);
    free(in), free(out), free(set_in), free(set_out);
    tl_daemon_free(&a);
    tl_daemon_free(&b);
    tl_rmtree(shared);
    free(shared);
}

Test(supervisor, restarts_a_killed_worker_and_reports_it_in_status)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, "a secret of the cluster, long enough", 2, NULL);
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "slow", "tests/topologies/e2e/slow.cfg", "workers=2"));
    pid_t victim = 0;
    for (int i = 0; i < 500 && !victim; i++) {
        victim = tl_worker_pid(d.pid, 1);
        if (!victim) tl_sleep_ms(10);
    }
    cr_assert_gt(victim, 0, "worker 1 not found");
    kill(victim, SIGKILL);
    pid_t again = 0;
    for (int i = 0; i < 500 && !again; i++) {
        again = tl_worker_pid(d.pid, 1);
        if (again == victim) again = 0;
        if (!again) tl_sleep_ms(10);
    }
    cr_assert_gt(again, 0, "worker 1 was not restarted\n%s", tl_daemon_log(&d));
    tl_result_t r = TL_CTL(&d, "status");
    cr_assert_not_null(strstr(r.out, "worker slow 1 state="), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "restarts=1 last_exit=signal:9"), "%s", r.out);
    tl_result_free(&r);
    char *log = tl_daemon_log(&d);
    cr_assert_not_null(strstr(log, "slow: worker 1 was killed by signal 9: restarting it"), "%s", log);
    free(log);
    /* SIGTERM with a topology running: it is killed, drained, and every worker ends. */
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

/* The number after `"key": ` in `text` from `from` on; -1 when absent. */
static long number_after(const char *from, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    const char *at = from ? strstr(from, needle) : NULL;
    return at ? strtol(at + strlen(needle), NULL, 10) : -1;
}

/* How many tuples the spout of a running `wc` has emitted, by `gale ctl stats`; -1 when it says no figures. */
static long live_emitted(const tl_daemon_t *d)
{
    tl_result_t r = TL_CTL(d, "stats", "wc");
    long n = r.status == 0 ? number_after(strstr(r.out, "{\"name\": \"sentences\""), "emitted") : -1;
    tl_result_free(&r);
    return n;
}

/* `stats` of a running topology: the figures its workers last reported (every metrics_interval_s), growing. */
Test(supervisor, stats_of_a_running_topology_are_live)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, "the cluster secret, 16 bytes", 4, NULL);
    tl_ctl_ok(&d,
              TL_CTL(&d, "assign", "wc", "topologies/wordcount.cfg", "workers=2", "set=config.metrics_interval_s=1"));
    long first = -1, later = -1;
    for (int i = 0; i < 600 && first <= 0; i++) {
        first = live_emitted(&d);
        if (first <= 0) tl_sleep_ms(50);
    }
    cr_assert_gt(first, 0, "no live figures:\n%s", tl_daemon_log(&d));
    for (int i = 0; i < 600 && later <= first; i++) {
        later = live_emitted(&d);
        if (later <= first) tl_sleep_ms(50);
    }
    cr_assert_gt(later, first, "the figures did not move while it ran");
    tl_ctl_ok(&d, TL_CTL(&d, "kill", "wc", "wait=2"));
    tl_result_t r = TL_CTL(&d, "wait", "wc");
    tl_result_free(&r);
    cr_assert_geq(live_emitted(&d), later, "the final figures are behind the live ones");
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

/* `deactivate` holds the spouts of an assigned topology (its figures stop moving) and `activate` lets them go on. */
Test(supervisor, deactivate_holds_the_spouts_and_activate_lets_them_go_on)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, "the cluster secret, 16 bytes", 4, NULL);
    tl_ctl_ok(&d,
              TL_CTL(&d, "assign", "wc", "topologies/wordcount.cfg", "workers=2", "set=config.metrics_interval_s=1"));
    long first = -1;
    for (int i = 0; i < 600 && first <= 0; i++) {
        first = live_emitted(&d);
        if (first <= 0) tl_sleep_ms(50);
    }
    cr_assert_gt(first, 0, "no live figures:\n%s", tl_daemon_log(&d));
    tl_result_t r = TL_CTL(&d, "deactivate", "wc");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "wc inactive\n");
    tl_result_free(&r);
    /* The figures come every second: three alike in a row, after the deactivation, are the held count. */
    long held = -1, same = 0;
    for (int i = 0; i < 600 && same < 3; i++) {
        long now = live_emitted(&d);
        same = now == held ? same + 1 : 0;
        held = now;
        tl_sleep_ms(500);
    }
    cr_assert_eq(same, 3, "the spout kept emitting after its deactivation");
    r = TL_CTL(&d, "status");
    cr_assert_not_null(strstr(r.out, "topology wc state=running status=ok active=no"), "%s", r.out);
    tl_result_free(&r);
    tl_ctl_ok(&d, TL_CTL(&d, "activate", "wc"));
    long later = held;
    for (int i = 0; i < 600 && later <= held; i++) {
        later = live_emitted(&d);
        if (later <= held) tl_sleep_ms(50);
    }
    cr_assert_gt(later, held, "the spout did not go on once activated");
    r = TL_CTL(&d, "activate", "nothing");
    cr_assert_neq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "no topology 'nothing'"), "%s", r.err);
    tl_result_free(&r);
    tl_ctl_ok(&d, TL_CTL(&d, "kill", "wc", "wait=2"));
    r = TL_CTL(&d, "wait", "wc");
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

Test(supervisor, refuses_bad_secrets_files_and_commands_with_a_reason)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, "a secret of the cluster, long enough", 2, NULL);
    char *wrong = tl_daemon_secret(d.dir, "not the secret of this cluster", 0640);
    chmod(wrong, 0600);
    tl_result_t r = tl_ctl_with(&d, wrong, (const char *const[]){"slots", NULL});
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "authentication failed"), "%s", r.err);
    tl_result_free(&r);
    char *open_secret = tl_daemon_secret(d.dir, "a secret of the cluster, long enough", 0644);
    r = tl_ctl_with(&d, open_secret, (const char *const[]){"slots", NULL});
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "readable by others"), "%s", r.err);
    tl_result_free(&r);

    r = TL_CTL(&d, "assign", "bad", "tests/topologies/bad/bolt_without_inputs.cfg", "workers=2");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "bolt_without_inputs.cfg:4: bolt 'b' has no inputs"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "assign", "big", "topologies/wordcount_file.cfg", "workers=3");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "not enough free slots: 3 asked, 2 free of 2"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "assign", "x", "topologies/wordcount_file.cfg", "workers=2", "slots=0,0");
    cr_assert_eq(r.status, 1);
    tl_result_free(&r);
    r = TL_CTL(&d, "assign", "x", "topologies/wordcount_file.cfg", "workers=2", "slots=0", "slots=1");
    cr_assert_not_null(strstr(r.err, "bad argument 'slots=1'"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "assign", "x", "topologies/wordcount_file.cfg", "workers=100000000");
    cr_assert_not_null(strstr(r.err, "workers=N must be from 1 to 4096"), "%s", r.err);
    tl_result_free(&r);
    char *fifo = tl_path("%s/topology.fifo", d.dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    r = TL_CTL(&d, "assign", "x", fifo, "workers=2");
    cr_assert_not_null(strstr(r.err, "not a regular file"), "%s", r.err);
    tl_result_free(&r);
    free(fifo);
    r = TL_CTL(&d, "assign", "forever", "topologies/wordcount.cfg", "workers=2");
    tl_ctl_ok(&d, r);
    r = TL_CTL(&d, "kill", "forever", "wait=nan");
    cr_assert_not_null(strstr(r.err, "bad argument 'wait=nan'"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "kill", "forever", "wait=1e300");
    cr_assert_not_null(strstr(r.err, "bad argument 'wait=1e300'"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "kill", "forever", "wait=1");
    tl_ctl_ok(&d, r);
    r = TL_CTL(&d, "wait", "forever");
    tl_ctl_ok(&d, r);
    r = TL_CTL(&d, "forget", "forever");
    tl_ctl_ok(&d, r);
    r = TL_CTL(&d, "assign", "x", "topologies/wordcount_file.cfg", "workers=2", "color=blue");
    cr_assert_not_null(strstr(r.err, "bad argument 'color=blue'"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "kill", "nothing");
    cr_assert_not_null(strstr(r.err, "no topology 'nothing'"), "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&d, "frob");
    cr_assert_not_null(strstr(r.err, "unknown command 'frob'"), "%s", r.err);
    tl_result_free(&r);

    /* Raw garbage, an endless line, commands before auth and silence: each connection is closed, the daemon
       serves on. */
    static char junk[40000];
    memset(junk, 'x', sizeof junk);
    for (int round = 0; round < 4; round++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d.port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        const char *send_this = round == 0 ? "status\n" : round == 1 ? "auth 1234\n" : round == 2 ? junk : "";
        size_t len = round == 2 ? sizeof junk : strlen(send_this);
        if (len) (void)!write(fd, send_this, len);
        char buf[4096];
        size_t got = 0;
        ssize_t n;
        struct timeval tv = {20, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
        buf[got] = '\0';
        close(fd);
        const char *expect = round == 2 ? "error line too long" : round == 3 ? "error no authentication in time"
                                                                              : "error authentication failed";
        cr_assert_not_null(strstr(buf, expect), "%s", buf);
    }
    r = TL_CTL(&d, "slots");
    cr_assert_str_eq(r.out, "slots=2 free=2\n");
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    free(wrong), free(open_secret);
    tl_daemon_free(&d);
}
