/* http_get.c: the blocking GET of http_get.h. */
#include "http_get.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

static gale_tls_ctx_t *get_tls; /* gale_http_get_use_tls */

void gale_http_get_use_tls(gale_tls_ctx_t *tls) { get_tls = tls; }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of the wait until `deadline` (0 once it has passed), as poll takes it. */
static int left_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int gale_http_parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap, gale_diag_t *d)
{
    const char *want = "want http://HOST:PORT or https://HOST:PORT";
    size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
    if (!scheme) return gale__diag(d, GALE_EINVAL, "'%s' is not a URL http://HOST:PORT or https://HOST:PORT", url);
    const char *h = url + scheme, *colon = strchr(h, ':');
    if (*h == '[') return gale__diag(d, GALE_EINVAL, "%s: IPv6 addresses are not supported (%s)", url, want);
    if (!colon || colon == h) return gale__diag(d, GALE_EINVAL, "%s: no host and port (%s)", url, want);
    size_t hlen = (size_t)(colon - h), plen = strspn(colon + 1, "0123456789");
    if (memchr(h, '/', hlen) || memchr(h, '@', hlen) || hlen >= host_cap)
        return gale__diag(d, GALE_EINVAL, "%s: bad host (%s)", url, want);
    const char *after = colon + 1 + plen;
    long p = plen && plen <= 5 ? strtol(colon + 1, NULL, 10) : 0;
    if (p < 1 || p > 65535 || plen >= port_cap)
        return gale__diag(d, GALE_EINVAL, "%s: the port must be 1 to 65535 (%s)", url, want);
    if (*after && strcmp(after, "/"))
        return gale__diag(d, GALE_EINVAL, "%s: nothing may follow the port but '/' (%s)", url, want);
    snprintf(host, host_cap, "%.*s", (int)hlen, h);
    snprintf(port, port_cap, "%.*s", (int)plen, colon + 1);
    return 0;
}

/* Waits until `fd` is ready for `events` or `deadline` passes: 0, or GALE_ETIMEDOUT / GALE_EIO. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = events};
        int n = poll(&pf, 1, left_ms(deadline));
        if (n > 0) return 0;
        if (n == 0) return GALE_ETIMEDOUT;
        if (errno != EINTR) return GALE_EIO;
    }
}

/* One non-blocking connect to `ai` within the deadline: the socket, or a negative code with the errno in *err. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return *err = errno, GALE_EIO;
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        *err = errno, rc = GALE_EIO;
    } else if (!(rc = wait_fd(fd, POLLOUT, deadline))) {
        socklen_t len = sizeof *err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) || *err) rc = GALE_EIO;
    } else {
        *err = ETIMEDOUT;
    }
    if (rc) close(fd);
    return rc ? rc : fd;
}

/* A connected socket to HOST:PORT (each address in turn), or a negative code with the reason in `d`. */
static int dial(const char *host, const char *port, int64_t deadline, gale_diag_t *d)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ais;
    int g = getaddrinfo(host, port, &hints, &ais);
    if (g) return gale__diag(d, GALE_ENOENT, "cannot resolve %s: %s", host, gai_strerror(g));
    int fd = GALE_EIO, err = 0;
    for (const struct addrinfo *ai = ais; ai && fd < 0 && left_ms(deadline) > 0; ai = ai->ai_next)
        fd = connect_one(ai, deadline, &err);
    freeaddrinfo(ais);
    if (fd == GALE_ETIMEDOUT || (fd < 0 && !left_ms(deadline)))
        return gale__diag(d, GALE_ETIMEDOUT, "cannot connect to %s:%s: timed out", host, port);
    if (fd < 0) return gale__diag(d, GALE_EIO, "cannot connect to %s:%s: %s", host, port, strerror(err));
    return fd;
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline, gale_diag_t *d)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n, len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return gale__diag(d, GALE_EIO, "cannot send the request: %s", strerror(errno));
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc) return gale__diag(d, rc, "cannot send the request: %s", gale_strerror(rc));
    }
    return 0;
}

