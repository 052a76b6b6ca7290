/*
 * kvstate.h: a task's key-value state (gale.h's state functions, ABI 2.3), and its snapshots.
 *
 * Keys and values are gale values, kept encoded as MessagePack in a kvmap (base/kvmap.h): a key is its encoding,
 * so equal values are equal keys whatever built them. A value read back is a view into the stored bytes (a
 * container in its raw form, read with gale_item), valid until the next put or delete of the task's state.
 *
 * Key groups (Flink's): every key belongs to one of `key_groups` groups, by the hash the fields grouping gives
 * the same value as a one-field key, and a component's task i of p owns a contiguous range of groups. A snapshot
 * records each entry's group, so that when the parallelism changes each new task takes, from the old tasks'
 * snapshots, the entries of the groups it owns now.
 *
 * A snapshot is one byte string, written and read here and stored by a backend (state_store.h):
 *   "GALEST01" | u64 checkpoint | u32 task_index | u32 parallelism | u32 key_groups | u64 entries |
 *   entries: u16 group | u32 key length | u32 value length | key | value |  u32 crc32c of all before
 * little-endian. A group with its top bit set (GALE_KV_GIVEN_GROUP) is an entry of the runtime's own (a window's
 * tuple, window.h) whose group is given rather than its key's hash: the group of the key its tuple was routed by,
 * so that it too moves with its key; its key is one no plugin writes (it starts with a NUL string). Reading checks the CRC, every length against the bytes there, and each key and value as one
 * well-formed MessagePack value, so that a damaged file is refused with a reason and never trusted.
 *
 * Everything here runs on the task's executor thread (a snapshot is encoded there, then written elsewhere).
 */
#ifndef GALE_KVSTATE_H
#define GALE_KVSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "gale.h"
#include "kvmap.h"

typedef struct gale_kvstate {
    gale_kvmap_t map;
    uint64_t restored;  /* the checkpoint it was restored from; 0: none */
    gale_buf_t scratch; /* a key's encoding, reused */
} gale_kvstate_t;

void gale_kvstate_init(gale_kvstate_t *s);
void gale_kvstate_destroy(gale_kvstate_t *s);

/* The key group of an encoded key: the fields grouping's hash of the same value, modulo `key_groups`. */
uint32_t gale_kvstate_key_group(const char *key, size_t klen, uint32_t key_groups);
/* The key groups task `index` of `parallelism` owns: [*lo, *hi). */
void gale_kvstate_group_range(uint32_t index, uint32_t parallelism, uint32_t key_groups, uint32_t *lo, uint32_t *hi);

#define GALE_KV_GIVEN_GROUP 0x8000u /* so key groups are at most 32768, Flink's most too */

/* Encodes the state as checkpoint `checkpoint`'s snapshot of task `index` of `parallelism`, appended to `out`
   (growable; the caller frees it). `more` (NULL: none) adds the runtime's own entries with gale_kvstate_put_given.
   0, or GALE_ENOMEM (or what `more` returned). */
typedef struct gale_kvsnap gale_kvsnap_t;
int gale_kvstate_encode(const gale_kvstate_t *s, uint64_t checkpoint, uint32_t index, uint32_t parallelism,
                        uint32_t key_groups, int (*more)(void *arg, gale_kvsnap_t *w), void *arg, gale_buf_t *out);
/* An entry of the runtime's own in the snapshot being encoded: key and value (each one MessagePack value), in
   key group `group` (< the key groups). 0 or GALE_ENOMEM. */
int gale_kvstate_put_given(gale_kvsnap_t *w, uint32_t group, const char *key, size_t klen, const char *value,
                           size_t vlen);

/* What a snapshot's header says. */
typedef struct gale_snapshot_info {
    uint64_t checkpoint, entries;
    uint32_t task_index, parallelism, key_groups;
} gale_snapshot_info_t;

/* Checks snapshot bytes whole (header, every entry, the CRC). 0 and *info, or GALE_ECORRUPT with the reason in
   `why`. */
int gale_snapshot_check(const char *p, size_t len, gale_snapshot_info_t *info, char *why, size_t cap);

/* Adds to `s` the entries of a snapshot (checked first) whose key groups lie in [lo, hi). 0, GALE_ECORRUPT (with
   `why`; `s` unchanged), GALE_EINVAL (a snapshot of another key group count), GALE_ENOMEM (`s` partly filled:
   clear it). */
int gale_kvstate_restore(gale_kvstate_t *s, const char *p, size_t len, uint32_t key_groups, uint32_t lo, uint32_t hi,
                         char *why, size_t cap);

/* The operations behind the host functions, on a state (the host functions in host.c find the task's). */
int gale_kvstate_get(gale_kvstate_t *s, const gale_value_t *key, gale_value_t *out);
int gale_kvstate_put(gale_kvstate_t *s, const gale_value_t *key, const gale_value_t *value);
int gale_kvstate_delete(gale_kvstate_t *s, const gale_value_t *key);
int gale_kvstate_next(const gale_kvstate_t *s, uint64_t *cursor, gale_value_t *key, gale_value_t *value);

/* The host functions (gale.h, ABI 2.3), on the calling task's state; GALE_ESTATE outside open to the end of the
   run phase. */
int gale__state_get(gale_ctx_t *ctx, const gale_value_t *key, gale_value_t *out);
int gale__state_put(gale_ctx_t *ctx, const gale_value_t *key, const gale_value_t *value);
int gale__state_delete(gale_ctx_t *ctx, const gale_value_t *key);
int gale__state_next(gale_ctx_t *ctx, uint64_t *cursor, gale_value_t *key, gale_value_t *value);
size_t gale__state_count(gale_ctx_t *ctx);
uint64_t gale__state_restored(gale_ctx_t *ctx);

#endif
