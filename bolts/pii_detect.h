/*
 * pii_detect.h: finding personal data in text, for the pii bolt (pii.c); header-only, as a plugin's helpers are.
 *
 * Each built-in kind is a PCRE2 pattern (JIT-compiled) that finds candidates, and a check that a candidate is what
 * it looks like, so that near misses stay as they are: a payment card's digits pass the Luhn check, an IBAN's the
 * ISO 13616 mod-97 check, an address inet_pton. A phone number needs 9 to 15 digits and either a leading +, a
 * (area code) or two separated groups, so that a bare order number or a date is not one. User patterns (settings)
 * are PCRE2 patterns with no check. Where matches of several kinds overlap, the kind earlier in the table wins:
 * user patterns, then email, iban, card, ipv6, ipv4, phone.
 */
#ifndef GALE_PII_DETECT_H
#define GALE_PII_DETECT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum pii_builtin { PII_EMAIL, PII_IBAN, PII_CARD, PII_IPV6, PII_IPV4, PII_PHONE, PII_N_BUILTIN } pii_builtin_t;

/* A span found in a text: [start, start + len) of kind `kind` (an index into the bolt's table of kinds). */
typedef struct pii_span {
    size_t start, len;
    int kind;
} pii_span_t;

static inline size_t pii_digits(const char *p, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] >= '0' && p[i] <= '9') out[k++] = p[i];
    return k;
}

/* Luhn (ISO/IEC 7812) over 13 to 19 digits, separators (one kind: ' ' or '-') between them allowed. */
static inline bool pii_card_ok(const char *p, size_t n)
{
    char sep = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ' ' || p[i] == '-') {
            if (sep && p[i] != sep) return false;
            sep = p[i];
        }
    char d[32];
    if (n > 40) return false;
    size_t k = pii_digits(p, n, d);
    if (k < 13 || k > 19) return false;
    int sum = 0;
    for (size_t i = 0; i < k; i++) {
        int x = d[k - 1 - i] - '0';
        if (i % 2) x = x * 2 > 9 ? x * 2 - 9 : x * 2;
        sum += x;
    }
    return sum % 10 == 0;
}

/* ISO 13616: 15 to 34 letters and digits (spaces ignored), two letters, two digits, and mod 97 of the rearranged
   number is 1. *len is cut back (at a space) to the longest prefix that passes, since the pattern may take a
   following word. */
static inline bool pii_iban_ok(const char *p, size_t *len)
{
    for (size_t n = *len; n >= 15; n--) {
        if (n < *len && p[n] != ' ') continue; /* only cut at a space */
        char s[40];
        size_t k = 0;
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            if (p[i] == ' ') continue;
            if (k == 34) ok = false;
            else s[k++] = p[i];
        }
        if (!ok || k < 15) continue;
        unsigned rem = 0;
        for (size_t i = 0; i < k; i++) {
            char c = s[(i + 4) % k];
            if (c >= '0' && c <= '9') rem = (rem * 10 + (unsigned)(c - '0')) % 97;
            else if (c >= 'A' && c <= 'Z') rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
            else ok = false;
        }
        if (ok && rem == 1) {
            *len = n;
            return true;
        }
    }
    return false;
}

static inline bool pii_ip_ok(const char *p, size_t *len, int af)
{
    char buf[64];
    size_t n = *len;
    while (n && p[n - 1] == '.') n--; /* the end of a sentence */
    if (!n || n >= sizeof buf) return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    unsigned char addr[16];
    if (inet_pton(af, buf, addr) != 1) return false;
    if (af == AF_INET6) {
        size_t hex = 0;
        for (size_t i = 0; i < n; i++) hex += isxdigit((unsigned char)buf[i]) != 0;
        if (!hex) return false; /* "::" alone */
    }
    *len = n;
    return true;
}

static inline bool pii_phone_ok(const char *p, size_t n)
{
    char d[40];
    if (n > 40) return false;
    size_t k = pii_digits(p, n, d), groups = 1;
    if (k < 9 || k > 15) return false;
    if (p[0] == '+' || memchr(p, '(', n)) return true;
    for (size_t i = 1; i < n; i++)
        if ((p[i] == ' ' || p[i] == '-' || p[i] == '.') && p[i - 1] >= '0' && p[i - 1] <= '9') groups++;
    return groups >= 3;
}

/* The built-in kinds: name and pattern. */
static const struct {
    const char *name;
    const char *pattern;
} PII_BUILTINS[PII_N_BUILTIN] = {
    [PII_EMAIL] = {"email", "(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                            "(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"},
    [PII_IBAN] = {"iban", "(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,32}(?![A-Za-z0-9])"},
    [PII_CARD] = {"card", "(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])"},
    [PII_IPV6] = {"ipv6", "(?<![0-9A-Za-z:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?![0-9A-Za-z:])"},
    [PII_IPV4] = {"ipv4", "(?<![0-9.])(?:[0-9]{1,3}\\.){3}[0-9]{1,3}(?![0-9]|\\.[0-9])"},
    [PII_PHONE] = {"phone", "(?<![A-Za-z0-9+-])(?:\\+[0-9]{8,15}|(?:\\+[0-9]{1,3}[ .-]?)?(?:\\([0-9]{1,4}\\)[ .-]?)?"
                            "[0-9]{2,5}(?:[ .-][0-9]{2,5}){0,4})(?![0-9A-Za-z-])"},
};

/* Whether a candidate of built-in kind `b` at p[0..*len) is one; may shorten *len (a trailing dot, a word an IBAN
   took). */
static inline bool pii_builtin_ok(pii_builtin_t b, const char *p, size_t *len)
{
    switch (b) {
    case PII_EMAIL: return true;
    case PII_IBAN: return pii_iban_ok(p, len);
    case PII_CARD: return pii_card_ok(p, *len);
    case PII_IPV6: return pii_ip_ok(p, len, AF_INET6);
    case PII_IPV4: return pii_ip_ok(p, len, AF_INET);
    case PII_PHONE: return pii_phone_ok(p, *len);
    case PII_N_BUILTIN: break;
    }
    return false;
}

/* Compiles `pattern` (JIT when the platform has it); NULL with `why` (naming where) when it does not compile. */
static inline pcre2_code *pii_compile(const char *pattern, char *why, size_t cap)
{
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        snprintf(why, cap, "at offset %zu: %s", (size_t)at, (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT, pcre2_match interprets: slower, still right */
    return re;
}

#endif
