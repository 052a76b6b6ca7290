/*
 * The control-port client (daemon_client.h) against a scripted daemon: a thread with a listening socket on an
 * ephemeral port of 127.0.0.1 that sends the challenge, checks the proof, then plays one scenario per test (events
 * before ok, an error reply, closing mid-reply, an over-long line, silence). Every wait in the test is bounded.
 * One test drives a real `gale supervisor` too.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_daemon.h"
#include "hmac.h"
#include "metrics.h"
#include "daemon_client.h"

#define SECRET "the cluster secret"
#define WAIT_MS 5000 /* the bound on every wait of the scripted server */

typedef enum {
    AUTH,     /* challenge, check the proof: "ok authenticated" or "error authentication failed" and close */
    REFUSE,   /* "error too many control connections" instead of the challenge */
    STRANGER, /* a line that is not a challenge */
    MUTE,     /* accept and never say anything */
} opening_t;

typedef struct server {
    int listen_fd, port;
    opening_t opening;
    const char *replies[4]; /* sent after each command in turn, as they are; NULL: no answer, wait for the close */
    bool close_after;       /* close right after the first reply instead of waiting for the client */
    char commands[4][256];  /* what the client sent, for the test to check */
    int n_commands;
    pthread_t thread;
} server_t;

/* One line from fd into buf (without '\n'), within WAIT_MS: its length, or -1 on close, error or timeout. */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, WAIT_MS) != 1) return -1;
        char ch;
        if (recv(fd, &ch, 1, 0) != 1) return -1;
        if (ch == '\n') break;
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return (int)n;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}

/* Plays the server's script on one connection, then waits (bounded) for the client to close. */
static void *serve(void *arg)
{
    server_t *s = arg;
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1) return NULL;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    char line[256];
    if (s->opening == REFUSE) send_str(fd, "error too many control connections (64 open)\n");
    if (s->opening == STRANGER) send_str(fd, "HTTP/1.0 400 Bad Request\n");
    if (s->opening == AUTH) {
        unsigned char nonce[GALE_NONCE_LEN], proof[GALE_SHA256_LEN];
        char hex[2 * GALE_NONCE_LEN + 1], hello[128];
        gale_auth_nonce(nonce);
        gale_hex_encode(nonce, sizeof nonce, hex);
        snprintf(hello, sizeof hello, "gale-supervisor 1 challenge %s\n", hex);
        send_str(fd, hello);
        bool good = read_line(fd, line, sizeof line) > 5 && !strncmp(line, "auth ", 5) &&
                    !gale_hex_decode(line + 5, proof, sizeof proof) &&
                    gale_auth_check(SECRET, strlen(SECRET), nonce, 'C', 0, proof);
        send_str(fd, good ? "ok authenticated\n" : "error authentication failed\n");
        for (int i = 0; good && i < 4 && read_line(fd, line, sizeof line) >= 0; i++) {
            snprintf(s->commands[s->n_commands++], sizeof s->commands[0], "%s", line);
            if (!s->replies[i]) break;
            send_str(fd, s->replies[i]);
            if (s->close_after) break;
        }
    }
    if (!s->close_after)
        while (read_line(fd, line, sizeof line) >= 0) {} /* until the client closes, or WAIT_MS of silence */
    close(fd);
    return NULL;
}

static void server_start(server_t *s)
{
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s->listen_fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(s->listen_fd, 4), 0);
    cr_assert_eq(getsockname(s->listen_fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_join(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static int connect_to(server_t *s, const char *secret, int timeout_ms, gale_daemon_client_t **c, gale_diag_t *d)
{
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", s->port);
    return gale_daemon_client_new(target, secret, strlen(secret), timeout_ms, c, d);
}

typedef struct seen {
    char lines[8][128];
    gale_daemon_line_kind_t kinds[8];
    int n;
} seen_t;

static void record(void *arg, gale_daemon_line_kind_t kind, const char *line)
{
    seen_t *s = arg;
    if (s->n == 8) return;
    s->kinds[s->n] = kind;
    snprintf(s->lines[s->n++], sizeof s->lines[0], "%s", line);
}

Test(daemon_client, events_and_data_lines_come_before_ok_in_order)
{
    server_t s = {.opening = AUTH,
                  .replies = {"event ended wc status=ok\ntopology wc state=ended\nevent address a 0 h:1\nok slots=4 "
                              "free=2\n"}};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    seen_t seen = {0};
    const char *ok = NULL;
    cr_assert_eq(gale_daemon_client_call(c, "status", WAIT_MS, record, &seen, &ok, &d), 0, "%s", d.msg);
    cr_assert_str_eq(ok, "slots=4 free=2");
    cr_assert_eq(seen.n, 3);
    cr_assert_eq(seen.kinds[0], GALE_DAEMON_EVENT);
    cr_assert_str_eq(seen.lines[0], "event ended wc status=ok");
    cr_assert_eq(seen.kinds[1], GALE_DAEMON_DATA);
    cr_assert_str_eq(seen.lines[1], "topology wc state=ended");
    cr_assert_eq(seen.kinds[2], GALE_DAEMON_EVENT);
    gale_daemon_client_free(c);
    server_join(&s);
    cr_assert_str_eq(s.commands[0], "status");
}

Test(daemon_client, an_error_reply_is_einval_with_its_message_and_the_client_goes_on)
{
    server_t s = {.opening = AUTH, .replies = {"error no topology 'x'\n", "ok\n"}};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_daemon_client_call(c, "stats x", WAIT_MS, NULL, NULL, NULL, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "no topology 'x'");
    const char *ok = NULL;
    cr_assert_eq(gale_daemon_client_call(c, "forget y", WAIT_MS, NULL, NULL, &ok, &d), 0, "%s", d.msg);
    cr_assert_str_eq(ok, "");
    gale_daemon_client_free(c);
    server_join(&s);
    cr_assert_str_eq(s.commands[1], "forget y");
}

Test(daemon_client, a_wrong_secret_is_refused)
{
    server_t s = {.opening = AUTH};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, "not the secret", WAIT_MS, &c, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "authentication failed");
    cr_assert_null(c);
    server_join(&s);
}

Test(daemon_client, a_refusal_before_the_challenge_says_why)
{
    server_t s = {.opening = REFUSE};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "refused: too many control connections (64 open)");
    server_join(&s);
}

Test(daemon_client, a_peer_that_is_not_a_supervisor_is_enotsup)
{
    server_t s = {.opening = STRANGER};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), GALE_ENOTSUP);
    cr_assert_str_eq(d.msg, "not a gale supervisor of this version");
    server_join(&s);
}

