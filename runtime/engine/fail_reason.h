/*
 * fail_reason.h: why a tuple tree failed, from a bolt's gale_fail_with() to the journal record its spout writes.
 *
 * The text travels by id, so that ops stay fixed-size: a FAIL op carries it in `val` (which FAIL does not use
 * otherwise), the acker keeps the first fail's id with the tree and hands it to the spout in FAILED's `val`, and
 * the spout takes the text when the tree fails for good (a replay drops it: the last attempt's reason is the one
 * journaled). The texts wait in this process's table. An id is 32 bits, so that the acker keeps it in the
 * padding of its tree entry: the worker index in the top 12 bits, so that a text sent ahead to another worker (a
 * REASON frame, before the op that names it) keeps its id there, and a counter in the low 20 (it wraps after a
 * million fails of the process, long after the slot of an old id was reused).
 *
 * Bounded: GALE_REASONS_MAX slots; an id takes the first free one of 8 from a hashed home, or evicts the text at
 * its home when all 8 are taken. A reason whose op is lost (its tree timed out, an acker forgot it) is thus
 * overwritten in time, never leaked, and one that is evicted only costs its tree the error in the journal. Fails
 * are the slow path: one lock and one allocation each.
 */
#ifndef GALE_FAIL_REASON_H
#define GALE_FAIL_REASON_H

#include <stddef.h>
#include <stdint.h>

#define GALE_REASONS_MAX 4096
#define GALE_REASON_MAX_LEN 512 /* bytes kept of a text; the rest is cut */

typedef struct gale_reasons gale_reasons_t;

/* A table for the process that is worker `worker_index` (0 in local mode). *out is the caller's
   (gale_reasons_free). 0 or GALE_ENOMEM. */
int gale_reasons_new(int worker_index, gale_reasons_t **out);
void gale_reasons_free(gale_reasons_t *r); /* NULL is a no-op */

/* Keeps a copy of text[0..len) (cut to GALE_REASON_MAX_LEN) under a new id; the id, or 0 when out of memory. */
uint32_t gale_reasons_put(gale_reasons_t *r, const char *text, size_t len);
/* Keeps a copy under `id`, made by another process (a REASON frame). */
void gale_reasons_put_id(gale_reasons_t *r, uint32_t id, const char *text, size_t len);
/* Removes the text of `id` and returns it (malloc'd: the caller frees it), or NULL when it is not here. */
char *gale_reasons_take(gale_reasons_t *r, uint32_t id);

#endif
