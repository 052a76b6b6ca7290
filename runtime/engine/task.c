#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emit.h"
#include "log.h"
#include "ratelog.h"
#include "service.h"
#include "spout.h"

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
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_fetch_add_explicit(&t->error_seq, 1, memory_order_acq_rel); /* odd: being written */
    atomic_thread_fence(memory_order_release);
    t->m.last_error.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    t->m.last_error.task = t->base.task_id;
    size_t len = strlen(msg) < sizeof t->m.last_error.text ? strlen(msg) : sizeof t->m.last_error.text - 1;
    memcpy(t->m.last_error.text, msg, len); /* cut to its size: the log line has all of it */
    t->m.last_error.text[len] = '\0';
    atomic_fetch_add_explicit(&t->error_seq, 1, memory_order_release);
}

void gale__task_last_error(const gale_task_t *t, gale_last_error_t *out)
{
    /* An error is rare and short to write: a reader that keeps meeting a write gives up with nothing. */
    for (int tries = 0; tries < 1000; tries++) {
        unsigned before = atomic_load_explicit(&t->error_seq, memory_order_acquire);
        if (before & 1) continue;
        memcpy(out, &t->m.last_error, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->error_seq, memory_order_relaxed) == before) {
            out->text[sizeof out->text - 1] = '\0';
            return;
        }
    }
    memset(out, 0, sizeof *out);
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

int gale__task_open_plugin(gale_task_t *t)
{
    t->base.phase = GALE_PHASE_OPEN;
    int (*open)(gale_ctx_t *) = t->comp->kind == GALE_SPOUT ? t->desc->spout.open : t->desc->bolt.prepare;
    int rc = open ? open(&t->base.pub) : 0;
    t->opened = rc == 0;
    t->base.phase = rc ? GALE_PHASE_CLOSED : GALE_PHASE_RUN;
    return rc;
}

void gale__task_close_plugin(gale_task_t *t)
{
    if (t->comp->kind == GALE_SPOUT && t->active && t->desc->spout.deactivate) t->desc->spout.deactivate(&t->base.pub);
    /* close and cleanup may no longer emit, ack or fail (gale.h's phase table). */
    t->base.phase = GALE_PHASE_CLOSED;
    if (t->comp->kind == GALE_SPOUT) {
        if (t->desc->spout.close) t->desc->spout.close(&t->base.pub);
    } else if (t->desc->bolt.cleanup) {
        t->desc->bolt.cleanup(&t->base.pub);
    }
    t->opened = false;
}

void gale__task_close_for_swap(gale_task_t *t)
{
    /* What a bolt kept past execute cannot follow it into another plugin: failed, their trees are replayed. A
       spout's open trees are the runtime's (pending, retries, position): they stay, for the next plugin. */
    while (t->n_kept) gale__fail(&t->base.pub, t->kept[t->n_kept - 1]);
    gale__task_close_plugin(t);
}

int gale__task_open_for_swap(gale_task_t *t, const gale_plugin_t *desc)
{
    t->base.pub.state = NULL;
    t->desc = desc;
    t->basic = desc->kind == GALE_BOLT && (desc->flags & GALE_BOLT_BASIC) != 0;
    t->service = desc->service ? gale__plugin_service : NULL;
    if (t->comp->kind == GALE_SPOUT) gale__spout_reopening(t);
    int rc = gale__task_open_plugin(t);
    if (!rc && t->comp->kind == GALE_SPOUT && t->active && desc->spout.activate) desc->spout.activate(&t->base.pub);
    return rc;
}
