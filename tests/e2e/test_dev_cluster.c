/*
 * `gale dev-cluster` end to end: started as a user starts it, its printed submit, list and kill lines run as they
 * are printed (wordcount_file.cfg over its two supervisors counts every word of a file), then SIGINT stops
 * everything it started, each process checked gone by its pid; each supervisor's workers run its share of the
 * host's cores; the Python word count runs on it; a child that dies stops the rest with a non-zero
 * exit; and input it cannot use (no supervisors, a taken port, no ZooKeeper installed) is refused before anything
 * starts.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs.h"
#include "testlib.h"

TestSuite(dev_cluster, .timeout = 240);

#define PIDS_MAX 32

/* A dev-cluster started in the background, with what it printed once it was up. */
typedef struct devc {
    char *dir, *cluster; /* the test's folder (out.txt, err.txt) and the cluster's, inside it */
    pid_t pid;
    char *out;            /* its stdout once up: the "how to submit" text */
    pid_t pids[PIDS_MAX]; /* every "(pid N)" it printed: ZooKeeper, nimbus, supervisors */
    int n_pids;
} devc_t;

static char *dev_err(const devc_t *d)
{
    char *path = tl_path("%s/err.txt", d->dir), *text = tl_read_file(path, NULL);
    free(path);
    return text ? text : strdup("");
}

/* Starts `gale dev-cluster --dir DIR/cluster EXTRA...` and waits (bounded) for its "Ctrl-C stops everything." */
static void dev_start(devc_t *d, const char *const *extra)
{
    memset(d, 0, sizeof *d);
    d->dir = tl_tmpdir();
    d->cluster = tl_path("%s/cluster", d->dir);
    const char *argv[16] = {tl_gale(), "dev-cluster", "--dir", d->cluster};
    int n = 4;
    while (extra && *extra && n < 15) argv[n++] = *extra++;
    argv[n] = NULL;
    d->pid = tl_spawn(argv, d->dir);
    cr_assert_gt(d->pid, 0);
    char *out_path = tl_path("%s/out.txt", d->dir);
    for (int i = 0; i < 1200 && !d->out && tl_alive(d->pid); i++) {
        char *text = tl_read_file(out_path, NULL);
        if (text && strstr(text, "Ctrl-C stops everything.\n")) d->out = text;
        else free(text), tl_sleep_ms(100);
    }
    free(out_path);
    char *err = dev_err(d);
    cr_assert_not_null(d->out, "gale dev-cluster did not come up:\n%s", err);
    free(err);
    for (const char *p = d->out; (p = strstr(p, "(pid ")) && d->n_pids < PIDS_MAX; p++)
        d->pids[d->n_pids++] = (pid_t)atoi(p + 5);
}

/* The printed line that holds `verb` (" submit "), split at its spaces into argv (malloc'd, NULL-terminated; the
   strings live in one block at argv[0]). */
static char **printed_line(const devc_t *d, const char *verb)
{
    const char *p = strstr(d->out, verb);
    cr_assert_not_null(p, "no '%s' line in:\n%s", verb, d->out);
    while (p > d->out && p[-1] != '\n') p--;
    while (*p == ' ') p++;
    char *line = strndup(p, strcspn(p, "\n"));
    char **argv = calloc(64, sizeof *argv);
    int n = 0;
    for (char *t = strtok(line, " "); t && n < 63; t = strtok(NULL, " ")) argv[n++] = t;
    cr_assert_eq(argv[0], line);
    return argv;
}

static void free_line(char **argv)
{
    free(argv[0]);
    free(argv);
}

/* Runs a printed line with `from` replaced by `to` (NULL: as it is) and `more` inserted before its last word. */
static tl_result_t run_printed(const devc_t *d, const char *verb, const char *from, const char *to,
                               const char *const *more)
{
    char **line = printed_line(d, verb);
    const char *argv[80];
    int n = 0, last = 0;
    while (line[last + 1]) last++;
    for (int i = 0; line[i]; i++) {
        if (i == last)
            while (more && *more) argv[n++] = *more++;
        argv[n++] = from && !strcmp(line[i], from) ? to : line[i];
    }
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 180, &r), 0);
    cr_assert_not(r.timed_out, "%s timed out", verb);
    free_line(line);
    return r;
}

