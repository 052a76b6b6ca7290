/*
 * file_sink: appends each input tuple as one JSON line, {"field": value, ...}, keyed by the input stream's field
 * names, in declared order.
 *
 *   path    (string, "-")  the file to append to (created if missing, mode 0644). A relative path is relative to
 *                          the current directory of the gale process. "-", or no setting: standard output.
 *   fields  (list)         write only these fields, in this order. `declare` checks that every input has them.
 *
 * JSON: strings are escaped (", \ and control characters, the latter as \u00XX); their other bytes are copied as
 * they are, so a string that is not valid UTF-8 gives a line that is not valid JSON either. Integers as integers,
 * doubles with %.17g (NaN and infinities as null), nil as null, bytes as a base64 string, arrays and maps
 * recursively; map keys that are not strings are written as the string of their JSON text ({"1": ...}).
 *
 * Durability over speed: each line is handed to the kernel with its own write(2), and the input is acked only
 * after the whole line was written. Batching lines would be faster, but an input acked before its line reached
 * the kernel would be lost by a crash of the process (its tree complete, the spout told so, nothing to replay).
 * A failed write fails the input (so a spout with replay sends it again) and is logged with the path; a write that
 * fails half way may leave a partial line, which a replay then follows with the whole line. write(2) is not
 * fsync: a crash of the machine can still lose lines the kernel had not stored.
 *
 * Not a basic bolt: it acks and fails its inputs itself. The line is built in one buffer per task that grows to
 * the longest line and is reused, so nothing is allocated per tuple.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

#define MAX_DEPTH 64 /* nested arrays and maps; the runtime's tuple decoder has its own, lower limit */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom; /* a put failed: the content is incomplete */
} buf_t;

typedef struct sink {
    int fd;
    bool own; /* opened here, so closed here (standard output is not ours) */
    const char *path;
    /* The `fields` setting: names owned by the settings (NUL-terminated), and their indexes in the input stream
       last seen (SIZE_MAX: absent, written as null). */
    const char **only;
    size_t *only_at;
    size_t n_only;
    const char *const *seen_names;
    buf_t line, scratch; /* the line being built; room to escape a non-string map key */
    uint64_t write_errors;
} sink_t;

/* ---- a growable buffer: errors are sticky, checked once per line ---------------------------------------- */

static void put(buf_t *b, const char *p, size_t n)
{
    if (b->oom || !n) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }

