/*
 * http_server.h: a small HTTP/1.1 server on its owner's libuv loop (http-parser reads the requests; no thread of
 * its own), for the figures of a running topology: Storm UI's REST API, Prometheus's /metrics and the web page.
 * It keeps the loop safe from its clients, whatever they send:
 *   - a request's head (request line and headers) is at most GALE_HTTP_HEAD_MAX bytes and GALE_HTTP_HEADERS_MAX
 *     headers (431 and the connection closed), its body at most GALE_HTTP_BODY_MAX bytes (413);
 *   - what http-parser refuses gets 400 and the connection closed;
 *   - at most GALE_HTTP_CONNS_MAX connections are open: over that the one idle the longest is closed to make room,
 *     so that a flood of idle connections cannot lock real clients out;
 *   - a connection that sends nothing, or does not finish its request, within GALE_HTTP_IDLE_MS is closed, and one
 *     that does not read its answers (more than GALE_HTTP_UNSENT_MAX bytes waiting) too.
 * Keep-alive and pipelined requests are answered in order. What a request means is the owner's: `handle` gets
 * each complete one and fills the answer on the spot.
 */
#ifndef GALE_HTTP_SERVER_H
#define GALE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"

#define GALE_HTTP_HEAD_MAX 16384
#define GALE_HTTP_HEADERS_MAX 64
#define GALE_HTTP_BODY_MAX 65536
#define GALE_HTTP_CONNS_MAX 256
#define GALE_HTTP_IDLE_MS 10000
#define GALE_HTTP_UNSENT_MAX (8u << 20)

typedef struct gale_http_server gale_http_server_t;

/* One request, borrowed for the call to `handle`. Strings are NUL-terminated. */
typedef struct gale_http_req {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* the target before any '?', not decoded: "/api/v1/topology/wordcount" */
    const char *query;         /* after the '?', "" when none */
    const char *authorization; /* the Authorization header's value, "" when none */
    const char *body;
    size_t body_len;
} gale_http_req_t;

/* The answer `handle` fills: its status (default 200), its content type (default "application/json"; a string that
   outlives the call) and its body (empty, owned by the server). */
typedef struct gale_http_resp {
    int status;
    const char *content_type;
    gale_buf_t body;
} gale_http_resp_t;

typedef struct gale_http_server_opts {
    const char *who; /* the log's component name, "http" (borrowed, must outlive the server) */
    void (*handle)(void *arg, const gale_http_req_t *req, gale_http_resp_t *resp);
    void *arg;
    /* HTTPS (tls.h, a context of gale_tls_ctx_from_dir_web: clients give no certificate; borrowed, may be NULL):
       every connection is a TLS 1.3 session, and a client in clear is closed. */
    struct gale_tls_ctx *tls;
} gale_http_server_opts_t;

/* The value of `key` in a query string ("a=1&window=600"), percent-decoded into out (cap bytes, cut short if
   longer): 1 when the key is there, 0 when not. */
int gale_http_query_value(const char *query, const char *key, char *out, size_t cap);

/* Listens on host:port (port 0: any) on `loop`. 0 with *out and *bound_port, or GALE_EIO with the reason logged;
   on failure the loop must run once more to close what was opened. */
int gale_http_server_listen(uv_loop_t *loop, const char *host, int port, const gale_http_server_opts_t *o,
                            gale_http_server_t **out, int *bound_port);

/* Stops listening and closes every connection; the memory goes once the loop has run. NULL is a no-op. */
void gale_http_server_close(gale_http_server_t *s);

/* Counts since it listened, for tests and the log: requests answered, connections accepted, and those closed for
   breaking a rule above. */
typedef struct gale_http_counts {
    unsigned long long requests, connections, refused;
} gale_http_counts_t;
gale_http_counts_t gale_http_server_counts(const gale_http_server_t *s);

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *gale_http_reason(int status);

/* Splits "[HOST:]PORT" (HOST default 127.0.0.1) into host (cap bytes) and *port (0 to 65535). 0, or GALE_EINVAL. */
int gale_http_parse_addr(const char *spec, char *host, size_t cap, int *port);

#endif
