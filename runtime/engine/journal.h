/*
 * journal.h: the failed-tuple journal, an append-only file of records
 *     [4 bytes: the marker C1 'G' 'J' '2'][u32 length, little-endian][u32 crc32c of the length's 4 bytes and the
 *     payload][payload: a MessagePack map]
 * with the keys time (ms since the epoch), topology, spout, stream, msg_id, values (the tuple's values, an array), cause
 * ("timeout", "fail", "stopped", or "rejected": the spout would not emit the record), component and task (who failed
 * it, when known; nil otherwise), attempts, and error (only in a record that has one: what was wrong with it).
 *
 * One write(2) per record on a file opened with O_APPEND, so records from several threads or processes never
 * interleave. A reader checks each record's marker, length and checksum. Where they do not hold (a torn write, a
 * flipped bit anywhere, a length that points nowhere), it scans forward for the next marker that starts a record
 * whose length is in bounds and whose checksum matches, resumes there, and reports the skipped range once: damage
 * costs the records it touches, never the ones after it. A marker inside a payload does not fool it: a record read
 * whole is never searched inside, and a candidate found by the scan is accepted only with a matching checksum.
 *
 * Format 3 is format 2 sealed (journal_key): the marker C1 'G' 'J' '3', the same length and checksum, and a body of
 *     [8 bytes: the key's id][12-byte nonce][the payload, encrypted with AES-256-GCM][16-byte tag]
 * whose associated data is the record's own offset in the file, its length field and the key id: a record moved to
 * another place (or into another journal at another place), cut, or changed in any bit does not open. The offset is
 * known before the write because sealed appends hold the file's lock (flock, and a mutex between the threads of a
 * process, since flock does not exclude threads sharing a descriptor). The key id (the first 8 bytes of
 * HMAC-SHA256(key, "gale journal key id")) tells "written with another key" from "changed" without revealing the
 * key. The checksum still comes first, so damage is found and skipped as in format 2, and only records that pass it
 * are decrypted. A reader with a key reads sealed records only: a record in clear in a sealed journal cannot be
 * authenticated, so it is reported and skipped, never replayed. Without a key, sealed records are reported, each.
 *
 * Format 1 (gale before the marker: [u32 length][u32 crc32c of the payload][payload]) is still read, record by
 * record where a record is expected, so that journals written before hold their tuples; it has no marker, so a
 * damaged format-1 record costs the format-1 records after it up to the next format-2 one. The marker, read as a
 * format-1 length, is over GALE_JOURNAL_MAX_RECORD, so no format-1 record starts with it. Both formats may be in
 * one file: a new gale appends format 2 to an old journal.
 */
#ifndef GALE_JOURNAL_H
#define GALE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

#define GALE_JOURNAL_MAX_RECORD (64u << 20) /* payload bytes */
#define GALE_JOURNAL_MARKER "\xc1GJ2"        /* 0xc1 is the one byte MessagePack never uses as a type */
#define GALE_JOURNAL_MARKER_SEALED "\xc1GJ3" /* format 3: the payload sealed with the journal's key */
#define GALE_JOURNAL_HEADER 12u               /* marker, length, checksum */
#define GALE_JOURNAL_KEY_LEN 32               /* AES-256 */
#define GALE_JOURNAL_KEY_ID_LEN 8

typedef struct gale_journal_record {
    int64_t time_ms;
    const char *topology;  /* strings are NUL-terminated; in a record read back they point into the reader */
    const char *spout;
    const char *stream;    /* the stream the spout emitted it on */
    uint64_t msg_id;
    const char *values;    /* the encoded MessagePack array */
    size_t values_len;
    const char *cause;     /* "timeout", "fail", "stopped" or "rejected" */
    const char *component; /* NULL when unknown */
    uint32_t task;         /* 0 when unknown */
    uint32_t attempts;
    const char *error; /* NULL, or what was wrong ("invalid JSON at byte 7: ..."), for a rejected record */
} gale_journal_record_t;

typedef struct gale_journal gale_journal_t;

/* A journal's key: 32 bytes from a key file (keyfile.h's rule: mode 600, this user's), and its id. */
typedef struct gale_journal_key {
    unsigned char key[GALE_JOURNAL_KEY_LEN];
    unsigned char id[GALE_JOURNAL_KEY_ID_LEN];
} gale_journal_key_t;

/* Reads the key at `path`. 0, or a negative errno code with diag saying "PATH: what is wrong". */
int gale_journal_key_load(const char *path, gale_journal_key_t *k, gale_diag_t *diag);
void gale_journal_key_wipe(gale_journal_key_t *k); /* explicit_bzero: no key left in memory */

/*
 * Opens (creating) `path` for appending; with `key` (copied; NULL: records in clear), every record is sealed. *out
 * is owned by the caller (gale_journal_close, which wipes the key). A torn tail left by a crash is not truncated (see
 * the comment at the function): records appended after it are found by the marker.
 */
int gale_journal_open(const char *path, bool fsync_each, const gale_journal_key_t *key, gale_journal_t **out,
                      gale_diag_t *diag);
/* Appends one record (one write, then fsync when asked). 0, or a negative errno code. Thread-safe. */
int gale_journal_append(gale_journal_t *j, const gale_journal_record_t *r);
void gale_journal_close(gale_journal_t *j); /* NULL is a no-op */

uint32_t gale_crc32c(uint32_t crc, const void *buf, size_t len);

/* Reading: the whole file is read into memory; records point into it until gale_journal_reader_free. */
typedef struct gale_journal_reader {
    char *data;
    size_t len, pos;
    char *strings;   /* NUL-terminated copies of the current record's strings */
    size_t strings_cap;
    unsigned char *plain; /* the current sealed record, opened; wiped and freed with the reader */
    size_t plain_cap;
    const gale_journal_key_t *key; /* borrowed; NULL: sealed records cannot be read */
    size_t skipped;  /* damaged ranges skipped (each reported once) */
    size_t skipped_bytes;
    size_t refused; /* whole records not read for want of their key, or that did not authenticate (each reported) */
} gale_journal_reader_t;

/* `key` (borrowed, may be NULL) must outlive the reader. */
int gale_journal_reader_open(gale_journal_reader_t *r, const char *path, const gale_journal_key_t *key,
                             gale_diag_t *diag);
/*
 * The next good record: returns 1 with *out filled (valid until the next call), 0 at the end. A damaged range (from
 * where a record was expected to the next good record, or to the end) is skipped and reported once through
 * `report` (may be NULL), as "offset O: N bytes skipped: REASON", REASON being what was wrong where the range starts
 * ("record runs past the end (torn write)", "checksum mismatch (corrupt record)", ...). A whole record that is not
 * read (sealed and no key, another key, failed authentication, in clear while a key was given) is reported as
 * "offset O: WHY; skipped" and counted in `refused`.
 */
int gale_journal_reader_next(gale_journal_reader_t *r, gale_journal_record_t *out,
                             void (*report)(void *arg, const char *line), void *arg);
void gale_journal_reader_free(gale_journal_reader_t *r);

/* Encodes a record's payload (the MessagePack map) into a malloc'd buffer the caller frees. */
int gale_journal_encode(const gale_journal_record_t *r, char **out, size_t *len);

#endif