/* SIGINT, then its exit status; every process it printed, and `more`, must be gone. */
static int dev_interrupt(devc_t *d, const pid_t *more, int n_more)
{
    kill(d->pid, SIGINT);
    bool timed_out;
    int status = tl_wait(d->pid, 120, &timed_out);
    cr_assert_not(timed_out, "gale dev-cluster did not end after SIGINT");
    for (int i = 0; i < d->n_pids; i++) cr_assert_not(tl_alive(d->pids[i]), "pid %d outlived it", (int)d->pids[i]);
    for (int i = 0; i < n_more; i++) cr_assert_not(tl_alive(more[i]), "worker %d outlived it", (int)more[i]);
    return status;
}

static void dev_free(devc_t *d)
{
    if (d->pid > 0 && tl_alive(d->pid)) {
        kill(d->pid, SIGTERM);
        tl_wait(d->pid, 120, &(bool){false});
    }
    tl_rmtree(d->dir);
    free(d->dir), free(d->cluster), free(d->out);
}

/* Whether the highest running count of every word of TL_VOCAB in `sink` ({"word": W, "count": N} lines) is the
   word's count in `counts`; *short_word is the first that is not (or -1). */
static bool counts_reached(const char *sink, const long counts[10], int *short_word)
{
    char *text = tl_read_file(sink, NULL);
    *short_word = -1;
    for (int k = 0; k < 10 && *short_word < 0; k++) {
        char pat[64];
        int len = snprintf(pat, sizeof pat, "{\"word\": \"%s\", \"count\": ", TL_VOCAB[k]);
        long highest = 0;
        for (const char *p = text; p && (p = strstr(p, pat)); p++)
            if (atol(p + len) > highest) highest = atol(p + len);
        if (highest < counts[k]) *short_word = k; /* more after a replay: at least once */
    }
    free(text);
    return *short_word < 0;
}

