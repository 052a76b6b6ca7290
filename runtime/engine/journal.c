#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpread.h"
#include "mpwrite.h"

struct gale_journal {
    int fd;
    bool fsync_each;
    char *path;
};

/* ---- crc32c (Castagnoli), the checksum of iSCSI, ext4 and LevelDB's log ------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t gale_crc32c(uint32_t crc, const void *buf, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const unsigned char *p = buf;
    crc = ~crc;
    while (len--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- writing ------------------------------------------------------------------------------------------------ */

/*
 * A torn tail (a crash mid-write) is left as it is, not truncated here. Truncating is safe only when no one else is
 * writing, and two processes appending to one journal with O_APPEND is supported: a tail that looks torn at open
 * may be a record another process is writing at that moment (a reader can see a write(2) half done), and cutting
 * it would lose that record and leave a hole where the rest of its write lands. Making it safe would need every
 * append to take a lock (or a guess at how old "torn" must be). The marker makes it unnecessary: every record
 * appended after a torn tail starts with one, the reader resynchronises on it, and the torn bytes are one skipped
 * range in its report.
 */
int gale_journal_open(const char *path, bool fsync_each, gale_journal_t **out, gale_diag_t *diag)
{
    gale_journal_t *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return gale__diag(diag, GALE_ENOMEM, "out of memory");
    }
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        int err = -errno;
        free(j->path);
        free(j);
        return gale__diag(diag, err, "%s: cannot open the journal: %s", path, strerror(-err));
    }
    j->fsync_each = fsync_each;
    *out = j;
    return 0;
}

int gale_journal_encode(const gale_journal_record_t *r, char **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, r->error ? 11 : 10);
    gale_mp_pack_cstr(&pk, "time");
    msgpack_pack_int64(&pk, r->time_ms);
    gale_mp_pack_cstr(&pk, "topology");
    gale_mp_pack_cstr(&pk, r->topology);
    gale_mp_pack_cstr(&pk, "spout");
    gale_mp_pack_cstr(&pk, r->spout);
    gale_mp_pack_cstr(&pk, "stream");
    gale_mp_pack_cstr(&pk, r->stream ? r->stream : "default");
    gale_mp_pack_cstr(&pk, "msg_id");
    msgpack_pack_uint64(&pk, r->msg_id);
    gale_mp_pack_cstr(&pk, "values");
    msgpack_sbuffer_write(&sb, r->values, r->values_len); /* already an encoded array */
    gale_mp_pack_cstr(&pk, "cause");
    gale_mp_pack_cstr(&pk, r->cause);
    gale_mp_pack_cstr(&pk, "component");
    gale_mp_pack_cstr(&pk, r->component);
    gale_mp_pack_cstr(&pk, "task");
    if (r->task) msgpack_pack_uint32(&pk, r->task);
    else msgpack_pack_nil(&pk);
    gale_mp_pack_cstr(&pk, "attempts");
    msgpack_pack_uint32(&pk, r->attempts);
    if (r->error) {
        gale_mp_pack_cstr(&pk, "error");
        gale_mp_pack_cstr(&pk, r->error);
    }
    if (!sb.data) return GALE_ENOMEM;
    *out = sb.data; /* msgpack_sbuffer allocates with malloc: the caller frees it */
    *len = sb.size;
    return 0;
}

static void put_le32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (char)(v >> (8 * i));
}

static uint32_t get_le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* The checksum of format 2: over the length field and the payload, so that a flipped length cannot pass. */
static uint32_t record_crc(const char *len_field, const char *payload, size_t len)
{
    return gale_crc32c(gale_crc32c(0, len_field, 4), payload, len);
}

/*
 * One record is one write(2) on an O_APPEND descriptor, so appends of several processes do not interleave. A short
 * write (a full disk) is continued, and another process's record may then land between the two parts: the reader
 * skips the broken part and finds both records after it by their markers.
 */
