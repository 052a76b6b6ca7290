/*
 * log.h: log lines for people, on stderr: "2026-11-25T02:40:00.123Z INFO  [split#3] message".
 * One write(2) per line so that lines from several threads and processes never interleave.
 */
#ifndef GALE_LOG_H
#define GALE_LOG_H

#include <stdarg.h>

#include "gale.h"

/* Lines below this level are dropped (GALE_LOG_INFO unless GALE_LOG_LEVEL=debug|info|warn|error). */
gale_log_level_t gale_log_threshold(void);

/* `who` is the component and task ("split#3"), or a subsystem ("runtime"); may be NULL. */
void gale_logv(gale_log_level_t level, const char *who, const char *fmt, va_list ap);
void gale_logf(gale_log_level_t level, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
