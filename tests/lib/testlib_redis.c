/* A redis-server for the tests, and a tiny RESP client to look at what gale wrote. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proc.h"
#include "testlib.h"

char *tl_redis_call(int port, const char *const *argv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    if (fd < 0) return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return NULL;
    }
    char req[4096];
    int n = 0, argc = 0;
    while (argv[argc]) argc++;
    n += snprintf(req + n, sizeof req - (size_t)n, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    char *buf = NULL;
    if (write(fd, req, (size_t)n) == n) {
        size_t cap = 1 << 16, len = 0;
        buf = malloc(cap + 1);
        for (ssize_t got; buf && (got = read(fd, buf + len, cap - len)) > 0;) {
            len += (size_t)got;
            buf[len] = 0;
            char *nl = strstr(buf, "\r\n");
            if (!nl) continue;
            if (buf[0] != '$') break; /* a one-line reply */
            long blen = strtol(buf + 1, NULL, 10);
            if (blen < 0) {
                buf[0] = 0;
                break;
            }
            size_t head = (size_t)(nl + 2 - buf);
            if (len >= head + (size_t)blen) {
                memmove(buf, buf + head, (size_t)blen);
                buf[blen] = 0;
                break;
            }
        }
        if (buf && buf[0] != '$' && strstr(buf, "\r\n")) *strstr(buf, "\r\n") = 0;
    }
    close(fd);
    return buf;
}

void tl_redis_start(tl_redis_t *r, const char *dir)
{
    if (!r->port) {
        r->port = gale_proc_free_port();
        snprintf(r->dir, sizeof r->dir, "%s", dir);
    }
    cr_assert(r->port > 0);
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    const char *argv[] = {
        "/usr/bin/redis-server", "--port", port,    "--bind", "127.0.0.1",   "--save", "",  "--appendonly", "yes",
        "--appendfsync",         "always", "--dir", r->dir,   "--daemonize", "no",     NULL};
    r->pid = tl_spawn(argv, r->dir);
    cr_assert(r->pid > 0, "cannot start redis-server (make test-deps installs it)");
    tl_remember(r->pid);
    double until = tl_now_s() + 10;
    const char *ping[] = {"PING", NULL};
    char *pong = NULL;
    while (tl_now_s() < until && tl_alive(r->pid)) {
        free(pong);
        if ((pong = tl_redis_call(r->port, ping)) && !strcmp(pong, "+PONG")) break;
        tl_sleep_ms(20);
    }
    cr_assert(pong && !strcmp(pong, "+PONG"), "redis-server on port %d did not answer", r->port);
    free(pong);
}

void tl_redis_kill(tl_redis_t *r)
{
    if (r->pid <= 0) return;
    kill(r->pid, SIGKILL);
    bool late;
    tl_wait(r->pid, 10, &late);
    r->pid = 0;
}
