/*
 * blobs.h: files kept by the SHA-256 of their bytes in one folder: nimbus's --data folder (what `gale submit`
 * uploaded) and a supervisor's cache (what it fetched from nimbus). A blob is DIR/blobs/HEX, HEX its digest in 64
 * lowercase hex digits. It is written under a temporary name and renamed into place only once its size and digest
 * are checked, so that a blob that is there is whole and is what its name says: a reader never checks again, and
 * two writers of one blob cannot leave a mix.
 */
#ifndef GALE_BLOBS_H
#define GALE_BLOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_BLOB_HEX_LEN 64
/* The largest blob: far beyond a plugin (a few MiB) or a shell component's resources, so that a mistaken or hostile
   upload is refused before it fills a disk; nimbus also keeps a copy of each in ZooKeeper, which holds all in memory. */
#define GALE_BLOB_MAX ((uint64_t)64 << 20)

typedef struct gale_blob_writer gale_blob_writer_t;

/* Whether `hex` is a digest as blobs are named: 64 lowercase hex digits. */
bool gale_blob_digest_ok(const char *hex);

/* Makes DIR/blobs if missing. 0 or a negative errno. */
int gale_blobs_init(const char *dir);

/* DIR/blobs/HEX into `out` (cap bytes). 0, or GALE_ERANGE (too long), GALE_EINVAL (not a digest). */
int gale_blob_path(const char *dir, const char *hex, char *out, size_t cap);

/* Whether the blob is there (then it is whole and right). */
bool gale_blob_has(const char *dir, const char *hex);

/* Starts writing blob `hex` of `size` bytes (GALE_BLOB_SIZE_UNKNOWN: whatever comes, up to GALE_BLOB_MAX). 0 and
   *out; GALE_EINVAL (not a digest), GALE_ELIMIT (over GALE_BLOB_MAX), or a negative errno. */
#define GALE_BLOB_SIZE_UNKNOWN UINT64_MAX
int gale_blob_begin(const char *dir, const char *hex, uint64_t size, gale_blob_writer_t **out);
/* Adds bytes: 0, GALE_ELIMIT past the size it was begun with, or a negative errno. */
int gale_blob_write(gale_blob_writer_t *w, const void *data, size_t len);
/* Bytes written so far, and the size it was begun with. */
uint64_t gale_blob_written(const gale_blob_writer_t *w);
uint64_t gale_blob_size(const gale_blob_writer_t *w);
/* Checks the size and the digest and puts the blob in place; frees `w` either way. 0; GALE_ECORRUPT with the
   digest the bytes have in `got` (65 bytes) when it is not the name's, GALE_EINVAL when fewer bytes came than
   begun with, or a negative errno. Nothing is left behind on failure. */
int gale_blob_finish(gale_blob_writer_t *w, char got[GALE_BLOB_HEX_LEN + 1]);
/* Drops what was written and frees `w`; NULL is a no-op. */
void gale_blob_abort(gale_blob_writer_t *w);

/* The digest (hex) and size of a file, reading at most GALE_BLOB_MAX bytes. 0, GALE_ELIMIT (larger), GALE_EINVAL
   (not a regular file), or a negative errno. */
int gale_blob_digest_file(const char *path, char hex[GALE_BLOB_HEX_LEN + 1], uint64_t *size);

/* The whole of blob `hex` (at most `max` bytes) into a new buffer (*data, NUL-terminated, *len bytes; the caller
   frees it). 0, GALE_ENOENT (not there), GALE_ELIMIT (larger than max), or a negative errno. */
int gale_blob_read(const char *dir, const char *hex, size_t max, char **data, size_t *len);

#endif
