#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *tl_build(void)
{
    const char *b = getenv("GALE_BUILD");
    return b && *b ? b : "build";
}

const char *tl_gale(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/bin/gale", tl_build());
    return path;
}

char *tl_path(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

char *tl_tmpdir(void)
{
    char tmpl[] = "/tmp/gale-test-XXXXXX";
    if (!mkdtemp(tmpl)) return NULL;
    return strdup(tmpl);
}

void tl_rmtree(const char *dir)
{
    if (!dir || strncmp(dir, "/tmp/gale-test-", 15) != 0) return; /* never anything else */
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
}

char *tl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int tl_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -errno;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -EIO;
    if (fclose(f) != 0 && rc == 0) rc = -errno;
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A sanitizer report in a process the test started (gale, or a worker under it, which shares its stderr) must fail
   the suite even when the test itself passes: it is copied to the test's own stderr, which tests/run.sh reads. */
static void echo_sanitizer_reports(const char *err_path)
{
    char *text = tl_read_file(err_path, NULL);
    if (text && (strstr(text, "Sanitizer") || strstr(text, "runtime error:")))
        fprintf(stderr, "---- stderr of a process this test started (%s) ----\n%s\n", err_path, text);
    free(text);
}

/* The stderr file of each process tl_spawn started, for tl_wait to look at once it ended. */
#define SPAWNED_MAX 32
static struct {
    pid_t pid;
    char err[4096];
} spawned[SPAWNED_MAX];

static pid_t spawn_to(const char *const *argv, const char *stdin_path, const char *out_path, const char *err_path)
{
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        /* It dies with the test's process, however that ends: a failed assertion leaves no daemon behind (its
           workers follow their supervisor). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(125);
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int tl_wait(pid_t pid, double timeout_s, bool *timed_out)
{
    double deadline = now_s() + timeout_s;
    int st = 0;
    if (timed_out) *timed_out = false;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return -errno;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            if (timed_out) *timed_out = true;
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < SPAWNED_MAX; i++)
        if (spawned[i].pid == pid) {
            echo_sanitizer_reports(spawned[i].err);
            spawned[i].pid = 0;
        }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

pid_t tl_spawn(const char *const *argv, const char *dir)
{
    char out[4096], err[4096];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    pid_t pid = spawn_to(argv, NULL, out, err);
    for (int i = 0; pid > 0 && i < SPAWNED_MAX; i++)
        if (!spawned[i].pid) {
            spawned[i].pid = pid;
            snprintf(spawned[i].err, sizeof spawned[i].err, "%s", err);
            break;
        }
    return pid;
}

int tl_run(const char *const *argv, const char *stdin_path, double timeout_s, tl_result_t *r)
{
    memset(r, 0, sizeof *r);
    char *dir = tl_tmpdir();
    if (!dir) return -errno;
    char *out = tl_path("%s/out", dir), *err = tl_path("%s/err", dir);
    pid_t pid = spawn_to(argv, stdin_path, out, err);
    int rc = 0;
    if (pid < 0) {
        rc = (int)pid;
    } else {
        r->status = tl_wait(pid, timeout_s, &r->timed_out);
        echo_sanitizer_reports(err);
        r->out = tl_read_file(out, NULL);
        r->err = tl_read_file(err, NULL);
        if (!r->out) r->out = strdup("");
        if (!r->err) r->err = strdup("");
    }
    free(out);
    free(err);
    tl_rmtree(dir);
    free(dir);
    return rc;
}

void tl_result_free(tl_result_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void tl_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads /proc: the test must not find workers by name (another run's would match), only by parent. */
pid_t tl_worker_pid(pid_t parent, int index)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    char want[32];
    snprintf(want, sizeof want, "--index%c%d%c", 0, index, 0);
    while (d && (e = readdir(d)) && !found) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        char *stat = tl_read_file(path, NULL);
        if (!stat) continue;
        const char *rp = strrchr(stat, ')');
        int ppid = 0;
        char state;
        if (rp && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == parent && state != 'Z') {
            snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
            size_t len;
            char *cmd = tl_read_file(path, &len);
            for (size_t k = 0; cmd && k + strlen("--index") + 4 <= len; k++)
                if (!memcmp(cmd + k, want, strlen("--index") + 3)) found = pid;
            free(cmd);
        }
        free(stat);
    }
    if (d) closedir(d);
    return found;
}

bool tl_alive(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    char *stat = tl_read_file(path, NULL);
    if (!stat) return false;
    const char *rp = strrchr(stat, ')');
    bool zombie = rp && rp[2] == 'Z';
    free(stat);
    return !zombie;
}

