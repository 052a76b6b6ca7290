/*
 * win_probe: a test windowed bolt. Appends a line per window it is given to `path`:
 * "START END | IDS | ADDED | EXPIRED" (the field `id` of each tuple, in the order given), and emits (start, end, n)
 * anchored to the window. With `fail_window` = K, its K-th window (from 0) returns an error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

typedef struct state {
    const char *path;
    long fired, fail_window;
    char *buf;
    size_t cap;
} state_t;

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->path = gale_setting_str(ctx, "path", NULL);
    s->fail_window = (long)gale_setting_int(ctx, "fail_window", -1);
    ctx->state = s;
    return 0;
}

static size_t put_ids(gale_ctx_t *ctx, state_t *s, size_t at, const char *sep, const gale_tuple_t *const *t, size_t n)
{
    size_t need = at + strlen(sep) + n * 24 + 8;
    if (need > s->cap) {
        size_t cap = need * 2;
        char *b = realloc(s->buf, cap);
        if (!b) return at;
        s->buf = b, s->cap = cap;
    }
    at += (size_t)sprintf(s->buf + at, "%s", sep);
    for (size_t i = 0; i < n; i++) {
        gale_value_t v;
        long long id = gale_field(ctx, t[i], "id", &v) == 0 && v.type == GALE_INT ? (long long)v.i : -1;
        at += (size_t)sprintf(s->buf + at, i ? " %lld" : "%lld", id);
    }
    return at;
}

static int execute_window(gale_ctx_t *ctx, const gale_window_t *w)
{
    state_t *s = ctx->state;
    if (s->path) {
        if (s->cap < 64 && !(s->buf = realloc(s->buf, s->cap = 64))) return GALE_ENOMEM;
        size_t at = (size_t)sprintf(s->buf, "%lld %lld", (long long)w->start, (long long)w->end);
        at = put_ids(ctx, s, at, " | ", w->tuples, w->n_tuples);
        at = put_ids(ctx, s, at, " | ", w->added, w->n_added);
        at = put_ids(ctx, s, at, " | ", w->expired, w->n_expired);
        s->buf[at++] = '\n';
        int fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t wr = write(fd, s->buf, at);
            (void)wr;
            close(fd);
        }
    }
    gale_value_t v[3] = {gale_int(w->start), gale_int(w->end), gale_int((int64_t)w->n_tuples)};
    int rc = gale_emit(ctx, v, 3);
    if (rc) return rc;
    return s->fired++ == s->fail_window ? GALE_EPLUGIN : 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s) free(s->buf);
    free(s);
}

static const char *const FIELDS[] = {"start", "end", "n", NULL};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "win_probe",
            .streams = (const gale_stream_decl_t[]){{"default", FIELDS}, {NULL}},
            .settings = (const gale_setting_decl_t[]){{"path", GALE_SETTING_STRING, "where the windows go"},
                                                      {"fail_window", GALE_SETTING_INT, "this window fails"},
                                                      {NULL}},
            .bolt = {.prepare = prepare, .cleanup = cleanup}, .execute_window = execute_window);
