/*
 * waker_spout: a spout whose tuples come from a thread of its own, as a client library's callbacks would. The
 * thread produces `count` numbers, one every 200 us, and calls gale_wake() after each; `service`, on the task's
 * executor, emits (n) for each number produced and not yet emitted, and calls gale_done() after the last.
 * next_tuple does nothing. close stops the thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "gale.h"

typedef struct state {
    gale_ctx_t *ctx;
    int64_t count, emitted;
    atomic_llong produced;
    atomic_bool stop;
    pthread_t thread;
    int wake_rc; /* the first failing gale_wake's code */
} state_t;

static void *produce(void *arg)
{
    state_t *s = arg;
    struct timespec ts = {0, 200 * 1000};
    while (!atomic_load(&s->stop) && atomic_load(&s->produced) < s->count) {
        nanosleep(&ts, NULL);
        atomic_fetch_add(&s->produced, 1);
        int rc = gale_wake(s->ctx);
        if (rc && !s->wake_rc) s->wake_rc = rc;
    }
    return NULL;
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    s->count = gale_setting_int(ctx, "count", 100);
    ctx->state = s;
    if (pthread_create(&s->thread, NULL, produce, s)) {
        free(s);
        return GALE_EAGAIN;
    }
    return 0;
}

static int next_tuple(gale_ctx_t *ctx) { return 0; }

static int service(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    int64_t upto = atomic_load(&s->produced), did = 0;
    for (; s->emitted < upto; s->emitted++, did++) {
        gale_value_t v = gale_int(s->emitted + 1);
        int rc = gale_emit(ctx, &v, 1);
        if (rc) return rc;
    }
    if (s->emitted == s->count) gale_done(ctx);
    return (int)did;
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    if (s->wake_rc) gale_error(ctx, "gale_wake failed: %s", gale_strerror(ctx, s->wake_rc));
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"count", GALE_SETTING_INT, "numbers to produce (default 100)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "waker_spout", .description = "test spout fed by a thread of its own",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_},
            .service = service);
