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
 *
 *   transactional (bool, false)  with checkpoints (config.checkpoint_interval_ms): output becomes visible only for
 *                                complete checkpoints, so that a run restored after a crash writes nothing twice
 *   fsync         (bool, true)   transactional: fsync each batch and the output before a checkpoint counts
 *
 * Transactional mode (exactly once end to end, with a source that rewinds and state that checkpoints): lines are
 * written to PATH.gale-open; when a checkpoint's barriers reach the sink (prepare_commit) that batch becomes
 * PATH.gale-seg.N, and when checkpoint N is complete (commit) every batch up to N is appended to PATH, in order,
 * after which PATH.gale-committed records N and PATH's length (written whole and renamed). A batch of a checkpoint
 * that failed is committed with the next one. At a restart, PATH is cut back to the recorded length (undoing an
 * append a crash interrupted), the batches of checkpoints up to the restored one are appended (those a crash left
 * uncommitted), and the rest are removed: their tuples come again. Without a restored checkpoint the output so far
 * stays and the run appends after it. The final checkpoint at the end of the input commits the last batch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gale.h"

typedef struct sink {
    int fd;
    bool own;
    const char *path;
    gale_value_t only; /* the `fields` setting, when given */
    char *buf;         /* one line, reused */
    size_t len, cap;
    /* Transactional mode: */
    bool txn, fsync_on;
    int open_fd;        /* PATH.gale-open, the batch being written */
    uint64_t batch;     /* bytes in it */
    uint64_t committed; /* the last checkpoint whose batches are in PATH */
    char dir[4096], base[1024];
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

/* ---- transactional mode ----------------------------------------------------------------------------------------- */

/* PATH.gale-SUFFIX, with the checkpoint id for a batch. */
static void side_path(const sink_t *s, const char *suffix, uint64_t id, char *buf, size_t cap)
{
    if (id) snprintf(buf, cap, "%s/%s.gale-%s.%" PRIu64, s->dir, s->base, suffix, id);
    else snprintf(buf, cap, "%s/%s.gale-%s", s->dir, s->base, suffix);
}

static int fsync_dir(const sink_t *s)
{
    if (!s->fsync_on) return 0;
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* PATH.gale-committed: "C LEN". 0, GALE_ENOENT, or GALE_ECORRUPT. */
static int read_marker(const sink_t *s, uint64_t *c, uint64_t *len)
{
    char p[5200], text[128];
    side_path(s, "committed", 0, p, sizeof p);
    FILE *f = fopen(p, "r");
    if (!f) return errno == ENOENT ? GALE_ENOENT : -errno;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return sscanf(text, "%" SCNu64 " %" SCNu64, c, len) == 2 ? 0 : GALE_ECORRUPT;
}

static int write_marker(sink_t *s, uint64_t c)
{
    off_t len = lseek(s->fd, 0, SEEK_END);
    if (len < 0) return -errno;
    char p[5200], tmp[5300], text[64];
    side_path(s, "committed", 0, p, sizeof p);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    int n = snprintf(text, sizeof text, "%" PRIu64 " %lld\n", c, (long long)len);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = write_all(fd, text, (size_t)n);
    if (!rc && s->fsync_on && fsync(fd)) rc = -errno;
    close(fd);
    if (!rc && rename(tmp, p)) rc = -errno;
    if (!rc) rc = fsync_dir(s);
    if (!rc) s->committed = c;
    return rc;
}

/* The batches' checkpoint ids, ascending (malloc'd; *n of them). */
static uint64_t *list_batches(const sink_t *s, size_t *n)
{
    char prefix[1100];
    int plen = snprintf(prefix, sizeof prefix, "%s.gale-seg.", s->base);
    uint64_t *ids = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(s->dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, prefix, (size_t)plen)) continue;
        uint64_t id = strtoull(e->d_name + plen, &end, 10);
        if (*end || !id) continue;
        if (*n == cap) {
            uint64_t *more = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof *ids);
            if (!more) break;
            ids = more;
        }
        ids[(*n)++] = id;
    }
    if (d) closedir(d);
    for (size_t i = 1; i < *n; i++) /* a handful: insertion sort */
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint64_t t = ids[j];
            ids[j] = ids[j - 1], ids[j - 1] = t;
        }
    return ids;
}

