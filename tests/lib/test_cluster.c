#include "test_cluster.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tl_cluster_nimbus_log(const tl_cluster_t *c, int i)
{
    char *path = tl_path("%s/err.txt", c->nimbus[i].dir), *text = tl_read_file(path, NULL);
    free(path);
    return text ? text : strdup("");
}

void tl_cluster_wait_log(const tl_cluster_t *c, int i, const char *what)
{
    for (int k = 0; k < 6000; k++) {
        char *text = tl_cluster_nimbus_log(c, i);
        bool there = strstr(text, what) != NULL;
        free(text);
        if (there) return;
        tl_sleep_ms(10);
    }
    char *text = tl_cluster_nimbus_log(c, i);
    cr_assert_fail("no '%s' in the log of nimbus %d:\n%s", what, i, text);
}

void tl_cluster_start_nimbus(tl_cluster_t *c, int i)
{
    tl_nimbus_t *n = &c->nimbus[i];
    n->dir = tl_path("%s/nimbus%d", c->dir, i);
    cr_assert_eq(mkdir(n->dir, 0700), 0);
    char *data = tl_path("%s/data", n->dir);
    const char *argv[] = {
        tl_gale(), "nimbus", "--zk", c->zk.hosts, "--secret-file", c->secret, "--data", data, "--zk-session-timeout",
        "2",       "--http", "0",    NULL};
    n->pid = tl_spawn(argv, n->dir);
    free(data);
    cr_assert_gt(n->pid, 0);
    char *out_path = tl_path("%s/out.txt", n->dir);
    for (int k = 0; k < 6000 && !n->port; k++) {
        char *out = tl_read_file(out_path, NULL);
        const char *p = out ? strstr(out, "listening 127.0.0.1:") : NULL;
        if (p && strchr(p, '\n')) n->port = atoi(p + strlen("listening 127.0.0.1:"));
        free(out);
        if (!n->port) tl_sleep_ms(10);
    }
    free(out_path);
    char *log = tl_cluster_nimbus_log(c, i), *err_path = tl_path("%s/err.txt", n->dir);
    cr_assert_gt(n->port, 0, "nimbus %d did not say where it listens:\n%s", i, log);
    n->http_port = tl_http_port(err_path, n->pid, 60);
    cr_assert_gt(n->http_port, 0, "nimbus %d did not serve HTTP:\n%s", i, log);
    free(log), free(err_path);
}

int tl_cluster_add_supervisor(tl_cluster_t *c, int slots) { return tl_cluster_add_supervisor_with(c, slots, 0, NULL); }

int tl_cluster_add_supervisor_with(tl_cluster_t *c, int slots, int nimbus, const char *data)
{
    cr_assert_lt(c->n_sups, TL_CLUSTER_SUPS);
    int i = c->n_sups++;
    /* The folder of the python3 that PATH finds: a supervisor runs a shell component's program only from a folder
       it allows. */
    const char *extra[] = {"--zk",   c->zk.hosts,           "--zk-session-timeout", "2",
                           "--data", data ? data : c->data, "--allow-path",         c->python_dir,
                           NULL};
    tl_daemon_start_with(&c->sup[i], TL_CLUSTER_SECRET, slots, c->dir, extra);
    char *joined = tl_path("supervisor %s joined", c->sup[i].addr);
    tl_cluster_wait_log(c, nimbus, joined);
    free(joined);
    return i;
}

/* The folder of python3 as execvp finds it on PATH (symbolic links followed), malloc'd; "/usr/bin" if none. */
static char *python_folder(void)
{
    const char *path = getenv("PATH");
    char *dirs = strdup(path ? path : "/usr/bin"), *save = NULL, *found = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *exe = tl_path("%s/python3", d);
        if (access(exe, X_OK) == 0) found = realpath(exe, NULL);
        free(exe);
    }
    free(dirs);
    if (!found) return strdup("/usr/bin");
    *strrchr(found, '/') = '\0';
    return found;
}

void tl_cluster_start(tl_cluster_t *c, int n_sups, int slots)
{
    memset(c, 0, sizeof *c);
    c->python_dir = python_folder();
    tl_zk_start(&c->zk);
    c->dir = tl_tmpdir();
    c->secret = tl_daemon_secret(c->dir, TL_CLUSTER_SECRET, 0600);
    c->data = tl_path("%s/sup-data", c->dir);
    tl_cluster_start_nimbus(c, 0);
    tl_cluster_wait_log(c, 0, "leading (");
    for (int i = 0; i < n_sups; i++) tl_cluster_add_supervisor(c, slots);
}

/* `gale VERB WHERE_OPT WHERE --secret-file SECRET ARGS...`: nimbus found through ZooKeeper (--zk) or given. */
static tl_result_t verb_with(const tl_cluster_t *c, const char *where_opt, const char *where, const char *verb,
                             const char *const *args)
{
    const char *argv[40] = {tl_gale(), verb, where_opt, where, "--secret-file", c->secret};
    int n = 6;
    while (*args && n < 39) argv[n++] = *args++;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 180, &r), 0);
    cr_assert_not(r.timed_out, "gale %s timed out", verb);
    return r;
}

tl_result_t tl_cluster_verb(const tl_cluster_t *c, const char *verb, const char *const *args)
{
    return verb_with(c, "--zk", c->zk.hosts, verb, args);
}

tl_result_t tl_cluster_verb_at(const tl_cluster_t *c, const char *addr, const char *verb, const char *const *args)
{
    return verb_with(c, "--nimbus", addr, verb, args);
}

tl_result_t tl_cluster_verb_list(const tl_cluster_t *c, const char *verb, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, verb);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;) args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return tl_cluster_verb(c, verb, args);
}

tl_result_t tl_cluster_verb_at_list(const tl_cluster_t *c, const char *addr, const char *verb, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, verb);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;) args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return tl_cluster_verb_at(c, addr, verb, args);
}

void tl_cluster_stop_supervisor(tl_cluster_t *c, int i)
{
    if (c->sup[i].pid <= 0) return;
    tl_daemon_stop(&c->sup[i]);
    c->sup[i].pid = 0;
}

bool tl_cluster_listed(const tl_cluster_t *c, const char *what)
{
    tl_result_t r = TL_VERB(c, "list");
    cr_assert_eq(r.status, 0, "%s", r.err);
    bool there = strstr(r.out, what) != NULL;
    tl_result_free(&r);
    return there;
}

void tl_cluster_free(tl_cluster_t *c)
{
    for (int i = 0; i < c->n_sups; i++) {
        tl_cluster_stop_supervisor(c, i);
        tl_daemon_free(&c->sup[i]);
    }
    for (int i = 0; i < 2; i++) {
        if (c->nimbus[i].pid > 0) {
            kill(c->nimbus[i].pid, SIGTERM);
            bool timed_out;
            tl_wait(c->nimbus[i].pid, 30, &timed_out);
        }
        free(c->nimbus[i].dir);
    }
    tl_zk_free(&c->zk);
    if (c->dir) tl_rmtree(c->dir);
    free(c->dir), free(c->secret), free(c->data), free(c->python_dir);
}
