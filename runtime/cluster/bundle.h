/*
 * bundle.h: a shell component's folder (its `cwd`: the scripts and what they import, Storm's resources/ folder) as
 * `gale submit` ships it: a manifest of its files, each one a blob (blobs.h), and the manifest a blob too. The
 * manifest is text, a line per file, sorted by path:
 *     MODE SIZE SHA256 PATH        MODE in octal (0755), PATH relative to the folder, '/'-separated
 * A supervisor lays the files out again under its run folder and runs the component there.
 *
 * Scanning takes regular files (symbolic links followed), skips names that start with '.', and stops at
 * GALE_BUNDLE_FILES files or GALE_BLOB_MAX bytes in all. Parsing trusts nothing: a path that is absolute, empty,
 * climbs with "..", or holds a '.'-name, a bad digest, mode or size, refuses the whole manifest.
 */
#ifndef GALE_BUNDLE_H
#define GALE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "blobs.h"

#define GALE_BUNDLE_FILES 1000

typedef struct gale_bundle_file {
    char *path; /* owned */
    unsigned mode;
    uint64_t size;
    char sha[GALE_BLOB_HEX_LEN + 1];
} gale_bundle_file_t;

typedef struct gale_bundle {
    gale_bundle_file_t *files; /* owned */
    size_t n;
} gale_bundle_t;

/* The files under `dir`, with their digests. 0; or a negative code with `why` naming the file or the bound. */
int gale_bundle_scan(const char *dir, gale_bundle_t *out, char *why, size_t cap);

/* The manifest's text (malloc'd; the caller frees it), or NULL when out of memory. */
char *gale_bundle_format(const gale_bundle_t *b);

/* A manifest's text back. 0, or GALE_ECORRUPT with the line in `why`. */
int gale_bundle_parse(const char *text, gale_bundle_t *out, char *why, size_t cap);

void gale_bundle_free(gale_bundle_t *b);

#endif
