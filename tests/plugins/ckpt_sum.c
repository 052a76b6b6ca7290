/*
 * ckpt_sum: a test bolt for checkpoints. Counts the tuples of each source (field "src") and sums their n, in its
 * key-value state directly (a put per tuple: the state API as a plugin with no structure of its own uses it). At
 * each checkpoint it appends "N sum TASK SRC COUNT SUM" per source to `log`, and "N commit TASK" or
 * "N rollback TASK" when the checkpoint completes or is abandoned. At finish it emits (src, count, sum) per
 * source. With `fail_every` K it fails its prepare_commit of every K-th checkpoint (a task that fails its part).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

typedef struct state {
    const char *log;
    uint32_t task;
    int64_t fail_every;
} state_t;

static void log_line(const char *path, const char *line)
{
    if (!path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, line, strlen(line));
    (void)w;
    close(fd);
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    s->task = info.task_id;
    s->log = gale_setting_str(ctx, "log", NULL);
    s->fail_every = gale_setting_int(ctx, "fail_every", 0);
    ctx->state = s;
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t src, n, old, item;
    if (gale_get(ctx, in, 0, &src) || gale_get(ctx, in, 1, &n) || src.type != GALE_STR || n.type != GALE_INT)
        return GALE_ETYPE;
    int64_t count = 0, sum = 0;
    if (gale_state_get(ctx, &src, &old) == 0 && old.type == GALE_ARRAY && old.n == 2) {
        gale_item(ctx, &old, 0, &item);
        count = item.i;
        gale_item(ctx, &old, 1, &item);
        sum = item.i;
    }
    gale_value_t pair[2] = {gale_int(count + 1), gale_int(sum + n.i)};
    gale_value_t v = gale_array(pair, 2);
    return gale_state_put(ctx, &src, &v);
}

static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    if (s->fail_every && checkpoint % (uint64_t)s->fail_every == 0) return GALE_EIO;
    uint64_t cursor = 0;
    gale_value_t k, v, c, sum;
    while (gale_state_next(ctx, &cursor, &k, &v) == 0) {
        gale_item(ctx, &v, 0, &c);
        gale_item(ctx, &v, 1, &sum);
        char line[300];
        snprintf(line, sizeof line, "%llu sum %u %.*s %lld %lld\n", (unsigned long long)checkpoint, s->task,
                 (int)k.s.len, k.s.ptr, (long long)c.i, (long long)sum.i);
        log_line(s->log, line);
    }
    return 0;
}

static void commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    char line[100];
    snprintf(line, sizeof line, "%llu commit %u\n", (unsigned long long)checkpoint, s->task);
    log_line(s->log, line);
}

static void rollback(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    char line[100];
    snprintf(line, sizeof line, "%llu rollback %u\n", (unsigned long long)checkpoint, s->task);
    log_line(s->log, line);
}

static int finish(gale_ctx_t *ctx)
{
    uint64_t cursor = 0;
    gale_value_t k, v, c, sum;
    int rc = 0;
    while (!rc && gale_state_next(ctx, &cursor, &k, &v) == 0) {
        gale_item(ctx, &v, 0, &c);
        gale_item(ctx, &v, 1, &sum);
        gale_value_t out[3] = {k, c, sum};
        rc = gale_emit(ctx, out, 3);
    }
    return rc;
}

static void cleanup(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"log", GALE_SETTING_STRING, "file the checkpoint lines are appended to"},
    {"fail_every", GALE_SETTING_INT, "fail the prepare_commit of every K-th checkpoint"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "ckpt_sum", .description = "counts and sums per source, in its state",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"src", "count", "sum", NULL}},
                                                    {NULL, NULL}},
            .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup},
            .prepare_commit = prepare_commit, .commit = commit, .rollback = rollback);