int gale_journal_append(gale_journal_t *j, const gale_journal_record_t *r)
{
    char *payload;
    size_t len;
    int rc = gale_journal_encode(r, &payload, &len);
    if (rc) return rc;
    if (len > GALE_JOURNAL_MAX_RECORD) {
        free(payload);
        return GALE_ELIMIT;
    }
    size_t total = GALE_JOURNAL_HEADER + len;
    char *rec = malloc(total);
    if (!rec) {
        free(payload);
        return GALE_ENOMEM;
    }
    memcpy(rec, GALE_JOURNAL_MARKER, 4);
    put_le32(rec + 4, (uint32_t)len);
    put_le32(rec + 8, record_crc(rec + 4, payload, len));
    memcpy(rec + GALE_JOURNAL_HEADER, payload, len);
    free(payload);
    size_t done = 0;
    rc = 0;
    while (done < total) {
        ssize_t w = write(j->fd, rec + done, total - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : GALE_EIO;
            break;
        }
        done += (size_t)w;
    }
    free(rec);
    if (!rc && j->fsync_each && fdatasync(j->fd) != 0) rc = -errno;
    return rc;
}

void gale_journal_close(gale_journal_t *j)
{
    if (!j) return;
    close(j->fd);
    free(j->path);
    free(j);
}

/* ---- reading ------------------------------------------------------------------------------------------------ */

