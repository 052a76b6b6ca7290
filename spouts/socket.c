/*
 * socket: one tuple per record read from a TCP or Unix socket (field "line"), for `nc`-style feeds and tests.
 *
 *   listen     (string)          "HOST:PORT" or "unix:PATH": accept connections there, any number at once. With
 *                                parallelism above 1 the tasks share a TCP port (SO_REUSEPORT: the kernel spreads
 *                                the connections); a Unix path has one listener, task 0.
 *   connect    (string)          "HOST:PORT" or "unix:PATH": connect there instead, and again (backoff from
 *                                100 ms to 5 s, each reason logged) when the peer closes or goes away.
 *   retry      (bool, false)     connect: a peer that cannot be reached at open is retried in the background
 *                                instead of being an error that stops the run.
 *   framing    (string, "line")  "line": records end with \n (a \r before it is dropped), emitted as strings;
 *                                "length": each record is a 4-byte big-endian length and that many bytes, emitted
 *                                as bytes.
 *   max_record_kb (int, 1024)    a longer record is dropped (a line: up to its end; a length: the bytes it says)
 *                                and rejected: journaled with a nil value and its size (cause "rejected"), so
 *                                that the loss is on record, and counted in the metric records_too_large.
 *   buffer_kb  (int, 1024)       records read but not emitted yet. While it is full the task reads no more, so
 *                                that the sender's TCP window closes: backpressure, not memory.
 *   done_on_close (bool, false)  the task is done (gale_done) once a connection ended and its records were
 *                                emitted: a finite feed (a test, `nc` of a file) ends the topology.
 *
 * A thread per task does the socket's I/O with poll(2); the executor emits in next_tuple, from a bounded ring of
 * records (no allocation per record), so that max_spout_pending holds. Each record is emitted with a message id
 * (its number): with acking on, its tree is tracked and max_spout_pending bounds what is in flight. A socket
 * cannot rewind: a failed record is logged and counted, and `replay = true;` in the block replays it from memory
 * while the task lives (at least once, not across a crash).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gale.h"
#include "thread_notes.h"

#define MAX_CONNS 64 /* connections read at once when listening; more wait in the backlog */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_S 2 /* a peer that does not answer: the close of the task waits at most this */

typedef struct conn {
    int fd;
    char *buf; /* what was read and not yet framed, [max_record + 4] */
    size_t len;
    size_t skip; /* bytes of a record too large still to be dropped */
    bool skipping_line;
    bool eof; /* the peer closed (or failed): dropped once what it sent is framed */
} conn_t;

typedef struct state {
    gale_ctx_t *ctx;
    char addr[300];
    bool listening, unix_sock, by_length, done_on_close, retry;
    struct sockaddr_storage sa;
    socklen_t sa_len;
    int lfd;          /* listening: the socket; -1 */
    int stop_pipe[2]; /* close() writes to [1]: the thread's poll wakes */
    size_t max_record;
    conn_t conns[MAX_CONNS];
    int n_conns;
    pthread_t thread;
    bool thread_started;
    /* The ring of records, [4-byte length][bytes]: the thread writes at `tail`, the executor reads at `head`. */
    unsigned char *ring;
    size_t cap;
    _Atomic size_t head, tail;
    atomic_bool closed_one; /* a connection ended (done_on_close) */
    atomic_bool stop;
    char *scratch; /* the executor's copy of a record that wraps the ring's end */
    uint64_t number, failed;
    gale_metric_t *too_large_m;
    thread_notes_t notes; /* what the I/O thread has to say */
} state_t;

#define note(s, level, ...) thread_note(&(s)->notes, (level), __VA_ARGS__)

/* ---- addresses ------------------------------------------------------------------------------------------------ */

/* "HOST:PORT" or "unix:PATH" into s->sa; 0, or GALE_EINVAL with the reason logged. */
static int parse_addr(gale_ctx_t *ctx, state_t *s, const char *text)
{
    memset(&s->sa, 0, sizeof s->sa);
    if (!strncmp(text, "unix:", 5)) {
        struct sockaddr_un *un = (struct sockaddr_un *)&s->sa;
        if (!text[5] || strlen(text + 5) >= sizeof un->sun_path) {
            gale_error(ctx, "\"%s\": a Unix socket's path must be 1 to %zu bytes", text, sizeof un->sun_path - 1);
            return GALE_EINVAL;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, text + 5);
        s->sa_len = sizeof *un;
        s->unix_sock = true;
        return 0;
    }
    const char *colon = strrchr(text, ':');
    char host[256];
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host || !colon[1]) {
        gale_error(ctx, "\"%s\": not HOST:PORT or unix:PATH", text);
        return GALE_EINVAL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc || !res) {
        gale_error(ctx, "\"%s\": %s", text, rc ? gai_strerror(rc) : "no address");
        return GALE_EINVAL;
    }
    memcpy(&s->sa, res->ai_addr, res->ai_addrlen);
    s->sa_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The socket's own address as HOST:PORT (or unix:PATH), for the log that says where it listens. */
