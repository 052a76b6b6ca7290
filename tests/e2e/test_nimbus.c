/*
 * `gale nimbus` against a real ZooKeeper (zk_server.h): of two, one leads and the other stands by naming it; the
 * other takes over when the leader is killed (within the session timeout) or stopped (at once); a nimbus without
 * ZooKeeper exits 1 naming the ensemble; the nodes it writes are closed to a client without the secret.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "diag.h"
#include "gale.h"
#include "test_daemon.h"
#include "testlib.h"
#include "zk.h"
#include "zk_server.h"

#define SECRET "nimbus test secret, 16 bytes or more"

static tl_zk_t zk;

static void start_zk(void) { tl_zk_start(&zk); }
static void stop_zk(void) { tl_zk_free(&zk); }

TestSuite(nimbus, .init = start_zk, .fini = stop_zk, .timeout = 180);

typedef struct nimbus {
    char *dir, *secret, *err_path;
    pid_t pid;
} nimbus_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start(nimbus_t *n, const char *session_s)
{
    n->dir = tl_tmpdir();
    n->secret = tl_daemon_secret(n->dir, SECRET, 0600);
    n->err_path = tl_path("%s/err.txt", n->dir);
    char *data = tl_path("%s/data", n->dir);
    const char *argv[] = {tl_gale(), "nimbus", "--zk", zk.hosts, "--secret-file", n->secret, "--zk-session-timeout",
                          session_s, "--data", data,   NULL};
    n->pid = tl_spawn(argv, n->dir);
    free(data);
    cr_assert_gt(n->pid, 0);
}

static char *log_of(const nimbus_t *n)
{
    char *text = tl_read_file(n->err_path, NULL);
    return text ? text : strdup("");
}

/* Waits (bounded by the suite's timeout, not by the machine's speed) until the nimbus's log has `what`. */
static void wait_for(const nimbus_t *n, const char *what)
{
    for (int i = 0; i < 12000; i++) {
        char *text = log_of(n);
        bool there = strstr(text, what) != NULL;
        free(text);
        if (there) return;
        tl_sleep_ms(10);
    }
    char *text = log_of(n);
    cr_assert_fail("no '%s' in the log of nimbus %d:\n%s", what, (int)n->pid, text);
}

static int stop(nimbus_t *n, int sig)
{
    if (n->pid <= 0) return -1;
    kill(n->pid, sig);
    bool timed_out;
    int status = tl_wait(n->pid, 60, &timed_out);
    n->pid = 0;
    return status;
}

static void nimbus_free(nimbus_t *n)
{
    stop(n, SIGKILL);
    tl_rmtree(n->dir);
    free(n->dir), free(n->secret), free(n->err_path);
}

Test(nimbus, one_of_two_leads_and_the_other_takes_over_when_it_is_killed)
{
    nimbus_t a, b;
    start(&a, "1");
    wait_for(&a, "leading (host=127.0.0.1");
    start(&b, "1");
    wait_for(&b, "standing by: the leader is host=127.0.0.1 port=");
    char *standing = tl_path(" pid=%d\n", (int)a.pid), *said = log_of(&b);
    cr_assert_not_null(strstr(said, standing), "the standby names another leader than pid %d:\n%s", (int)a.pid, said);
    free(standing), free(said);
    char *text = log_of(&b);
    cr_assert_null(strstr(text, "leading ("), "two leaders:\n%s", text);
    free(text);
    double t0 = now_s();
    cr_assert_eq(stop(&a, SIGKILL), 128 + SIGKILL);
    wait_for(&b, "leading (host=127.0.0.1");
    double took = now_s() - t0;
    /* The lead passes when ZooKeeper expires the dead leader's session: the 1 s timeout, in the server's ticks. */
    cr_assert_lt(took, 20.0, "the standby took %.1f s to lead, with a 1 s session timeout", took);
    cr_log_info("took over in %.2f s", took);
    cr_assert_eq(stop(&b, SIGTERM), 0);
    nimbus_free(&a);
    nimbus_free(&b);
}

