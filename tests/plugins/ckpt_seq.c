/*
 * ckpt_seq: a test spout for checkpoints. Emits (src, n) with src its component's name and n = 1, 2, ... up to
 * `count` (0: unbounded), `every` tuples per next_tuple call (a rate of its own). Its position (how many it
 * emitted) is its state: put at every checkpoint, and a task restored from one goes on after it. At each
 * checkpoint it appends "N pos SRC P" to the file `log`, so that a test can hold each bolt's snapshot against
 * what the spouts had emitted before the same barrier.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

typedef struct state {
    int64_t next, count, every;
    const char *src, *log;
} state_t;

static const gale_value_t KEY = {.type = GALE_STR, .s = {"pos", 3}};

static void log_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, line, strlen(line)); /* one write: lines of several tasks never interleave */
    (void)w;
    close(fd);
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    s->src = info.component;
    s->next = 1;
    s->count = gale_setting_int(ctx, "count", 0);
    s->every = gale_setting_int(ctx, "every", 1);
    s->log = gale_setting_str(ctx, "log", NULL);
    gale_value_t pos;
    if (gale_state_get(ctx, &KEY, &pos) == 0 && pos.type == GALE_INT) s->next = pos.i + 1;
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    for (int64_t k = 0; k < s->every; k++) {
        if (s->count && s->next > s->count) {
            gale_done(ctx);
            return 0;
        }
        gale_value_t v[2] = {gale_str(s->src), gale_int(s->next)};
        int rc = gale_emit_id(ctx, (uint64_t)s->next, v, 2);
        if (rc) return rc;
        s->next++;
    }
    return 0;
}

static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    gale_value_t pos = gale_int(s->next - 1);
    if (s->log) {
        char line[200];
        snprintf(line, sizeof line, "%llu pos %s %lld\n", (unsigned long long)checkpoint, s->src,
                 (long long)(s->next - 1));
        log_line(s->log, line);
    }
    return gale_state_put(ctx, &KEY, &pos);
}

static void close_(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"count", GALE_SETTING_INT, "tuples to emit (0: unbounded)"},
    {"every", GALE_SETTING_INT, "tuples per next_tuple call"},
    {"log", GALE_SETTING_STRING, "file the checkpoint lines are appended to"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "ckpt_seq", .description = "a sequence whose position is its state",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"src", "n", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_},
            .prepare_commit = prepare_commit);