int gale_journal_reader_open(gale_journal_reader_t *r, const char *path, gale_diag_t *diag)
{
    memset(r, 0, sizeof *r);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gale__diag(diag, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gale__diag(diag, GALE_EINVAL, "%s: not a regular file", path);
    }
    r->data = malloc((size_t)st.st_size + 1);
    if (!r->data) {
        close(fd);
        return gale__diag(diag, GALE_ENOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, r->data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    r->len = got;
    return 0;
}

void gale_journal_reader_free(gale_journal_reader_t *r)
{
    free(r->data);
    free(r->strings);
    memset(r, 0, sizeof *r);
}

/* Copies a string value into the reader's string area, NUL-terminated; returns its offset there. */
static long keep_string(gale_journal_reader_t *r, size_t *used, const gale_value_t *v)
{
    if (v->type != GALE_STR) return -1;
    size_t need = *used + v->s.len + 1;
    if (need > r->strings_cap) {
        size_t cap = need * 2;
        char *s = realloc(r->strings, cap);
        if (!s) return -1;
        r->strings = s;
        r->strings_cap = cap;
    }
    memcpy(r->strings + *used, v->s.ptr, v->s.len);
    r->strings[*used + v->s.len] = '\0';
    long at = (long)*used;
    *used = need;
    return at;
}

static bool key_is(const gale_value_t *k, const char *name)
{
    return k->type == GALE_STR && k->s.len == strlen(name) && !memcmp(k->s.ptr, name, k->s.len);
}

/* String fields are stored as offsets while the area may still move, and turned into pointers at the end. */
static int decode_record(gale_journal_reader_t *r, const char *p, size_t len, gale_journal_record_t *out)
{
    gale_value_t map;
    size_t used;
    if (gale_mp_read(p, len, &map, &used) || map.type != GALE_MAP || used != len) return -1;
    memset(out, 0, sizeof *out);
    long at[6] = {-1, -1, -1, -1, -1, -1}; /* topology, spout, cause, component, stream, error */
    const char *names[6] = {"topology", "spout", "cause", "component", "stream", "error"};
    size_t sused = 0;
    for (uint32_t i = 0; i < map.n; i++) {
        gale_value_t k, v;
        if (gale_mp_item(&map, 2 * i, &k) || gale_mp_item(&map, 2 * i + 1, &v)) return -1;
        for (int s = 0; s < 6; s++)
            if (key_is(&k, names[s]) && v.type == GALE_STR && (at[s] = keep_string(r, &sused, &v)) < 0) return -1;
        if (key_is(&k, "time") && v.type == GALE_INT) out->time_ms = v.i;
        if (key_is(&k, "msg_id") && (v.type == GALE_INT || v.type == GALE_UINT)) out->msg_id = v.u;
        if (key_is(&k, "task") && v.type == GALE_INT) out->task = (uint32_t)v.i;
        if (key_is(&k, "attempts") && v.type == GALE_INT) out->attempts = (uint32_t)v.i;
        if (key_is(&k, "values") && v.type == GALE_ARRAY) {
            out->values = v.c.raw;
            out->values_len = v.c.raw_len;
        }
    }
    if (at[0] < 0 || at[1] < 0 || at[2] < 0 || !out->values) return -1;
    out->topology = r->strings + at[0];
    out->spout = r->strings + at[1];
    out->cause = r->strings + at[2];
    out->component = at[3] >= 0 ? r->strings + at[3] : NULL;
    out->stream = at[4] >= 0 ? r->strings + at[4] : "default";
    out->error = at[5] >= 0 ? r->strings + at[5] : NULL;
    return 0;
}

/*
 * Whether a good record starts at `off`: 1 with *payload, *len and *size (the whole record's bytes) set, or 0 with
 * *why saying what is wrong. Format 1 is tried only where a record is expected (`v1`), never by the scan: without
 * a marker, any offset could pass for one but for the checksum.
 */
static int record_at(const gale_journal_reader_t *r, size_t off, bool v1, const char **payload, size_t *len,
                     size_t *size, const char **why)
{
    const char *p = r->data + off;
    size_t left = r->len - off;
    if (left >= 4 && !memcmp(p, GALE_JOURNAL_MARKER, 4)) {
        if (left < GALE_JOURNAL_HEADER) {
            *why = "torn record header at the end of the journal";
            return 0;
        }
        uint32_t n = get_le32(p + 4);
        if (n > GALE_JOURNAL_MAX_RECORD) *why = "impossible record length";
        else if (n > left - GALE_JOURNAL_HEADER) *why = "record runs past the end (torn write)";
        else if (record_crc(p + 4, p + GALE_JOURNAL_HEADER, n) != get_le32(p + 8))
            *why = "checksum mismatch (corrupt record)";
        else {
            *payload = p + GALE_JOURNAL_HEADER;
            *len = n;
            *size = GALE_JOURNAL_HEADER + n;
            return 1;
        }
        return 0;
    }
    if (v1 && left >= 8) {
        uint32_t n = get_le32(p);
        if (n <= GALE_JOURNAL_MAX_RECORD && n <= left - 8 && gale_crc32c(0, p + 8, n) == get_le32(p + 4)) {
            *payload = p + 8;
            *len = n;
            *size = 8 + (size_t)n;
            return 1;
        }
    }
    *why = left < GALE_JOURNAL_HEADER ? "torn record header at the end of the journal"
                                      : "no record starts here (corrupt data)";
    return 0;
}

/*
 * Where the first good record after `from` starts (found by its marker), or the end of the data. A candidate costs
 * a checksum over the length it claims, so a damaged record whose payload was made of many markers with long lengths
 * makes the scan slow (quadratic in the worst case), never wrong; payloads of intact records are never scanned.
 */
static size_t resync(const gale_journal_reader_t *r, size_t from)
{
    const char *payload, *why;
    size_t len, size;
    while (from < r->len) {
        const char *m = memmem(r->data + from, r->len - from, GALE_JOURNAL_MARKER, 4);
        if (!m) break;
        size_t at = (size_t)(m - r->data);
        if (record_at(r, at, false, &payload, &len, &size, &why)) return at;
        from = at + 1;
    }
    return r->len;
}

static void skip_range(gale_journal_reader_t *r, size_t off, size_t end, const char *why,
                       void (*report)(void *, const char *), void *arg)
{
    r->skipped++;
    r->skipped_bytes += end - off;
    r->pos = end;
    if (!report) return;
    char line[256];
    snprintf(line, sizeof line, "offset %zu: %zu byte%s skipped: %s", off, end - off, end - off == 1 ? "" : "s",
             why);
    report(arg, line);
}

int gale_journal_reader_next(gale_journal_reader_t *r, gale_journal_record_t *out,
                             void (*report)(void *arg, const char *line), void *arg)
{
    while (r->pos < r->len) {
        size_t off = r->pos, len, size;
        const char *payload, *why;
        if (!record_at(r, off, true, &payload, &len, &size, &why)) {
            skip_range(r, off, resync(r, off + 1), why, report, arg);
            continue;
        }
        /* The checksum matched, so the length is trusted: a record that is not a journal record is skipped whole. */
        r->pos = off + size;
        if (decode_record(r, payload, len, out) != 0) {
            skip_range(r, off, off + size, "checksum fine but not a journal record", report, arg);
            continue;
        }
        return 1;
    }
    return 0;
}
