/*
 * The supervisor daemon and plugin loading under hostile input: idle connections that would lock clients out, a
 * probe that would flood the log, secret files and plugin files that would hang or crash (a FIFO, a folder, a
 * truncated .so, a constructor that aborts), and assignments that would read, write or run anything on the host.
 * Each test holds the one defect it was written for.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <link.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_daemon.h"
#include "hmac.h"
#include "testlib.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(supd_faults, .init = use_plugins, .timeout = 180);

#define SECRET "a secret of the cluster, long enough"

/* A TCP connection to the daemon's control port, with reads bounded by 20 s. */
static int dial(const tl_daemon_t *d)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* What the daemon sent on `fd` until it closed it (or the read timed out), NUL-terminated in buf. */
static void read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0) got += (size_t)n;
    buf[got] = '\0';
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Where a cut makes the loader fault: the middle of the last loadable segment of an ELF image, so that the
   segment's last pages lie past the end of the file (SIGBUS in dlopen before the fix). */
static size_t mid_last_segment(const char *image, size_t len)
{
    const ElfW(Ehdr) *eh = (const void *)image;
    size_t mid = 0;
    cr_assert(len > sizeof *eh && eh->e_phoff + (size_t)eh->e_phnum * sizeof(ElfW(Phdr)) <= len);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        const ElfW(Phdr) *ph = (const void *)(image + eh->e_phoff + i * sizeof *ph);
        if (ph->p_type == PT_LOAD && ph->p_filesz) mid = ph->p_offset + ph->p_filesz / 2;
    }
    cr_assert(mid > 0 && mid < len);
    return mid;
}

enum { CUT_NONE = -2, CUT_MID_SEGMENT = -1, CUT_HALF = 0 };

/* A copy of a shipped plugin cut to `bytes` (CUT_HALF: half its size; CUT_MID_SEGMENT: inside its last loadable
   segment; CUT_NONE: whole) in `dir`; malloc'd path. */
static char *truncated_plugin(const char *dir, const char *name, long bytes)
{
    char *src = tl_path("%s/plugins/word_count.so", tl_build()), *dst = tl_path("%s/%s", dir, name);
    size_t len = 0;
    char *whole = tl_read_file(src, &len);
    cr_assert(whole && len > 4096, "%s", src);
    FILE *f = fopen(dst, "w");
    cr_assert_not_null(f);
    size_t cut = bytes == CUT_NONE  ? len
                 : bytes == CUT_HALF ? len / 2
                 : bytes == CUT_MID_SEGMENT ? mid_last_segment(whole, len)
                                            : (size_t)bytes;
    fwrite(whole, 1, cut, f);
    fclose(f);
    chmod(dst, 0755);
    free(whole), free(src);
    return dst;
}

/* topologies/wordcount.cfg with its counting bolt's plugin replaced by `plugin`, written to DIR/NAME; malloc'd. */
static char *topology_with_bolt(const char *dir, const char *name, const char *plugin)
{
    char *text = tl_read_file("topologies/wordcount.cfg", NULL);
    cr_assert_not_null(text);
    char *at = strstr(text, "\"word_count\"");
    cr_assert_not_null(at);
    *at = '\0';
    char *path = tl_path("%s/%s", dir, name), *whole = tl_path("%s\"%s\"%s", text, plugin, at + strlen("\"word_count\""));
    cr_assert_eq(tl_write_file(path, whole), 0);
    free(text), free(whole);
    return path;
}

/* Waits (bounded) until `status` shows topology `id` running with a running worker in `slot`. */
static void await_running(const tl_daemon_t *d, const char *id, int slot)
{
    char want[96];
    snprintf(want, sizeof want, "worker %s %d state=running", id, slot);
    bool seen = false;
    for (int i = 0; i < 1000 && !seen; i++) {
        tl_result_t r = TL_CTL(d, "status");
        seen = r.status == 0 && strstr(r.out, want);
        tl_result_free(&r);
        if (!seen) tl_sleep_ms(20);
    }
    cr_assert(seen, "%s not running", want);
}

/* ---- 1. the control port ---------------------------------------------------------------------------------------- */

Test(supd_faults, gale_ctl_gets_in_while_70_idle_connections_are_held_open)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, SECRET, 2, NULL);
    enum { IDLE = 70, ROUNDS = 20 };
    int idle[IDLE];
    for (int i = 0; i < IDLE; i++) idle[i] = dial(&d);
    for (int round = 0; round < ROUNDS; round++) {
        tl_result_t r = TL_CTL(&d, "slots");
        cr_assert_eq(r.status, 0, "round %d: %s", round, r.err);
        cr_assert_str_eq(r.out, "slots=2 free=2\n");
        tl_result_free(&r);
    }
    /* The oldest idle one made room and was told why (or, on a machine slow enough, the 10 s sweep came first). */
    char buf[4096];
    read_all(idle[0], buf, sizeof buf);
    cr_assert(strstr(buf, "error too many control connections") || strstr(buf, "error no authentication in time"),
              "%s", buf);
    for (int i = 0; i < IDLE; i++) close(idle[i]);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

