/*
 * hmac.h: SHA-256, SHA-1 and HMAC-SHA256, and the challenge-response that proves a peer knows the topology's secret
 * without sending it (the handshake of the worker transport and of the control ports).
 *
 * No cryptographic primitive is written in this tree: the digests and the MAC are OpenSSL's (EVP), proofs are
 * compared with CRYPTO_memcmp, in constant time, and nonces come from the kernel's random source (getrandom). A
 * call that OpenSSL fails (out of memory) says so, and a proof is never taken as checked when its MAC could not be
 * computed.
 */
#ifndef GALE_HMAC_H
#define GALE_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_SHA256_LEN 32
#define GALE_SHA1_LEN 20
#define GALE_NONCE_LEN 32

/* A SHA-256 over data that comes in parts. init: 0 or GALE_ENOMEM (then update does nothing and final fails);
   final writes the digest and releases the state (0, or GALE_EIO); abort releases it without one. */
typedef struct gale_sha256 {
    void *md; /* OpenSSL's EVP_MD_CTX */
} gale_sha256_t;

int gale_sha256_init(gale_sha256_t *s);
void gale_sha256_update(gale_sha256_t *s, const void *data, size_t len);
int gale_sha256_final(gale_sha256_t *s, unsigned char out[GALE_SHA256_LEN]);
void gale_sha256_abort(gale_sha256_t *s);

/* One-shot digests: 0, or GALE_EIO. SHA-1 is for ZooKeeper's digest ACL ids only, which are made of it. */
int gale_sha256(const void *data, size_t len, unsigned char out[GALE_SHA256_LEN]);
int gale_sha1(const void *data, size_t len, unsigned char out[GALE_SHA1_LEN]);

/* HMAC-SHA256 (RFC 2104): 0, or GALE_EIO with out zeroed. */
int gale_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     unsigned char out[GALE_SHA256_LEN]);

/* Whether a and b (n bytes each) are equal, in time that does not depend on where they differ. */
bool gale_equal_secret(const void *a, const void *b, size_t n);

/* Fills `out` with `n` bytes from the kernel's random source (getrandom, the CSPRNG). 0, or a negative errno. */
int gale_random_bytes(void *out, size_t n);
/* Fills `nonce` from the kernel's random source. 0, or a negative errno. */
int gale_auth_nonce(unsigned char nonce[GALE_NONCE_LEN]);
/* The proof a peer sends: HMAC(secret, nonce || role || peer id), role telling client and server answers apart so
   that one cannot be replayed as the other. 0, or GALE_EIO. */
int gale_auth_proof(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                    uint32_t peer, unsigned char out[GALE_SHA256_LEN]);
/* Checks a proof in constant time; false too when the expected proof could not be computed. */
bool gale_auth_check(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, const unsigned char proof[GALE_SHA256_LEN]);

/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated). */
void gale_hex_encode(const unsigned char *bytes, size_t n, char *out);
/* Exactly 2n hex digits into `n` bytes: 0, or GALE_EINVAL. */
int gale_hex_decode(const char *hex, unsigned char *out, size_t n);

#endif
