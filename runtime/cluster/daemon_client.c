/* daemon_client.c: dialling a supervisor daemon, authenticating, and one command's reply at a time (daemon_client.h). */
#include "daemon_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hmac.h"
#include "metrics.h"
#include "tls.h"

#define NO_DEADLINE UINT64_MAX

/* The process's TLS context for every client it opens (gale_daemon_client_use_tls); NULL: in clear. */
static gale_tls_ctx_t *client_tls;

void gale_daemon_client_use_tls(gale_tls_ctx_t *tls) { client_tls = tls; }

struct gale_daemon_client {
    gale_tls_t *tls; /* NULL: in clear */
    int fd;       /* non-blocking; every wait is a poll with the time left */
    size_t len;   /* bytes in buf */
    size_t taken; /* bytes at the front of buf that the last line handed out still occupies */
    char buf[GALE_DAEMON_CLIENT_LINE_MAX + 1];
};

static uint64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? NO_DEADLINE : gale_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Waits for `events` on fd until the deadline: 0 when ready, GALE_ETIMEDOUT, or GALE_EIO (errno set). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline != NO_DEADLINE) {
            uint64_t now = gale_now_ns();
            if (now >= deadline) return GALE_ETIMEDOUT;
            uint64_t left = (deadline - now + 999999u) / 1000000u; /* rounded up: never a busy 0 ms poll */
            ms = left > 86400000u ? 86400000 : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int ready = poll(&p, 1, ms);
        if (ready > 0) return 0;
        if (ready < 0 && errno != EINTR) return GALE_EIO;
    }
}

/* One connected, non-blocking socket to "HOST:PORT", or a negative code (GALE_ETIMEDOUT when the deadline passed
   first, else GALE_EIO). Tries every address the name has, as connect(2) callers usually do. */
static int dial(const char *target, uint64_t deadline)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof host) return GALE_EIO;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai)) return GALE_EIO;
    int fd = GALE_EIO;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (s < 0) continue;
        int rc = connect(s, a->ai_addr, a->ai_addrlen) ? (errno == EINPROGRESS ? 1 : GALE_EIO) : 0;
        if (rc == 1) {
            int err = 0;
            socklen_t len = sizeof err;
            rc = wait_fd(s, POLLOUT, deadline);
            if (!rc && (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) || err)) rc = GALE_EIO;
        }
        if (!rc) fd = s;
        else {
            close(s);
            if (rc == GALE_ETIMEDOUT) {
                fd = rc; /* the time is spent: no other address gets any */
                break;
            }
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int send_raw(gale_daemon_client_t *c, const char *p, size_t n, uint64_t deadline, gale_diag_t *d);

/* What the TLS session has for the network, sent. */
static int flush_tls(gale_daemon_client_t *c, uint64_t deadline, gale_diag_t *d)
{
    char chunk[16384];
    size_t n;
    int rc = 0;
    while (!rc && (n = gale_tls_take(c->tls, chunk, sizeof chunk)) > 0) rc = send_raw(c, chunk, n, deadline, d);
    return rc;
}

/* Bytes from the socket into the TLS session: 0, or a negative code with `what` and the reason in d. */
static int feed_tls(gale_daemon_client_t *c, uint64_t deadline, const char *what, gale_diag_t *d)
{
    int rc = wait_fd(c->fd, POLLIN, deadline);
    if (rc == GALE_ETIMEDOUT) return gale__diag(d, rc, "%s: %s", what, strerror(ETIMEDOUT));
    if (rc) return gale__diag(d, rc, "%s: %s", what, strerror(errno));
    char chunk[16384];
    ssize_t got = recv(c->fd, chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (got <= 0) return gale__diag(d, GALE_EIO, "%s: %s", what, strerror(got == 0 ? ECONNRESET : errno));
    return gale_tls_feed(c->tls, chunk, (size_t)got) ? gale__diag(d, GALE_ENOMEM, "out of memory") : 0;
}

/* The TLS handshake, to its end or the deadline. */
static int shake_tls(gale_daemon_client_t *c, uint64_t deadline, gale_diag_t *d)
{
    for (;;) {
        int rc = gale_tls_handshake(c->tls), frc = flush_tls(c, deadline, d);
        if (frc) return frc;
        if (!rc) return 0;
        if (rc != GALE_EAGAIN) return gale__diag(d, rc, "TLS: %s", gale_tls_error(c->tls));
        if ((rc = feed_tls(c, deadline, "no TLS handshake", d))) return rc;
    }
}

/* Sends all `n` bytes before the deadline (through the TLS session when there is one). */
static int send_all(gale_daemon_client_t *c, const char *p, size_t n, uint64_t deadline, gale_diag_t *d)
{
    if (!c->tls) return send_raw(c, p, n, deadline, d);
    if (gale_tls_write(c->tls, p, n)) return gale__diag(d, GALE_EIO, "cannot send: TLS: %s", gale_tls_error(c->tls));
    return flush_tls(c, deadline, d);
}

/* Sends all `n` bytes to the socket before the deadline: 0, or a negative code with the reason in d. */
static int send_raw(gale_daemon_client_t *c, const char *p, size_t n, uint64_t deadline, gale_diag_t *d)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w, n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(c->fd, POLLOUT, deadline);
            if (rc == GALE_ETIMEDOUT) return gale__diag(d, rc, "cannot send: %s", strerror(ETIMEDOUT));
            if (rc) return gale__diag(d, rc, "cannot send: %s", strerror(errno));
            continue;
        }
        return gale__diag(d, GALE_EIO, "cannot send: %s", strerror(w < 0 ? errno : EPIPE));
    }
    return 0;
}

