/*
 * file_lines: one tuple per line of a file (field "line"), then done. Finite by nature.
 *
 *   path  (string, "-")  the file to read. A relative path is relative to the current directory of the gale
 *                        process (the directory gale was started in), not to the topology file. "-", or no
 *                        setting, reads standard input.
 *
 * Each line is emitted with its line number (from 1) as message id, so that with acking on every line's tuple
 * tree is tracked. The line end (\n, or \r\n) is not part of the line; a last line without \n is still a line.
 * At the end of the input the task calls gale_done, and the topology ends once every line is processed.
 *
 * fail is logged (warn, with the line number) and counted; this spout does not replay by itself. Put
 * `replay = true;` in its block and the runtime replays failed lines (config.max_retries).
 *
 * Replayable: reading a file (not standard input), the task declares itself replayable (gale_replayable), its line
 * numbers being positions. When its worker process dies and is started again, it skips the lines before the
 * first one whose tree had not completed and reads on from there: every line arrives at least once. The file must
 * not change in between; if it became shorter than the position, that is said and the task is done.
 *
 * Checkpoints: with config.checkpoint_interval_ms, the task puts its position (the byte offset and the line number
 * of the next line) into its state at every checkpoint, and a task restored from one seeks to it: the lines after
 * the last complete checkpoint are read again, once each, and those before are not (exactly once with stateful
 * bolts, and with a sink that commits on checkpoints).
 *
 * Parallelism: a file has one reader. With parallelism above 1, task 0 reads the whole file and the other tasks
 * are done at once (they emit nothing).
 *
 * Progress: reading a regular file, the task keeps two gauges of its own (ABI 2.2 metrics): input_bytes, the
 * file's size at open, and input_read_bytes, how much of it it has read; `gale run` on a terminal shows their
 * ratio as the share of the input read.
 *
 * Blocking: reading a regular file never waits long. Reading standard input (a pipe or a terminal) blocks
 * next_tuple, and so the executor thread it runs on, until a line or the end arrives; the end ends the spout, so
 * a pipe that is closed always finishes the run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gale.h"

#define READ_BUFFER (256 * 1024) /* stdio's buffer: one read(2) per 256 KiB, not per 4 KiB */

typedef struct state {
    FILE *f;    /* NULL: this task does not read (task_index > 0) */
    bool own;   /* opened here, so closed here (stdin is not ours to close) */
    bool rewinds; /* reads a file: its position goes into checkpoints (after its end too) */
    char *line; /* getline's buffer, reused for every line: it grows to the longest line, then stays */
    size_t cap;
    const char *path; /* for messages; owned by the settings */
    uint64_t number;  /* lines read so far = the last message id */
    uint64_t acked, failed;
    uint64_t read_bytes;            /* of the file, through the last line read */
    gale_metric_t *size_g, *read_g; /* input_bytes, input_read_bytes (NULL: standard input) */
} state_t;

/* A restart: the lines before line `from` were done in an earlier life of this task. */
static void skip_to(gale_ctx_t *ctx, state_t *s, uint64_t from)
{
    ssize_t n;
    while (s->number + 1 < from && (n = getline(&s->line, &s->cap, s->f)) >= 0)
        s->number++, s->read_bytes += (uint64_t)n;
    if (s->number + 1 < from)
        gale_warn(ctx, "%s has %llu lines, but the task resumes at line %llu: was it changed?", s->path,
                  (unsigned long long)s->number, (unsigned long long)from);
    else gale_log(ctx, GALE_LOG_INFO, "resuming %s at line %llu", s->path, (unsigned long long)from);
}

static const gale_value_t KEY_OFFSET = {.type = GALE_STR, .s = {"offset", 6}};
static const gale_value_t KEY_LINE = {.type = GALE_STR, .s = {"line", 4}};

/* A checkpoint restored the task's position: seek there. 1 when it did, 0 when there is none, or the error. */
static int seek_to_checkpoint(gale_ctx_t *ctx, state_t *s)
{
    gale_value_t off, line;
    if (gale_state_get(ctx, &KEY_OFFSET, &off) || off.type != GALE_INT || off.i < 0 ||
        gale_state_get(ctx, &KEY_LINE, &line) || line.type != GALE_INT || line.i < 0)
        return 0;
    struct stat st;
    if (!fstat(fileno(s->f), &st) && S_ISREG(st.st_mode) && st.st_size < off.i)
        gale_warn(ctx, "%s has %lld bytes, but the checkpoint's position is byte %lld: was it changed?", s->path,
                  (long long)st.st_size, (long long)off.i);
    if (fseeko(s->f, (off_t)off.i, SEEK_SET)) {
        int err = errno;
        gale_error(ctx, "cannot seek %s to byte %lld: %s", s->path, (long long)off.i, strerror(err));
        return -err;
    }
    s->read_bytes = (uint64_t)off.i;
    s->number = (uint64_t)line.i;
    gale_log(ctx, GALE_LOG_INFO, "resuming %s at line %llu (byte %llu) from checkpoint %llu", s->path,
             (unsigned long long)s->number + 1, (unsigned long long)s->read_bytes,
             (unsigned long long)gale_state_restored(ctx));
    return 1;
}

