#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