Test(daemon_client, a_server_that_closes_mid_reply_is_eio)
{
    server_t s = {.opening = AUTH, .replies = {"topology wc state=run"}, .close_after = true};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    seen_t seen = {0};
    cr_assert_eq(gale_daemon_client_call(c, "status", WAIT_MS, record, &seen, NULL, &d), GALE_EIO);
    cr_assert_eq(seen.n, 0, "a partial line is no line");
    cr_assert(!strncmp(d.msg, "no reply: ", 10), "%s", d.msg);
    gale_daemon_client_free(c);
    server_join(&s);
}

Test(daemon_client, an_over_long_line_is_elimit)
{
    static char flood[GALE_DAEMON_CLIENT_LINE_MAX + 100];
    memset(flood, 'x', sizeof flood - 1);
    server_t s = {.opening = AUTH, .replies = {flood}};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_daemon_client_call(c, "status", WAIT_MS, NULL, NULL, NULL, &d), GALE_ELIMIT, "%s", d.msg);
    gale_daemon_client_free(c);
    server_join(&s);
}

Test(daemon_client, a_server_that_never_answers_times_out)
{
    server_t s = {.opening = AUTH, .replies = {NULL}};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    uint64_t t0 = gale_now_ns();
    cr_assert_eq(gale_daemon_client_call(c, "wait wc", 200, NULL, NULL, NULL, &d), GALE_ETIMEDOUT, "%s", d.msg);
    uint64_t ms = (gale_now_ns() - t0) / 1000000u;
    cr_assert(ms >= 190 && ms < 2000, "timed out after %llu ms", (unsigned long long)ms);
    gale_daemon_client_free(c);
    server_join(&s);
}

Test(daemon_client, a_server_that_never_sends_the_challenge_times_out)
{
    server_t s = {.opening = MUTE};
    server_start(&s);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(connect_to(&s, SECRET, 200, &c, &d), GALE_ETIMEDOUT, "%s", d.msg);
    cr_assert_null(c);
    server_join(&s);
}

Test(daemon_client, nobody_listening_is_eio_and_a_bad_command_is_not_sent)
{
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    server_t s = {.opening = AUTH, .replies = {"ok\n"}};
    server_start(&s);
    int port = s.port;
    cr_assert_eq(connect_to(&s, SECRET, WAIT_MS, &c, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_daemon_client_call(c, "status\nkill wc", WAIT_MS, NULL, NULL, NULL, &d), GALE_EINVAL);
    cr_assert_eq(gale_daemon_client_call(c, "slots", WAIT_MS, NULL, NULL, NULL, &d), 0, "%s", d.msg);
    gale_daemon_client_free(c);
    server_join(&s);
    cr_assert_eq(s.n_commands, 1);
    cr_assert_str_eq(s.commands[0], "slots");
    char target[32];
    snprintf(target, sizeof target, "127.0.0.1:%d", port); /* closed with the listening socket */
    cr_assert_eq(gale_daemon_client_new(target, SECRET, strlen(SECRET), WAIT_MS, &c, &d), GALE_EIO);
    cr_assert_str_eq(d.msg, "cannot connect (a supervisor listening there?)");
    cr_assert_eq(gale_daemon_client_new("no-port", SECRET, strlen(SECRET), WAIT_MS, &c, &d), GALE_EIO);
}

Test(daemon_client, drives_a_real_daemon, .timeout = 60)
{
    tl_daemon_t dm = {0};
    const char *secret = "a secret of the cluster, long enough";
    tl_daemon_start(&dm, secret, 3, NULL);
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {""};
    cr_assert_eq(gale_daemon_client_new(dm.addr, "wrong", 5, WAIT_MS, &c, &d), GALE_EINVAL);
    cr_assert_str_eq(d.msg, "authentication failed");
    cr_assert_eq(gale_daemon_client_new(dm.addr, secret, strlen(secret), WAIT_MS, &c, &d), 0, "%s", d.msg);
    const char *ok = NULL;
    cr_assert_eq(gale_daemon_client_call(c, "slots", WAIT_MS, NULL, NULL, &ok, &d), 0, "%s", d.msg);
    cr_assert_str_eq(ok, "slots=3 free=3");
    cr_assert_eq(gale_daemon_client_call(c, "stats nothing", WAIT_MS, NULL, NULL, NULL, &d), GALE_EINVAL);
    gale_daemon_client_free(c);
    cr_assert_eq(tl_daemon_stop(&dm), 0);
    tl_daemon_free(&dm);
}