static int append_file(int out, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -errno;
    char chunk[65536];
    int rc = 0;
    for (ssize_t n; !rc && (n = read(in, chunk, sizeof chunk)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        rc = n < 0 ? -errno : write_all(out, chunk, (size_t)n);
    }
    close(in);
    return rc;
}

/* Appends every batch in (committed, upto] to PATH in order, then records upto; removes them. */
static int commit_upto(gale_ctx_t *ctx, sink_t *s, uint64_t upto)
{
    size_t n;
    uint64_t *ids = list_batches(s, &n);
    int rc = 0;
    char p[5200];
    for (size_t i = 0; i < n && !rc; i++) {
        if (ids[i] <= s->committed || ids[i] > upto) continue;
        side_path(s, "seg", ids[i], p, sizeof p);
        rc = append_file(s->fd, p);
    }
    if (!rc && s->fsync_on && fsync(s->fd)) rc = -errno;
    if (!rc) rc = write_marker(s, upto);
    for (size_t i = 0; i < n && !rc; i++) {
        if (ids[i] > upto) continue;
        side_path(s, "seg", ids[i], p, sizeof p);
        unlink(p);
    }
    if (rc)
        gale_error(ctx, "cannot commit checkpoint %" PRIu64 "'s output to %s: %s", upto, s->path,
                   gale_strerror(ctx, rc));
    free(ids);
    return rc;
}

static int open_batch(gale_ctx_t *ctx, sink_t *s)
{
    char p[5200];
    side_path(s, "open", 0, p, sizeof p);
    s->open_fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    s->batch = 0;
    if (s->open_fd >= 0) return 0;
    int err = errno;
    gale_error(ctx, "cannot open %s: %s", p, strerror(err));
    return -err;
}

/* At prepare: PATH as the restored checkpoint left it (see the top of this file). */
static int txn_start(gale_ctx_t *ctx, sink_t *s)
{
    const char *slash = strrchr(s->path, '/');
    snprintf(s->dir, sizeof s->dir, "%.*s", slash ? (int)(slash - s->path) : 1, slash ? s->path : ".");
    if (slash == s->path) snprintf(s->dir, sizeof s->dir, "/");
    snprintf(s->base, sizeof s->base, "%s", slash ? slash + 1 : s->path);
    uint64_t restored = gale_state_restored(ctx), c = 0, len = 0;
    int rc = read_marker(s, &c, &len);
    if (rc == GALE_ECORRUPT) gale_warn(ctx, "%s.gale-committed is damaged: output from here on", s->path);
    if (rc || !restored || c > restored) { /* a run from nothing: after whatever PATH holds */
        s->committed = 0;
        rc = write_marker(s, 0);
    } else { /* cut back what an interrupted commit appended, then commit what a crash left */
        s->committed = c;
        rc = ftruncate(s->fd, (off_t)len) ? -errno : 0;
        if (!rc) rc = commit_upto(ctx, s, restored);
    }
    if (rc) {
        gale_error(ctx, "cannot restore %s to its last checkpoint: %s", s->path, gale_strerror(ctx, rc));
        return rc;
    }
    size_t n;
    uint64_t *ids = list_batches(s, &n);
    char p[5200];
    for (size_t i = 0; i < n; i++) { /* batches of checkpoints that never completed: their tuples come again */
        side_path(s, "seg", ids[i], p, sizeof p);
        unlink(p);
    }
    free(ids);
    return open_batch(ctx, s);
}

static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    sink_t *s = ctx->state;
    if (!s->txn || !s->batch) return 0; /* nothing since the last one: no batch */
    char open_p[5200], seg[5200];
    side_path(s, "open", 0, open_p, sizeof open_p);
    side_path(s, "seg", checkpoint, seg, sizeof seg);
    int rc = s->fsync_on && fsync(s->open_fd) ? -errno : 0;
    close(s->open_fd);
    s->open_fd = -1;
    if (!rc && rename(open_p, seg)) rc = -errno;
    if (!rc) rc = fsync_dir(s);
    if (rc)
        gale_error(ctx, "cannot close the batch of checkpoint %" PRIu64 " (%s): %s", checkpoint, seg,
                   gale_strerror(ctx, rc));
    int orc = open_batch(ctx, s); /* a failed rename leaves the batch open: it goes into the next one */
    return rc ? rc : orc;
}

static void commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    sink_t *s = ctx->state;
    if (s->txn) commit_upto(ctx, s, checkpoint);
}

/* ---- the bolt ------------------------------------------------------------------------------------------------- */

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    sink_t *s = ctx->state;
    int rc = format_line(ctx, s, in);
    if (!rc && s->txn && s->open_fd < 0) rc = GALE_EIO; /* its batch could not be opened again */
    if (!rc) rc = write_all(s->txn ? s->open_fd : s->fd, s->buf, s->len);
    if (!rc && s->txn) s->batch += s->len;
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
    s->txn = gale_setting_bool(ctx, "transactional", false);
    s->fsync_on = gale_setting_bool(ctx, "fsync", true);
    s->open_fd = -1;
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    if (s->txn && (!strcmp(s->path, "-") || !info.checkpoint_interval_ms)) {
        gale_error(ctx, "setting 'transactional' needs %s",
                   !strcmp(s->path, "-")
                       ? "a file to write (path is \"-\")"
                       : "config.checkpoint_interval_ms: no checkpoint would ever make its output visible");
        free(s);
        return GALE_EINVAL;
    }
    if (s->txn && info.parallelism > 1) {
        gale_error(ctx, "setting 'transactional' needs parallelism 1 (its tasks would share %s)", s->path);
        free(s);
        return GALE_EINVAL;
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
    int rc = s->txn ? txn_start(ctx, s) : 0;
    if (rc) {
        close(s->fd);
        free(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    sink_t *s = ctx->state;
    if (s->own) close(s->fd);
    if (s->open_fd >= 0) close(s->open_fd); /* what it holds comes again from the restored checkpoint */
    free(s->buf);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to append to, relative to the working directory; \"-\": standard output"},
    {"fields", GALE_SETTING_LIST, "only these fields, in this order (default: all)"},
    {"transactional", GALE_SETTING_BOOL, "with checkpoints: output visible only for complete checkpoints"},
    {"fsync", GALE_SETTING_BOOL, "transactional: fsync each batch and the output (default true)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "file_sink", .description = "appends each tuple as a JSON line",
            .settings = settings, .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup},
            .prepare_commit = prepare_commit, .commit = commit);