static void put_string(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    size_t run = 0; /* start of the bytes that need no escape, copied in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, esc, 6);
        }
    }
    put(b, s + run, len - run);
    put(b, "\"", 1);
}

static void put_base64(buf_t *b, const unsigned char *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char out[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                       i + 2 < n ? tbl[v & 63] : '='};
        put(b, out, 4);
    }
    put(b, "\"", 1);
}

/* ---- JSON values ------------------------------------------------------------------------------------------ */

static int put_value(gale_ctx_t *ctx, sink_t *s, const gale_value_t *v, int depth);

/* Item i of a container: built for emit (items set) or read from a tuple (through the host). */
static int item(gale_ctx_t *ctx, const gale_value_t *c, size_t i, gale_value_t *out)
{
    if (c->c.items) {
        *out = c->c.items[i];
        return 0;
    }
    return gale_item(ctx, c, i, out);
}

/* A map key: a string as it is, anything else as the string of its JSON text. */
static int put_key(gale_ctx_t *ctx, sink_t *s, const gale_value_t *k, int depth)
{
    if (k->type == GALE_STR) {
        put_string(&s->line, k->s.ptr, k->s.len);
        return 0;
    }
    /* Render the key at the end of the line, escape it into scratch, then put it back in place of the raw text.
       Nested keys use scratch too, but only while rendering, before this key's escape starts. */
    size_t start = s->line.len;
    int rc = put_value(ctx, s, k, depth + 1);
    if (rc || s->line.oom) return rc;
    s->scratch.len = 0;
    put_string(&s->scratch, s->line.p + start, s->line.len - start);
    if (s->scratch.oom) return GALE_ENOMEM;
    s->line.len = start;
    put(&s->line, s->scratch.p, s->scratch.len);
    return 0;
}

static int put_container(gale_ctx_t *ctx, sink_t *s, const gale_value_t *v, int depth)
{
    bool map = v->type == GALE_MAP;
    put(&s->line, map ? "{" : "[", 1);
    for (uint32_t i = 0; i < v->n; i++) {
        gale_value_t a, b;
        int rc;
        if (i) put(&s->line, ", ", 2);
        if (!map) {
            if ((rc = item(ctx, v, i, &a)) || (rc = put_value(ctx, s, &a, depth + 1))) return rc;
            continue;
        }
        if ((rc = item(ctx, v, 2 * (size_t)i, &a)) || (rc = item(ctx, v, 2 * (size_t)i + 1, &b))) return rc;
        if ((rc = put_key(ctx, s, &a, depth))) return rc;
        put(&s->line, ": ", 2);
        if ((rc = put_value(ctx, s, &b, depth + 1))) return rc;
    }
    put(&s->line, map ? "}" : "]", 1);
    return 0;
}

/* Appends v as JSON to the line. Returns 0, GALE_ELIMIT (nested too deep) or an error of the host's item. */
static int put_value(gale_ctx_t *ctx, sink_t *s, const gale_value_t *v, int depth)
{
    char num[40];
    if (depth > MAX_DEPTH) return GALE_ELIMIT;
    switch (v->type) {
    case GALE_NIL: puts_(&s->line, "null"); break;
    case GALE_BOOL: puts_(&s->line, v->b ? "true" : "false"); break;
    case GALE_INT: put(&s->line, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i)); break;
    case GALE_UINT: put(&s->line, num, (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v->u)); break;
    case GALE_DOUBLE:
        if (isfinite(v->d)) put(&s->line, num, (size_t)snprintf(num, sizeof num, "%.17g", v->d));
        else puts_(&s->line, "null");
        break;
    case GALE_STR: put_string(&s->line, v->s.ptr, v->s.len); break;
    case GALE_BYTES: put_base64(&s->line, (const unsigned char *)v->s.ptr, v->s.len); break;
    case GALE_ARRAY:
    case GALE_MAP: return put_container(ctx, s, v, depth);
    default: return GALE_ETYPE;
    }
    return 0;
}

/* ---- one line per tuple ----------------------------------------------------------------------------------- */

/* The positions of the `fields` setting in the input's stream, looked up when the stream changes (a stream's
   field names are one array for the whole run, so the pointer identifies it). */
static void resolve_only(sink_t *s, const char *const *names, size_t n)
{
    if (names == s->seen_names) return;
    s->seen_names = names;
    for (size_t i = 0; i < s->n_only; i++) {
        s->only_at[i] = SIZE_MAX;
        for (size_t k = 0; k < n; k++) {
            if (!strcmp(names[k], s->only[i])) {
                s->only_at[i] = k;
                break;
            }
        }
    }
}

/* Builds the line of `in` in s->line. Returns 0 or a negative code; on error the line is incomplete. */
static int format_line(gale_ctx_t *ctx, sink_t *s, const gale_tuple_t *in)
{
    const char *const *names;
    size_t n;
    ctx->host->tuple_fields(in, &names, &n);
    if (s->n_only) resolve_only(s, names, n);
    size_t count = s->n_only ? s->n_only : n;
    s->line.len = 0;
    s->line.oom = false;
    put(&s->line, "{", 1);
    for (size_t i = 0; i < count; i++) {
        size_t at = s->n_only ? s->only_at[i] : i;
        gale_value_t v = gale_nil();
        if (at != SIZE_MAX && gale_get(ctx, in, at, &v)) v = gale_nil();
        const char *name = s->n_only ? s->only[i] : names[i];
        if (i) put(&s->line, ", ", 2);
        put_string(&s->line, name, strlen(name)); /* names are identifiers in practice; escaped all the same */
        put(&s->line, ": ", 2);
        int rc = put_value(ctx, s, &v, 0);
        if (rc) return rc;
    }
    put(&s->line, "}\n", 2);
    return s->line.oom ? GALE_ENOMEM : 0;
}

