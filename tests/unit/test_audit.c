/* The audit log (audit.h): its chain across reopens, every kind of tampering found by line, torn tails, redaction. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "hmac.h"
#include "testlib.h"

static void append(gale_audit_t *a, const char *action, const char *target, const char *result)
{
    gale_audit_event_t e = {.identity = "cluster-secret",
                            .source = "127.0.0.1:4000",
                            .action = action,
                            .target = target,
                            .result = result,
                            .detail = "a \"quoted\" detail\\ with a backslash"};
    cr_assert_eq(gale_audit_append(a, &e), 0);
}

/* A log of `n` lines at `path`, written by two opens (the second goes on with the first's chain). */
static void write_log(const char *path, int n)
{
    gale_audit_t *a;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_audit_open(path, "nimbus 127.0.0.1:6627", &a, &d), 0, "%s", d.msg);
    for (int i = 0; i < n / 2; i++) append(a, "kill", "wc", "ok");
    gale_audit_close(a);
    cr_assert_eq(gale_audit_open(path, "nimbus 127.0.0.1:6627", &a, &d), 0, "%s", d.msg);
    for (int i = n / 2; i < n; i++) append(a, "submit", "wc", "error");
    gale_audit_close(a);
}

/* Verifies `path`: 0 and nothing in why, or the reason. */
static int verify(const char *path, char *why, size_t cap)
{
    size_t lines;
    char last[65];
    why[0] = '\0';
    return gale_audit_verify(path, &lines, last, why, cap);
}

/* The lines of a log, each malloc'd, NULL after the last. */
static char **lines_of(const char *path, int *n)
{
    char *text = tl_read_file(path, NULL);
    char **lines = calloc(64, sizeof *lines);
    *n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && *n < 63; l = strtok_r(NULL, "\n", &save))
        lines[(*n)++] = strdup(l);
    free(text);
    return lines;
}

static void write_lines(const char *path, char **lines, int n)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
    fclose(f);
}

static void free_lines(char **lines)
{
    for (int i = 0; lines[i]; i++) free(lines[i]);
    free(lines);
}

