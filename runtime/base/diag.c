#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *gale_strerror(int err)
{
    switch (err) {
    case GALE_OK: return "success";
#define GALE__ERR_TEXT(name, value, text)                                                                      \
    case GALE_##name: return text;
        GALE_ERRNO_MAP(GALE__ERR_TEXT)
#undef GALE__ERR_TEXT
    default:
        /* Plugins may return any -errno (a failed write's -EPIPE, say): the system knows its text. */
        if (err < 0 && err > -1000) return strerror(-err);
        return "unknown error";
    }
}

const char *gale_err_name(int err)
{
    switch (err) {
    case GALE_OK: return "GALE_OK";
#define GALE__ERR_NAME(name, value, text)                                                                      \
    case GALE_##name: return "GALE_" #name;
        GALE_ERRNO_MAP(GALE__ERR_NAME)
#undef GALE__ERR_NAME
    default: return "GALE_E?";
    }
}

int gale__diag(gale_diag_t *d, int err, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}
