/*
 * buf.h: the byte buffer every writer of text or frames appends to (JSON, metrics, frames, control lines).
 *
 * Growable, or fixed over the caller's memory. A failed allocation is remembered in `failed` rather than returned
 * by every append: a writer appends a whole document and checks once at the end, as hiredis's sds users do.
 */
#ifndef GALE_BUF_H
#define GALE_BUF_H

#include <stddef.h>

/* A growable text buffer; or, with `fixed`, the caller's own buffer: what does not fit is counted in `len` but not
   written (snprintf's contract), and nothing is ever allocated. */
typedef struct gale_buf {
    char *p;
    size_t len, cap;
    int failed; /* an allocation failed: the text is truncated */
    int fixed;
} gale_buf_t;

void gale_buf_put(gale_buf_t *b, const char *s, size_t n);
/* Grows a growable buffer by n bytes and returns where they go (the caller writes them), or NULL once an
   allocation failed. For binary writers that know a record's size: one check per record, not one per field. */
char *gale_buf_append(gale_buf_t *b, size_t n);
void gale_buf_puts(gale_buf_t *b, const char *s);
void gale_buf_printf(gale_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gale_buf_free(gale_buf_t *b);

#endif