Test(audit, the_chain_holds_across_reopens_and_every_line_is_json_with_its_fields)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/audit.log", dir);
    write_log(path, 6);
    size_t lines;
    char last[65], why[256];
    cr_assert_eq(gale_audit_verify(path, &lines, last, why, sizeof why), 0, "%s", why);
    cr_assert_eq(lines, 6);
    int n;
    char **l = lines_of(path, &n);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++) {
        cr_assert(tl_json_valid(l[i]), "not JSON: %s", l[i]);
        char seq[32];
        snprintf(seq, sizeof seq, "{\"seq\": %d, \"time\": \"", i + 1);
        cr_assert_eq(strncmp(l[i], seq, strlen(seq)), 0, "%s", l[i]);
        cr_assert_not_null(strstr(l[i], "\"by\": \"nimbus 127.0.0.1:6627\", \"identity\": \"cluster-secret\", "
                                        "\"source\": \"127.0.0.1:4000\", \"action\": \""),
                           "%s", l[i]);
    }
    cr_assert_not_null(strstr(l[0], "\"prev\": \"0000000000000000000000000000000000000000000000000000000000000000\""));
    /* Each line's prev is the hash at the end of the line before: the chain, seen from outside. */
    for (int i = 1; i < n; i++) {
        const char *h = strstr(l[i - 1], "\"hash\": \"") + 9, *p = strstr(l[i], "\"prev\": \"") + 9;
        cr_assert_eq(strncmp(h, p, 64), 0, "line %d", i + 1);
    }
    cr_assert_eq(strncmp(strstr(l[5], "\"hash\": \"") + 9, last, 64), 0, "the last hash is the log's");
    free_lines(l);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(audit, a_changed_removed_inserted_or_swapped_line_fails_verify_naming_the_line)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/audit.log", dir);
    write_log(path, 6);
    char why[256];
    int n;
    char **l = lines_of(path, &n);

    char *orig = strdup(l[2]); /* one character of line 3's result, still valid JSON */
    char *r = strstr(l[2], "\"result\": \"ok\"");
    cr_assert_not_null(r);
    memcpy(r, "\"result\": \"no\"", 14);
    write_lines(path, l, n);
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    cr_assert_str_eq(why, "line 3: its hash does not match its text: the line was changed");

    /* The same change with its hash made anew, as a forger would: the next line's link says so. */
    char *h = strstr(l[2], "\"hash\": \"") + 9;
    unsigned char digest[GALE_SHA256_LEN];
    cr_assert_eq(gale_sha256(l[2], (size_t)(h - l[2]) - strlen(", \"hash\": \""), digest), 0);
    char hex[65];
    gale_hex_encode(digest, sizeof digest, hex);
    memcpy(h, hex, 64);
    write_lines(path, l, n);
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    cr_assert_str_eq(why, "line 4: \"prev\" is not the hash of the line before: a line before it was changed, "
                          "inserted or taken out");
    free(l[2]);
    l[2] = orig;
    write_lines(path, l, n);
    cr_assert_eq(verify(path, why, sizeof why), 0, "%s", why);

    char *gone = l[1]; /* line 2 taken out */
    memmove(l + 1, l + 2, (size_t)(n - 2) * sizeof *l);
    write_lines(path, l, n - 1);
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    const char *want = "line 2: \"prev\" is not the hash of the line before";
    cr_assert_eq(strncmp(why, want, strlen(want)), 0, "%s", why);
    memmove(l + 2, l + 1, (size_t)(n - 2) * sizeof *l);
    l[1] = gone;

    char *t = l[3]; /* lines 4 and 5 swapped */
    l[3] = l[4], l[4] = t;
    write_lines(path, l, n);
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    cr_assert_eq(strncmp(why, "line 4: ", 8), 0, "%s", why);
    l[4] = l[3], l[3] = t;

    char **more = calloc((size_t)n + 2, sizeof *more); /* line 2 twice */
    for (int i = 0, k = 0; i < n; i++) {
        more[k++] = l[i];
        if (i == 1) more[k++] = l[i];
    }
    write_lines(path, more, n + 1);
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    cr_assert_eq(strncmp(why, "line 3: ", 8), 0, "%s", why);
    free(more);

    write_lines(path, l, n);
    cr_assert_eq(verify(path, why, sizeof why), 0, "the log as written verifies: %s", why);
    free_lines(l);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(audit, a_torn_last_line_is_cut_on_reopen_and_said_and_a_changed_last_line_stops_the_open)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/audit.log", dir);
    write_log(path, 2);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_eq(write(fd, "{\"seq\": 3, \"ti", 14), 14);
    close(fd);
    char why[256];
    cr_assert_eq(verify(path, why, sizeof why), GALE_ECORRUPT);
    cr_assert_str_eq(why, "line 3: torn (no newline at the end of the log)");
    gale_audit_t *a;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_audit_open(path, "supervisor x", &a, &d), 0, "%s", d.msg);
    append(a, "assign", "wc", "ok");
    gale_audit_close(a);
    cr_assert_eq(verify(path, why, sizeof why), 0, "%s", why);
    char *text = tl_read_file(path, NULL);
    cr_assert_not_null(strstr(text, "a torn last line of 14 bytes (a crash in mid-write) was cut\""), "%s", text);
    cr_assert_not_null(strstr(text, "{\"seq\": 3, \"time\""), "the chain goes on at 3: %s", text);
    free(text);

    int n;
    char **l = lines_of(path, &n);
    l[n - 1][strlen(l[n - 1]) - 3] ^= 1; /* a hash digit of the last line */
    write_lines(path, l, n);
    cr_assert_lt(gale_audit_open(path, "supervisor x", &a, &d), 0);
    cr_assert_not_null(strstr(d.msg, "its last line is not an audit line"), "%s", d.msg);
    free_lines(l);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(audit, a_second_writer_is_refused_while_the_first_has_the_log)
{
    char *dir = tl_tmpdir(), *path = tl_path("%s/audit.log", dir);
    gale_audit_t *a, *b;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_audit_open(path, "one", &a, &d), 0, "%s", d.msg);
    pid_t pid = fork();
    if (pid == 0) _exit(gale_audit_open(path, "two", &b, &d) == GALE_EEXIST && strstr(d.msg, "in use") ? 0 : 1);
    bool timed_out;
    cr_assert_eq(tl_wait(pid, 30, &timed_out), 0, "a second process opened the log");
    gale_audit_close(a);
    free(path);
    tl_rmtree(dir);
    free(dir);
}

Test(audit, secrets_in_an_action_line_are_redacted)
{
    char out[256];
    gale_audit_redact("assign wc t.cfg workers=2 secret=0123abcd set=a.key=x token=zz key=k", out, sizeof out);
    cr_assert_str_eq(out, "assign wc t.cfg workers=2 secret=[redacted] set=a.key=x token=[redacted] key=[redacted]");
    gale_audit_redact("kill wc", out, 4);
    cr_assert_str_eq(out, "kil");
}
