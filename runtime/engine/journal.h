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
#define GALE_JOURNAL_HEADER 12u               /* marker, length, checksum */

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

/*
 * Opens (creating) `path` for appending. *out is owned by the caller (gale_journal_close). A torn tail left by a
 * crash is not truncated (see the comment at the function): records appended after it are found by the marker.
 */
int gale_journal_open(const char *path, bool fsync_each, gale_journal_t **out, gale_diag_t *diag);
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
    size_t skipped;  /* damaged ranges skipped (each reported once) */
    size_t skipped_bytes;
} gale_journal_reader_t;

int gale_journal_reader_open(gale_journal_reader_t *r, const char *path, gale_diag_t *diag);
/*
 * The next good record: returns 1 with *out filled (valid until the next call), 0 at the end. A damaged range (from
 * where a record was expected to the next good record, or to the end) is skipped and reported once through
 * `report` (may be NULL), as "offset O: N bytes skipped: REASON", REASON being what was wrong where the range starts
 * ("record runs past the end (torn write)", "checksum mismatch (corrupt record)", ...).
 */
int gale_journal_reader_next(gale_journal_reader_t *r, gale_journal_record_t *out,
                             void (*report)(void *arg, const char *line), void *arg);
void gale_journal_reader_free(gale_journal_reader_t *r);

/* Encodes a record's payload (the MessagePack map) into a malloc'd buffer the caller frees. */
int gale_journal_encode(const gale_journal_record_t *r, char **out, size_t *len);

#endif
