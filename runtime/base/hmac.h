/*
 * hmac.h: SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), and the challenge-response that proves a peer knows the
 * topology's secret without sending it: the handshake of the worker transport.
 *
 * Written here rather than taken from a library because it is all the transport needs (no TLS): about a hundred
 * lines, checked against the FIPS and RFC 4231 test vectors.
 */
#ifndef GALE_HMAC_H
#define GALE_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_SHA256_LEN 32
#define GALE_NONCE_LEN 32

typedef struct gale_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} gale_sha256_t;

void gale_sha256_init(gale_sha256_t *s);
void gale_sha256_update(gale_sha256_t *s, const void *data, size_t len);
void gale_sha256_final(gale_sha256_t *s, unsigned char out[GALE_SHA256_LEN]);

void gale_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                      unsigned char out[GALE_SHA256_LEN]);

/* Fills `nonce` from the kernel's random source. 0, or a negative errno. */
int gale_auth_nonce(unsigned char nonce[GALE_NONCE_LEN]);
/* The proof a peer sends: HMAC(secret, nonce || role || peer id), role telling client and server answers apart so
   that one cannot be replayed as the other. */
void gale_auth_proof(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, unsigned char out[GALE_SHA256_LEN]);
/* Checks a proof in constant time. */
bool gale_auth_check(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, const unsigned char proof[GALE_SHA256_LEN]);

/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated). */
void gale_hex_encode(const unsigned char *bytes, size_t n, char *out);
/* Exactly 2n hex digits into `n` bytes: 0, or GALE_EINVAL. */
int gale_hex_decode(const char *hex, unsigned char *out, size_t n);

#endif
