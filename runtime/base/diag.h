/*
 * diag.h: error codes and the diagnostic buffer that carries a message for people.
 *
 * Every fallible runtime function returns 0 or a negative GALE_E* code. When it can say more than the code (which
 * file, which line, which component), it writes one line into a gale_diag_t the caller passed, in the form
 * "FILE:LINE: what is wrong". A NULL diag is allowed and drops the text.
 */
#ifndef GALE_DIAG_H
#define GALE_DIAG_H

#include "gale.h"

typedef struct gale_diag {
    char msg[1024];
} gale_diag_t;

/* The text of an error code; never NULL (an unknown code gives "unknown error"). */
const char *gale_strerror(int err);
/* The symbolic name of a code, e.g. "GALE_EINVAL". */
const char *gale_err_name(int err);

/* Formats into d->msg (when d is not NULL) and returns `err`, so that `return gale__diag(d, GALE_EINVAL, ...)`
   reports and fails in one statement. */
int gale__diag(gale_diag_t *d, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
