/*
 * ratelog.h: the two rules that keep a log line which may come thousands of times from drowning the log.
 *
 * - gale_log_worth(n): the n-th occurrence of an error is worth a line when it is among the first ten or a power of
 *   two (task errors, tuples over the frame limit).
 * - gale_ratelog_t: an event (a rejected connection) is logged at once when no line about it went out in the last
 *   interval; within the interval it is counted, and the count goes out as one line when the interval has passed
 *   (gale_ratelog_due). Pure: the caller passes the time and writes the lines.
 */
#ifndef GALE_RATELOG_H
#define GALE_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

static inline bool gale_log_worth(uint64_t n) { return n <= 10 || (n & (n - 1)) == 0; }

typedef struct gale_ratelog {
    uint64_t interval_ms;
    uint64_t said_ms;  /* when the last line went out */
    bool said;
    uint64_t pending;  /* events counted since */
    char last[160];    /* the reason of the last counted event */
} gale_ratelog_t;

/*
 * An event at now_ms. True: log it now, with its own reason; *flush (may be NULL) then gets the count of earlier
 * events still pending, to be said first with r->last. False: it was counted (its reason kept in r->last).
 */
bool gale_ratelog_event(gale_ratelog_t *r, uint64_t now_ms, const char *why, uint64_t *flush);
/* The count to say now with r->last, and 0 when there is none or its interval has not passed (`force`: whatever
   is pending, at close). The count is reset and the line counts as said. */
uint64_t gale_ratelog_due(gale_ratelog_t *r, uint64_t now_ms, bool force);

#endif