/* Checkpoint: the position of the next line. */
static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    if (!s->rewinds) return 0; /* standard input cannot rewind; a task that does not read has no position */
    gale_value_t off = gale_int((int64_t)s->read_bytes), line = gale_int((int64_t)s->number);
    int rc = gale_state_put(ctx, &KEY_OFFSET, &off);
    return rc ? rc : gale_state_put(ctx, &KEY_LINE, &line);
}

static int open_(gale_ctx_t *ctx)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->path = gale_setting_str(ctx, "path", "-");
    if (info.task_index > 0) { /* one reader per file: this task is done at its first next_tuple */
        ctx->state = s;
        return 0;
    }
    if (!strcmp(s->path, "-")) {
        s->f = stdin;
    } else {
        s->f = fopen(s->path, "r");
        if (!s->f) {
            int err = errno;
            gale_error(ctx, "cannot open %s: %s", s->path, strerror(err));
            free(s);
            return -err;
        }
        s->own = true;
    }
    /* Before any read, as setvbuf requires. stdio owns the buffer (freed by fclose; stdin's lives on). */
    setvbuf(s->f, NULL, _IOFBF, READ_BUFFER);
    ctx->state = s;
    struct stat st;
    if (s->own && !fstat(fileno(s->f), &st) && S_ISREG(st.st_mode)) {
        s->size_g = gale_gauge(ctx, "input_bytes");
        s->read_g = gale_gauge(ctx, "input_read_bytes");
        gale_gauge_set(ctx, s->size_g, (double)st.st_size);
    }
    uint64_t from;
    s->rewinds = s->own;
    int at = s->own ? seek_to_checkpoint(ctx, s) : 0;
    if (at < 0) {
        fclose(s->f);
        free(s);
        return at;
    }
    if (!at && s->own && gale_replayable(ctx, &from) == 0) skip_to(ctx, s, from);
    gale_gauge_set(ctx, s->read_g, (double)s->read_bytes);
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s->f) {
        gale_done(ctx);
        return 0;
    }
    errno = 0;
    ssize_t n = getline(&s->line, &s->cap, s->f);
    if (n < 0) {
        if (ferror(s->f)) {
            int err = errno;
            clearerr(s->f);
            if (err == EINTR) return 0; /* a signal interrupted the read: try again next call */
            gale_error(ctx, "cannot read %s after line %llu: %s", s->path, (unsigned long long)s->number,
                       strerror(err));
        }
        if (s->own) fclose(s->f);
        s->f = NULL;
        s->own = false;
        gale_done(ctx);
        return 0;
    }
    s->read_bytes += (uint64_t)n;
    gale_gauge_set(ctx, s->read_g, (double)s->read_bytes);
    if (n > 0 && s->line[n - 1] == '\n') n--;
    if (n > 0 && s->line[n - 1] == '\r') n--;
    gale_value_t v = gale_strn(s->line, (size_t)n); /* emit copies the line, so the buffer can be reused */
    return gale_emit_id(ctx, ++s->number, &v, 1);
}

static void ack(gale_ctx_t *ctx, uint64_t msg_id) { ((state_t *)ctx->state)->acked++; }

static void fail(gale_ctx_t *ctx, uint64_t msg_id)
{
    state_t *s = ctx->state;
    s->failed++;
    gale_warn(ctx, "line %llu of %s failed", (unsigned long long)msg_id, s->path);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    gale_log(ctx, GALE_LOG_DEBUG, "read %llu lines, acked %llu, failed %llu", (unsigned long long)s->number,
             (unsigned long long)s->acked, (unsigned long long)s->failed);
    if (s->own) fclose(s->f);
    free(s->line);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"path", GALE_SETTING_STRING, "file to read, relative to the current directory; \"-\": standard input (default)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "file_lines", .description = "one tuple per line of a file, then done",
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"line", NULL}}, {NULL, NULL}},
            .settings = settings,
            .spout = {.open = open_, .next_tuple = next_tuple, .ack = ack, .fail = fail, .close = close_},
            .prepare_commit = prepare_commit);