Test(dev_cluster, the_printed_submit_list_and_kill_work_and_sigint_stops_everything)
{
    devc_t d;
    dev_start(&d, NULL);
    cr_assert_eq(d.n_pids, 4, "ZooKeeper, nimbus and two supervisors, not:\n%s", d.out);
    struct stat st;
    char *secret = tl_path("%s/secret", d.cluster);
    cr_assert_eq(stat(secret, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "the secret is %o", (unsigned)(st.st_mode & 0777));
    char *key = tl_path("%s/certs/supervisor-2.key", d.cluster);
    cr_assert_eq(stat(key, &st), 0, "no %s", key);
    cr_assert_eq(st.st_mode & 0777, 0600, "the key is %o", (unsigned)(st.st_mode & 0777));
    free(key);
    cr_assert_not_null(
        strstr(d.out, "  TLS           nimbus, supervisors and workers, with the CA and certificates in "), "%s",
        d.out);
    /* wordcount_file.cfg, with the printed line's config.workers=2 (one on each supervisor), on a file of ours. */
    char *lines = tl_path("%s/lines.txt", d.cluster), *sink = tl_path("%s/counts.jsonl", d.cluster);
    long counts[10];
    tl_make_lines(lines, counts);
    char *set_lines = tl_path("lines.path=%s", lines), *set_sink = tl_path("sink.path=%s", sink);
    const char *sets[] = {"--set", set_lines, "--set", set_sink, "--set", "count.mode=\"running\"", NULL};
    tl_result_t r = run_printed(&d, " submit ", "topologies/wordcount.cfg", "topologies/wordcount_file.cfg", sets);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "submitted wordcount_file version=1 workers=2 "), "%s", r.out);
    tl_result_free(&r);
    /* The printed line spoke TLS as the cluster's user "admin": nimbus's audit log names that identity. */
    glob_t g;
    char *pattern = tl_path("%s/nimbus-data/nimbus-*-audit.log", d.cluster);
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no audit log at %s", pattern);
    char *audit = tl_read_file(g.gl_pathv[0], NULL);
    cr_assert_not_null(strstr(audit, "\"identity\": \"admin\", \"source\": \"127.0.0.1:"), "%s", audit);
    cr_assert_not_null(strstr(audit, "\"action\": \"submit\", \"target\": \"wordcount_file\", \"result\": \"ok\""),
                       "%s", audit);
    free(audit), free(pattern);
    globfree(&g);
    int short_word = 0;
    for (int i = 0; i < 600 && !counts_reached(sink, counts, &short_word); i++) tl_sleep_ms(100);
    cr_assert_eq(short_word, -1, "'%s' did not reach its count %ld", short_word >= 0 ? TL_VOCAB[short_word] : "",
                 short_word >= 0 ? counts[short_word] : 0);
    /* One worker on each supervisor (d.pids[2] and [3]): their pids, to check they go too. */
    pid_t workers[2] = {0, 0};
    for (int s = 0; s < 2; s++)
        for (int slot = 0; slot < 2; slot++)
            if (tl_worker_pid(d.pids[2 + s], slot) > 0) workers[s] = tl_worker_pid(d.pids[2 + s], slot);
    cr_assert(workers[0] > 0 && workers[1] > 0, "a worker on each supervisor, not %d and %d", (int)workers[0],
              (int)workers[1]);
    /* The two supervisors share the host's cores: each worker runs its supervisor's half, not all of them. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN), half = cores / 2 > 1 ? cores / 2 : 1;
    for (int s = 0; s < 2; s++) {
        char *cmdline_path = tl_path("/proc/%d/cmdline", (int)workers[s]);
        size_t len = 0;
        char *cmdline = tl_read_file(cmdline_path, &len);
        long threads = -1;
        bool tls = false; /* a dev cluster's workers speak TLS by default, with its supervisor's certificate */
        char *want_tls = tl_path("%s/certs/supervisor-%d", d.cluster, s + 1);
        for (size_t at = 0; cmdline && at < len; at += strlen(cmdline + at) + 1) {
            if (!strcmp(cmdline + at, "--threads") && at + 10 < len) threads = atol(cmdline + at + 10);
            if (!strcmp(cmdline + at, "--tls") && at + 6 < len) tls = !strcmp(cmdline + at + 6, want_tls);
        }
        cr_assert(tls, "worker %d was not started with --tls %s", s, want_tls);
        free(want_tls);
        cr_assert_eq(threads, half, "worker %d runs %ld threads on a host of %ld cores shared by 2 supervisors", s,
                     threads, cores);
        free(cmdline), free(cmdline_path);
    }
    r = run_printed(&d, " list ", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "topology wordcount_file status=active workers=2 "), "%s", r.out);
    tl_result_free(&r);
    /* The printed web UI's address answers, with the cluster's figures. */
    /* HTTPS with the cluster's certificates: curl trusts the printed CA. */
    const char *ui = strstr(d.out, "web UI        https://127.0.0.1:");
    cr_assert_not_null(ui, "%s", d.out);
    int http_port = atoi(ui + strlen("web UI        https://127.0.0.1:"));
    char *ca = tl_path("%s/certs/ca.crt", d.cluster),
         *url = tl_path("https://127.0.0.1:%d/api/v1/cluster/summary", http_port);
    cr_assert_not_null(strstr(d.out, ca), "the CA is not printed: %s", d.out);
    char *cluster = NULL;
    /* nimbus reads the cluster at most once a second: its figures may be that old */
    for (int i = 0; i < 50; i++, tl_sleep_ms(100)) {
        free(cluster);
        tl_result_t c;
        cr_assert_eq(tl_run((const char *const[]){"/usr/bin/curl", "-sS", "--cacert", ca, url, NULL}, NULL, 30, &c), 0);
        cr_assert_eq(c.status, 0, "curl: %s", c.err);
        cluster = c.out;
        c.out = NULL;
        tl_result_free(&c);
        if (tl_json_number(cluster, "topologies") == 1) break;
    }
    free(ca), free(url);
    cr_assert_eq(tl_json_number(cluster, "supervisors"), 2, "%s", cluster);
    cr_assert_eq(tl_json_number(cluster, "topologies"), 1, "%s", cluster);
    free(cluster);
    r = run_printed(&d, " kill ", "wordcount", "wordcount_file", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "killed wordcount_file\n");
    tl_result_free(&r);
    r = run_printed(&d, " list ", NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "0 topologies\n");
    tl_result_free(&r);
    cr_assert_eq(dev_interrupt(&d, workers, 2), 0);
    char *err = dev_err(&d);
    cr_assert_not_null(strstr(err, "stopping the supervisors, nimbus and ZooKeeper"), "%s", err);
    free(err), free(secret), free(lines), free(sink), free(set_lines), free(set_sink);
    dev_free(&d);
}

