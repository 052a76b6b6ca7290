/*
 * base64.h: RFC 4648 base64 (the standard alphabet, with '=' padding), for the bytes that travel inside the text
 * lines of the cluster's control ports: a blob's chunks between nimbus and its clients.
 */
#ifndef GALE_BASE64_H
#define GALE_BASE64_H

#include <stddef.h>

/* The length of the text for `n` bytes, without a NUL. */
static inline size_t gale_base64_len(size_t n) { return (n + 2) / 3 * 4; }

/* `n` bytes into `out`, which has gale_base64_len(n) + 1 bytes; NUL-terminated. */
void gale_base64_encode(const void *bytes, size_t n, char *out);

/* `len` characters of text into `out` (at most len / 4 * 3 bytes). The number of bytes, or GALE_EINVAL for text
   that is not base64 (a length that is not a multiple of 4, a character outside the alphabet, padding inside). */
long gale_base64_decode(const char *text, size_t len, unsigned char *out);

#endif
