#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gale.h"
#include "hmac.h"
#include "json.h"
#include "json_parse.h"

#define HASH_HEX 64
/* Every line ends so: the chain's two hashes at fixed places after the event's own fields. */
#define PREV_KEY ", \"prev\": \""
#define HASH_KEY "\", \"hash\": \""
#define TAIL_LEN (sizeof PREV_KEY - 1 + HASH_HEX + sizeof HASH_KEY - 1 + HASH_HEX + 2) /* ... "} */
#define LINE_MAX_BYTES 65536

struct gale_audit {
    int fd;
    char *by;
    uint64_t seq; /* of the last line */
    char prev[HASH_HEX + 1];
    char *cut; /* a torn tail cut at open: said in the first new line */
};

static const char ZERO_HASH[HASH_HEX + 1] = "0000000000000000000000000000000000000000000000000000000000000000";

static int hash_hex(const char *text, size_t len, char out[HASH_HEX + 1])
{
    unsigned char h[GALE_SHA256_LEN];
    if (gale_sha256(text, len, h)) return GALE_EIO;
    gale_hex_encode(h, sizeof h, out);
    return 0;
}

/* ---- one line ---------------------------------------------------------------------------------------------------- */

/* Checks one line (without its newline) as the chain's next after `prev` and `seq`: 0 with its hash in `hash` and
   its seq in *line_seq, or GALE_ECORRUPT with why. */
static int check_line(const char *line, size_t len, const char *prev, uint64_t seq, char hash[HASH_HEX + 1],
                      uint64_t *line_seq, char *why, size_t cap)
{
    size_t err_at;
    const char *perr;
    if (len < TAIL_LEN + 10 || line[len - 1] != '}' || line[len - 2] != '"') {
        snprintf(why, cap, "not an audit line (it does not end with the chain's hashes)");
        return GALE_ECORRUPT;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int jrc = gale_json_parse(line, len, &pk, &err_at, &perr);
    msgpack_sbuffer_destroy(&sb);
    if (jrc) {
        snprintf(why, cap, "not JSON (byte %zu: %s)", err_at, perr);
        return GALE_ECORRUPT;
    }
    const char *tail = line + len - TAIL_LEN;
    if (memcmp(tail, PREV_KEY, sizeof PREV_KEY - 1) ||
        memcmp(tail + sizeof PREV_KEY - 1 + HASH_HEX, HASH_KEY, sizeof HASH_KEY - 1)) {
        snprintf(why, cap, "not an audit line (no \"prev\" and \"hash\" at its end)");
        return GALE_ECORRUPT;
    }
    const char *line_prev = tail + sizeof PREV_KEY - 1, *line_hash = line_prev + HASH_HEX + sizeof HASH_KEY - 1;
    unsigned long long n = 0;
    if (sscanf(line, "{\"seq\": %llu,", &n) != 1) {
        snprintf(why, cap, "not an audit line (no \"seq\" first)");
        return GALE_ECORRUPT;
    }
    *line_seq = n;
    if (prev && memcmp(line_prev, prev, HASH_HEX)) {
        snprintf(why, cap,
                 "\"prev\" is not the hash of the line before: a line before it was changed, inserted or "
                 "taken out");
        return GALE_ECORRUPT;
    }
    if (prev && n != seq + 1) {
        snprintf(why, cap, "seq %llu follows seq %llu: lines are missing or out of order", n, (unsigned long long)seq);
        return GALE_ECORRUPT;
    }
    /* hashed: the text up to the quote that ends prev's value (the comma before "hash" is where it stops) */
    size_t hashed = (size_t)(line_prev + HASH_HEX + 1 - line);
    if (hash_hex(line, hashed, hash)) {
        snprintf(why, cap, "cannot compute SHA-256");
        return GALE_EIO;
    }
    if (!gale_equal_secret(hash, line_hash, HASH_HEX)) {
        snprintf(why, cap, "its hash does not match its text: the line was changed");
        return GALE_ECORRUPT;
    }
    return 0;
}

/* ---- opening: go on with the chain ------------------------------------------------------------------------------- */

static int read_all(int fd, char **out, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st)) return -errno;
    char *p = malloc((size_t)st.st_size + 1);
    if (!p) return GALE_ENOMEM;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, p + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    p[got] = '\0';
    *out = p;
    *len = got;
    return 0;
}

/* The chain's end in an existing log: its last line's hash and seq, after cutting a torn tail. */
static int resume(gale_audit_t *a, const char *path, gale_diag_t *diag)
{
    char *data;
    size_t len;
    int rc = read_all(a->fd, &data, &len);
    if (rc) return gale__diag(diag, rc, "%s: cannot read the audit log: %s", path, gale_strerror(rc));
    size_t end = len;
    while (end && data[end - 1] != '\n') end--;
    if (end < len) {
        if (ftruncate(a->fd, (off_t)end)) {
            rc = -errno;
            free(data);
            return gale__diag(diag, rc, "%s: cannot cut its torn last line: %s", path, strerror(-rc));
        }
        if (asprintf(&a->cut, "a torn last line of %zu bytes (a crash in mid-write) was cut", len - end) < 0)
            a->cut = NULL;
    }
    if (end == 0) {
        free(data);
        return 0;
    }
    size_t start = end - 1;
    while (start && data[start - 1] != '\n') start--;
    char why[256];
    uint64_t seq;
    rc = check_line(data + start, end - 1 - start, NULL, 0, a->prev, &seq, why, sizeof why);
    free(data);
    if (rc)
        return gale__diag(diag, rc,
                          "%s: its last line is not an audit line (%s): the log was changed; run gale audit "
                          "verify %s",
                          path, why, path);
    a->seq = seq;
    return 0;
}