/* The Python word count runs on the dev-cluster as it does locally: its supervisors allow python3's folder. */
Test(dev_cluster, a_multilang_topology_submitted_to_it_runs_its_python_bolt)
{
    devc_t d;
    dev_start(&d, NULL);
    cr_assert_not_null(strstr(d.out, "shell components may run programs in /"), "%s", d.out);
    char *lines = tl_path("%s/lines.txt", d.cluster), *sink = tl_path("%s/counts.jsonl", d.cluster);
    long counts[10];
    tl_make_lines(lines, counts);
    char *set_lines = tl_path("lines.path=%s", lines), *set_sink = tl_path("sink.path=%s", sink);
    const char *sets[] = {"--set", set_lines, "--set", set_sink, "--set", "count.mode=\"running\"", NULL};
    tl_result_t r = run_printed(&d, " submit ", "topologies/wordcount.cfg", "topologies/wordcount_python.cfg", sets);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "submitted wordcount_python version=1 workers=2 "), "%s", r.out);
    tl_result_free(&r);
    int short_word = 0;
    for (int i = 0; i < 600 && !counts_reached(sink, counts, &short_word); i++) tl_sleep_ms(100);
    cr_assert_eq(short_word, -1, "'%s' did not reach its count %ld", short_word >= 0 ? TL_VOCAB[short_word] : "",
                 short_word >= 0 ? counts[short_word] : 0);
    r = run_printed(&d, " kill ", "wordcount", "wordcount_python", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    cr_assert_eq(dev_interrupt(&d, NULL, 0), 0);
    free(lines), free(sink), free(set_lines), free(set_sink);
    dev_free(&d);
}

Test(dev_cluster, a_supervisor_that_dies_is_named_and_the_rest_stopped_with_a_failure)
{
    devc_t d;
    dev_start(&d, (const char *const[]){"--supervisors", "1", "--slots", "1", NULL});
    cr_assert_eq(d.n_pids, 3, "%s", d.out);
    kill(d.pids[2], SIGKILL);
    bool timed_out;
    int status = tl_wait(d.pid, 120, &timed_out);
    cr_assert_not(timed_out);
    cr_assert_eq(status, 1);
    char *err = dev_err(&d);
    cr_assert_not_null(strstr(err, "supervisor 1 (pid "), "%s", err);
    cr_assert_not_null(strstr(err, "was killed by signal 9"), "%s", err);
    for (int i = 0; i < d.n_pids; i++) cr_assert_not(tl_alive(d.pids[i]), "pid %d outlived it", (int)d.pids[i]);
    free(err);
    dev_free(&d);
}

/* Runs `gale dev-cluster --dir DIR ARGS...` with env NAME=VALUE when given; asserts `status`, `message` on stderr,
   and that it made no folder (nothing started). */
static void refused(const char *const *args, const char *env, int status, const char *message)
{
    char *dir = tl_tmpdir(), *cluster = tl_path("%s/cluster", dir);
    const char *argv[16] = {tl_gale(), "dev-cluster", "--dir", cluster};
    int n = 4;
    while (*args && n < 15) argv[n++] = *args++;
    argv[n] = NULL;
    if (env) putenv((char *)env);
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, status, "%s", r.err);
    cr_assert_not_null(strstr(r.err, message), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    cr_assert_neq(access(cluster, F_OK), 0, "it made its folder");
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cluster);
}

Test(dev_cluster, no_supervisors_is_a_usage_error)
{
    refused((const char *const[]){"--supervisors", "0", NULL}, NULL, 2, "--supervisors needs 1 to 16, not '0'");
}

/* A port something listens on, held until the test's process ends. */
static int taken_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

Test(dev_cluster, a_taken_port_is_refused_before_anything_starts)
{
    char port[16], want[128];
    snprintf(port, sizeof port, "%d", taken_port());
    snprintf(want, sizeof want, "--zk-port %s: 127.0.0.1:%s is taken", port, port);
    refused((const char *const[]){"--zk-port", port, NULL}, NULL, 1, want);
    snprintf(want, sizeof want, "--nimbus-port %s: 127.0.0.1:%s is taken", port, port);
    refused((const char *const[]){"--nimbus-port", port, NULL}, NULL, 1, want);
}

Test(dev_cluster, without_zookeeper_installed_it_says_make_deps_installs_it)
{
    refused((const char *const[]){NULL}, "GALE_ZK_SERVER=/nonexistent/zkServer.sh", 1,
            "ZooKeeper's server is not installed (/nonexistent/zkServer.sh: No such file or directory): `make deps` "
            "installs it (Debian's package zookeeper)");
}

/* ---- who may do what: roles in the users' certificates ----------------------------------------------------------- */

/* `gale VERB --zk ... --secret-file ... --tls CERTS/USER ARGS...` against the dev cluster `d`. */
static tl_result_t as_user(const devc_t *d, const char *user, const char *verb, const char *const *args)
{
    const char *z = strstr(d->out, "ZooKeeper     ");
    cr_assert_not_null(z, "%s", d->out);
    char zk[64];
    cr_assert_eq(sscanf(z + 14, "%63s", zk), 1);
    char *secret = tl_path("%s/secret", d->cluster), *tls = tl_path("%s/certs/%s", d->cluster, user);
    const char *argv[32] = {tl_gale(), verb, "--zk", zk, "--secret-file", secret, "--tls", tls};
    int n = 8;
    while (*args && n < 31) argv[n++] = *args++;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_not(r.timed_out, "gale %s as %s timed out", verb, user);
    free(secret), free(tls);
    return r;
}

