/*
 * pool.h: tuple memory recycled per lane, with no lock and no syscall per tuple.
 *
 * Each lane that makes tuples (an executor thread, and in a worker the I/O lane that decodes tuples from peers)
 * keeps free lists of tuple blocks in a few size classes. A block remembers the lane that made it (its owner).
 * Freed on the owner's thread, it goes back on the owner's list; freed on another lane's thread, it is gathered with
 * others for the same owner and sent back in one batch through the ring between the two lanes, the way tuples
 * travel. Blocks freed on any other thread, and blocks larger than the largest class, are plain malloc/free.
 * glibc's allocator takes an arena lock for a block freed on another thread than the one that allocated it, which
 * made two threads slower than one.
 */
#ifndef GALE_POOL_H
#define GALE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define GALE_POOL_CLASSES 4      /* 256, 512, 1024, 2048 bytes */
#define GALE_POOL_MAX_CACHED 4096 /* blocks per class a lane keeps; more go back to malloc */
#define GALE_POOL_NONE 0xff      /* class of a block that is not pooled */
#define GALE_RETURN_BATCH 63

/* Blocks on their way back to their owner: one ring entry, tagged with GALE_ITEM_RETURNS. */
typedef struct gale_return_batch {
    uint32_t n;
    void *blocks[GALE_RETURN_BATCH];
} gale_return_batch_t;

/* Sends a return batch to lane `lane` (as a ring entry tagged GALE_ITEM_RETURNS); called on the pool's thread. */
typedef void (*gale_pool_send_fn)(void *arg, int lane, void *item);

typedef struct gale_pool {
    void *free[GALE_POOL_CLASSES]; /* singly linked through each block's first word */
    uint32_t count[GALE_POOL_CLASSES];
    gale_return_batch_t **returns; /* [n_lanes]: blocks of lane c waiting to go back */
    int owner;                     /* this pool's lane */
    int n_lanes;
    gale_pool_send_fn send;
    void *send_arg;
} gale_pool_t;

/* Prepares the pool of lane `owner` among n_lanes. 0 or GALE_ENOMEM. */
int gale__pool_init(gale_pool_t *p, int owner, int n_lanes, gale_pool_send_fn send, void *send_arg);
/* Makes `p` the pool of the calling thread (NULL: none; blocks are then plain malloc/free). */
void gale__pool_bind(gale_pool_t *p);

/* Allocates `size` bytes; *cls and *owner say where the block must go back (pass them to gale__pool_free). */
void *gale__pool_alloc(size_t size, uint8_t *cls, int16_t *owner);
void gale__pool_free(void *block, uint8_t cls, int16_t owner);
/* The size of a block of class `cls` (not GALE_POOL_NONE). */
size_t gale__pool_class_bytes(uint8_t cls);

/* Takes back a batch of this pool's blocks that another lane returned (frees the batch). */
void gale__pool_take_back(gale_pool_t *p, gale_return_batch_t *b);
/* Sends every partial batch home now; returns how many were sent. */
size_t gale__pool_flush_returns(gale_pool_t *p);
/* Frees every cached block and every batch not yet sent. */
void gale__pool_destroy(gale_pool_t *p);

#endif
