#include "hmac.h"

#include "gale.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

int gale_sha256_init(gale_sha256_t *s)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) EVP_MD_CTX_free(md), md = NULL;
    s->md = md;
    return md ? 0 : GALE_ENOMEM;
}

void gale_sha256_update(gale_sha256_t *s, const void *data, size_t len)
{
    if (s->md && len && !EVP_DigestUpdate(s->md, data, len)) gale_sha256_abort(s); /* final then fails */
}

int gale_sha256_final(gale_sha256_t *s, unsigned char out[GALE_SHA256_LEN])
{
    unsigned int n = 0;
    int ok = s->md && EVP_DigestFinal_ex(s->md, out, &n) && n == GALE_SHA256_LEN;
    gale_sha256_abort(s);
    if (!ok) memset(out, 0, GALE_SHA256_LEN);
    return ok ? 0 : GALE_EIO;
}

void gale_sha256_abort(gale_sha256_t *s)
{
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

static int digest(const EVP_MD *type, const void *data, size_t len, unsigned char *out, unsigned int want)
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, type, NULL) && n == want) return 0;
    memset(out, 0, want);
    return GALE_EIO;
}

int gale_sha256(const void *data, size_t len, unsigned char out[GALE_SHA256_LEN])
{
    return digest(EVP_sha256(), data, len, out, GALE_SHA256_LEN);
}

int gale_sha1(const void *data, size_t len, unsigned char out[GALE_SHA1_LEN])
{
    return digest(EVP_sha1(), data, len, out, GALE_SHA1_LEN);
}

int gale_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     unsigned char out[GALE_SHA256_LEN])
{
    unsigned int n = 0;
    static const unsigned char empty[1];
    /* OpenSSL's one-shot HMAC: an empty key or message is given as a non-NULL pointer of length 0. */
    if (HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len, msg_len ? msg : empty, msg_len, out, &n) &&
        n == GALE_SHA256_LEN)
        return 0;
    memset(out, 0, GALE_SHA256_LEN);
    return GALE_EIO;
}

bool gale_equal_secret(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }

int gale_random_bytes(void *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((unsigned char *)out + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        got += (size_t)r;
    }
    return 0;
}

int gale_auth_nonce(unsigned char nonce[GALE_NONCE_LEN]) { return gale_random_bytes(nonce, GALE_NONCE_LEN); }

int gale_auth_proof(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                    uint32_t peer, unsigned char out[GALE_SHA256_LEN])
{
    unsigned char msg[GALE_NONCE_LEN + 5];
    memcpy(msg, nonce, GALE_NONCE_LEN);
    msg[GALE_NONCE_LEN] = (unsigned char)role;
    for (int i = 0; i < 4; i++) msg[GALE_NONCE_LEN + 1 + i] = (unsigned char)(peer >> (8 * i));
    return gale_hmac_sha256(secret, secret_len, msg, sizeof msg, out);
}

bool gale_auth_check(const void *secret, size_t secret_len, const unsigned char nonce[GALE_NONCE_LEN], char role,
                     uint32_t peer, const unsigned char proof[GALE_SHA256_LEN])
{
    unsigned char want[GALE_SHA256_LEN];
    if (gale_auth_proof(secret, secret_len, nonce, role, peer, want)) return false;
    return gale_equal_secret(want, proof, GALE_SHA256_LEN);
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