static void as_user_refused(const devc_t *d, const char *user, const char *verb, const char *const *args,
                            const char *says)
{
    tl_result_t r = as_user(d, user, verb, args);
    cr_assert_eq(r.status, 1, "%s %s as %s was let through: %s", verb, args[0], user, r.out);
    cr_assert_not_null(strstr(r.err, says), "%s as %s: %s", verb, user, r.err);
    tl_result_free(&r);
}

static void as_user_allowed(const devc_t *d, const char *user, const char *verb, const char *const *args)
{
    tl_result_t r = as_user(d, user, verb, args);
    cr_assert_eq(r.status, 0, "%s as %s: %s%s", verb, user, r.out, r.err);
    tl_result_free(&r);
}

Test(dev_cluster, a_viewer_cannot_kill_and_a_deployer_cannot_touch_another_users_topology)
{
    devc_t d;
    dev_start(&d, (const char *const[]){"--supervisors", "1", NULL});
    char *certs = tl_path("%s/certs", d.cluster);
    gale_diag_t diag = {{0}};
    static const char *const users[][2] = {{"alice", "deployer"}, {"bob", "deployer"}, {"vera", "viewer"}};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(gale_certs_issue_as(certs, users[i][0], users[i][1], NULL, 0, 0, 30, &diag), 0, "%s", diag.msg);
    const char *submit_alices[] = {"--name", "alices", "--set", "config.workers=1", "topologies/wordcount.cfg", NULL};
    as_user_refused(&d, "vera", "submit", submit_alices, "needs the deployer or admin role (vera is a viewer)");
    as_user_allowed(&d, "alice", "submit", submit_alices);
    const char *submit_bobs[] = {
        "--name", "bobs", "--set", "config.workers=1", "--set", "config.users=carol,alice", "topologies/wordcount.cfg",
        NULL};
    as_user_allowed(&d, "bob", "submit", submit_bobs);

    tl_result_t r = as_user(&d, "vera", "list", (const char *const[]){NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "topology alices status=active"), "%s", r.out);
    tl_result_free(&r);
    as_user_refused(
        &d, "vera", "kill", (const char *const[]){"alices", NULL},
        "refused: kill needs the admin role, or the deployer role on a topology of its own (vera is a viewer)");
    as_user_refused(
        &d, "bob", "deactivate", (const char *const[]){"alices", NULL},
        "refused: deactivate of 'alices' needs the admin role, or the deployer role as its owner or one of its "
        "config.users (bob is a deployer, and 'alices' is another's)");
    as_user_allowed(&d, "alice", "deactivate", (const char *const[]){"alices", NULL});
    as_user_allowed(&d, "alice", "deactivate",
                    (const char *const[]){"bobs", NULL}); /* bob named alice in config.users */
    as_user_refused(&d, "bob", "kill", (const char *const[]){"--wait", "1", "alices", NULL}, "(bob is a deployer, and");
    as_user_allowed(&d, "admin", "kill", (const char *const[]){"--wait", "1", "alices", NULL});
    as_user_allowed(&d, "bob", "kill", (const char *const[]){"--wait", "1", "bobs", NULL});

    /* Every refusal is in nimbus's audit log, with who asked. */
    glob_t g;
    char *pattern = tl_path("%s/nimbus-data/nimbus-*-audit.log", d.cluster);
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no audit log at %s", pattern);
    char *audit = tl_read_file(g.gl_pathv[0], NULL);
    static const char *const want[] = {"\"identity\": \"vera\", \"source\": \"127.0.0.1:",
                                       "\"action\": \"kill\", \"target\": \"alices\", \"result\": \"refused\"",
                                       "\"identity\": \"bob\", \"source\": \"127.0.0.1:",
                                       "\"action\": \"deactivate\", \"target\": \"alices\", \"result\": \"refused\"",
                                       "\"action\": \"deactivate\", \"target\": \"bobs\", \"result\": \"ok\"",
                                       "\"identity\": \"admin\", \"source\": \"127.0.0.1:"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert_not_null(strstr(audit, want[i]), "no %s in:\n%s", want[i], audit);
    free(audit), free(pattern), free(certs);
    globfree(&g);
    dev_interrupt(&d, NULL, 0);
    dev_free(&d);
}