int tl_listening_port(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    unsigned long inodes[64];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        char link[320], target[128];
        snprintf(link, sizeof link, "/proc/%d/fd/%s", pid, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inodes[n]) == 1) n++;
    }
    if (d) closedir(d);
    char *tcp = tl_read_file("/proc/net/tcp", NULL);
    int port = 0;
    for (char *line = tcp ? strchr(tcp, '\n') : NULL; line && !port; line = strchr(line + 1, '\n')) {
        unsigned local_port, state;
        unsigned long inode;
        if (sscanf(line + 1, "%*d: %*8X:%X %*8X:%*X %X %*s %*s %*s %*d %*d %lu", &local_port, &state, &inode) != 3) continue;
        for (int i = 0; i < n && state == 0x0A; i++)
            if (inodes[i] == inode) port = (int)local_port;
    }
    free(tcp);
    return port;
}

long tl_status_kb(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    char *text = tl_read_file(path, NULL);
    long kb = -1;
    size_t n = strlen(field);
    for (const char *line = text; line && kb < 0; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (!strncmp(line, field, n) && line[n] == ':') kb = strtol(line + n + 1, NULL, 10);
    free(text);
    return kb;
}

const char *const TL_VOCAB[10] = {"red", "green", "blue", "cyan", "magenta", "yellow", "black", "white", "grey", "pink"};

double tl_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tl_make_lines(const char *path, long counts[10])
{
    FILE *f = fopen(path, "w");
    memset(counts, 0, 10 * sizeof *counts);
    for (int i = 0; f && i < 3000; i++) {
        for (int w = 0; w < 5; w++) {
            int k = (i * 7 + w * 3) % 10;
            counts[k]++;
            fprintf(f, "%s%s", w ? " " : "", TL_VOCAB[k]);
        }
        fputc('\n', f);
    }
    if (f) fclose(f);
}

int tl_words_short(const char *sink_out, const long counts[10], long *seen)
{
    for (int k = 0; k < 10; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "{\"word\": \"%s\"}", TL_VOCAB[k]);
        long n = 0;
        for (const char *p = sink_out; p && (p = strstr(p, pat)); p++) n++;
        if (n < counts[k]) {
            *seen = n;
            return k;
        }
    }
    return -1;
}

int tl_word_counts_differ(const char *text, const long counts[10], bool at_least, char *why, size_t cap)
{
    if (!text) return snprintf(why, cap, "no output"), 1;
    long seen[10] = {0};
    int lines = 0;
    for (const char *line = text; *line; lines++) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char word[64];
        long n;
        if (sscanf(line, "{\"word\": \"%63[^\"]\", \"count\": %ld}", word, &n) != 2)
            return snprintf(why, cap, "not a count: %.*s", (int)len, line), 1;
        int w = 0;
        while (w < 10 && strcmp(TL_VOCAB[w], word)) w++;
        if (w == 10) return snprintf(why, cap, "unknown word %s", word), 1;
        seen[w] += n;
        line += len + (nl != NULL);
    }
    if (lines != 10) return snprintf(why, cap, "%d lines, not one per word", lines), 1;
    for (int w = 0; w < 10; w++)
        if (at_least ? seen[w] < counts[w] : seen[w] != counts[w])
            return snprintf(why, cap, "%s counted %ld times, not %s%ld", TL_VOCAB[w], seen[w],
                            at_least ? "at least " : "", counts[w]),
                   1;
    return 0;
}

long tl_rejected_in_log(const char *err, long *lines)
{
    long n = 0, k = 0;
    for (const char *p = err; p && (p = strstr(p, "[transport] ")); p++) {
        p += strlen("[transport] ");
        long count;
        int used = 0;
        if (!strncmp(p, "closing", 7)) n++, k++;
        else if (sscanf(p, "%ld connections rejected in the last %*d s%n", &count, &used) == 1 && used) n += count, k++;
    }
    if (lines) *lines = k;
    return n;
}

int tl_worker_port(pid_t parent, int index, double timeout_s, pid_t *worker)
{
    pid_t w = 0;
    int port = 0;
    for (long i = 0; i < (long)(timeout_s * 100) && !port; i++) {
        if (!w) w = tl_worker_pid(parent, index);
        if (w) port = tl_listening_port(w);
        if (!port) tl_sleep_ms(10);
    }
    if (worker) *worker = w;
    return port;
}

size_t tl_file_size(const char *path)
{
    size_t len = 0;
    free(tl_read_file(path, &len));
    return len;
}

void tl_use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}
