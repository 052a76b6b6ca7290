#include "counts_check.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testlib.h"

void tl_counts_make(const char *path, long lines, long counts[TL_COUNTS_VOCAB])
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    memset(counts, 0, TL_COUNTS_VOCAB * sizeof *counts);
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < lines; i++) {
        for (int k = 0; k < 8; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned w = (unsigned)(x % TL_COUNTS_VOCAB);
            counts[w]++;
            fprintf(f, k ? " w%u" : "w%u", w);
        }
        fputc('\n', f);
    }
    fclose(f);
}

int tl_counts_check_running(const char *text, const long counts[TL_COUNTS_VOCAB], long *lines, char *fault, size_t cap)
{
    long top = 0;
    for (unsigned i = 0; i < TL_COUNTS_VOCAB; i++) top = counts[i] > top ? counts[i] : top;
    unsigned char *seen = calloc(TL_COUNTS_VOCAB, (size_t)top + 1);
    cr_assert_not_null(seen);
    *lines = 0;
    *fault = 0;
    /* Judged without an assertion a line (Criterion reports each to its runner): the first fault is kept. */
    for (const char *p = text, *nl; *p && (nl = strchr(p, '\n')); p = nl + 1) {
        /* sscanf on the line alone: glibc's measures the whole string it is given at every call */
        char line[96];
        snprintf(line, sizeof line, "%.*s", (int)(nl - p < 95 ? nl - p : 95), p);
        unsigned word;
        long k;
        if (sscanf(line, "{\"word\": \"w%u\", \"count\": %ld}", &word, &k) != 2 || word >= TL_COUNTS_VOCAB || k < 1 ||
            k > counts[word])
            snprintf(fault, cap, "not in a failure-free run: %.60s", line);
        else if (seen[(size_t)word * ((size_t)top + 1) + (size_t)k]++)
            snprintf(fault, cap, "w%u %ld twice: a duplicate", word, k);
        ++*lines;
        if (*fault) break;
    }
    free(seen);
    return *fault ? -1 : 0;
}

uint64_t tl_state_latest(const char *state, int redis_port, const char *topo)
{
    char *text;
    if (redis_port) {
        char *key = tl_path("gale:%s:latest", topo);
        const char *argv[] = {"GET", key, NULL};
        text = tl_redis_call(redis_port, argv);
        free(key);
    } else {
        char *p = tl_path("%s/%s/latest", state, topo);
        text = tl_read_file(p, NULL);
        free(p);
    }
    char *at = text ? strstr(text, "\nid ") : NULL;
    uint64_t id = at ? strtoull(at + 4, NULL, 10) : 0;
    free(text);
    return id;
}

bool tl_state_writing(const char *state, int redis_port, const char *topo)
{
    uint64_t id = tl_state_latest(state, redis_port, topo);
    bool found = false;
    if (redis_port) {
        char above[32], *key = tl_path("gale:%s:chks", topo);
        snprintf(above, sizeof above, "(%" PRIu64, id);
        const char *argv[] = {"ZRANGEBYSCORE", key, above, "+inf", NULL};
        char *reply = tl_redis_call(redis_port, argv);
        found = reply && strcmp(reply, "*0");
        free(reply), free(key);
        return found;
    }
    char *p = tl_path("%s/%s", state, topo);
    DIR *d = opendir(p);
    free(p);
    for (struct dirent *e; d && (e = readdir(d));) {
        uint64_t m;
        if (sscanf(e->d_name, "chk-%" SCNu64, &m) == 1 && m > id) found = true;
    }
    if (d) closedir(d);
    return found;
}

static pid_t spawn_quiet(const char *cfg, const char *dir)
{
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert(pid > 0);
    tl_remember(pid);
    return pid;
}

uint64_t tl_run_killed_twice(const char *cfg, const char *dir, const char *state, const char *topo)
{
    uint64_t last = 0;
    bool late;
    for (int kill_no = 0; kill_no < 2; kill_no++) {
        pid_t pid = spawn_quiet(cfg, dir);
        double until = tl_now_s() + 60;
        while (tl_state_latest(state, 0, topo) < last + 2 && tl_now_s() < until && tl_alive(pid)) tl_sleep_ms(1);
        cr_assert(tl_alive(pid), "run %d ended before two more checkpoints (the latest is %" PRIu64 ")", kill_no + 1,
                  tl_state_latest(state, 0, topo));
        kill(pid, SIGKILL);
        tl_wait(pid, 30, &late);
        last = tl_state_latest(state, 0, topo);
        cr_log_info("run %d killed after checkpoint %" PRIu64, kill_no + 1, last);
    }
    cr_assert_eq(tl_wait(spawn_quiet(cfg, dir), 120, &late), 0, "the run after the kills failed");
    return last;
}

static int cmp_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *tl_sorted_lines(const char *text, long *n)
{
    char *copy = strdup(text ? text : "");
    size_t cap = 1024, k = 0;
    char **lines = malloc(cap * sizeof *lines);
    for (char *p = copy, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        if (k == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        *nl = '\0';
        lines[k++] = p;
    }
    qsort(lines, k, sizeof *lines, cmp_line);
    gale_buf_t b = {0};
    for (size_t i = 0; i < k; i++) gale_buf_printf(&b, "%s\n", lines[i]);
    free(lines), free(copy);
    *n = (long)k;
    return b.p ? b.p : strdup("");
}