/* A growing buffer of what the server sent; owned by its user (free `p`). */
typedef struct inbuf {
    char *p;
    size_t len, cap;
} inbuf_t;

/* Reads to the server's close (Connection: close), keeping room for a NUL. 0, or a negative code (`b` is the
   caller's to free either way). */
static int read_all(int fd, inbuf_t *b, size_t max_bytes, int64_t deadline, gale_diag_t *d)
{
    /* Room for one byte more than allowed, so that an answer of exactly max_bytes is told from a longer one. */
    size_t limit = max_bytes + 2;
    for (;;) {
        if (b->len > max_bytes) return gale__diag(d, GALE_ELIMIT, "the answer is over %zu bytes", max_bytes);
        if (b->len + 1 >= b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64 * 1024;
            if (cap > limit) cap = limit;
            char *p = realloc(b->p, cap);
            if (!p) return gale__diag(d, GALE_ENOMEM, "out of memory");
            b->p = p, b->cap = cap;
        }
        ssize_t n = recv(fd, b->p + b->len, b->cap - b->len - 1, 0);
        if (n > 0) b->len += (size_t)n;
        else if (n == 0) return 0;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN) return gale__diag(d, GALE_EIO, "the connection failed: %s", strerror(errno));
        else {
            int rc = wait_fd(fd, POLLIN, deadline);
            if (rc) return gale__diag(d, rc, "no whole answer: %s", gale_strerror(rc));
        }
    }
}

/* The value of header `name` in head[0..len) (the lines after the status line), or NULL; *vlen its length. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *line = head, *end = head + len; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* The status and body of what the server sent (`b`, NUL-terminated): the body moved to the front of b->p. */
static int parse_answer(inbuf_t *b, gale_http_answer_t *out, gale_diag_t *d)
{
    b->p[b->len] = 0;
    char *sep = strstr(b->p, "\r\n\r\n");
    int status = 0, used = 0;
    if (!b->len) return gale__diag(d, GALE_EIO, "the server closed the connection without an answer");
    if (sscanf(b->p, "HTTP/1.%*1[01] %3d%n", &status, &used) != 1 || used != 12 || !sep || status < 100)
        return gale__diag(d, GALE_ECORRUPT, "not an HTTP answer");
    char *head = strchr(b->p, '\n') + 1, *body = sep + 4;
    size_t vlen, head_len = (size_t)(sep + 2 - head), body_len = b->len - (size_t)(body - b->p);
    const char *te = header(head, head_len, "Transfer-Encoding", &vlen);
    if (te && !(vlen == 8 && !strncasecmp(te, "identity", 8)))
        return gale__diag(d, GALE_ECORRUPT, "a %.*s answer, which this client does not read", (int)vlen, te);
    const char *cl = header(head, head_len, "Content-Length", &vlen);
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl + vlen || !vlen) return gale__diag(d, GALE_ECORRUPT, "a bad Content-Length");
        if (n > body_len) return gale__diag(d, GALE_EIO, "the server closed the connection mid-answer");
        body_len = (size_t)n;
    }
    memmove(b->p, body, body_len);
    b->p[body_len] = 0;
    *out = (gale_http_answer_t){.status = status, .body = b->p, .body_len = body_len};
    b->p = NULL;
    return 0;
}

/* The TLS session's records to the socket. */
static int flush_tls(int fd, gale_tls_t *t, int64_t deadline, gale_diag_t *d)
{
    char chunk[16384];
    size_t n;
    int rc = 0;
    while (!rc && (n = gale_tls_take(t, chunk, sizeof chunk)) > 0) rc = send_all(fd, chunk, n, deadline, d);
    return rc;
}

