/*
 * file_lines: one tuple per line of a file (field "line"), then done. Finite by nature.
 *
 *   path  (string, "-")  the file, relative to the directory gale runs in; "-" reads standard input
 *
 * Each line is emitted with its line number (from 1) as message id, so that with acking on every line's tree is
 * tracked; with `replay = true;` in the spout's block the runtime replays the lines that fail. Line ends (\n or
 * \r\n) are not part of the line. With parallelism above 1 only the first task reads: a file has one reader.
 * Reading standard input may block next_tuple until a line or the end arrives; the end ends the spout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct state {
    FILE *f;
    bool own; /* opened here, so closed here */
    char *line;
    size_t cap;
    uint64_t number;
} state_t;

static int open_(gale_ctx_t *ctx)
{
    gale_task_info_t info;
    ctx->host->task_info(ctx, &info);
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    ctx->state = s;
    if (info.task_index > 0) return 0; /* one reader per file */
    const char *path = gale_setting_str(ctx, "path", "-");
    if (!strcmp(path, "-")) {
        s->f = stdin;
        return 0;
    }
    s->f = fopen(path, "r");
    if (!s->f) {
        int err = errno;
        gale_error(ctx, "cannot open %s: %s", path, strerror(err));
        free(s);
        ctx->state = NULL;
        return -err;
    }
    s->own = true;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    ssize_t n = s->f ? getline(&s->line, &s->cap, s->f) : -1;
    if (n < 0) {
        if (s->f && ferror(s->f)) gale_error(ctx, "read error: %s", strerror(errno));
        gale_done(ctx);
        return 0;
    }
    if (n > 0 && s->line[n - 1] == '\n') n--;
    if (n > 0 && s->line[n - 1] == '\r') n--;
    gale_value_t v = gale_strn(s->line, (size_t)n);
    return gale_emit_id(ctx, ++s->number, &v, 1);
}

static void fail(gale_ctx_t *ctx, uint64_t msg_id) { gale_warn(ctx, "line %llu failed", (unsigned long long)msg_id); }

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->own) fclose(s->f);
    free(s->line);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to read, relative to the working directory; \"-\": standard input"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "file_lines", .description = "one tuple per line of a file, then done",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"line", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .fail = fail, .close = close_});
