#include "http_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#define NONCE_BYTES 8 /* of the token's nonce, in hex in the header */

int gale_http_auth_init(gale_http_auth_t *a, const void *secret, size_t len)
{
    memset(a, 0, sizeof *a);
    if (!len || len > sizeof a->secret) return GALE_EINVAL;
    memcpy(a->secret, secret, len);
    a->secret_len = len;
    return 0;
}

/* 0, or GALE_EIO when the MAC could not be computed (a token is then neither made nor taken). */
static int signature(const void *secret, size_t len, const char *method, const char *path, int64_t t, const char *nonce,
                     unsigned char out[GALE_SHA256_LEN])
{
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "gale-http-1\n%s\n%s\n%" PRId64 "\n%s", method, path, t, nonce);
    return gale_hmac_sha256(secret, len, msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, out);
}

void gale_http_auth_sign(const void *secret, size_t len, const char *method, const char *path, int64_t t, char *out,
                         size_t cap)
{
    unsigned char sig[GALE_SHA256_LEN], raw[GALE_NONCE_LEN];
    char hex[2 * GALE_SHA256_LEN + 1], nonce[2 * NONCE_BYTES + 1];
    /* A nonce of its own, so that two tokens for one request in one second differ (each is good once). */
    if (gale_auth_nonce(raw)) memset(raw, 0, sizeof raw);
    gale_hex_encode(raw, NONCE_BYTES, nonce);
    (void)signature(secret, len, method, path, t, nonce, sig); /* one that fails is all zeros: no server takes it */
    gale_hex_encode(sig, sizeof sig, hex);
    snprintf(out, cap, "Gale-HMAC t=%" PRId64 ", n=%s, sig=%s", t, nonce, hex);
}

static int refuse(char *why, size_t cap, const char *text)
{
    snprintf(why, cap, "%s", text);
    return GALE_EPERM;
}

int gale_http_auth_check(gale_http_auth_t *a, const char *method, const char *path, const char *header, int64_t now,
                         char *why, size_t why_cap)
{
    static const char SCHEME[] = "Gale-HMAC ";
    if (!header || !*header)
        return refuse(why, why_cap, "this action needs a token: an Authorization: Gale-HMAC header (gale token)");
    if (strncmp(header, SCHEME, sizeof SCHEME - 1))
        return refuse(why, why_cap, "the Authorization header is not a Gale-HMAC token (gale token makes one)");
    const char *p = header + sizeof SCHEME - 1;
    char *end;
    if (strncmp(p, "t=", 2)) return refuse(why, why_cap, "the token has no t=");
    long long t = strtoll(p + 2, &end, 10);
    char nonce[2 * NONCE_BYTES + 1];
    const char *sig = end + 4 + 2 * NONCE_BYTES;
    if (end == p + 2 || strncmp(end, ", n=", 4) || strspn(end + 4, "0123456789abcdef") != 2 * NONCE_BYTES ||
        strncmp(sig, ", sig=", 6) || strlen(sig + 6) != 2 * GALE_SHA256_LEN)
        return refuse(why, why_cap, "the token is not t=SECONDS, n=NONCE, sig=HEX");
    memcpy(nonce, end + 4, 2 * NONCE_BYTES);
    nonce[2 * NONCE_BYTES] = 0;
    unsigned char got[GALE_SHA256_LEN], want[GALE_SHA256_LEN];
    if (gale_hex_decode(sig + 6, got, sizeof got)) return refuse(why, why_cap, "the token's sig is not hex");
    if (t < now - GALE_HTTP_AUTH_SKEW_S || t > now + GALE_HTTP_AUTH_SKEW_S)
        return refuse(why, why_cap, "the token is out of date (more than 300 s from this host's clock)");
    if (signature(a->secret, a->secret_len, method, path, (int64_t)t, nonce, want))
        return refuse(why, why_cap, "the token's signature cannot be checked (out of memory)");
    if (!gale_equal_secret(got, want, sizeof got))
        return refuse(why, why_cap, "the token's signature is wrong (another secret, method or path)");
    /* One use each: a slot whose token has gone out of date is free again. */
    int free_slot = -1;
    for (int i = 0; i < GALE_HTTP_AUTH_REMEMBERED; i++) {
        bool live = a->used[i].t >= now - GALE_HTTP_AUTH_SKEW_S && a->used[i].t != 0;
        if (live && gale_equal_secret(a->used[i].sig, got, sizeof got))
            return refuse(why, why_cap, "the token was used before");
        if (!live && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) return refuse(why, why_cap, "too many tokens in the last 10 minutes: try again later");
    a->used[free_slot].t = (int64_t)t;
    memcpy(a->used[free_slot].sig, got, sizeof got);
    return 0;
}