/* Bytes from the socket into the session: 0, 1 at the server's close, or a negative code. */
static int feed_tls(int fd, gale_tls_t *t, int64_t deadline, gale_diag_t *d)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) return gale_tls_feed(t, chunk, (size_t)n) ? gale__diag(d, GALE_ENOMEM, "out of memory") : 0;
        if (n == 0) return 1;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return gale__diag(d, GALE_EIO, "the connection failed: %s", strerror(errno));
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc) return gale__diag(d, rc, "no whole answer: %s", gale_strerror(rc));
    }
}

/* HTTPS: the handshake, the request, and the answer to the server's close. */
static int exchange_tls(int fd, const char *req, size_t len, inbuf_t *b, size_t max_bytes, int64_t deadline,
                        gale_diag_t *d)
{
    gale_tls_t *t = gale_tls_new(get_tls, false);
    if (!t) return gale__diag(d, GALE_ENOMEM, "out of memory");
    int rc, hs;
    while ((hs = gale_tls_handshake(t)) == GALE_EAGAIN && !(rc = flush_tls(fd, t, deadline, d)) &&
           !(rc = feed_tls(fd, t, deadline, d)))
        ;
    if (hs == GALE_EAGAIN) rc = rc < 0 ? rc : gale__diag(d, GALE_EIO, "the server closed during the TLS handshake");
    else if (hs) rc = gale__diag(d, GALE_EIO, "TLS: %s", gale_tls_error(t));
    else rc = flush_tls(fd, t, deadline, d);
    if (!rc && gale_tls_write(t, req, len)) rc = gale__diag(d, GALE_EIO, "TLS: %s", gale_tls_error(t));
    if (!rc) rc = flush_tls(fd, t, deadline, d);
    size_t limit = max_bytes + 2;
    while (!rc) {
        if (b->len > max_bytes) rc = gale__diag(d, GALE_ELIMIT, "the answer is over %zu bytes", max_bytes);
        if (!rc && b->len + 1 >= b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64 * 1024;
            char *p = realloc(b->p, cap > limit ? limit : cap);
            if (!p) rc = gale__diag(d, GALE_ENOMEM, "out of memory");
            else b->p = p, b->cap = cap > limit ? limit : cap;
        }
        size_t got = 0;
        int r = rc ? 0 : gale_tls_read(t, b->p + b->len, b->cap - b->len - 1, &got);
        if (rc) break;
        if (!r) b->len += got;
        else if (r != GALE_EAGAIN) break; /* the server's close_notify, or its end: what came is the answer */
        else if ((r = feed_tls(fd, t, deadline, d)) != 0) {
            rc = r < 0 ? r : 0;
            break;
        }
    }
    gale_tls_free(t);
    return rc;
}

int gale_http_get(const char *host, const char *port, const char *path, int timeout_ms, size_t max_bytes,
                  gale_http_answer_t *out, gale_diag_t *d)
{
    *out = (gale_http_answer_t){0};
    int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: gale-monitor\r\nAccept: application/json\r\n"
                     "Connection: close\r\n\r\n",
                     path, host, port);
    if (n < 0 || (size_t)n >= sizeof req) return gale__diag(d, GALE_ELIMIT, "too long a request");
    int fd = dial(host, port, deadline, d);
    if (fd < 0) return fd;
    inbuf_t b = {0};
    /* No shutdown(SHUT_WR) after the request: gale's server takes a half-close for the client's going away. */
    int rc = get_tls ? exchange_tls(fd, req, (size_t)n, &b, max_bytes, deadline, d) : 0;
    if (!get_tls && !(rc = send_all(fd, req, (size_t)n, deadline, d))) rc = read_all(fd, &b, max_bytes, deadline, d);
    close(fd);
    if (!rc) rc = parse_answer(&b, out, d);
    free(b.p);
    return rc;
}

void gale_http_answer_free(gale_http_answer_t *a)
{
    if (!a) return;
    free(a->body);
    *a = (gale_http_answer_t){0};
}
