#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aead.h"
#include "hmac.h"
#include "keyfile.h"
#include "mpread.h"
#include "mpwrite.h"

struct gale_journal {
    int fd;
    bool fsync_each;
    bool sealed;
    char *path;
    gale_journal_key_t key;
    pthread_mutex_t lock; /* sealed appends: with the file's flock, so that a record's offset is known before it */
};

/* Format 3's body: key id, then the sealed payload. */
#define SEALED_EXTRA (GALE_JOURNAL_KEY_ID_LEN + GALE_AEAD_OVERHEAD)
#define SEALED_AAD_LEN (8 + 4 + GALE_JOURNAL_KEY_ID_LEN)

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

/* ---- the key ------------------------------------------------------------------------------------------------ */

int gale_journal_key_load(const char *path, gale_journal_key_t *k, gale_diag_t *diag)
{
    char why[4200];
    unsigned char buf[GALE_JOURNAL_KEY_LEN + 1]; /* one more, so that a longer file is seen to be one */
    size_t len;
    int rc =
        gale_keyfile_read(path, buf, sizeof buf, GALE_JOURNAL_KEY_LEN, GALE_JOURNAL_KEY_LEN, &len, why, sizeof why);
    if (rc) return gale__diag(diag, rc, "%s (gale keygen FILE makes a key)", why);
    memcpy(k->key, buf, sizeof k->key);
    explicit_bzero(buf, sizeof buf);
    static const char label[] = "gale journal key id";
    unsigned char mac[GALE_SHA256_LEN];
    if (gale_hmac_sha256(k->key, sizeof k->key, label, sizeof label - 1, mac)) {
        gale_journal_key_wipe(k);
        return gale__diag(diag, GALE_EIO, "%s: cannot derive the key's id", path);
    }
    memcpy(k->id, mac, sizeof k->id);
    return 0;
}

void gale_journal_key_wipe(gale_journal_key_t *k) { explicit_bzero(k, sizeof *k); }

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
int gale_journal_open(const char *path, bool fsync_each, const gale_journal_key_t *key, gale_journal_t **out,
                      gale_diag_t *diag)
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
    if (key) {
        j->sealed = true;
        j->key = *key;
    }
    pthread_mutex_init(&j->lock, NULL);
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

static int write_all(int fd, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? -errno : GALE_EIO;
        done += (size_t)w;
    }
    return 0;
}

static int flock_retry(int fd, int op)
{
    while (flock(fd, op) != 0)
        if (errno != EINTR) return -errno;
    return 0;
}

/* The associated data of a sealed record: where it starts, its length field and the key id. */
static void sealed_aad(unsigned char *aad, uint64_t offset, const char *len_field, const unsigned char *key_id)
{
    for (int i = 0; i < 8; i++) aad[i] = (unsigned char)(offset >> (8 * i));
    memcpy(aad + 8, len_field, 4);
    memcpy(aad + 12, key_id, GALE_JOURNAL_KEY_ID_LEN);
}

/* Seals `payload` into `rec` (its header already holds the marker and length) for the offset the file ends at, and
   writes it, holding the lock, so that no other append lands first and moves it. */
