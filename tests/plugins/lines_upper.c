/*
 * lines_upper: file_lines's stream and `path` setting, replayable the same way (its positions are line numbers),
 * but each line emitted in upper case: what a hot swap puts in the place of a file_lines spout, so that a test sees
 * from which line on the new plugin ran, and that it resumed after the last line the old one emitted rather than
 * at the start of the file. A file only (no standard input), one reader (task 0).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

typedef struct state {
    FILE *f; /* NULL: done, or not the reader */
    char *line;
    size_t cap;
    uint64_t number; /* lines read so far = the last message id */
} state_t;

static int open_(gale_ctx_t *ctx)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    ctx->state = s;
    if (info.task_index > 0) return 0;
    const char *path = gale_setting_str(ctx, "path", "-");
    if (!(s->f = fopen(path, "r"))) {
        int err = errno;
        gale_error(ctx, "cannot open %s: %s", path, strerror(err));
        free(s);
        ctx->state = NULL;
        return -err;
    }
    uint64_t from;
    if (gale_replayable(ctx, &from) == 0) {
        while (s->number + 1 < from && getline(&s->line, &s->cap, s->f) >= 0) s->number++;
        gale_log(ctx, GALE_LOG_INFO, "lines_upper resumes %s at line %llu", path, (unsigned long long)from);
    }
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    ssize_t n = s->f ? getline(&s->line, &s->cap, s->f) : -1;
    if (n < 0) {
        if (s->f) fclose(s->f);
        s->f = NULL;
        gale_done(ctx);
        return 0;
    }
    if (n > 0 && s->line[n - 1] == '\n') n--;
    for (ssize_t i = 0; i < n; i++) s->line[i] = (char)toupper((unsigned char)s->line[i]);
    gale_value_t v = gale_strn(s->line, (size_t)n);
    return gale_emit_id(ctx, ++s->number, &v, 1);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->f) fclose(s->f);
    free(s->line);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to read, relative to the current directory"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "lines_upper", .description = "file_lines, each line in upper case",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"line", NULL}}, {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
