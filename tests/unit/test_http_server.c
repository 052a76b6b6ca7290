/*
 * The HTTP server (http_server.h) against real sockets on 127.0.0.1: answers, keep-alive and pipelining, the
 * Authorization header and the body handed over; and what a hostile client sends (garbage, a 1 MB header, too many
 * headers, a body over the bound, 10,000 connections) gets its refusal while the server goes on answering others.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gale.h"
#include "http_server.h"

TestSuite(http_server, .timeout = 120);

typedef struct served {
    uv_loop_t loop;
    uv_async_t stop;
    gale_http_server_t *server;
    int port;
    pthread_t thread;
} served_t;

/* Answers "METHOD PATH?QUERY auth=AUTHORIZATION body=BODY"; /missing is a 404. */
static void handle(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp)
{
    (void)arg;
    if (!strcmp(req->path, "/missing")) resp->status = 404;
    resp->content_type = "text/plain";
    if (!strcmp(req->path, "/big")) { /* 4 MiB: more than a socket takes at once */
        for (int i = 0; i < 4096; i++) gale_buf_printf(&resp->body, "%01023d\n", i);
        return;
    }
    gale_buf_printf(&resp->body, "%s %s?%s auth=%s body=%.*s", req->method, req->path, req->query, req->authorization,
                    (int)req->body_len, req->body);
}

static void on_stop(uv_async_t *h)
{
    served_t *s = h->data;
    gale_http_server_close(s->server);
    uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *run_loop(void *arg)
{
    served_t *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void serve(served_t *s)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(uv_loop_init(&s->loop), 0);
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->stop.data = s;
    gale_http_server_opts_t o = {.who = "http", .handle = handle};
    cr_assert_eq(gale_http_server_listen(&s->loop, "127.0.0.1", 0, &o, &s->server, &s->port), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, run_loop, s), 0);
}

static void unserve(served_t *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    cr_assert_eq(uv_loop_close(&s->loop), 0, "the server left a handle open");
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may hang up on a hostile client before it has sent it all */
        p += w, n -= (size_t)w;
    }
}

/* Reads until `want` answers have arrived whole (by Content-Length) or the peer closes; at most 10 s. Returns
   malloc'd text; *closed says whether the server hung up. */
static char *read_answers(int fd, int want, bool *closed)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    *closed = false;
    for (int waited = 0; waited < 10000;) {
        buf[len] = 0;
        int got = 0;
        for (const char *p = buf; (p = strstr(p, "\r\n\r\n")); p += 4) {
            const char *cl = NULL;
            for (const char *q = p; q > buf && !cl; q--)
                if (!strncmp(q, "Content-Length: ", 16)) cl = q;
            size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
            if ((size_t)(p + 4 - buf) + body <= len) got++;
        }
        if (got >= want) break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        if (len + 4096 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = 0;
    return buf;
}

/* Whether the server hangs up within 2 s (what it sends meanwhile is dropped). */
static bool hangs_up(int fd)
{
    char junk[4096];
    for (int i = 0; i < 20; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) == 0) continue;
        if (recv(fd, junk, sizeof junk, 0) <= 0) return true;
    }
    return false;
}

/* One request on a new connection: the answer's text; *closed (unless NULL): whether the server hung up after it. */
static char *ask(int port, const char *request, bool *closed)
{
    int fd = connect_to(port);
    send_all(fd, request, strlen(request));
    bool gone;
    char *text = read_answers(fd, 1, &gone);
    if (closed) *closed = gone || hangs_up(fd);
    close(fd);
    return text;
}

