#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

gale_log_level_t gale_log_threshold(void)
{
    static int level = -1;
    if (level < 0) {
        const char *e = getenv("GALE_LOG_LEVEL");
        level = GALE_LOG_INFO;
        if (e && !strcasecmp(e, "debug")) level = GALE_LOG_DEBUG;
        if (e && !strcasecmp(e, "warn")) level = GALE_LOG_WARN;
        if (e && !strcasecmp(e, "error")) level = GALE_LOG_ERROR;
    }
    return (gale_log_level_t)level;
}

void gale_logv(gale_log_level_t level, const char *who, const char *fmt, va_list ap)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < gale_log_threshold()) return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                  names[level < 0 || level > 3 ? 1 : level]);
    if (who) n += snprintf(line + n, sizeof line - (size_t)n, "[%s] ", who);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    n = m < 0 ? n : (n + m >= (int)sizeof line - 1 ? (int)sizeof line - 2 : n + m);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void gale_logf(gale_log_level_t level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gale_logv(level, who, fmt, ap);
    va_end(ap);
}