static void describe_bound(state_t *s, char *out, size_t cap)
{
    struct sockaddr_storage at;
    socklen_t len = sizeof at;
    char host[INET6_ADDRSTRLEN] = "?";
    if (s->unix_sock || getsockname(s->lfd, (struct sockaddr *)&at, &len)) {
        snprintf(out, cap, "%s", s->addr);
        return;
    }
    int port = 0;
    if (at.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&at)->sin_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in *)&at)->sin_port);
    } else if (at.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&at)->sin6_addr, host, sizeof host);
        port = ntohs(((struct sockaddr_in6 *)&at)->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static int open_listener(gale_ctx_t *ctx, state_t *s)
{
    s->lfd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->lfd < 0) return -errno;
    int one = 1;
    if (!s->unix_sock) {
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(s->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one); /* the tasks of the component share it */
    } else {
        unlink(((struct sockaddr_un *)&s->sa)->sun_path); /* a socket file an earlier run left */
    }
    if (bind(s->lfd, (struct sockaddr *)&s->sa, s->sa_len) || listen(s->lfd, 128)) {
        int err = errno;
        gale_error(ctx, "cannot listen on %s: %s", s->addr, strerror(err));
        close(s->lfd);
        s->lfd = -1;
        return -err;
    }
    char where[320];
    describe_bound(s, where, sizeof where);
    gale_log(ctx, GALE_LOG_INFO, "listening on %s", where);
    return 0;
}