/* The next line from the daemon, NUL-terminated in c->buf, in *line (valid until the next call). 0, or a negative
   code: GALE_EIO when the daemon closed or the read failed, GALE_ETIMEDOUT, GALE_ELIMIT for a line too long; `what`
   starts the message ("no reply"), followed by the system's text for the cause as `gale ctl` always said it. */
static int next_line(gale_daemon_client_t *c, uint64_t deadline, char **line, const char *what, gale_diag_t *d)
{
    if (c->taken) {
        memmove(c->buf, c->buf + c->taken, c->len - c->taken);
        c->len -= c->taken;
        c->taken = 0;
    }
    size_t scanned = 0;
    for (;;) {
        char *nl = memchr(c->buf + scanned, '\n', c->len - scanned);
        if (nl) {
            *nl = '\0';
            c->taken = (size_t)(nl - c->buf) + 1;
            *line = c->buf;
            return 0;
        }
        scanned = c->len;
        if (c->len == sizeof c->buf) return gale__diag(d, GALE_ELIMIT, "%s: %s", what, strerror(EMSGSIZE));
        if (c->tls) { /* plaintext the session has, or more records from the socket */
            size_t got = 0;
            int rc = gale_tls_read(c->tls, c->buf + c->len, sizeof c->buf - c->len, &got);
            int frc = flush_tls(c, deadline, d);
            if (frc) return frc;
            if (!rc) c->len += got;
            else if (rc != GALE_EAGAIN) return gale__diag(d, GALE_EIO, "%s: TLS: %s", what, gale_tls_error(c->tls));
            else if ((rc = feed_tls(c, deadline, what, d))) return rc;
            continue;
        }
        int rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc == GALE_ETIMEDOUT) return gale__diag(d, rc, "%s: %s", what, strerror(ETIMEDOUT));
        if (rc) return gale__diag(d, rc, "%s: %s", what, strerror(errno));
        ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (got <= 0) return gale__diag(d, GALE_EIO, "%s: %s", what, strerror(got == 0 ? ECONNRESET : errno));
        c->len += (size_t)got;
    }
}

/* `line` is `word` alone or `word` and a space: the text after it ("" for none), else NULL. */
static const char *reply_text(const char *line, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(line, word, n)) return NULL;
    return !line[n] ? line + n : line[n] == ' ' ? line + n + 1 : NULL;
}

/* Reads to the reply of the command just sent: 0 on "ok" (text in *ok_text), GALE_EINVAL on "error" (its message
   in d), or the read's code. Other lines go to on_line. */
static int read_reply(gale_daemon_client_t *c, uint64_t deadline, gale_daemon_line_fn on_line, void *arg,
                      const char **ok_text, gale_diag_t *d)
{
    for (;;) {
        char *line;
        int rc = next_line(c, deadline, &line, "no reply", d);
        if (rc) return rc;
        const char *text;
        if (!strncmp(line, "event ", 6)) {
            if (on_line) on_line(arg, GALE_DAEMON_EVENT, line);
        } else if ((text = reply_text(line, "error"))) {
            return gale__diag(d, GALE_EINVAL, "%s", *text ? text : "error");
        } else if ((text = reply_text(line, "ok"))) {
            if (ok_text) *ok_text = text;
            return 0;
        } else if (on_line) on_line(arg, GALE_DAEMON_DATA, line);
    }
}