/* One line from `fd` (without its '\n') into buf; false at the end or on a timeout. */
static bool read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap - 1 && read(fd, buf + n, 1) == 1)
        if (buf[n++] == '\n') {
            buf[n - 1] = '\0';
            return true;
        }
    buf[n] = '\0';
    return false;
}

/* A control connection that has authenticated as `gale ctl` does. */
static int dial_authenticated(const tl_daemon_t *d, const char *secret)
{
    int fd = dial(d);
    char line[256];
    const char *prefix = "gale-supervisor 1 challenge ";
    unsigned char nonce[GALE_NONCE_LEN], proof[GALE_SHA256_LEN];
    cr_assert(read_line(fd, line, sizeof line) && !strncmp(line, prefix, strlen(prefix)), "%s", line);
    cr_assert_eq(gale_hex_decode(line + strlen(prefix), nonce, sizeof nonce), 0);
    gale_auth_proof(secret, strlen(secret), nonce, 'C', 0, proof);
    char hex[2 * GALE_SHA256_LEN + 1], auth[2 * GALE_SHA256_LEN + 8];
    gale_hex_encode(proof, sizeof proof, hex);
    int n = snprintf(auth, sizeof auth, "auth %s\n", hex);
    cr_assert_eq(write(fd, auth, (size_t)n), n);
    cr_assert(read_line(fd, line, sizeof line) && !strcmp(line, "ok authenticated"), "%s", line);
    return fd;
}

Test(supd_faults, gale_ctl_says_why_when_it_is_refused_before_the_challenge)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, SECRET, 2, NULL);
    /* 64 authenticated connections fill the daemon: a new one is refused (no idle one to make room), and gale ctl
       must say that, not that this is "not a gale supervisor". */
    enum { AUTHED = 64 };
    int fds[AUTHED];
    for (int i = 0; i < AUTHED; i++) fds[i] = dial_authenticated(&d, SECRET);
    tl_result_t r = TL_CTL(&d, "slots");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.err, "refused: too many control connections"), "%s", r.err);
    tl_result_free(&r);
    close(fds[0]);
    /* Once one leaves, clients get in again (its close is seen by the daemon soon: bounded retries). */
    bool in = false;
    for (int i = 0; i < 200 && !in; i++) {
        r = TL_CTL(&d, "slots");
        in = r.status == 0;
        tl_result_free(&r);
        if (!in) tl_sleep_ms(20);
    }
    cr_assert(in, "no client got in after a connection closed");
    for (int i = 1; i < AUTHED; i++) close(fds[i]);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

/* ---- 2. the log and the secret file ------------------------------------------------------------------------------ */

Test(supd_faults, refused_connections_are_logged_once_per_interval_with_a_count)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, SECRET, 2, NULL);
    enum { PROBES = 200 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < PROBES; i++) {
        int fd = dial(&d);
        (void)!write(fd, "auth 1234\n", 10);
        char buf[512];
        read_all(fd, buf, sizeof buf);
        close(fd);
        cr_assert_not_null(strstr(buf, "error authentication failed"), "%s", buf);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* One line at the first refusal and one per 10 s after: a slow probe may span more intervals. */
    int allowed = 3 + (int)(t1.tv_sec - t0.tv_sec) / 10;
    /* The count comes when the interval is over (10 s after the first line): wait for it, bounded. */
    char *log = NULL;
    for (int i = 0; i < 600; i++) {
        free(log);
        log = tl_daemon_log(&d);
        if (strstr(log, "rejected in the last 10 s, last: authentication failed")) break;
        tl_sleep_ms(50);
    }
    cr_assert_not_null(strstr(log, "rejected in the last 10 s, last: authentication failed"), "%s", log);
    int lines = count_of(log, "WARN");
    cr_assert_leq(lines, allowed, "%d WARN lines for %d refused connections:\n%s", lines, PROBES, log);
    /* Every refusal is counted: the first logged alone, the rest in the counts. */
    long counted = 0;
    for (const char *p = log; (p = strstr(p, "] ")); p += 2) {
        long n = strtol(p + 2, NULL, 10);
        if (n > 0 && strstr(p, " control connections rejected in the last") == strchr(p + 2, ' ')) counted += n;
    }
    cr_assert_eq(counted + count_of(log, "refused before authenticating: authentication failed"), PROBES, "%s", log);
    free(log);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_daemon_free(&d);
}

