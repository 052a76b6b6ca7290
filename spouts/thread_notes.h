/*
 * thread_notes.h: log lines from a plugin's own thread. Only gale_wake may be called off the task's executor, so
 * such a thread notes what it has to say here and wakes the task; the executor logs the notes at its next call
 * (thread_notes_say, from service or next_tuple). A few are kept between two calls; more are counted.
 * Header-only (static functions), for the plugins that run a thread: socket, redis_stream, redis_sink.
 */
#ifndef GALE_THREAD_NOTES_H
#define GALE_THREAD_NOTES_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "gale.h"

typedef struct thread_notes {
    gale_ctx_t *ctx; /* the task to wake */
    pthread_mutex_t mu;
    struct {
        gale_log_level_t level;
        char text[320];
    } notes[8];
    int n, lost;
} thread_notes_t;

static void thread_notes_init(thread_notes_t *t, gale_ctx_t *ctx)
{
    t->ctx = ctx;
    t->n = t->lost = 0;
    pthread_mutex_init(&t->mu, NULL);
}

static void thread_notes_destroy(thread_notes_t *t) { pthread_mutex_destroy(&t->mu); }

static void thread_note(thread_notes_t *t, gale_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void thread_note(thread_notes_t *t, gale_log_level_t level, const char *fmt, ...)
{
    pthread_mutex_lock(&t->mu);
    if (t->n < (int)(sizeof t->notes / sizeof *t->notes)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->notes[t->n].text, sizeof t->notes[0].text, fmt, ap);
        va_end(ap);
        t->notes[t->n++].level = level;
    } else {
        t->lost++;
    }
    pthread_mutex_unlock(&t->mu);
    gale_wake(t->ctx);
}

/* On the executor: what the thread noted, logged. */
static void thread_notes_say(gale_ctx_t *ctx, thread_notes_t *t)
{
    if (!t->n) return; /* a racy peek: a note missed now is said at the next call */
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n; i++) gale_log(ctx, t->notes[i].level, "%s", t->notes[i].text);
    if (t->lost) gale_warn(ctx, "(and %d messages more from the plugin's thread)", t->lost);
    t->n = t->lost = 0;
    pthread_mutex_unlock(&t->mu);
}

#endif
