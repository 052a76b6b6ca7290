/*
 * file_sink: appends each input as one JSON line, {"field": value, ...}, with the input stream's field names.
 *
 *   path    (string, "-")  the file to append to, relative to the directory gale runs in; "-": standard output
 *   fields  (list)         only these fields, in this order (default: all, as declared)
 *
 * An input is acked only after its line was handed to the kernel with write(2), and failed when the write fails,
 * so a crash never loses a line that was acked: durability first, at the price of one write per tuple. The JSON
 * is written by gale (the to_json host function): strings escaped, bytes as base64, non-finite numbers as null.
 * Every line is valid JSON and UTF-8 (RFC 8259), whatever the input bytes: in a string, each ill-formed UTF-8
 * sequence becomes U+FFFD (one per maximal subpart, Unicode's practice) and control characters become \u00XX
 * (\n, \r, \t in their short forms); bytes that were well-formed UTF-8 are written as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

typedef struct sink {
    int fd;
    bool own;
    const char *path;
    gale_value_t only; /* the `fields` setting, when given */
    char *buf;         /* one line, reused */
    size_t len, cap;
} sink_t;

static int reserve(sink_t *s, size_t more)
{
    if (s->len + more <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + more) cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) return GALE_ENOMEM;
    s->buf = b;
    s->cap = cap;
    return 0;
}

static int put(sink_t *s, const char *p, size_t n)
{
    if (reserve(s, n)) return GALE_ENOMEM;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static int put_json(gale_ctx_t *ctx, sink_t *s, const gale_value_t *v)
{
    size_t room = s->cap - s->len;
    size_t need = gale_to_json(ctx, v, s->buf + s->len, room);
    if (need >= room) {
        if (reserve(s, need + 1)) return GALE_ENOMEM;
        gale_to_json(ctx, v, s->buf + s->len, need + 1);
    }
    s->len += need;
    return 0;
}

static int put_pair(gale_ctx_t *ctx, sink_t *s, bool first, const char *name, const gale_value_t *v)
{
    gale_value_t key = gale_str(name);
    if (put(s, first ? "{" : ", ", first ? 1 : 2) || put_json(ctx, s, &key) || put(s, ": ", 2)) return GALE_ENOMEM;
    return put_json(ctx, s, v);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int format_line(gale_ctx_t *ctx, sink_t *s, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    gale_tuple_fields(ctx, in, &names, &n);
    s->len = 0;
    int rc = 0;
    size_t count = s->only.type == GALE_ARRAY ? s->only.n : n;
    for (size_t i = 0; i < count && !rc; i++) {
        gale_value_t v, name;
        const char *field = names[i];
        if (s->only.type == GALE_ARRAY) {
            gale_item(ctx, &s->only, i, &name);
            field = name.s.ptr; /* settings strings are NUL-terminated */
            if (gale_field(ctx, in, field, &v)) v = gale_nil();
        } else if (gale_get(ctx, in, i, &v)) {
            v = gale_nil();
        }
        rc = put_pair(ctx, s, i == 0, field, &v);
    }
    if (!rc) rc = count ? put(s, "}\n", 2) : put(s, "{}\n", 3);
    return rc;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    sink_t *s = ctx->state;
    int rc = format_line(ctx, s, in);
    if (!rc) rc = write_all(s->fd, s->buf, s->len);
    if (rc) {
        gale_error(ctx, "cannot write to %s: %s", s->path, gale_strerror(ctx, rc));
        gale_fail(ctx, in);
        return rc;
    }
    return gale_ack(ctx, in);
}

static int prepare(gale_ctx_t *ctx)
{
    sink_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->path = gale_setting_str(ctx, "path", "-");
    if (gale_setting(ctx, "fields", &s->only) || s->only.type != GALE_ARRAY) s->only = gale_nil();
    for (uint32_t i = 0; s->only.type == GALE_ARRAY && i < s->only.n; i++) {
        gale_value_t v;
        gale_item(ctx, &s->only, i, &v);
        if (v.type != GALE_STR) {
            gale_error(ctx, "setting 'fields': item %u is not a string", i);
            free(s);
            return GALE_EINVAL;
        }
    }
    if (!strcmp(s->path, "-")) {
        s->fd = STDOUT_FILENO;
    } else {
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            int err = errno;
            gale_error(ctx, "cannot open %s: %s", s->path, strerror(err));
            free(s);
            return -err;
        }
        s->own = true;
    }
    ctx->state = s;
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    sink_t *s = ctx->state;
    if (s->own) close(s->fd);
    free(s->buf);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to append to, relative to the working directory; \"-\": standard output"},
    {"fields", GALE_SETTING_LIST, "only these fields, in this order (default: all)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "file_sink", .description = "appends each tuple as a JSON line",
            .settings = settings, .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
