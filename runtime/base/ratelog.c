#include "ratelog.h"

#include <stdio.h>

bool gale_ratelog_event(gale_ratelog_t *r, uint64_t now_ms, const char *why, uint64_t *flush)
{
    if (!r->said || now_ms - r->said_ms >= r->interval_ms) {
        if (flush) *flush = r->pending;
        r->pending = 0;
        r->said = true;
        r->said_ms = now_ms;
        return true;
    }
    r->pending++;
    snprintf(r->last, sizeof r->last, "%s", why);
    return false;
}

uint64_t gale_ratelog_due(gale_ratelog_t *r, uint64_t now_ms, bool force)
{
    if (!r->pending || (!force && now_ms - r->said_ms < r->interval_ms)) return 0;
    uint64_t n = r->pending;
    r->pending = 0;
    r->said = true;
    r->said_ms = now_ms;
    return n;
}
