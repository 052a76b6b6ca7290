#include "aead.h"

#include <limits.h>
#include <openssl/evp.h>
#include <string.h>

#include "gale.h"
#include "hmac.h"

/* One GCM pass; `seal` picks the direction. The tag is written (seal) or checked (open) by OpenSSL. */
static int gcm(int seal, const unsigned char *key, const unsigned char *nonce, const void *aad, size_t aad_len,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    if (len > INT_MAX || aad_len > INT_MAX) return GALE_ELIMIT;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return GALE_EIO;
    int n = 0, ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, seal) &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GALE_AEAD_NONCE_LEN, NULL) &&
                    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, seal) &&
                    (!aad_len || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len)) &&
                    (!len || EVP_CipherUpdate(c, out, &n, in, (int)len));
    int rc = ok ? 0 : GALE_EIO;
    if (ok && !seal && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GALE_AEAD_TAG_LEN, tag)) rc = GALE_EIO;
    if (!rc && EVP_CipherFinal_ex(c, out + n, &n) != 1) rc = seal ? GALE_EIO : GALE_ECORRUPT;
    if (!rc && seal && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GALE_AEAD_TAG_LEN, tag)) rc = GALE_EIO;
    EVP_CIPHER_CTX_free(c); /* wipes the key schedule */
    return rc;
}

int gale_aead_seal(const unsigned char key[GALE_AEAD_KEY_LEN], const void *aad, size_t aad_len, const void *in,
                   size_t len, unsigned char *out)
{
    unsigned char *nonce = out, *body = out + GALE_AEAD_NONCE_LEN, *tag = body + len;
    int rc = gale_random_bytes(nonce, GALE_AEAD_NONCE_LEN) ? GALE_EIO : 0;
    if (!rc) rc = gcm(1, key, nonce, aad, aad_len, in, len, body, tag);
    if (rc) memset(out, 0, len + GALE_AEAD_OVERHEAD);
    return rc;
}

int gale_aead_open(const unsigned char key[GALE_AEAD_KEY_LEN], const void *aad, size_t aad_len, const unsigned char *in,
                   size_t len, unsigned char *out)
{
    if (len < GALE_AEAD_OVERHEAD) return GALE_ECORRUPT;
    size_t n = len - GALE_AEAD_OVERHEAD;
    unsigned char tag[GALE_AEAD_TAG_LEN];
    memcpy(tag, in + GALE_AEAD_NONCE_LEN + n, sizeof tag);
    int rc = gcm(0, key, in, aad, aad_len, in + GALE_AEAD_NONCE_LEN, n, out, tag);
    if (rc) memset(out, 0, n); /* never hand back plaintext that did not authenticate */
    return rc;
}
