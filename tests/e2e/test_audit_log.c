/*
 * End to end: a supervisor daemon's audit log (--audit-log) records every control action with who, from where,
 * what and how it went, a refused login too, never a secret; `gale audit verify` passes on it and fails, naming
 * the line, once one line is changed. (Nimbus's log is checked in test_cluster_verbs, with the cluster's verbs.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_daemon.h"

TestSuite(audit_log, .timeout = 120);

static tl_result_t verify(const char *path)
{
    const char *argv[] = {tl_gale(), "audit", "verify", path, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    return r;
}

/* The line of `log` whose action, target and result are these: a malloc'd copy, NULL when there is none. */
static char *line_of(const char *log, const char *action, const char *target, const char *result)
{
    char want[256];
    snprintf(want, sizeof want, "\"action\": \"%s\", \"target\": %s%s%s, \"result\": \"%s\"", action,
             target ? "\"" : "", target ? target : "null", target ? "\"" : "", result);
    const char *at = strstr(log, want);
    if (!at) return NULL;
    const char *start = at, *end = strchr(at, '\n');
    while (start > log && start[-1] != '\n') start--;
    return strndup(start, (size_t)(end - start));
}

Test(audit_log, every_action_on_a_supervisor_is_recorded_and_verify_finds_one_changed_line)
{
    char *adir = tl_tmpdir(), *log_path = tl_path("%s/supervisor-audit.log", adir);
    tl_daemon_t d = {0};
    tl_daemon_start_with(&d, "the cluster secret, 16 bytes", 4, NULL,
                         (const char *const[]){"--audit-log", log_path, NULL});
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "wc", "topologies/wordcount.cfg", "workers=1",
                         "secret=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    tl_ctl_ok(&d, TL_CTL(&d, "deactivate", "wc"));
    tl_ctl_ok(&d, TL_CTL(&d, "activate", "wc"));
    tl_result_t r = TL_CTL(&d, "assign", "other", "/etc/passwd", "workers=1");
    cr_assert_eq(r.status, 1, "%s", r.err);
    tl_result_free(&r);
    tl_ctl_ok(&d, TL_CTL(&d, "kill", "wc", "wait=1"));
    tl_ctl_ok(&d, TL_CTL(&d, "status")); /* not an action: not recorded */
    char *wrong = tl_daemon_secret(adir, "not the secret of this cluster", 0600);
    r = tl_ctl_with(&d, wrong, (const char *const[]){"kill", "wc", NULL});
    cr_assert_eq(r.status, 1);
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);

    char *log = tl_read_file(log_path, NULL);
    cr_assert_not_null(log);
    static const char *const expect[][3] = {{"start", NULL, "ok"},
                                            {"assign", "wc", "ok"},
                                            {"deactivate", "wc", "ok"},
                                            {"activate", "wc", "ok"},
                                            {"assign", "other", "error"},
                                            {"kill", "wc", "ok"},
                                            {"authenticate", NULL, "refused"},
                                            {"stop", NULL, "ok"}};
    const char *prev = log;
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        char *line = line_of(prev, expect[i][0], expect[i][1], expect[i][2]);
        cr_assert_not_null(line, "no %s %s %s after the lines before, in:\n%s", expect[i][0],
                           expect[i][1] ? expect[i][1] : "-", expect[i][2], log);
        if (strcmp(expect[i][0], "start") && strcmp(expect[i][0], "stop")) {
            cr_assert_not_null(strstr(line, "\"source\": \"127.0.0.1:"), "%s", line);
            bool authed = strcmp(expect[i][0], "authenticate") != 0;
            cr_assert_not_null(strstr(line, authed ? "\"identity\": \"cluster-secret\"" : "\"identity\": null"), "%s",
                               line);
        }
        prev = strstr(prev, line) + strlen(line);
        free(line);
    }
    cr_assert_not_null(
        strstr(log, "\"detail\": \"assign wc topologies/wordcount.cfg workers=1 secret=[redacted] -> ok"), "%s", log);
    cr_assert_null(strstr(log, "00112233445566778899"), "a topology secret is in the audit log");
    char *said = tl_daemon_log(&d); /* nor in the daemon's own log, nor in its workers' */
    cr_assert_null(strstr(said, "00112233445566778899"), "a topology secret is in the log:\n%s", said);
    free(said);
    cr_assert_null(strstr(log, "\"status\""), "a read-only command was recorded");
    char *n_line = strstr(log, "\"by\": \"supervisor 127.0.0.1:");
    cr_assert_not_null(n_line, "%s", log);

    r = verify(log_path);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "8 lines, chain intact, last hash "), "%s", r.out);
    tl_result_free(&r);
    /* One line changed: the deactivation made to look refused. */
    char *at = strstr(log, "\"action\": \"deactivate\", \"target\": \"wc\", \"result\": \"ok\"");
    cr_assert_not_null(at);
    memcpy(strstr(at, "\"ok\""), "\"no\"", 4);
    cr_assert_eq(tl_write_file(log_path, log), 0);
    r = verify(log_path);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.err, "line 3: its hash does not match its text: the line was changed"), "%s", r.err);
    tl_result_free(&r);
    free(log), free(wrong), free(log_path);
    tl_daemon_free(&d);
    tl_rmtree(adir);
    free(adir);
}

Test(audit_log, a_log_another_daemon_writes_or_one_whose_last_line_was_changed_stops_the_start)
{
    char *adir = tl_tmpdir(), *log_path = tl_path("%s/a.log", adir);
    tl_daemon_t d = {0};
    tl_daemon_start_with(&d, "the cluster secret, 16 bytes", 1, NULL,
                         (const char *const[]){"--audit-log", log_path, NULL});
    char *secret = tl_daemon_secret(adir, "the cluster secret, 16 bytes", 0600);
    const char *argv[] = {tl_gale(), "supervisor", "--secret-file", secret, "--audit-log", log_path, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "the audit log is in use by another process"), "%s", r.err);
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    char *log = tl_read_file(log_path, NULL);
    char *last = strrchr(log, '}');
    cr_assert_not_null(last);
    last[-2] = last[-2] == '0' ? '1' : '0'; /* a digit of the last line's hash */
    cr_assert_eq(tl_write_file(log_path, log), 0);
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "its last line is not an audit line"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "run gale audit verify"), "%s", r.err);
    tl_result_free(&r);
    free(log), free(secret), free(log_path);
    tl_daemon_free(&d);
    tl_rmtree(adir);
    free(adir);
}