static void still_answers(int port)
{
    char *text = ask(port, "GET /still?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
    cr_assert_not_null(strstr(text, "HTTP/1.1 200 OK\r\n"), "%s", text);
    cr_assert_not_null(strstr(text, "GET /still?x=1 auth= body="), "%s", text);
    free(text);
}

Test(http_server, a_request_gets_its_answer_with_path_query_authorization_and_body)
{
    served_t s;
    serve(&s);
    bool closed;
    char *text = ask(s.port,
                     "POST /api/v1/topology/wc/kill/5?x=1 HTTP/1.1\r\nHost: a\r\nauthorization: Bearer abc\r\n"
                     "Content-Length: 5\r\n\r\nhello",
                     &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"), "%s", text);
    cr_assert_not_null(strstr(text, "\r\n\r\nPOST /api/v1/topology/wc/kill/5?x=1 auth=Bearer abc body=hello"), "%s",
                       text);
    free(text);
    text = ask(s.port, "GET /missing HTTP/1.0\r\n\r\n", &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 404 Not Found\r\n"), "%s", text);
    cr_assert_not_null(strstr(text, "Connection: close\r\n"), "HTTP/1.0 without keep-alive: %s", text);
    cr_assert(closed, "an HTTP/1.0 connection is closed after its answer");
    free(text);
    unserve(&s);
}

Test(http_server, pipelined_requests_on_one_connection_are_answered_in_order)
{
    served_t s;
    serve(&s);
    int fd = connect_to(s.port);
    const char *three = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                        "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    send_all(fd, three, strlen(three));
    bool closed;
    char *text = read_answers(fd, 3, &closed);
    cr_assert_not(closed, "%s", text);
    const char *a = strstr(text, "GET /1?"), *b = strstr(text, "GET /2?"), *c = strstr(text, "GET /3?");
    cr_assert(a && b && c && a < b && b < c, "%s", text);
    free(text);
    /* The same connection is kept for one more, a request split over two writes. */
    send_all(fd, "GET /4 HTTP/1.1\r\nHo", 19);
    usleep(50000);
    send_all(fd, "st: a\r\n\r\n", 9);
    text = read_answers(fd, 1, &closed);
    cr_assert_not_null(strstr(text, "GET /4?"), "%s", text);
    free(text);
    close(fd);
    cr_assert_eq(gale_http_server_counts(s.server).requests, 4);
    unserve(&s);
}

Test(http_server, garbage_gets_400_and_the_server_answers_others)
{
    served_t s;
    serve(&s);
    bool closed;
    char *text = ask(s.port, "\x01\x02 garbage \xff\r\n\r\n", &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 400 Bad Request\r\n"), "%s", text);
    cr_assert(closed);
    free(text);
    text = ask(s.port, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 400 "), "%s", text);
    free(text);
    still_answers(s.port);
    cr_assert_eq(gale_http_server_counts(s.server).refused, 2);
    unserve(&s);
}

Test(http_server, a_1_mb_header_and_too_many_headers_get_431)
{
    served_t s;
    serve(&s);
    size_t big = 1 << 20;
    char *req = malloc(big + 64);
    int n = snprintf(req, big + 64, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', big);
    strcpy(req + n + big, "\r\n\r\n");
    bool closed;
    char *text = ask(s.port, req, &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 431 Request Header Fields Too Large\r\n"), "%.200s", text);
    cr_assert(closed);
    free(text), free(req);
    gale_buf_t many = {0};
    gale_buf_puts(&many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < GALE_HTTP_HEADERS_MAX + 1; i++) gale_buf_printf(&many, "X-%d: 1\r\n", i);
    gale_buf_puts(&many, "\r\n");
    text = ask(s.port, many.p, &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 431 "), "%s", text);
    free(text), gale_buf_free(&many);
    still_answers(s.port);
    unserve(&s);
}

Test(http_server, a_body_over_the_bound_gets_413_before_it_is_read)
{
    served_t s;
    serve(&s);
    bool closed;
    char head[128];
    snprintf(head, sizeof head, "POST /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n", GALE_HTTP_BODY_MAX + 1);
    char *text = ask(s.port, head, &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 413 Payload Too Large\r\n"), "%s", text);
    free(text);
    /* Chunked, so that only the bytes count. */
    gale_buf_t chunked = {0};
    gale_buf_puts(&chunked, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 80; i++) {
        gale_buf_puts(&chunked, "400\r\n");
        char *at = gale_buf_append(&chunked, 1024);
        memset(at, 'b', 1024);
        gale_buf_puts(&chunked, "\r\n");
    }
    gale_buf_puts(&chunked, "0\r\n\r\n");
    text = ask(s.port, chunked.p, &closed);
    cr_assert_not_null(strstr(text, "HTTP/1.1 413 "), "%.200s", text);
    free(text), gale_buf_free(&chunked);
    still_answers(s.port);
    unserve(&s);
}

Test(http_server, ten_thousand_connections_do_not_lock_out_a_client)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int n = 10000;
    /* Ours and the server's ends share this process's descriptors. */
    if (rl.rlim_cur < (rlim_t)(n + GALE_HTTP_CONNS_MAX + 64)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < (rlim_t)(n + GALE_HTTP_CONNS_MAX + 64)) n = (int)rl.rlim_cur - GALE_HTTP_CONNS_MAX - 64;
    cr_assert_gt(n, 2 * GALE_HTTP_CONNS_MAX, "too few descriptors for the test: %llu", (unsigned long long)rl.rlim_cur);
    served_t s;
    serve(&s);
    int *fds = malloc((size_t)n * sizeof *fds);
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(s.port);
        if (i % 100 == 99) usleep(1000); /* the backlog of the listen */
    }
    still_answers(s.port);
    for (int i = 0; i < n; i++) close(fds[i]);
    free(fds);
    gale_http_counts_t k = gale_http_server_counts(s.server);
    cr_assert_geq(k.refused, (unsigned long long)(n - GALE_HTTP_CONNS_MAX), "%llu of %d refused", k.refused, n);
    still_answers(s.port);
    unserve(&s);
}

/* A client that shuts its side once it has asked (`nc -N`) still gets the whole answer, however long. */
Test(http_server, a_client_that_half_closes_after_asking_gets_the_whole_answer)
{
    served_t s;
    serve(&s);
    int fd = connect_to(s.port);
    const char *request = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    send_all(fd, request, strlen(request));
    shutdown(fd, SHUT_WR);
    usleep(300000); /* the server reads the end of our side while most of the answer still waits for us */
    bool closed;
    char *text = read_answers(fd, 1, &closed);
    const char *body = strstr(text, "\r\n\r\n");
    cr_assert_not_null(body, "%.200s", text);
    cr_assert_eq(strlen(body + 4), 4096u * 1024u, "the body was cut: %zu bytes", strlen(body + 4));
    free(text);
    close(fd);
    still_answers(s.port);
    unserve(&s);
}

Test(http_server, an_address_is_port_or_host_and_port)
{
    char host[64];
    int port = -1;
    cr_assert_eq(gale_http_parse_addr("8080", host, sizeof host, &port), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 8080);
    cr_assert_eq(gale_http_parse_addr("0.0.0.0:0", host, sizeof host, &port), 0);
    cr_assert_str_eq(host, "0.0.0.0");
    cr_assert_eq(port, 0);
    const char *bad[] = {"", "x", ":80", "1.2.3.4:", "1.2.3.4:65536", "80x", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(gale_http_parse_addr(bad[i], host, sizeof host, &port), GALE_EINVAL, "%s", bad[i]);
}
