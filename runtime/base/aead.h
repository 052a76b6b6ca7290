/*
 * aead.h: authenticated encryption of records at rest (the journal's), AES-256-GCM from OpenSSL (EVP).
 *
 * A sealed record is [12-byte nonce][ciphertext, as long as the plaintext][16-byte tag]. The nonce is drawn from the
 * kernel's random source for each record: with 96 random bits, one key seals 2^32 records before the chance of a
 * repeated nonce reaches 2^-32 (NIST SP 800-38D, 8.3), far more than a failed-tuple journal holds. The associated
 * data is authenticated, not encrypted: the caller binds the record to where it lies with it, so that a record
 * moved elsewhere fails to open.
 */
#ifndef GALE_AEAD_H
#define GALE_AEAD_H

#include <stddef.h>

#define GALE_AEAD_KEY_LEN 32
#define GALE_AEAD_NONCE_LEN 12
#define GALE_AEAD_TAG_LEN 16
#define GALE_AEAD_OVERHEAD (GALE_AEAD_NONCE_LEN + GALE_AEAD_TAG_LEN)

/* Seals `len` bytes of `in` into `out` (len + GALE_AEAD_OVERHEAD bytes, the caller's). 0, or GALE_EIO (OpenSSL or
   the random source failed; out is then zeroed). */
int gale_aead_seal(const unsigned char key[GALE_AEAD_KEY_LEN], const void *aad, size_t aad_len, const void *in,
                   size_t len, unsigned char *out);
/* Opens a sealed record of `len` bytes into `out` (len - GALE_AEAD_OVERHEAD bytes). 0; GALE_ECORRUPT when it does
   not authenticate (another key, a changed byte, other associated data), with out zeroed; GALE_EIO when OpenSSL
   failed. */
int gale_aead_open(const unsigned char key[GALE_AEAD_KEY_LEN], const void *aad, size_t aad_len, const unsigned char *in,
                   size_t len, unsigned char *out);

#endif