/* Answers the challenge: 0 once the daemon says "ok", else a negative code with the reason in d. */
static int authenticate(gale_daemon_client_t *c, const char *role, const void *secret, size_t secret_len,
                        uint64_t deadline, gale_diag_t *d)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "gale-%s 1 challenge ", role);
    size_t plen = strlen(prefix);
    char *hello;
    /* A server that speaks TLS waits for a ClientHello and says nothing to a client in clear. */
    int rc = next_line(
        c, deadline, &hello,
        c->tls ? "no challenge" : "no challenge (if it was started with --tls, give --tls DIR/NAME here too)", d);
    if (rc) return rc;
    /* Refused before the challenge (too many connections): say why, not "not a supervisor". */
    if (!strncmp(hello, "error ", 6)) return gale__diag(d, GALE_EINVAL, "refused: %s", hello + 6);
    unsigned char nonce[GALE_NONCE_LEN], proof[GALE_SHA256_LEN];
    if (strncmp(hello, prefix, plen) || gale_hex_decode(hello + plen, nonce, sizeof nonce))
        return gale__diag(d, GALE_ENOTSUP, "not a gale %s of this version", role);
    if (gale_auth_proof(secret, secret_len, nonce, 'C', 0, proof))
        return gale__diag(d, GALE_EIO, "cannot compute the handshake's proof (out of memory)");
    char line[sizeof "auth \n" + 2 * GALE_SHA256_LEN];
    memcpy(line, "auth ", 5);
    gale_hex_encode(proof, sizeof proof, line + 5);
    memcpy(line + 5 + 2 * GALE_SHA256_LEN, "\n", 2);
    rc = send_all(c, line, strlen(line), deadline, d);
    return rc ? rc : read_reply(c, deadline, NULL, NULL, NULL, d);
}

int gale_daemon_client_new(const char *target, const void *secret, size_t secret_len, int timeout_ms,
                           gale_daemon_client_t **out, gale_diag_t *d)
{
    return gale_daemon_client_open(target, "supervisor", secret, secret_len, timeout_ms, out, d);
}

int gale_daemon_client_open(const char *target, const char *role, const void *secret, size_t secret_len, int timeout_ms,
                            gale_daemon_client_t **out, gale_diag_t *d)
{
    uint64_t deadline = deadline_of(timeout_ms);
    int fd = dial(target, deadline);
    if (fd < 0) return gale__diag(d, fd, "cannot connect (a %s listening there?)", role);
    gale_daemon_client_t *c = malloc(sizeof *c);
    if (!c) {
        close(fd);
        return gale__diag(d, GALE_ENOMEM, "out of memory");
    }
    c->fd = fd;
    c->len = c->taken = 0;
    c->tls = client_tls ? gale_tls_new(client_tls, false) : NULL;
    int rc = client_tls && !c->tls ? gale__diag(d, GALE_ENOMEM, "out of memory") : 0;
    if (!rc && c->tls) rc = shake_tls(c, deadline, d);
    if (!rc) rc = authenticate(c, role, secret, secret_len, deadline, d);
    if (rc) {
        gale_daemon_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int gale_daemon_client_call(gale_daemon_client_t *c, const char *command, int timeout_ms, gale_daemon_line_fn on_line,
                          void *arg, const char **ok_text, gale_diag_t *d)
{
    size_t n = strlen(command);
    if (n > GALE_DAEMON_COMMAND_MAX) return gale__diag(d, GALE_EINVAL, "command too long");
    if (memchr(command, '\n', n)) return gale__diag(d, GALE_EINVAL, "a command is one line");
    uint64_t deadline = deadline_of(timeout_ms);
    char line[GALE_DAEMON_COMMAND_MAX + 2];
    memcpy(line, command, n);
    line[n] = '\n';
    int rc = send_all(c, line, n + 1, deadline, d);
    return rc ? rc : read_reply(c, deadline, on_line, arg, ok_text, d);
}

int gale_daemon_client_send(gale_daemon_client_t *c, const char *line, int timeout_ms, gale_diag_t *d)
{
    size_t n = strlen(line);
    if (n > GALE_DAEMON_COMMAND_MAX) return gale__diag(d, GALE_EINVAL, "line too long");
    if (memchr(line, '\n', n)) return gale__diag(d, GALE_EINVAL, "a line is one line");
    char buf[GALE_DAEMON_COMMAND_MAX + 2];
    memcpy(buf, line, n);
    buf[n] = '\n';
    return send_all(c, buf, n + 1, deadline_of(timeout_ms), d);
}

int gale_daemon_client_reply(gale_daemon_client_t *c, int timeout_ms, gale_daemon_line_fn on_line, void *arg,
                             const char **ok_text, gale_diag_t *d)
{
    return read_reply(c, deadline_of(timeout_ms), on_line, arg, ok_text, d);
}

void gale_daemon_client_free(gale_daemon_client_t *c)
{
    if (!c) return;
    gale_tls_free(c->tls);
    close(c->fd);
    free(c);
}
