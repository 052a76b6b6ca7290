#include "test_daemon.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *tl_daemon_secret(const char *dir, const char *text, int mode)
{
    char *path = tl_path("%s/secret-%o", dir, (unsigned)mode);
    cr_assert_eq(tl_write_file(path, text), 0);
    chmod(path, (mode_t)mode);
    return path;
}

void tl_daemon_start(tl_daemon_t *d, const char *secret_text, int slots, const char *allow)
{
    tl_daemon_start_with(d, secret_text, slots, allow, NULL);
}

void tl_daemon_start_with(tl_daemon_t *d, const char *secret_text, int slots, const char *allow,
                          const char *const *extra)
{
    d->dir = tl_tmpdir();
    d->secret = tl_daemon_secret(d->dir, secret_text, 0600);
    char slots_arg[16];
    snprintf(slots_arg, sizeof slots_arg, "%d", slots);
    const char *argv[32] = {tl_gale(), "supervisor", "--secret-file", d->secret,
                            "--slots", slots_arg,    "--allow-path",  d->dir};
    size_t n = 8;
    if (allow) argv[n++] = "--allow-path", argv[n++] = allow;
    for (size_t i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    d->pid = tl_spawn(argv, d->dir);
    cr_assert_gt(d->pid, 0);
    char *out_path = tl_path("%s/out.txt", d->dir);
    for (int i = 0; i < 3000 && !d->port; i++) { /* bounded: a busy machine may take seconds */
        char *out = tl_read_file(out_path, NULL);
        const char *p = out ? strstr(out, "listening 127.0.0.1:") : NULL;
        if (p && strchr(p, '\n')) d->port = atoi(p + strlen("listening 127.0.0.1:"));
        free(out);
        if (!d->port) tl_sleep_ms(10);
    }
    free(out_path);
    cr_assert_gt(d->port, 0, "the daemon did not say where it listens");
    snprintf(d->addr, sizeof d->addr, "127.0.0.1:%d", d->port);
}

int tl_daemon_stop(tl_daemon_t *d)
{
    pid_t workers[4];
    for (int i = 0; i < 4; i++) workers[i] = tl_worker_pid(d->pid, i);
    kill(d->pid, SIGTERM);
    bool timed_out;
    int status = tl_wait(d->pid, 60, &timed_out);
    cr_assert_not(timed_out, "the daemon did not end after SIGTERM");
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 200 && workers[i] && tl_alive(workers[i]); k++) tl_sleep_ms(10);
        cr_assert(!workers[i] || !tl_alive(workers[i]), "worker %d outlived the daemon", i);
    }
    return status;
}

char *tl_daemon_log(const tl_daemon_t *d)
{
    char *path = tl_path("%s/err.txt", d->dir);
    char *text = tl_read_file(path, NULL);
    free(path);
    return text ? text : strdup("");
}

char *tl_daemon_log_with(const tl_daemon_t *d, const char *what, double seconds)
{
    char *log = tl_daemon_log(d);
    for (int i = 0; i < (int)(seconds * 50) && !strstr(log, what); i++) {
        tl_sleep_ms(20);
        free(log);
        log = tl_daemon_log(d);
    }
    return log;
}

void tl_daemon_free(tl_daemon_t *d)
{
    tl_rmtree(d->dir);
    free(d->dir);
    free(d->secret);
}

tl_result_t tl_ctl_with(const tl_daemon_t *d, const char *secret, const char *const *args)
{
    const char *argv[32] = {tl_gale(), "ctl", "--secret-file", secret};
    int n = 4;
    if (d->ctl_tls) argv[n++] = "--tls", argv[n++] = d->ctl_tls;
    argv[n++] = d->addr;
    while (*args && n < 31) argv[n++] = *args++;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 120, &r), 0);
    cr_assert_not(r.timed_out, "gale ctl %s timed out", argv[5]);
    return r;
}

void tl_ctl_ok(const tl_daemon_t *d, tl_result_t r)
{
    char *log = r.status ? tl_daemon_log(d) : NULL;
    cr_assert_eq(r.status, 0, "ctl failed: %s\ndaemon log:\n%s", r.err, log);
    free(log);
    tl_result_free(&r);
}

void tl_daemon_addresses(const tl_daemon_t *d, const char *id, char addr[][32], int n)
{
    tl_result_t r = TL_CTL(d, "status");
    for (int slot = 0; slot < n; slot++) {
        char pat[64];
        snprintf(pat, sizeof pat, "worker %s %d state=", id, slot);
        const char *p = strstr(r.out, pat), *a = p ? strstr(p, "addr=") : NULL;
        if (a && a[5] != '-') sscanf(a + 5, "%31s", addr[slot]);
    }
    tl_result_free(&r);
}

int tl_words_arrive(const char *out, const long counts[10], double seconds, long *seen)
{
    int short_word = 0;
    for (int i = 0; i < (int)(seconds * 50) && short_word >= 0; i++) {
        char *text = tl_read_file(out, NULL);
        short_word = tl_words_short(text, counts, seen);
        free(text);
        if (short_word >= 0) tl_sleep_ms(20);
    }
    return short_word;
}

/* Occurrences of {"word": "W"} in `text`, W of TL_VOCAB[k] in lower or upper case. */
static long vocab_count(const char *text, int k, bool upper_case)
{
    char word[32], pat[64];
    size_t i = 0;
    for (; TL_VOCAB[k][i] && i + 1 < sizeof word; i++)
        word[i] = upper_case ? (char)toupper((unsigned char)TL_VOCAB[k][i]) : TL_VOCAB[k][i];
    word[i] = '\0';
    snprintf(pat, sizeof pat, "{\"word\": \"%s\"}", word);
    long n = 0;
    for (const char *p = text; p && (p = strstr(p, pat)); p++) n++;
    return n;
}

long tl_vocab_words(const char *text, bool upper_case)
{
    long n = 0;
    for (int k = 0; k < 10; k++) n += vocab_count(text, k, upper_case);
    return n;
}

int tl_words_arrive_any_case(const char *out, const long counts[10], double seconds, long *seen)
{
    int short_word = 0;
    for (int i = 0; i < (int)(seconds * 50) && short_word >= 0; i++) {
        char *text = tl_read_file(out, NULL);
        short_word = -1;
        for (int k = 0; k < 10 && short_word < 0; k++) {
            *seen = vocab_count(text, k, false) + vocab_count(text, k, true);
            if (*seen < counts[k]) short_word = k;
        }
        free(text);
        if (short_word >= 0) tl_sleep_ms(20);
    }
    return short_word;
}