static int append_sealed(gale_journal_t *j, char *rec, size_t total, const char *payload, size_t len)
{
    pthread_mutex_lock(&j->lock);
    int rc = flock_retry(j->fd, LOCK_EX);
    struct stat st;
    if (!rc && fstat(j->fd, &st) != 0) rc = -errno;
    if (!rc) {
        unsigned char aad[SEALED_AAD_LEN];
        sealed_aad(aad, (uint64_t)st.st_size, rec + 4, j->key.id);
        memcpy(rec + GALE_JOURNAL_HEADER, j->key.id, GALE_JOURNAL_KEY_ID_LEN);
        rc = gale_aead_seal(j->key.key, aad, sizeof aad, payload, len,
                            (unsigned char *)rec + GALE_JOURNAL_HEADER + GALE_JOURNAL_KEY_ID_LEN);
    }
    if (!rc) {
        put_le32(rec + 8, record_crc(rec + 4, rec + GALE_JOURNAL_HEADER, total - GALE_JOURNAL_HEADER));
        rc = write_all(j->fd, rec, total);
    }
    flock_retry(j->fd, LOCK_UN);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/*
 * One record is one write(2) on an O_APPEND descriptor, so appends of several processes do not interleave. A short
 * write (a full disk) is continued, and another process's record may then land between the two parts: the reader
 * skips the broken part and finds both records after it by their markers. The encoded payload holds the tuple's
 * values (personal data, perhaps): it is wiped before it is freed.
 */
int gale_journal_append(gale_journal_t *j, const gale_journal_record_t *r)
{
    char *payload;
    size_t len;
    int rc = gale_journal_encode(r, &payload, &len);
    if (rc) return rc;
    size_t body = len + (j->sealed ? SEALED_EXTRA : 0), total = GALE_JOURNAL_HEADER + body;
    char *rec = len > GALE_JOURNAL_MAX_RECORD ? NULL : malloc(total);
    if (!rec) {
        explicit_bzero(payload, len);
        free(payload);
        return len > GALE_JOURNAL_MAX_RECORD ? GALE_ELIMIT : GALE_ENOMEM;
    }
    memcpy(rec, j->sealed ? GALE_JOURNAL_MARKER_SEALED : GALE_JOURNAL_MARKER, 4);
    put_le32(rec + 4, (uint32_t)body);
    if (j->sealed) rc = append_sealed(j, rec, total, payload, len);
    else {
        memcpy(rec + GALE_JOURNAL_HEADER, payload, len);
        put_le32(rec + 8, record_crc(rec + 4, payload, len));
        rc = write_all(j->fd, rec, total);
    }
    explicit_bzero(payload, len);
    free(payload);
    explicit_bzero(rec, total);
    free(rec);
    if (!rc && j->fsync_each && fdatasync(j->fd) != 0) rc = -errno;
    return rc;
}

void gale_journal_close(gale_journal_t *j)
{
    if (!j) return;
    close(j->fd);
    free(j->path);
    pthread_mutex_destroy(&j->lock);
    gale_journal_key_wipe(&j->key);
    free(j);
}

/* ---- reading ------------------------------------------------------------------------------------------------ */

int gale_journal_reader_open(gale_journal_reader_t *r, const char *path, const gale_journal_key_t *key,
                             gale_diag_t *diag)
{
    memset(r, 0, sizeof *r);
    r->key = key;
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
    if (r->plain) explicit_bzero(r->plain, r->plain_cap);
    free(r->plain);
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
 * Whether a good record starts at `off`: 1 with *payload, *len and *size (the whole record's bytes) set, and *sealed
 * for format 3 (then *payload is its body), or 0 with *why saying what is wrong. Format 1 is tried only where a
 * record is expected (`v1`), never by the scan: without a marker, any offset could pass for one but for the
 * checksum.
 */
static int record_at(const gale_journal_reader_t *r, size_t off, bool v1, const char **payload, size_t *len,
                     size_t *size, bool *sealed, const char **why)
{
    const char *p = r->data + off;
    size_t left = r->len - off;
    *sealed = left >= 4 && !memcmp(p, GALE_JOURNAL_MARKER_SEALED, 4);
    if (*sealed || (left >= 4 && !memcmp(p, GALE_JOURNAL_MARKER, 4))) {
        if (left < GALE_JOURNAL_HEADER) {
            *why = "torn record header at the end of the journal";
            return 0;
        }
        uint32_t n = get_le32(p + 4);
        if (n > GALE_JOURNAL_MAX_RECORD + (*sealed ? SEALED_EXTRA : 0) || (*sealed && n < SEALED_EXTRA))
            *why = "impossible record length";
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
 * Where the first good record after `from` starts (found by its marker, of format 2 or 3), or the end of the data. A
 * candidate costs a checksum over the length it claims, so a damaged record whose payload was made of many markers
 * with long lengths makes the scan slow (quadratic in the worst case), never wrong; payloads of intact records are
 * never scanned.
 */
static size_t resync(const gale_journal_reader_t *r, size_t from)
{
    const char *payload, *why;
    size_t len, size;
    bool sealed;
    while (from < r->len) {
        const char *m = memmem(r->data + from, r->len - from, GALE_JOURNAL_MARKER, 3);
        if (!m) break;
        size_t at = (size_t)(m - r->data);
        if (record_at(r, at, false, &payload, &len, &size, &sealed, &why)) return at;
        from = at + 1;
    }
    return r->len;
}

/*
 * Opens the sealed record at `off` (its body `body`, `len` bytes) into r->plain: 0 with *plain and *plain_len, or
 * -1 with `why` (cap bytes) saying why it cannot be read.
 */
static int unseal(gale_journal_reader_t *r, size_t off, const char *body, size_t len, const char **plain,
                  size_t *plain_len, char *why, size_t cap)
{
    char id[2 * GALE_JOURNAL_KEY_ID_LEN + 1];
    gale_hex_encode((const unsigned char *)body, GALE_JOURNAL_KEY_ID_LEN, id);
    if (!r->key) {
        snprintf(why, cap, "sealed with key %s: give the journal's key (--key FILE)", id);
        return -1;
    }
    if (memcmp(body, r->key->id, GALE_JOURNAL_KEY_ID_LEN)) {
        char mine[2 * GALE_JOURNAL_KEY_ID_LEN + 1];
        gale_hex_encode(r->key->id, GALE_JOURNAL_KEY_ID_LEN, mine);
        snprintf(why, cap, "sealed with another key (key id %s; the key given has id %s)", id, mine);
        return -1;
    }
    size_t n = len - SEALED_EXTRA;
    if (n + 1 > r->plain_cap) {
        unsigned char *p = malloc(n + 1);
        if (!p) {
            snprintf(why, cap, "out of memory");
            return -1;
        }
        if (r->plain) explicit_bzero(r->plain, r->plain_cap);
        free(r->plain);
        r->plain = p;
        r->plain_cap = n + 1;
    }
    unsigned char aad[SEALED_AAD_LEN];
    sealed_aad(aad, off, r->data + off + 4, r->key->id);
    int rc = gale_aead_open(r->key->key, aad, sizeof aad, (const unsigned char *)body + GALE_JOURNAL_KEY_ID_LEN,
                            len - GALE_JOURNAL_KEY_ID_LEN, r->plain);
    if (rc) {
        snprintf(why, cap, "%s",
                 rc == GALE_ECORRUPT ? "does not authenticate with the key: changed, or moved from elsewhere"
                                     : "cannot be decrypted (OpenSSL failed)");
        return -1;
    }
    *plain = (const char *)r->plain;
    *plain_len = n;
    return 0;
}

static void refuse_record(gale_journal_reader_t *r, size_t off, const char *why, void (*report)(void *, const char *),
                          void *arg)
{
    r->refused++;
    if (!report) return;
    char line[512];
    snprintf(line, sizeof line, "offset %zu: record %s; skipped", off, why);
    report(arg, line);
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
        bool sealed;
        if (!record_at(r, off, true, &payload, &len, &size, &sealed, &why)) {
            skip_range(r, off, resync(r, off + 1), why, report, arg);
            continue;
        }
        /* The checksum matched, so the length is trusted: a record that is not a journal record is skipped whole. */
        r->pos = off + size;
        char because[256];
        if (sealed && unseal(r, off, payload, len, &payload, &len, because, sizeof because)) {
            refuse_record(r, off, because, report, arg);
            continue;
        }
        if (!sealed && r->key) {
            refuse_record(r, off, "in clear in a journal read with a key: it cannot be authenticated", report, arg);
            continue;
        }
        if (decode_record(r, payload, len, out) != 0) {
            skip_range(r, off, off + size, "checksum fine but not a journal record", report, arg);
            continue;
        }
        return 1;
    }
    return 0;
}
