#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "ratelog.h"

void gale__task_error(gale_task_t *t, const char *fmt, ...)
{
    uint64_t n = ++t->m.errors;
    if (!gale_log_worth(n)) return; /* a bolt failing every tuple must not drown the log */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 10) gale_logf(GALE_LOG_ERROR, t->who, "%s (%llu errors so far)", msg, (unsigned long long)n);
    else gale_logf(GALE_LOG_ERROR, t->who, "%s", msg);
}

int gale__u64vec_push(gale_u64vec_t *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        uint64_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return GALE_ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}
