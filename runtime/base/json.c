#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpread.h"

/*
 * The length of the well-formed UTF-8 sequence at s (Unicode's table 3-7: no overlong forms, no surrogates
 * ED A0..ED BF, nothing above U+10FFFF), or 0 when none starts there; then *subpart gets the length of the maximal
 * subpart (at least 1): the lead byte and the continuation bytes that still fit, which one U+FFFD replaces.
 */
static size_t utf8_sequence(const unsigned char *s, size_t left, size_t *subpart)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf; /* the range of the next byte */
    size_t need;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2;
    else if (c >= 0xf0 && c <= 0xf4) need = 3;
    else {
        *subpart = 1; /* a continuation byte alone, the bytes C0 and C1 (overlong leads), F5..FF */
        return 0;
    }
    if (c == 0xe0) lo = 0xa0; /* overlong below U+0800 */
    if (c == 0xed) hi = 0x9f; /* surrogates */
    if (c == 0xf0) lo = 0x90; /* overlong below U+10000 */
    if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
    size_t i = 1;
    for (; i <= need && i < left && s[i] >= lo && s[i] <= hi; i++) lo = 0x80, hi = 0xbf;
    if (i == need + 1) return i;
    *subpart = i;
    return 0;
}

/*
 * One rule for every JSON string gale writes. RFC 8259 wants JSON text in UTF-8, so each ill-formed sequence
 * becomes U+FFFD, one per maximal subpart (Unicode's and WHATWG's practice: "\xe2\x82A" is U+FFFD then "A", a
 * lone 0x80 one U+FFFD, a surrogate's three bytes three): JSON has no escape for a byte, only for code points.
 * Control characters (U+0000..U+001F, which RFC 8259 requires, and DEL and U+0080..U+009F, which terminals act on)
 * are escaped as \u00XX, with the short forms for \n, \r and \t. Allocates nothing in a fixed buffer.
 */
void gale_json_string(gale_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    gale_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes that need no change, written in one go */
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = 1, subpart = 0;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            n = utf8_sequence(u + i, len - i, &subpart);
            if (n && !(c == 0xc2 && u[i + 1] < 0xa0)) {
                i += n;
                continue;
            }
            if (n) c = u[i + 1]; /* a C1 control, U+0080..U+009F: escaped below */
        }
        gale_buf_put(b, s + run, i - run);
        if (subpart) {
            gale_buf_put(b, "\xef\xbf\xbd", 3);
            n = subpart;
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            gale_buf_put(b, esc, 2);
        } else if (c == '\n') gale_buf_put(b, "\\n", 2);
        else if (c == '\r') gale_buf_put(b, "\\r", 2);
        else if (c == '\t') gale_buf_put(b, "\\t", 2);
        else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            gale_buf_put(b, esc, 6);
        }
        i += n;
        run = i;
    }
    gale_buf_put(b, s + run, len - run);
    gale_buf_put(b, "\"", 1);
}

static void base64(gale_buf_t *b, const unsigned char *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    gale_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char out[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                       i + 2 < n ? tbl[v & 63] : '='};
        gale_buf_put(b, out, 4);
    }
    gale_buf_put(b, "\"", 1);
}

static void json_key(gale_buf_t *b, const gale_value_t *k)
{
    if (k->type == GALE_STR) {
        gale_json_string(b, k->s.ptr, k->s.len);
        return;
    }
    gale_buf_t inner = {0};
    gale_json_value(&inner, k);
    gale_json_string(b, inner.p ? inner.p : "", inner.len);
    gale_buf_free(&inner);
}

void gale_json_double(gale_buf_t *b, double d)
{
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, d);
        if (digits == 17 || strtod(text, NULL) == d) break;
    }
    gale_buf_puts(b, text);
}

void gale_json_value(gale_buf_t *b, const gale_value_t *v)
{
    switch (v->type) {
    case GALE_NIL: gale_buf_puts(b, "null"); break;
    case GALE_BOOL: gale_buf_puts(b, v->b ? "true" : "false"); break;
    case GALE_INT: gale_buf_printf(b, "%lld", (long long)v->i); break;
    case GALE_UINT: gale_buf_printf(b, "%llu", (unsigned long long)v->u); break;
    case GALE_DOUBLE:
        if (isfinite(v->d)) gale_json_double(b, v->d);
        else gale_buf_puts(b, "null");
        break;
    case GALE_STR: gale_json_string(b, v->s.ptr, v->s.len); break;
    case GALE_BYTES: base64(b, (const unsigned char *)v->s.ptr, v->s.len); break;
    case GALE_ARRAY:
    case GALE_MAP: {
        bool map = v->type == GALE_MAP;
        gale_buf_puts(b, map ? "{" : "[");
        for (uint32_t i = 0; i < v->n; i++) {
            gale_value_t item, val;
            if (i) gale_buf_puts(b, ", ");
            if (!map) {
                if (gale_mp_item(v, i, &item) == 0) gale_json_value(b, &item);
                continue;
            }
            if (gale_mp_item(v, 2 * i, &item) || gale_mp_item(v, 2 * i + 1, &val)) continue;
            json_key(b, &item);
            gale_buf_puts(b, ": ");
            gale_json_value(b, &val);
        }
        gale_buf_puts(b, map ? "}" : "]");
        break;
    }
    }
}

size_t gale__to_json(const gale_value_t *v, char *buf, size_t cap)
{
    gale_buf_t b = {.p = buf, .cap = cap, .fixed = 1};
    if (cap) buf[0] = '\0';
    gale_json_value(&b, v);
    return b.len;
}