/* Writes all n bytes, retrying after signals and short writes. Returns 0 or -errno. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    sink_t *s = ctx->state;
    int rc = format_line(ctx, s, in);
    if (rc) {
        gale_error(ctx, "cannot format a line for %s: %s", s->path, ctx->host->strerror(rc));
        gale_fail(ctx, in);
        return rc;
    }
    rc = write_all(s->fd, s->line.p, s->line.len);
    if (rc) {
        /* The first ten, then every power of two: a full disk must not flood the log. */
        uint64_t k = ++s->write_errors;
        if (k <= 10 || !(k & (k - 1)))
            gale_error(ctx, "cannot write to %s: %s (%llu write errors so far)", s->path, strerror(-rc),
                       (unsigned long long)k);
        gale_fail(ctx, in);
        return rc;
    }
    return gale_ack(ctx, in);
}

/* ---- settings, lifecycle ---------------------------------------------------------------------------------- */

/* Reads the `fields` setting into s->only (views of the settings' strings). */
static int load_fields(gale_ctx_t *ctx, sink_t *s)
{
    gale_value_t list;
    if (ctx->host->setting(ctx, "fields", &list)) return 0; /* absent: every field */
    if (list.type != GALE_ARRAY || list.n == 0) {
        gale_error(ctx, "setting 'fields' must be a non-empty list of field names");
        return GALE_EINVAL;
    }
    s->only = calloc(list.n, sizeof *s->only);
    s->only_at = calloc(list.n, sizeof *s->only_at);
    if (!s->only || !s->only_at) return GALE_ENOMEM;
    for (uint32_t i = 0; i < list.n; i++) {
        gale_value_t v;
        if (gale_item(ctx, &list, i, &v) || v.type != GALE_STR) {
            gale_error(ctx, "setting 'fields': item %u is not a string", i);
            return GALE_EINVAL;
        }
        s->only[i] = v.s.ptr; /* settings strings are NUL-terminated */
    }
    s->n_only = list.n;
    return 0;
}

static void free_sink(sink_t *s)
{
    if (s->own) close(s->fd);
    free(s->only);
    free(s->only_at);
    free(s->line.p);
    free(s->scratch.p);
    free(s);
}

/* Checks, for `gale validate`, that every input stream has each of the `fields`. Declares no stream. */
static int declare(gale_ctx_t *ctx)
{
    gale_value_t list, f;
    if (ctx->host->setting(ctx, "fields", &list) || list.type != GALE_ARRAY) return 0; /* prepare reports it */
    for (size_t i = 0, n_inputs = ctx->host->input_count(ctx); i < n_inputs; i++) {
        const char *const *names;
        size_t n;
        if (ctx->host->input_fields(ctx, i, &names, &n)) return GALE_EINVAL;
        for (uint32_t j = 0; j < list.n; j++) {
            if (gale_item(ctx, &list, j, &f) || f.type != GALE_STR) return GALE_EINVAL;
            size_t k = 0;
            while (k < n && strcmp(names[k], f.s.ptr)) k++;
            if (k == n) {
                gale_error(ctx, "setting 'fields': input %zu has no field '%s'", i + 1, f.s.ptr);
                return GALE_EINVAL;
            }
        }
    }
    return 0;
}

static int prepare(gale_ctx_t *ctx)
{
    sink_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->fd = STDOUT_FILENO;
    s->path = gale_setting_str(ctx, "path", "-");
    int rc = load_fields(ctx, s);
    if (rc) {
        free_sink(s);
        return rc;
    }
    if (strcmp(s->path, "-")) {
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            int err = errno;
            gale_error(ctx, "cannot open %s: %s", s->path, strerror(err));
            free_sink(s);
            return -err;
        }
        s->own = true;
    }
    ctx->state = s;
    return 0;
}

static void cleanup(gale_ctx_t *ctx) { free_sink(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to append to, relative to the current directory; \"-\": standard output "
                                  "(default)"},
    {"fields", GALE_SETTING_LIST, "write only these fields, in this order (default: every field, as declared)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "file_sink", .description = "appends each tuple as a JSON line",
            .declare = declare, .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
