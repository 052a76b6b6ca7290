/* testlib's HTTP client: one request per connection, for the tests of the HTTP endpoint. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

char *tl_http(int port, const char *method, const char *path, const char *headers, const char *body, int *status)
{
    *status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    size_t body_len = body ? strlen(body) : 0;
    char *req = tl_path("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
                        method, path, headers ? headers : "", body_len, body ? body : "");
    /* A server may answer and hang up before it has read everything (a refusal): then read what it said. */
    for (size_t at = 0, len = strlen(req); at < len;) {
        ssize_t sent = send(fd, req + at, len - at, MSG_NOSIGNAL);
        if (sent <= 0) break;
        at += (size_t)sent;
    }
    free(req);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (int waited = 0; buf && waited < 10000;) { /* to the server's close, at most 10 s */
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        if (len + 4096 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t got = buf ? recv(fd, buf + len, cap - len - 1, 0) : -1;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    if (!buf) return NULL;
    buf[len] = 0;
    const char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 ", 9) || !sep) {
        free(buf);
        return NULL;
    }
    *status = atoi(buf + 9);
    char *text = strdup(sep + 4);
    free(buf);
    return text;
}

int tl_http_port(const char *err_path, pid_t pid, double timeout_s)
{
    for (double end = tl_now_s() + timeout_s; tl_now_s() < end && tl_alive(pid); tl_sleep_ms(50)) {
        char *err = tl_read_file(err_path, NULL);
        const char *at = err ? strstr(err, " at http://") : NULL;
        const char *colon = at ? strchr(at + 11, ':') : NULL;
        int port = colon ? atoi(colon + 1) : 0;
        free(err);
        if (port > 0) return port;
    }
    return -1;
}

void tl_promtool_ok(const char *dir, const char *text)
{
    char *path = tl_path("%s/metrics.txt", dir);
    tl_write_file(path, text);
    const char *check[] = {"/bin/sh", "-c", "promtool check metrics < \"$0\"", path, NULL};
    tl_result_t c;
    cr_assert_eq(tl_run(check, NULL, 60, &c), 0);
    cr_assert_eq(c.status, 0, "promtool check metrics (make test-deps installs prometheus):\n%s%s", c.out, c.err);
    tl_result_free(&c);
    free(path);
}

static pid_t remembered[32];

void tl_remember(pid_t pid)
{
    for (size_t i = 0; i < sizeof remembered / sizeof *remembered; i++)
        if (!remembered[i]) {
            remembered[i] = pid;
            return;
        }
}

void tl_kill_remembered(void)
{
    for (size_t i = 0; i < sizeof remembered / sizeof *remembered; i++)
        if (remembered[i] > 0 && tl_alive(remembered[i]))
            kill(remembered[i], SIGKILL), tl_wait(remembered[i], 30, &(bool){false});
}

void tl_http_run_start(tl_http_run_t *r, const char *cfg, const char *const *extra)
{
    memset(r, 0, sizeof *r);
    r->dir = tl_tmpdir();
    r->stats = tl_path("%s/stats.json", r->dir);
    r->err_path = tl_path("%s/err.txt", r->dir);
    const char *argv[32] = {tl_gale(), "run", "--http", "0", "--stats", r->stats};
    int n = 6;
    while (extra && *extra && n < 30) argv[n++] = *extra++;
    argv[n++] = cfg;
    r->pid = tl_spawn(argv, r->dir);
    cr_assert_gt(r->pid, 0);
    tl_remember(r->pid);
    r->port = tl_http_port(r->err_path, r->pid, 30);
    char *err = tl_read_file(r->err_path, NULL);
    cr_assert_gt(r->port, 0, "no http line:\n%s", err);
    free(err);
    r->url = tl_path("http://127.0.0.1:%d", r->port);
}

int tl_http_run_stop(tl_http_run_t *r)
{
    kill(r->pid, SIGINT);
    bool timed_out;
    int status = tl_wait(r->pid, 60, &timed_out);
    cr_assert_not(timed_out, "the run did not stop within 60 s of SIGINT");
    return status;
}

void tl_http_run_free(tl_http_run_t *r)
{
    if (r->pid > 0 && tl_alive(r->pid)) kill(r->pid, SIGKILL), tl_wait(r->pid, 30, &(bool){false});
    tl_rmtree(r->dir);
    free(r->dir), free(r->stats), free(r->err_path), free(r->url);
}

char *tl_token_header(const char *secret, const char *path)
{
    const char *argv[] = {tl_gale(), "token", "--secret-file", secret, path, NULL};
    tl_result_t t;
    cr_assert_eq(tl_run(argv, NULL, 30, &t), 0);
    cr_assert_eq(t.status, 0, "%s", t.err);
    cr_assert_eq(strncmp(t.out, "Authorization: Gale-HMAC t=", 27), 0, "%s", t.out);
    char *line = tl_path("%.*s\r\n", (int)strcspn(t.out, "\n"), t.out);
    tl_result_free(&t);
    return line;
}
