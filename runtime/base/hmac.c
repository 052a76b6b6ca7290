#include "hmac.h"

#include "gale.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void gale_sha256_init(gale_sha256_t *s)
{
    static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, IV, sizeof IV);
    s->bytes = 0;
    s->fill = 0;
}

void gale_sha256_update(gale_sha256_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->bytes += len;
    while (len) {
        size_t take = 64 - s->fill < len ? 64 - s->fill : len;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        len -= take;
        if (s->fill == 64) {
            compress(s->h, s->block);
            s->fill = 0;
        }
    }
}

void gale_sha256_final(gale_sha256_t *s, unsigned char out[GALE_SHA256_LEN])
{
    uint64_t bits = s->bytes * 8;
    unsigned char pad = 0x80;
    gale_sha256_update(s, &pad, 1);
    pad = 0;
    while (s->fill != 56) gale_sha256_update(s, &pad, 1);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
    gale_sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        for (int b = 0; b < 4; b++) out[4 * i + b] = (unsigned char)(s->h[i] >> (24 - 8 * b));
}

void gale_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                      unsigned char out[GALE_SHA256_LEN])
{
    unsigned char k[64] = {0}, pad[64], inner[GALE_SHA256_LEN];
    gale_sha256_t s;
    if (key_len > 64) {
        gale_sha256_init(&s);
        gale_sha256_update(&s, key, key_len);
        gale_sha256_final(&s, k);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    gale_sha256_init(&s);
    gale_sha256_update(&s, pad, 64);
    gale_sha256_update(&s, msg, msg_len);
    gale_sha256_final(&s, inner);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    gale_sha256_init(&s);
    gale_sha256_update(&s, pad, 64);
    gale_sha256_update(&s, inner, sizeof inner);
    gale_sha256_final(&s, out);
}

int gale_auth_nonce(unsigned char nonce[GALE_NONCE_LEN])
{
    size_t got = 0;
    while (got < GALE_NONCE_LEN) {
        ssize_t n = getrandom(nonce + got, GALE_NONCE_LEN - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        got += (size_t)n;
    }
    return 0;
}

void gale_auth_proof(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, unsigned char out[GALE_SHA256_LEN])
{
    unsigned char msg[GALE_NONCE_LEN + 5];
    memcpy(msg, nonce, GALE_NONCE_LEN);
    msg[GALE_NONCE_LEN] = (unsigned char)role;
    for (int i = 0; i < 4; i++) msg[GALE_NONCE_LEN + 1 + i] = (unsigned char)(peer >> (8 * i));
    gale_hmac_sha256(secret, secret_len, msg, sizeof msg, out);
}

bool gale_auth_check(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, const unsigned char proof[GALE_SHA256_LEN])
{
    unsigned char want[GALE_SHA256_LEN];
    gale_auth_proof(secret, secret_len, nonce, role, peer, want);
    unsigned char diff = 0; /* constant time: no early exit that a timing could reveal */
    for (int i = 0; i < GALE_SHA256_LEN; i++) diff |= (unsigned char)(want[i] ^ proof[i]);
    return diff == 0;
}

void gale_hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gale_hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n) return GALE_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return GALE_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
