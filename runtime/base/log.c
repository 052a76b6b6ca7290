#include "log.h"

#include <stdatomic.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static gale_log_level_t threshold = GALE_LOG_INFO;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;
static void report_bad_level(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void read_threshold(void)
{
    static const struct {
        const char *name;
        gale_log_level_t level;
    } LEVELS[] = {{"debug", GALE_LOG_DEBUG}, {"info", GALE_LOG_INFO}, {"warn", GALE_LOG_WARN}, {"error", GALE_LOG_ERROR}};
    const char *e = getenv("GALE_LOG_LEVEL");
    if (!e || !*e) return; /* unset or empty (GALE_LOG_LEVEL= in a shell): the default */
    for (size_t i = 0; i < sizeof LEVELS / sizeof *LEVELS; i++)
        if (!strcasecmp(e, LEVELS[i].name)) {
            threshold = LEVELS[i].level;
            return;
        }
    report_bad_level("GALE_LOG_LEVEL=%s is not a log level (debug, info, warn or error): logging at info", e);
}

/* A value that is not a level does not stop the program: logging goes on at the default (info), which is what the
   user gets without the variable, and the warning says so once per process. */
gale_log_level_t gale_log_threshold(void)
{
    pthread_once(&threshold_once, read_threshold);
    return threshold;
}

static void write_line(gale_log_level_t level, const char *who, const char *fmt, va_list ap);

static void report_bad_level(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(GALE_LOG_WARN, "log", fmt, ap);
    va_end(ap);
}

void gale_logv(gale_log_level_t level, const char *who, const char *fmt, va_list ap)
{
    if (level < gale_log_threshold()) return;
    write_line(level, who, fmt, ap);
}

static atomic_bool status_shown;

void gale_log_status_line(bool shown) { atomic_store_explicit(&status_shown, shown, memory_order_relaxed); }

void gale_log_raw(const char *text, size_t len)
{
    ssize_t w = write(STDERR_FILENO, text, len);
    (void)w;
}

static void write_line(gale_log_level_t level, const char *who, const char *fmt, va_list ap)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    static const char CLEAR[] = "\r\033[K"; /* back to the line's start, erase it: the status line goes */
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = 0;
    if (atomic_load_explicit(&status_shown, memory_order_relaxed)) {
        memcpy(line, CLEAR, sizeof CLEAR - 1);
        n = (int)sizeof CLEAR - 1;
    }
    n += (int)strftime(line + n, sizeof line - (size_t)n, "%Y-%m-%dT%H:%M:%S", &tm);
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
