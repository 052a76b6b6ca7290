/*
 * http_get.h: a small blocking HTTP/1.1 GET client for `gale monitor`, which reads a gale HTTP endpoint's REST
 * documents (runtime/http). One request per connection (Connection: close), read until the server closes or the
 * Content-Length is there; every wait bounded by the caller's timeout (poll), the answer by `max_bytes`. Only what
 * monitor needs: http:// and https:// (the server checked against the cluster's CA, gale_http_get_use_tls), no
 * redirects, no chunked bodies, no keep-alive. SIGPIPE is never raised.
 */
#ifndef GALE_HTTP_GET_H
#define GALE_HTTP_GET_H

#include <stddef.h>

#include "diag.h"

/* The most a caller usually lets an answer take (head and body). */
#define GALE_HTTP_GET_MAX (16u << 20)

/* The host and port of "http://HOST:PORT" or "https://HOST:PORT" (a trailing "/" allowed, nothing else after the
   port). HOST is an IPv4 address or a name, PORT 1 to 65535. 0, or GALE_EINVAL with the reason in `d`. */
int gale_http_parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap, gale_diag_t *d);

typedef struct gale_http_answer {
    int status; /* 200, 404, ... */
    char *body; /* NUL-terminated (the body may hold NULs of its own; body_len is its size); owned, see below */
    size_t body_len;
} gale_http_answer_t;

/* GET `path` (starting with "/", sent as it is) from HOST:PORT within `timeout_ms`, connect to close. 0 with *out
   filled (free it with gale_http_answer_free), whatever the status; or a negative code, *out empty, `d` saying why:
   GALE_ENOENT (the host has no address), GALE_EIO (refused, reset, closed before a whole answer), GALE_ETIMEDOUT,
   GALE_ELIMIT (more than `max_bytes`), GALE_ECORRUPT (not an HTTP answer, or a chunked one), GALE_ENOMEM. */
int gale_http_get(const char *host, const char *port, const char *path, int timeout_ms, size_t max_bytes,
                  gale_http_answer_t *out, gale_diag_t *d);

void gale_http_answer_free(gale_http_answer_t *a);

struct gale_tls_ctx;
/* Every GET from now on speaks TLS with `tls` (borrowed; NULL: in clear): HTTPS, the server's certificate checked
   against the context's CA. */
void gale_http_get_use_tls(struct gale_tls_ctx *tls);

#endif