/* A blocking connect; the socket is then non-blocking. The fd, or -errno. */
static int dial(state_t *s)
{
    int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct timeval bound = {CONNECT_TIMEOUT_S, 0}; /* Linux bounds a blocking connect by the send timeout */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
    if (connect(fd, (struct sockaddr *)&s->sa, s->sa_len)) {
        int err = errno;
        close(fd);
        return -err;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* ---- the ring (the thread pushes, the executor pops) ---------------------------------------------------------- */

static size_t ring_used(state_t *s)
{
    return atomic_load_explicit(&s->tail, memory_order_acquire) - atomic_load_explicit(&s->head, memory_order_acquire);
}

static void ring_copy_in(state_t *s, size_t at, const void *p, size_t n)
{
    size_t off = at % s->cap, first = n < s->cap - off ? n : s->cap - off;
    memcpy(s->ring + off, p, first);
    memcpy(s->ring, (const unsigned char *)p + first, n - first);
}

/* A ring record whose length has this bit is no record but the news of one too large: its 8 bytes are the size
   (0: unknown, a line with no end in sight). max_record_kb is at most 64 MiB, so no length has the bit. */
#define REJECTED_BIT (1u << 31)

/* One record into the ring (`flags`: 0 or REJECTED_BIT); false when there is no room now (the caller reads no
   more until there is). */
static bool ring_push_as(state_t *s, const char *p, size_t n, uint32_t flags)
{
    size_t need = 4 + n;
    if (need > s->cap - ring_used(s)) return false;
    size_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
    uint32_t len = (uint32_t)n | flags;
    ring_copy_in(s, tail, &len, 4);
    ring_copy_in(s, tail + 4, p, n);
    atomic_store_explicit(&s->tail, tail + need, memory_order_release);
    return true;
}

static bool ring_push(state_t *s, const char *p, size_t n) { return ring_push_as(s, p, n, 0); }

/* The news that a record of `size` bytes (0: unknown) was dropped, for the task to reject. */
static bool ring_push_rejected(state_t *s, uint64_t size)
{
    return ring_push_as(s, (const char *)&size, sizeof size, REJECTED_BIT);
}

/* The next record, borrowed until the next pop: in the ring itself, or in scratch when it wraps the end.
   *rejected: it is ring_push_rejected's news. */
static bool ring_pop(state_t *s, const char **p, size_t *n, bool *rejected)
{
    size_t head = atomic_load_explicit(&s->head, memory_order_relaxed);
    if (atomic_load_explicit(&s->tail, memory_order_acquire) == head) return false;
    uint32_t len;
    size_t off = head % s->cap;
    for (size_t i = 0; i < 4; i++) ((unsigned char *)&len)[i] = s->ring[(off + i) % s->cap];
    *rejected = len & REJECTED_BIT;
    len &= ~REJECTED_BIT;
    size_t start = (off + 4) % s->cap;
    if (start + len <= s->cap) {
        *p = (const char *)s->ring + start;
    } else {
        size_t first = s->cap - start;
        memcpy(s->scratch, s->ring + start, first);
        memcpy(s->scratch + first, s->ring, len - first);
        *p = s->scratch;
    }
    *n = len;
    return true;
}

static void ring_done(state_t *s, size_t n)
{
    atomic_store_explicit(&s->head, atomic_load_explicit(&s->head, memory_order_relaxed) + 4 + n, memory_order_release);
}

/* ---- the thread: reading and framing ------------------------------------------------------------------------ */

/* Frames what c holds into records for the ring. False when the ring is full (what is left stays in c). */
static bool frame(state_t *s, conn_t *c)
{
    size_t at = 0;
    bool room = true;
    while (room && at < c->len) {
        if (c->skip) { /* the rest of a record too large */
            size_t n = c->len - at < c->skip ? c->len - at : c->skip;
            at += n, c->skip -= n;
            continue;
        }
        if (c->skipping_line) {
            char *nl = memchr(c->buf + at, '\n', c->len - at);
            if (!nl) {
                at = c->len;
                break;
            }
            at = (size_t)(nl - c->buf) + 1;
            c->skipping_line = false;
            continue;
        }
        const char *p = c->buf + at;
        size_t left = c->len - at;
        if (s->by_length) {
            if (left < 4) break;
            uint32_t n = (uint32_t)(unsigned char)p[0] << 24 | (uint32_t)(unsigned char)p[1] << 16 |
                         (uint32_t)(unsigned char)p[2] << 8 | (uint32_t)(unsigned char)p[3];
            if (n > s->max_record) {
                if (!(room = ring_push_rejected(s, n))) break;
                at += 4;
                c->skip = n;
                continue;
            }
            if (left < 4 + (size_t)n) break;
            if (!(room = ring_push(s, p + 4, n))) break;
            at += 4 + n;
        } else {
            const char *nl = memchr(p, '\n', left);
            if (!nl) {
                if (left > s->max_record) { /* no end within the limit: the line is too long */
                    if (!(room = ring_push_rejected(s, 0))) break;
                    c->skipping_line = true;
                    at = c->len;
                }
                break;
            }
            size_t n = (size_t)(nl - p);
            if (n && p[n - 1] == '\r') n--;
            if (n > s->max_record) { /* its end came within the same read: still too long */
                if (!(room = ring_push_rejected(s, n))) break;
                at = (size_t)(nl - c->buf) + 1;
                continue;
            }
            if (!(room = ring_push(s, p, n))) break;
            at = (size_t)(nl - c->buf) + 1;
        }
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
    return room;
}

static void drop_conn(state_t *s, int i)
{
    conn_t *c = &s->conns[i];
    if (c->len && !c->skip && !c->skipping_line) {
        note(s, GALE_LOG_WARN, "a connection to %s closed inside a record (%zu bytes of it): dropped", s->addr, c->len);
    }
    close(c->fd);
    free(c->buf);
    s->conns[i] = s->conns[--s->n_conns];
    atomic_store(&s->closed_one, true);
    gale_wake(s->ctx); /* a done_on_close task checks at its next call */
}

static int add_conn(state_t *s, int fd)
{
    char *buf = malloc(s->max_record + 4 + 65536);
    if (!buf || s->n_conns == MAX_CONNS) {
        free(buf);
        close(fd);
        return GALE_ENOMEM;
    }
    s->conns[s->n_conns++] = (conn_t){.fd = fd, .buf = buf};
    return 0;
}

/* Waits `ms`, or less when the task is closed. */
static void wait_ms(state_t *s, unsigned ms)
{
    struct pollfd stop = {.fd = s->stop_pipe[0], .events = POLLIN};
    poll(&stop, 1, (int)ms);
}

static void *io_thread(void *arg)
{
    state_t *s = arg;
    unsigned backoff = BACKOFF_MIN_MS;
    const size_t room = 65536; /* read at most this much at once past the record limit */
    while (!atomic_load(&s->stop)) {
        if (!s->listening && s->n_conns == 0 && s->done_on_close && atomic_load(&s->closed_one)) {
            struct pollfd stop = {.fd = s->stop_pipe[0], .events = POLLIN}; /* the feed ended: nothing to connect */
            poll(&stop, 1, 1000);
            continue;
        }
        if (!s->listening && s->n_conns == 0) { /* (re)connect */
            int fd = dial(s);
            if (fd < 0) {
                note(s, GALE_LOG_WARN, "cannot connect to %s: %s; again in %u ms", s->addr, strerror(-fd), backoff);
                wait_ms(s, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            note(s, GALE_LOG_INFO, "connected to %s", s->addr);
            add_conn(s, fd);
        }
        /* Connections whose framed records wait for room are not read: the sender is pushed back. One that ended
           goes once all it sent is in the ring. */
        bool full = false;
        for (int i = s->n_conns - 1; i >= 0; i--) {
            if (!frame(s, &s->conns[i])) full = true;
            else if (s->conns[i].eof) drop_conn(s, i);
        }
        struct pollfd pfd[MAX_CONNS + 2];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
        if (s->lfd >= 0 && s->n_conns < MAX_CONNS) pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        int first_conn = n;
        for (int i = 0; i < s->n_conns && !full; i++)
            pfd[n++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, full ? 5 : 1000) < 0 && errno != EINTR) break;
        if (pfd[0].revents) break;
        if (first_conn == 2 && (pfd[1].revents & POLLIN)) {
            int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) add_conn(s, fd);
        }
        for (int k = n - 1; k >= first_conn; k--) {
            int i = k - first_conn;
            conn_t *c = &s->conns[i];
            if (!pfd[k].revents || c->eof) continue;
            size_t cap = s->max_record + 4 + room - c->len;
            ssize_t got = read(c->fd, c->buf + c->len, cap);
            if (got > 0) {
                backoff = BACKOFF_MIN_MS; /* a peer that sends is a good one: the next reconnect is quick */
                c->len += (size_t)got;
                frame(s, c);
                gale_wake(s->ctx);
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (!s->listening)
                    note(s, GALE_LOG_WARN, "%s %s%s", s->addr, got == 0 ? "closed the connection" : strerror(errno),
                         s->done_on_close ? "" : "; connecting again");
                c->eof = true; /* dropped at the top of the loop, once its records are in the ring */
                if (!s->listening && !s->done_on_close) { /* not at once again, if it closes at once again */
                    wait_ms(s, backoff);
                    backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                }
            }
        }
    }
    return NULL;
}

/* ---- the task ------------------------------------------------------------------------------------------------ */

static void free_state(state_t *s)
{
    for (int i = 0; i < s->n_conns; i++) close(s->conns[i].fd), free(s->conns[i].buf);
    if (s->lfd >= 0) close(s->lfd);
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]), close(s->stop_pipe[1]);
    free(s->ring);
    free(s->scratch);
    thread_notes_destroy(&s->notes);
    free(s);
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    s->lfd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    thread_notes_init(&s->notes, ctx);
    const char *listen_at = gale_setting_str(ctx, "listen", NULL), *connect_to = gale_setting_str(ctx, "connect", NULL);
    const char *framing = gale_setting_str(ctx, "framing", "line");
    int64_t max_kb = gale_setting_int(ctx, "max_record_kb", 1024), buf_kb = gale_setting_int(ctx, "buffer_kb", 1024);
    int rc = 0;
    if (!listen_at == !connect_to) {
        gale_error(ctx, "give one of the settings listen (\"HOST:PORT\" or \"unix:PATH\") and connect");
        rc = GALE_EINVAL;
    } else if (strcmp(framing, "line") && strcmp(framing, "length")) {
        gale_error(ctx, "framing \"%s\": \"line\" or \"length\"", framing);
        rc = GALE_EINVAL;
    } else if (max_kb < 1 || max_kb > 65536 || buf_kb < 1 || buf_kb > 1048576) {
        gale_error(ctx, "max_record_kb must be 1 to 65536 and buffer_kb 1 to 1048576");
        rc = GALE_EINVAL;
    }
    if (rc) {
        free_state(s);
        return rc;
    }
    snprintf(s->addr, sizeof s->addr, "%s", listen_at ? listen_at : connect_to);
    s->listening = listen_at != NULL;
    s->by_length = !strcmp(framing, "length");
    s->done_on_close = gale_setting_bool(ctx, "done_on_close", false);
    s->retry = gale_setting_bool(ctx, "retry", false);
    s->max_record = (size_t)max_kb << 10;
    s->cap = (size_t)buf_kb << 10;
    if (s->cap < s->max_record + 4) s->cap = s->max_record + 4; /* one record fits, always */
    s->ring = malloc(s->cap);
    s->scratch = malloc(s->max_record + 1);
    if (!s->ring || !s->scratch || pipe2(s->stop_pipe, O_CLOEXEC)) {
        free_state(s);
        return GALE_ENOMEM;
    }
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    if ((rc = parse_addr(ctx, s, s->addr))) {
        free_state(s);
        return rc;
    }
    if (s->listening && s->unix_sock && info.task_index > 0) { /* one listener per path: this task has nothing */
        ctx->state = s;
        return 0;
    }
    if (s->listening) {
        rc = open_listener(ctx, s);
    } else {
        int fd = dial(s);
        if (fd >= 0) {
            gale_log(ctx, GALE_LOG_INFO, "connected to %s", s->addr);
            rc = add_conn(s, fd);
        } else if (s->retry) {
            gale_log(ctx, GALE_LOG_WARN, "cannot connect to %s: %s; retrying in the background", s->addr,
                     strerror(-fd));
        } else {
            gale_error(ctx, "cannot connect to %s: %s (retry = true; waits for it)", s->addr, strerror(-fd));
            rc = fd;
        }
    }
    if (!rc && pthread_create(&s->thread, NULL, io_thread, s)) rc = GALE_EAGAIN;
    if (rc) {
        free_state(s);
        return rc;
    }
    s->thread_started = true;
    s->too_large_m = gale_counter(ctx, "records_too_large");
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s->thread_started) { /* a task with nothing to listen on */
        gale_done(ctx);
        return 0;
    }
    thread_notes_say(ctx, &s->notes);
    /* One record a call: the executor checks max_spout_pending and the lease between calls. */
    const char *p;
    size_t n;
    bool rejected;
    if (!ring_pop(s, &p, &n, &rejected)) {
        if (s->done_on_close && atomic_load(&s->closed_one) && ring_used(s) == 0) gale_done(ctx);
        return 0;
    }
    if (rejected) {
        uint64_t size;
        memcpy(&size, p, sizeof size);
        ring_done(s, n);
        gale_counter_add(ctx, s->too_large_m, 1);
        char why[400];
        if (size)
            snprintf(why, sizeof why, "a %s of %llu bytes from %s is over max_record_kb (%zu): dropped",
                     s->by_length ? "record" : "line", (unsigned long long)size, s->addr, s->max_record >> 10);
        else
            snprintf(why, sizeof why, "a line from %s is over max_record_kb (%zu) with no end in sight: dropped",
                     s->addr, s->max_record >> 10);
        gale_value_t v = gale_nil();
        int rc = gale_reject(ctx, NULL, &v, 1, ++s->number, why);
        return rc == GALE_EIO ? 0 : rc;
    }
    gale_value_t v = s->by_length ? gale_bytes(p, n) : gale_strn(p, n);
    int rc = gale_emit_id(ctx, ++s->number, &v, 1);
    ring_done(s, n);
    return rc;
}