/* `gale supervisor` with `secret_file`, bounded: it must end at once with a reason. */
static void supervisor_refuses_secret(const char *secret_file, const char *reason)
{
    const char *argv[] = {tl_gale(), "supervisor", "--secret-file", secret_file, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_not(r.timed_out, "the daemon hung on %s", secret_file);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, reason), "%s", r.err);
    tl_result_free(&r);
}

Test(supd_faults, a_fifo_as_secret_file_is_refused_at_once)
{
    char *dir = tl_tmpdir(), *fifo = tl_path("%s/secret.fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    supervisor_refuses_secret(fifo, "not a regular file");
    tl_rmtree(dir);
    free(dir), free(fifo);
}

Test(supd_faults, a_folder_as_secret_file_is_refused_as_not_a_file)
{
    char *dir = tl_tmpdir(), *sub = tl_path("%s/secrets", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    supervisor_refuses_secret(sub, "not a regular file");
    tl_rmtree(dir);
    free(dir), free(sub);
}

/* ---- 3. plugin files ------------------------------------------------------------------------------------------------ */

Test(supd_faults, validate_and_run_refuse_a_truncated_plugin_without_a_signal)
{
    char *dir = tl_tmpdir();
    const long sizes[] = {CUT_MID_SEGMENT, CUT_HALF, 100, 40};
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "cut%d.so", k);
        char *so = truncated_plugin(dir, name, sizes[k]), *cfg = topology_with_bolt(dir, "cut.cfg", so);
        const char *validate[] = {tl_gale(), "validate", cfg, NULL};
        const char *run[] = {tl_gale(), "run", "--quiet", "--duration", "1", cfg, NULL};
        for (int cmd = 0; cmd < 2; cmd++) {
            tl_result_t r;
            cr_assert_eq(tl_run(cmd ? run : validate, NULL, 60, &r), 0);
            cr_assert_not(r.timed_out);
            cr_assert_eq(r.status, 1, "%s, cut %ld: status %d: %s", cmd ? "run" : "validate", sizes[k], r.status, r.err);
            cr_assert_not_null(strstr(r.err, "not a valid plugin: truncated ("), "%s", r.err);
            cr_assert_not_null(strstr(r.err, so), "%s", r.err);
            tl_result_free(&r);
        }
        free(so), free(cfg);
    }
    tl_rmtree(dir);
    free(dir);
}

Test(supd_faults, a_fifo_as_plugin_is_refused_without_blocking)
{
    char *dir = tl_tmpdir(), *fifo = tl_path("%s/bolt.so", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char *cfg = topology_with_bolt(dir, "fifo.cfg", fifo);
    const char *argv[] = {tl_gale(), "validate", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    cr_assert_not(r.timed_out, "gale validate blocked on a FIFO");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "bolt.so: not a valid plugin: not a regular file"), "%s", r.err);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(fifo), free(cfg);
}

/* Assigns `cfg` while topology "forever" runs: the assignment fails with `reason`, the daemon and "forever" live. */
static void assign_fails_and_the_daemon_serves_on(const char *plugin, const char *reason)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, SECRET, 4, NULL);
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "forever", "topologies/wordcount.cfg", "workers=2"));
    await_running(&d, "forever", 1);
    char *so = plugin[0] == '/' ? strdup(plugin) : truncated_plugin(d.dir, plugin, CUT_MID_SEGMENT);
    char *cfg = topology_with_bolt(d.dir, "bad.cfg", so);
    tl_result_t r = TL_CTL(&d, "assign", "bad", cfg, "workers=2");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.err, reason), "%s", r.err);
    tl_result_free(&r);
    cr_assert(tl_alive(d.pid), "the daemon died");
    r = TL_CTL(&d, "status");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "topology forever state=running"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "worker forever 0 state=running"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "worker forever 1 state=running"), "%s", r.out);
    cr_assert_null(strstr(r.out, "topology bad"), "%s", r.out);
    tl_result_free(&r);
    r = TL_CTL(&d, "slots");
    cr_assert_str_eq(r.out, "slots=4 free=2\n", "%s", r.err);
    tl_result_free(&r);
    tl_ctl_ok(&d, TL_CTL(&d, "kill", "forever", "wait=1"));
    r = TL_CTL(&d, "wait", "forever");
    cr_assert_str_eq(r.out, "ended forever status=ok\n", "%s", r.err);
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    free(so), free(cfg);
    tl_daemon_free(&d);
}

Test(supd_faults, the_daemon_refuses_a_truncated_plugin_and_its_topologies_run_on)
{
    assign_fails_and_the_daemon_serves_on("cut.so", "cut.so: not a valid plugin: truncated (");
}

