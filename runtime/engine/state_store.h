/*
 * state_store.h: where checkpoints are kept (a backend), behind one interface.
 *
 * A checkpoint N is a set of snapshots, one per task that had state (kvstate.h's bytes), and a record that says it
 * is complete: its id and each component's parallelism when it was taken (so that a restore at another
 * parallelism knows which old tasks to read). A backend makes the record visible only after every snapshot of N
 * is stored and durable, and atomically, so that "the latest complete checkpoint" is always one whose every
 * snapshot can be read; it may then prune the checkpoints older than N.
 *
 * Threads: put and complete are called on the owner's libuv loop and answer through their callback on that loop,
 * once each (the file backend does its I/O in libuv's thread pool, so the loop never waits on a disk). latest and
 * get are synchronous, for the restore before the executors start. close after every callback came.
 */
#ifndef GALE_STATE_STORE_H
#define GALE_STATE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "gale.h"
#include "topology.h"

/* What a complete checkpoint's record says. Owns its strings and array (gale_checkpoint_record_free). */
typedef struct gale_checkpoint_record {
    uint64_t id;
    bool final; /* taken after the input ended and every bolt finished: the run it ends is complete */
    size_t n;
    struct gale_checkpoint_component {
        char *name;
        uint32_t parallelism;
    } * comp;
} gale_checkpoint_record_t;

void gale_checkpoint_record_free(gale_checkpoint_record_t *r);
/* The record as text ("gale-checkpoint 1", "id N", "final" for a final one, one "component NAME P" a line), appended to `out`; and read
   back into a zeroed record (0; GALE_ECORRUPT with the reason, or GALE_ENOMEM; free it either way). */
void gale_checkpoint_record_format(const gale_checkpoint_record_t *r, gale_buf_t *out);
int gale_checkpoint_record_parse(const char *p, size_t len, gale_checkpoint_record_t *r, char *why, size_t cap);
/* The parallelism component `name` had in `r`, 0 when it is not there. */
uint32_t gale_checkpoint_record_parallelism(const gale_checkpoint_record_t *r, const char *name);
/* The record of checkpoint `id` of `topo` (its components and their parallelism), into *r (free it): 0 or
   GALE_ENOMEM. */
int gale_checkpoint_record_of(const gale_topology_t *topo, uint64_t id, bool final, gale_checkpoint_record_t *r);

typedef struct gale_state_store gale_state_store_t;
typedef void (*gale_store_cb)(void *arg, int rc, const char *why);

typedef struct gale_state_store_ops {
    const char *name;
    /* Stores task `index` of `component`'s snapshot for checkpoint `checkpoint`; takes `bytes` (the buffer's
       memory becomes the store's). */
    void (*put)(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index, gale_buf_t *bytes,
                gale_store_cb cb, void *arg);
    /* Makes `r` the latest complete checkpoint, then prunes older ones. */
    void (*complete)(gale_state_store_t *s, const gale_checkpoint_record_t *r, gale_store_cb cb, void *arg);
    /* The latest complete checkpoint's record: 0, GALE_ENOENT (none), or another code with the reason. */
    int (*latest)(gale_state_store_t *s, gale_checkpoint_record_t *r, char *why, size_t cap);
    /* A snapshot of `checkpoint` into `out` (growable; the caller frees it): 0, GALE_ENOENT (that task had no
       state), or another code with the reason. */
    int (*get)(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index, gale_buf_t *out,
               char *why, size_t cap);
    /* Everything the store keeps for its topology, gone (a fresh start). */
    int (*wipe)(gale_state_store_t *s, char *why, size_t cap);
    /* On the loop, before its handles are closed: no more put or complete; those under way answer (with an error
       when they cannot finish). */
    void (*stop)(gale_state_store_t *s);
    void (*close)(gale_state_store_t *s);
} gale_state_store_ops_t;

struct gale_state_store {
    const gale_state_store_ops_t *ops;
    uv_loop_t *loop;
};

/* The file backend: checkpoints under DIR/TOPOLOGY/ (each snapshot written to a temporary file, fsynced when
   `fsync_on`, then renamed into chk-N/; the record likewise into `latest`, then chk-M for every M < N removed).
   Checkpoint folders above the latest complete one are what a crash left of an unfinished checkpoint: removed when
   the store opens. 0 and *out, or a code with the reason (a folder that cannot be made). */
int gale_state_file_open(uv_loop_t *loop, const char *dir, const char *topology, bool fsync_on,
                         gale_state_store_t **out, char *why, size_t cap);

/* The Redis backend: checkpoints under the keys gale:TOPOLOGY:... of the Redis server at `addr` (HOST:PORT; NULL:
   127.0.0.1:6379), through hiredis: puts and completes asynchronous on `loop` (its libuv adapter), each one Lua
   script so that Redis applies it whole (a snapshot with its bookkeeping; the record with the pruning of older
   checkpoints); the restore's reads synchronous, before the run. A connection that drops is made again at the next
   put. How durable a write is, is the server's (appendonly, appendfsync). 0 and *out, or a code with the reason (a
   server that does not answer). */
int gale_state_redis_open(uv_loop_t *loop, const char *addr, const char *topology, gale_state_store_t **out, char *why,
                          size_t cap);

/* The backend `topo`'s config names (state_backend: file under state_path, or redis at state_redis), for its
   checkpoints, on `loop`: 0 and *out, or a code with the reason. */
int gale_state_store_open(uv_loop_t *loop, const gale_topology_t *topo, gale_state_store_t **out, char *why,
                          size_t cap);

#endif
