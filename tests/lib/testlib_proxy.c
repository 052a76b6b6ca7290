/* The recording proxy (testlib_proxy.h): a libuv loop in a forked child. */
#include "testlib_proxy.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

typedef struct side {
    uv_tcp_t tcp;
    struct side *other;
    bool closed;
    char buf[65536];
} side_t;

static int target_port, record_fd = -1;

static void side_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    side_t *s = h->data;
    *b = uv_buf_init(s->buf, sizeof s->buf);
}

static void side_closed(uv_handle_t *h) { free(h->data); }

static void close_side(side_t *s)
{
    if (!s || s->closed) return;
    s->closed = true;
    side_t *o = s->other;
    s->other = NULL;
    if (o) o->other = NULL;
    uv_close((uv_handle_t *)&s->tcp, side_closed);
    close_side(o);
}

typedef struct copy {
    uv_write_t req;
    char data[];
} copy_t;

static void copy_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void side_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    side_t *s = st->data;
    if (n < 0) return close_side(s);
    if (!n || !s->other) return;
    for (ssize_t done = 0; done < n;) { /* the record first: what was seen, whole */
        ssize_t w = write(record_fd, b->base + done, (size_t)(n - done));
        if (w <= 0) _exit(3);
        done += w;
    }
    copy_t *c = malloc(sizeof *c + (size_t)n);
    if (!c) _exit(3);
    memcpy(c->data, b->base, (size_t)n);
    uv_buf_t out = uv_buf_init(c->data, (unsigned)n);
    if (uv_write(&c->req, (uv_stream_t *)&s->other->tcp, &out, 1, copy_written)) free(c);
}

static side_t *new_side(uv_loop_t *loop)
{
    side_t *s = calloc(1, sizeof *s);
    if (!s) _exit(3);
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    return s;
}

static void upstream_connected(uv_connect_t *req, int status)
{
    side_t *up = req->data;
    free(req);
    if (status < 0 || !up->other) return close_side(up);
    uv_read_start((uv_stream_t *)&up->tcp, side_alloc, side_read);
    uv_read_start((uv_stream_t *)&up->other->tcp, side_alloc, side_read);
}

static void on_accept(uv_stream_t *server, int status)
{
    if (status < 0) return;
    side_t *down = new_side(server->loop), *up = new_side(server->loop);
    down->other = up, up->other = down;
    if (uv_accept(server, (uv_stream_t *)&down->tcp)) return close_side(down);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", target_port, &addr);
    uv_connect_t *req = malloc(sizeof *req);
    req->data = up;
    if (!req || uv_tcp_connect(req, &up->tcp, (const struct sockaddr *)&addr, upstream_connected)) {
        free(req);
        close_side(down);
    }
}

/* The child: listens, says its port on `fd`, forwards until killed. */
static void serve(int fd)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t listener;
    uv_tcp_init(loop, &listener);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    if (uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0) || uv_listen((uv_stream_t *)&listener, 64, on_accept))
        _exit(2);
    struct sockaddr_storage got;
    int len = sizeof got;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&got, &len);
    int port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    if (write(fd, &port, sizeof port) != sizeof port) _exit(2);
    close(fd);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
}

void tl_proxy_start(tl_proxy_t *p, int target, const char *record)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int rec = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert_geq(rec, 0, "%s", record);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        close(fds[0]);
        target_port = target;
        record_fd = rec;
        serve(fds[1]);
    }
    close(fds[1]);
    close(rec);
    int port = 0;
    ssize_t n = read(fds[0], &port, sizeof port); /* bounded: the child writes it or dies, closing the pipe */
    close(fds[0]);
    cr_assert_eq(n, (ssize_t)sizeof port, "the proxy did not start");
    p->pid = pid;
    p->port = port;
}

void tl_proxy_stop(tl_proxy_t *p)
{
    if (p->pid <= 0) return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}