/* A wake from the thread: next_tuple emits what it brought. */
static int service(gale_ctx_t *ctx)
{
    (void)ctx;
    return 0;
}

static void fail(gale_ctx_t *ctx, uint64_t id)
{
    state_t *s = ctx->state;
    if (s->failed++ < 10) gale_warn(ctx, "record %llu failed (a socket cannot replay it)", (unsigned long long)id);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s) return;
    if (s->thread_started) {
        atomic_store(&s->stop, true);
        (void)!write(s->stop_pipe[1], "x", 1);
        pthread_join(s->thread, NULL);
        thread_notes_say(ctx, &s->notes);
    }
    if (s->failed > 10) gale_warn(ctx, "%llu records failed in all", (unsigned long long)s->failed);
    if (s->listening && s->unix_sock && s->lfd >= 0) unlink(((struct sockaddr_un *)&s->sa)->sun_path);
    free_state(s);
}

static const gale_setting_decl_t settings[] = {
    {"listen", GALE_SETTING_STRING, "\"HOST:PORT\" or \"unix:PATH\" to accept connections on"},
    {"connect", GALE_SETTING_STRING, "\"HOST:PORT\" or \"unix:PATH\" to connect to (again when it closes)"},
    {"retry", GALE_SETTING_BOOL, "connect: retry a peer unreachable at open instead of failing (default false)"},
    {"framing", GALE_SETTING_STRING, "\"line\" (default: records end with a newline) or \"length\" (4-byte BE)"},
    {"max_record_kb", GALE_SETTING_INT, "longest record in KiB; a longer one is dropped and counted (1024)"},
    {"buffer_kb", GALE_SETTING_INT, "records read but not emitted, in KiB; reading stops while full (1024)"},
    {"done_on_close", GALE_SETTING_BOOL, "the task is done once a connection ended (default false)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "socket",
            .description = "records from a TCP or Unix socket, by line or by length prefix",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"line", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .fail = fail, .close = close_},
            .service = service);