/* A nimbus that is stopped leaves the election at once: its successor does not wait out a 60 s session timeout. */
Test(nimbus, a_nimbus_stopped_with_sigterm_hands_the_lead_on_at_once)
{
    nimbus_t a, b;
    start(&a, "60");
    wait_for(&a, "leading (");
    start(&b, "60");
    wait_for(&b, "standing by");
    double t0 = now_s();
    cr_assert_eq(stop(&a, SIGTERM), 0);
    wait_for(&b, "leading (");
    double took = now_s() - t0;
    cr_assert_lt(took, 30.0, "%.1f s: the lead waited for the session timeout", took);
    char *text = log_of(&a);
    cr_assert_not_null(strstr(text, "SIGTERM: leaving the election"), "%s", text);
    free(text);
    cr_assert_eq(stop(&b, SIGTERM), 0);
    nimbus_free(&a);
    nimbus_free(&b);
}

/* What nimbus writes under /gale carries the cluster's ACL: a client without the secret can list nothing. */
Test(nimbus, its_nodes_are_closed_to_a_client_without_the_secret)
{
    nimbus_t a;
    start(&a, "5");
    wait_for(&a, "leading (");
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *const secrets[] = {NULL, "not the cluster's secret", SECRET};
    for (int i = 0; i < 3; i++) {
        gale_zk_opts_t o = {.hosts = zk.hosts,
                            .connect_timeout_ms = 30000,
                            .secret = secrets[i],
                            .secret_len = secrets[i] ? strlen(secrets[i]) : 0};
        gale_zk_t *s;
        char why[160] = "";
        cr_assert_eq(gale_zk_open(&loop, &o, &s, why, sizeof why), 0, "%s", why);
        char **names;
        size_t n;
        int rc = gale_zk_children(s, "/gale/nimbus", false, &names, &n);
        if (i < 2) {
            cr_assert_eq(rc, -EACCES, "secret %d: %s", i, gale_err_name(rc));
        } else {
            cr_assert_eq(rc, 0, "%s", gale_err_name(rc));
            cr_assert_eq(n, 1, "one candidate");
            gale_zk_free_names(names, n);
        }
        gale_zk_close(s);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    uv_loop_close(&loop);
    cr_assert_eq(stop(&a, SIGTERM), 0);
    nimbus_free(&a);
}

/* `gale CMD --zk` at an address where no ZooKeeper is: exit 1, naming it, never saying that it listens. */
static void refused_without_zookeeper(const char *cmd, const char *secret)
{
    char hosts[32];
    tl_zk_dead_hosts(hosts, sizeof hosts);
    const char *argv[] = {tl_gale(), cmd, "--secret-file", secret, "--zk", hosts, "--zk-session-timeout", "1", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 1, "gale %s: exit %d\n%s", cmd, r.status, r.err);
    cr_assert_not_null(strstr(r.err, hosts), "%s", r.err);
    cr_assert_null(strstr(r.out, "listening"), "it said it listens: %s", r.out);
    tl_result_free(&r);
}

Test(nimbus, without_zookeeper_it_exits_1_naming_the_ensemble)
{
    char *dir = tl_tmpdir(), *secret = tl_daemon_secret(dir, SECRET, 0600);
    refused_without_zookeeper("nimbus", secret);
    tl_result_t r;
    const char *hosts = "127.0.0.1:1";
    const char *no_zk[] = {tl_gale(), "nimbus", "--secret-file", secret, NULL};
    cr_assert_eq(tl_run(no_zk, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--zk is required"), "%s", r.err);
    tl_result_free(&r);
    const char *root[] = {tl_gale(), "nimbus", "--zk", hosts, "--secret-file", secret, "--root", "/", NULL};
    cr_assert_eq(tl_run(root, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 2, "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(secret);
}

/* ---- supervisors that register ------------------------------------------------------------------------------ */

/* The node of a supervisor, read with the cluster secret; malloc'd, NULL when it is not there. */
static char *supervisor_node(const char *addr)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_opts_t o = {.hosts = zk.hosts, .connect_timeout_ms = 30000, .secret = SECRET, .secret_len = strlen(SECRET)};
    gale_zk_t *s;
    char why[160] = "", path[128], *data = NULL;
    cr_assert_eq(gale_zk_open(&loop, &o, &s, why, sizeof why), 0, "%s", why);
    snprintf(path, sizeof path, "/gale/supervisors/%s", addr);
    size_t len;
    if (gale_zk_get(s, path, false, &data, &len, NULL)) data = NULL;
    gale_zk_close(s);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return data;
}

/* Waits (bounded) until the supervisor's node holds `what`. */
static void wait_node(const char *addr, const char *what)
{
    char *data = NULL;
    for (int i = 0; i < 3000; i++) {
        free(data);
        data = supervisor_node(addr);
        if (data && strstr(data, what)) break;
        tl_sleep_ms(20);
    }
    cr_assert(data && strstr(data, what), "the node of %s is '%s', not with '%s'", addr, data ? data : "(none)", what);
    free(data);
}

/* A daemon started with --zk publishes itself (slots, free slots, version); nimbus logs it. Its free slots follow
   what is assigned. Stopped with SIGTERM it takes its node away at once; killed, its node goes with its session. */
Test(nimbus, supervisors_register_with_their_slots_and_nimbus_sees_them_come_and_go)
{
    nimbus_t a;
    start(&a, "1");
    wait_for(&a, "leading (");
    const char *zk_args[] = {"--zk", zk.hosts, "--zk-session-timeout", "1", NULL};
    tl_daemon_t d1 = {0}, d2 = {0};
    tl_daemon_start_with(&d1, SECRET, 3, NULL, zk_args);
    char *joined = tl_path("supervisor %s joined (host=127.0.0.1 port=%d slots=3 free=3 version=", d1.addr, d1.port);
    wait_for(&a, joined);
    free(joined);
    tl_ctl_ok(&d1, TL_CTL(&d1, "assign", "wc", "topologies/wordcount.cfg", "workers=2"));
    wait_node(d1.addr, "slots=3 free=1 ");
    tl_ctl_ok(&d1, TL_CTL(&d1, "kill", "wc", "wait=5"));
    tl_result_t r = TL_CTL(&d1, "wait", "wc");
    tl_result_free(&r);
    wait_node(d1.addr, "slots=3 free=3 ");
    /* SIGTERM: the node goes at once. */
    cr_assert_eq(tl_daemon_stop(&d1), 0);
    char *left = tl_path("supervisor %s left", d1.addr);
    wait_for(&a, left);
    free(left);
    char *gone = supervisor_node(d1.addr);
    cr_assert_null(gone, "%s", gone);
    /* SIGKILL: the node goes when ZooKeeper expires the session (1 s). */
    tl_daemon_start_with(&d2, SECRET, 2, NULL, zk_args);
    joined = tl_path("supervisor %s joined", d2.addr);
    wait_for(&a, joined);
    free(joined);
    double t0 = now_s();
    kill(d2.pid, SIGKILL);
    bool timed_out;
    tl_wait(d2.pid, 30, &timed_out);
    left = tl_path("supervisor %s left", d2.addr);
    wait_for(&a, left);
    free(left);
    cr_log_info("a killed supervisor was seen gone after %.2f s", now_s() - t0);
    cr_assert_eq(stop(&a, SIGTERM), 0);
    nimbus_free(&a);
    tl_daemon_free(&d1);
    tl_daemon_free(&d2);
}

Test(nimbus, a_supervisor_that_cannot_reach_zookeeper_exits_1_naming_it)
{
    char *dir = tl_tmpdir(), *secret = tl_daemon_secret(dir, SECRET, 0600);
    refused_without_zookeeper("supervisor", secret);
    tl_result_t r;
    const char *root_alone[] = {tl_gale(), "supervisor", "--secret-file", secret, "--root", "/x", NULL};
    cr_assert_eq(tl_run(root_alone, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "go with --zk"), "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(secret);
}

/* ---- workers that find their peers through ZooKeeper ---------------------------------------------------------- */

/* One topology over two daemons in cluster mode, with no `peers` command: each publishes its workers' addresses in
   ZooKeeper and follows the other's. A worker killed on one host comes back on a new port, and the other host's
   workers reach it there: every word arrives, and every line is acked. */
Test(nimbus, workers_on_two_hosts_find_each_other_through_zookeeper_also_after_a_restart)
{
    const char *zk_args[] = {"--zk", zk.hosts, "--zk-session-timeout", "2", NULL};
    tl_daemon_t a = {0}, b = {0};
    char *shared = tl_tmpdir();
    tl_daemon_start_with(&a, SECRET, 2, shared, zk_args);
    tl_daemon_start_with(&b, SECRET, 2, shared, zk_args);
    long counts[10];
    char *in = tl_path("%s/in.txt", shared), *out = tl_path("%s/out.txt", shared);
    tl_make_lines(in, counts);
    char *set_in = tl_path("set=lines.path=%s", in), *set_out = tl_path("set=sink.path=%s", out);
    const char *secret = "secret=00112233445566778899aabbccddeeff";
    tl_ctl_ok(&a, TL_CTL(&a, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=0", secret,
                         set_in, set_out));
    tl_ctl_ok(&b, TL_CTL(&b, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=1,2", secret,
                         set_in, set_out));
    /* Once words flow, kill the worker of slot 2 (a sink's). */
    pid_t victim = 0;
    for (int i = 0; i < 3000; i++) {
        char *text = tl_read_file(out, NULL);
        bool flowing = text && strchr(text, '\n');
        free(text);
        if (flowing && (victim = tl_worker_pid(b.pid, 2))) break;
        tl_sleep_ms(10);
    }
    cr_assert_gt(victim, 0, "no word reached the sink:\n%s", tl_daemon_log(&a));
    kill(victim, SIGKILL);
    long seen = 0;
    int short_word = tl_words_arrive(out, counts, 120, &seen);
    /* Slot 2's new address reached daemon a through ZooKeeper. */
    char addr[3][32] = {{0}}, *addr2 = addr[2];
    for (int i = 0; i < 3000 && !addr2[0]; i++) {
        tl_daemon_addresses(&b, "split", addr, 3);
        if (!addr2[0]) tl_sleep_ms(10);
    }
    cr_assert(addr2[0], "slot 2 did not come back");
    char *news = NULL;
    for (int i = 0; i < 3000; i++) {
        char *text = tl_daemon_log(&a);
        const char *line = strstr(text, "the slots' addresses from ZooKeeper:");
        const char *last = NULL;
        for (; line; line = strstr(line + 1, "the slots' addresses from ZooKeeper:")) last = line;
        bool there = last && strstr(last, addr2) && strchr(last, '\n') > strstr(last, addr2);
        if (there) news = text;
        else free(text);
        if (there) break;
        tl_sleep_ms(10);
    }
    cr_assert_not_null(news, "daemon a never heard of slot 2's new address %s", addr2);
    free(news);
    char *log_a = tl_daemon_log(&a), *log_b = tl_daemon_log(&b);
    cr_assert_eq(short_word, -1, "'%s' reached the sink %ld times only\n%s\n%s",
                 TL_VOCAB[short_word < 0 ? 0 : short_word], seen, log_a, log_b);
    cr_assert_not_null(strstr(log_b, "worker 2 was killed by signal 9"), "%s", log_b);
    free(log_a), free(log_b);
    /* Neither host sees every slot, so a kill ends the run at its deadline: long enough for the trees the dead
       worker held to time out (2 s) and replay. */
    tl_ctl_ok(&a, TL_CTL(&a, "kill", "split", "wait=10"));
    tl_ctl_ok(&b, TL_CTL(&b, "kill", "split", "wait=10"));
    tl_result_t r = TL_CTL(&a, "wait", "split");
    cr_assert_str_eq(r.out, "ended split status=ok\n", "%s", r.err);
    tl_result_free(&r);
    r = TL_CTL(&b, "wait", "split");
    tl_result_free(&r);
    r = TL_CTL(&a, "stats", "split");
    const char *lines = strstr(r.out, "{\"name\": \"lines\"");
    const char *acked = lines ? strstr(lines, "\"acked\": ") : NULL;
    cr_assert(acked && atol(acked + strlen("\"acked\": ")) == 3000, "not every line acked: %s", r.out);
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&a), 0);
    cr_assert_eq(tl_daemon_stop(&b), 0);
    free(in), free(out), free(set_in), free(set_out);
    tl_daemon_free(&a);
    tl_daemon_free(&b);
    tl_rmtree(shared);
    free(shared);
}
