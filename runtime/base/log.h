/*
 * log.h: log lines for people, on stderr: "2026-11-25T02:40:00.123Z INFO  [split#3] message".
 * One write(2) per line so that lines from several threads and processes never interleave.
 */
#ifndef GALE_LOG_H
#define GALE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "gale.h"

/* Lines below this level are dropped (GALE_LOG_INFO unless GALE_LOG_LEVEL=debug|info|warn|error). */
gale_log_level_t gale_log_threshold(void);

/* `who` is the component and task ("split#3"), or a subsystem ("runtime"); may be NULL. */
void gale_logv(gale_log_level_t level, const char *who, const char *fmt, va_list ap);
void gale_logf(gale_log_level_t level, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A status line is shown on stderr (a terminal: status_line.h): each log line then clears it first, in the same
   write, and its owner draws it again at its next turn. */
void gale_log_status_line(bool shown);
/* Writes `text` to stderr in one write(2), with no prefix (the status line's own drawing). */
void gale_log_raw(const char *text, size_t len);

#endif
