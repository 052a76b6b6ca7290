/*
 * lines.h: a stream of bytes cut into lines, for the control pipe between the supervisor and its workers and
 * the supervisor's control port. libuv
 * reads straight into the buffer (gale_lines_space), and each whole line is handed out NUL-terminated.
 */
#ifndef GALE_LINES_H
#define GALE_LINES_H

#include <stddef.h>

typedef struct gale_lines {
    char *buf; /* borrowed, `cap` bytes */
    size_t cap, len;
} gale_lines_t;

/* Where the next read may write, and how much. */
static inline char *gale_lines_space(gale_lines_t *l, size_t *room)
{
    *room = l->cap - l->len - 1;
    return l->buf + l->len;
}

/* Takes `n` bytes just read into the space and calls `line` for each whole line. A line longer than the buffer is
   dropped and the call returns GALE_ELIMIT (the caller decides whether that peer is to be trusted further);
   otherwise 0. */
int gale_lines_took(gale_lines_t *l, size_t n, void (*line)(void *arg, char *text), void *arg);

#endif
