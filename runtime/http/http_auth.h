/*
 * http_auth.h: the token that lets an HTTP request change a running topology (the REST API's POST actions), made
 * from the cluster secret without ever sending it: the request carries
 *
 *     Authorization: Gale-HMAC t=UNIX_SECONDS, n=NONCE, sig=HEX
 *
 * where NONCE is 16 random lowercase hex digits and sig is HMAC-SHA256(secret, "gale-http-1\nMETHOD\nPATH\n
 * UNIX_SECONDS\nNONCE") in lowercase hex. A token is good
 * for one request (its signature is remembered, and a second use refused) within GALE_HTTP_AUTH_SKEW_S of the
 * server's clock, and for that method and path only: one seen on the wire cannot be replayed, nor turned into
 * another action. `gale token` makes one.
 */
#ifndef GALE_HTTP_AUTH_H
#define GALE_HTTP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "hmac.h"

#define GALE_HTTP_AUTH_SKEW_S 300
#define GALE_HTTP_AUTH_SECRET_MAX 256
#define GALE_HTTP_AUTH_REMEMBERED 1024 /* signatures kept against replay: more tokens than that in 10 min are refused */

typedef struct gale_http_auth {
    unsigned char secret[GALE_HTTP_AUTH_SECRET_MAX];
    size_t secret_len;
    struct {
        int64_t t;
        unsigned char sig[GALE_SHA256_LEN];
    } used[GALE_HTTP_AUTH_REMEMBERED];
} gale_http_auth_t;

/* The checker of tokens made with `secret` (copied; at most GALE_HTTP_AUTH_SECRET_MAX bytes). 0 or GALE_EINVAL. */
int gale_http_auth_init(gale_http_auth_t *a, const void *secret, size_t len);

/* The Authorization header's value for `method` and `path` at time `t`, with a new nonce, into out (cap bytes:
   128 is room). */
void gale_http_auth_sign(const void *secret, size_t len, const char *method, const char *path, int64_t t, char *out,
                         size_t cap);

/* Checks the Authorization header's value `header` of a request, at time `now`: 0, and the token is used up; or
   GALE_EPERM with why (no token, not this scheme, out of date, a bad signature, used before, too many at once). */
int gale_http_auth_check(gale_http_auth_t *a, const char *method, const char *path, const char *header, int64_t now,
                         char *why, size_t why_cap);

#endif