Test(supd_faults, the_daemon_survives_a_plugin_whose_constructor_aborts)
{
    char *so = tl_path("%s/tests/plugins/abort_on_load.so", tl_build()), *real = realpath(so, NULL);
    cr_assert_not_null(real, "%s", so);
    assign_fails_and_the_daemon_serves_on(real, "abort_on_load.so crashed when loaded (signal 6");
    free(so), free(real);
}

/* ---- 4. what an assignment may touch ------------------------------------------------------------------------------ */

Test(supd_faults, assignments_cannot_read_write_or_run_outside_the_daemon_folders)
{
    tl_daemon_t d = {0};
    tl_daemon_start(&d, SECRET, 4, NULL);
    char *outside = tl_tmpdir(), *target = tl_path("%s/written.txt", outside);
    char *set_write = tl_path("set=sink.path=%s", target), *set_cwd = tl_path("set=split.cwd=%s", outside);
    char *set_journal = tl_path("set=config.journal=%s/journal", outside);
    /* A topology in an allowed folder whose plugin is a path outside. */
    char *outside_so = truncated_plugin(outside, "count.so", CUT_NONE);
    char *cfg = topology_with_bolt(d.dir, "outside_plugin.cfg", outside_so);
    struct {
        const char *file, *set, *what;
    } attacks[] = {
        {"topologies/wordcount_file.cfg", "set=lines.path=/etc/passwd", "lines.path: not allowed"},
        {"topologies/wordcount_file.cfg", "set=lines.path=../../../../../../etc/passwd", "lines.path: not allowed"},
        {"topologies/wordcount_file.cfg", set_write, "sink.path: not allowed"},
        {"topologies/wordcount_file.cfg", set_journal, "config.journal: not allowed"},
        {"topologies/wordcount_python.cfg", set_cwd, "split.cwd: not allowed"},
        {cfg, "set=count.mode=running", "count's plugin: not allowed"},
        {"/etc/passwd", "set=x.y=1", "/etc/passwd: not allowed"},
        {"/etc/nothing-here.cfg", "set=x.y=1", "/etc/nothing-here.cfg: not allowed"},
        {"../../../../../../etc/passwd", "set=x.y=1", "../../../../../../etc/passwd: not allowed"},
    };
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        tl_result_t r = TL_CTL(&d, "assign", "evil", attacks[i].file, "workers=2", attacks[i].set);
        cr_assert_eq(r.status, 1, "%s %s was assigned", attacks[i].file, attacks[i].set);
        cr_assert_not_null(strstr(r.err, attacks[i].what), "%s %s: %s", attacks[i].file, attacks[i].set, r.err);
        /* Nothing about the file: not its lines, not whether it parses. */
        cr_assert_null(strstr(r.err, "syntax"), "%s", r.err);
        cr_assert_null(strstr(r.err, "root"), "%s", r.err);
        tl_result_free(&r);
    }
    cr_assert_neq(access(target, F_OK), 0, "the sink wrote outside");
    /* A shell program is judged where it is found: python3 lies outside the daemon's folders by default. */
    tl_result_t r = TL_CTL(&d, "assign", "py", "topologies/wordcount_python.cfg", "workers=2");
    cr_assert_not_null(strstr(r.err, "split.command: its program is not allowed"), "%s", r.err);
    tl_result_free(&r);

    /* The README's example, and files in an --allow-path folder (the fixture allows the daemon's own). */
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "wc", "topologies/wordcount_file.cfg", "workers=2"));
    r = TL_CTL(&d, "wait", "wc");
    cr_assert_str_eq(r.out, "ended wc status=ok\n", "%s", r.err);
    tl_result_free(&r);
    char *inside = tl_path("%s/counts.txt", d.dir), *set_inside = tl_path("set=sink.path=%s", inside);
    tl_ctl_ok(&d, TL_CTL(&d, "assign", "wc2", "topologies/wordcount_file.cfg", "workers=2", set_inside));
    r = TL_CTL(&d, "wait", "wc2");
    cr_assert_str_eq(r.out, "ended wc2 status=ok\n", "%s", r.err);
    tl_result_free(&r);
    char *counts = tl_read_file(inside, NULL);
    cr_assert(counts && strstr(counts, "\"word\""), "%s", counts ? counts : "(none)");
    free(counts);
    cr_assert_eq(tl_daemon_stop(&d), 0);
    tl_rmtree(outside);
    free(outside), free(target), free(set_write), free(set_cwd), free(set_journal), free(inside), free(set_inside);
    free(outside_so), free(cfg);
    tl_daemon_free(&d);
}
