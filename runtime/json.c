#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpread.h"

void gale_buf_put(gale_buf_t *b, const char *s, size_t n)
{
    if (b->fixed) {
        if (b->len + 1 < b->cap) {
            size_t room = b->cap - 1 - b->len;
            memcpy(b->p + b->len, s, n < room ? n : room);
            b->p[b->len + (n < room ? n : room)] = '\0';
        }
        b->len += n;
        return;
    }
    char *dst = gale_buf_append(b, n);
    if (dst) memcpy(dst, s, n);
}

char *gale_buf_append(gale_buf_t *b, size_t n)
{
    if (b->failed || b->fixed) return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    char *dst = b->p + b->len;
    b->len += n;
    b->p[b->len] = '\0';
    return dst;
}

void gale_buf_puts(gale_buf_t *b, const char *s) { gale_buf_put(b, s, strlen(s)); }

void gale_buf_printf(gale_buf_t *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        gale_buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    gale_buf_put(b, big, (size_t)n);
    free(big);
}

void gale_buf_free(gale_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void gale_json_string(gale_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    gale_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes that need no escape, written in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        gale_buf_put(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', (char)c, 0};
        if (c == '"' || c == '\\') gale_buf_put(b, esc, 2);
        else if (c == '\n') gale_buf_put(b, "\\n", 2);
        else if (c == '\r') gale_buf_put(b, "\\r", 2);
        else if (c == '\t') gale_buf_put(b, "\\t", 2);
        else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            gale_buf_put(b, u, 6);
        }
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

void gale_json_value(gale_buf_t *b, const gale_value_t *v)
{
    switch (v->type) {
    case GALE_NIL: gale_buf_puts(b, "null"); break;
    case GALE_BOOL: gale_buf_puts(b, v->b ? "true" : "false"); break;
    case GALE_INT: gale_buf_printf(b, "%lld", (long long)v->i); break;
    case GALE_UINT: gale_buf_printf(b, "%llu", (unsigned long long)v->u); break;
    case GALE_DOUBLE:
        if (isfinite(v->d)) gale_buf_printf(b, "%.17g", v->d);
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
