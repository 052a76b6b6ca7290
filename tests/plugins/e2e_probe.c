/*
 * e2e_probe: a test bolt that records what happens to it. It forwards each input's first value as (n), appends a
 * line per event to the file `events` (O_APPEND, so tasks and processes may share it), and can be told to be slow
 * (`delay_us`), to emit from finish (`finish_emit`: emits (-task_id)), to emit a wrong number of values
 * (`wrong_arity`), or to fail its prepare (`fail_prepare`). With `metrics` it keeps metrics of its own (ABI 2.2):
 * counter "probed" (inputs executed), gauge "last_n" (the last input's value) and histogram "n_values".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gale.h"

typedef struct state {
    int fd;
    int64_t delay_us;
    bool finish_emit, wrong_arity;
    gale_task_info_t info;
    uint64_t executed;
    gale_metric_t *probed, *last_n, *n_values; /* NULL without `metrics` */
} state_t;

static void event(state_t *s, const char *what, int64_t n)
{
    if (s->fd < 0) return;
    char line[256];
    int len = snprintf(line, sizeof line, "%s %s#%u %lld\n", what, s->info.component, s->info.task_id, (long long)n);
    if (write(s->fd, line, (size_t)len) != len) return;
}

static int prepare(gale_ctx_t *ctx)
{
    if (gale_setting_bool(ctx, "fail_prepare", false)) {
        gale_error(ctx, "told to fail prepare");
        return GALE_EINVAL;
    }
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    const char *path = gale_setting_str(ctx, "events", NULL);
    s->fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
    s->delay_us = gale_setting_int(ctx, "delay_us", 0);
    s->finish_emit = gale_setting_bool(ctx, "finish_emit", false);
    s->wrong_arity = gale_setting_bool(ctx, "wrong_arity", false);
    gale_task_info(ctx, &s->info);
    if (gale_setting_bool(ctx, "metrics", false)) {
        s->probed = gale_counter(ctx, "probed");
        s->last_n = gale_gauge(ctx, "last_n");
        s->n_values = gale_histogram(ctx, "n_values");
        if (!s->probed || gale_counter(ctx, "probed") != s->probed) {
            free(s);
            gale_error(ctx, "registering a metric again did not give the same one");
            return GALE_EINVAL;
        }
    }
    ctx->state = s;
    event(s, "prepare", 0);
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    gale_value_t v;
    if (gale_get(ctx, in, 0, &v) || v.type != GALE_INT) return GALE_ETYPE;
    if (s->delay_us) {
        struct timespec ts = {s->delay_us / 1000000, (s->delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    s->executed++;
    gale_counter_add(ctx, s->probed, 1);
    gale_gauge_set(ctx, s->last_n, (double)v.i);
    gale_histogram_record(ctx, s->n_values, (uint64_t)(v.i < 0 ? 0 : v.i));
    event(s, "execute", v.i);
    gale_value_t out[2] = {v, v};
    return gale_emit(ctx, out, s->wrong_arity ? 2 : 1);
}

static int finish(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    event(s, "finish", (int64_t)s->executed);
    if (!s->finish_emit) return 0;
    gale_value_t v = gale_int(-(int64_t)s->info.task_id);
    return gale_emit(ctx, &v, 1);
}

static void cleanup(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    event(s, "cleanup", 0);
    if (s->fd >= 0) close(s->fd);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"events", GALE_SETTING_STRING, "file to append event lines to"},
    {"delay_us", GALE_SETTING_INT, "sleep this long in each execute"},
    {"finish_emit", GALE_SETTING_BOOL, "emit (-task_id) from finish"},
    {"wrong_arity", GALE_SETTING_BOOL, "emit two values on a one-field stream"},
    {"fail_prepare", GALE_SETTING_BOOL, "fail prepare"},
    {"metrics", GALE_SETTING_BOOL, "keep metrics of its own: probed, last_n, n_values"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "e2e_probe", .description = "test bolt that records events",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}}, {NULL, NULL}},
            .settings = settings, .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