int gale_audit_open(const char *path, const char *by, gale_audit_t **out, gale_diag_t *diag)
{
    gale_audit_t *a = calloc(1, sizeof *a);
    if (!a || !(a->by = strdup(by))) {
        free(a);
        return gale__diag(diag, GALE_ENOMEM, "out of memory");
    }
    memcpy(a->prev, ZERO_HASH, sizeof a->prev);
    a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = a->fd < 0 ? gale__diag(diag, -errno, "%s: cannot open the audit log: %s", path, strerror(errno)) : 0;
    /* One writer per log, or two chains would interleave: the lock lasts as long as the descriptor. */
    if (!rc && flock(a->fd, LOCK_EX | LOCK_NB))
        rc = gale__diag(diag, errno == EWOULDBLOCK ? GALE_EEXIST : -errno,
                        "%s: the audit log is in use by another process (each nimbus and supervisor needs its own "
                        "--audit-log)",
                        path);
    if (!rc) rc = resume(a, path, diag);
    if (rc) {
        gale_audit_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void gale_audit_close(gale_audit_t *a)
{
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    free(a->by);
    free(a->cut);
    free(a);
}

static void str_or_null(gale_buf_t *b, const char *key, const char *v)
{
    gale_buf_printf(b, ", \"%s\": ", key);
    if (v) gale_json_string(b, v, strlen(v));
    else gale_buf_puts(b, "null");
}

int gale_audit_append(gale_audit_t *a, const gale_audit_event_t *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    gale_buf_t b = {0};
    gale_buf_printf(&b, "{\"seq\": %llu, \"time\": \"%s\"", (unsigned long long)a->seq + 1, when);
    str_or_null(&b, "by", a->by);
    str_or_null(&b, "identity", e->identity);
    str_or_null(&b, "source", e->source);
    str_or_null(&b, "action", e->action);
    str_or_null(&b, "target", e->target);
    str_or_null(&b, "result", e->result);
    char *detail = NULL;
    if (a->cut && asprintf(&detail, "%s%s%s", e->detail ? e->detail : "", e->detail ? "; " : "", a->cut) < 0)
        detail = NULL;
    str_or_null(&b, "detail", detail ? detail : e->detail);
    free(detail);
    if (e->count > 1) gale_buf_printf(&b, ", \"count\": %llu", (unsigned long long)e->count);
    gale_buf_printf(&b, PREV_KEY "%s\"", a->prev);
    char hash[HASH_HEX + 1];
    int rc = b.failed || b.len > LINE_MAX_BYTES ? GALE_ENOMEM : hash_hex(b.p, b.len, hash);
    if (!rc) {
        gale_buf_printf(&b, ", \"hash\": \"%s\"}\n", hash);
        rc = b.failed ? GALE_ENOMEM : 0;
    }
    for (size_t done = 0; !rc && done < b.len;) {
        ssize_t w = write(a->fd, b.p + done, b.len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rc = w < 0 ? -errno : GALE_EIO;
        else done += (size_t)w;
    }
    if (!rc && fdatasync(a->fd)) rc = -errno;
    if (!rc) {
        a->seq++;
        memcpy(a->prev, hash, sizeof a->prev);
        free(a->cut);
        a->cut = NULL;
    }
    gale_buf_free(&b);
    return rc;
}

void gale_audit_redact(const char *line, char *out, size_t cap)
{
    static const char *const keys[] = {"secret=", "token=", "key=", "password="};
    size_t o = 0;
    if (!cap) return;
    for (const char *p = line; *p && o + 1 < cap;) {
        bool token_start = p == line || p[-1] == ' ';
        size_t k = 0, klen = 0;
        for (; token_start && k < sizeof keys / sizeof *keys; k++)
            if (!strncmp(p, keys[k], klen = strlen(keys[k]))) break;
        if (token_start && k < sizeof keys / sizeof *keys) {
            int w = snprintf(out + o, cap - o, "%.*s[redacted]", (int)klen, p);
            o = w < 0 || (size_t)w >= cap - o ? cap - 1 : o + (size_t)w;
            while (*p && *p != ' ') p++;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

/* ---- verifying ---------------------------------------------------------------------------------------------------- */

int gale_audit_verify(const char *path, size_t *lines, char last[65], char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = -errno;
        snprintf(why, cap, "%s: cannot open: %s", path, strerror(-err));
        return err;
    }
    char *data;
    size_t len;
    int rc = read_all(fd, &data, &len);
    close(fd);
    if (rc) {
        snprintf(why, cap, "%s: cannot read: %s", path, gale_strerror(rc));
        return rc;
    }
    char prev[HASH_HEX + 1];
    memcpy(prev, ZERO_HASH, sizeof prev);
    uint64_t seq = 0;
    size_t n = 0;
    for (size_t at = 0; at < len && !rc;) {
        const char *nl = memchr(data + at, '\n', len - at);
        n++;
        char what[256];
        if (!nl) {
            snprintf(why, cap, "line %zu: torn (no newline at the end of the log)", n);
            rc = GALE_ECORRUPT;
            break;
        }
        uint64_t line_seq;
        char hash[HASH_HEX + 1];
        rc = check_line(data + at, (size_t)(nl - data - at), prev, seq, hash, &line_seq, what, sizeof what);
        if (rc) snprintf(why, cap, "line %zu: %s", n, what);
        else {
            memcpy(prev, hash, sizeof prev);
            seq = line_seq;
        }
        at = (size_t)(nl - data) + 1;
    }
    free(data);
    if (!rc) {
        *lines = n;
        memcpy(last, prev, HASH_HEX + 1);
    }
    return rc;
}
