/*
 * pool.h: tuple memory recycled per executor, with no lock and no syscall per tuple.
 *
 * Each executor keeps free lists of tuple blocks in a few size classes. A block remembers the executor that made it
 * (its owner). Freed on the owner's thread, it goes back on the owner's list; freed on another executor's thread,
 * it is gathered with others for the same owner and sent back in one batch through the ring between the two
 * executors, the way tuples travel. Blocks freed on any other thread, and blocks larger than the largest class,
 * are plain malloc/free. glibc's allocator takes an arena lock for a block freed on another thread than the one that
 * allocated it, which made two threads slower than one.
 */
#ifndef GALE_POOL_H
#define GALE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define GALE_POOL_CLASSES 4      /* 256, 512, 1024, 2048 bytes */
#define GALE_POOL_MAX_CACHED 4096 /* blocks per class an executor keeps; more go back to malloc */
#define GALE_POOL_NONE 0xff      /* class of a block that is not pooled */
#define GALE_RETURN_BATCH 63

/* Blocks on their way back to their owner: one ring entry, tagged with GALE_ITEM_RETURNS. */
typedef struct gale_return_batch {
    uint32_t n;
    void *blocks[GALE_RETURN_BATCH];
} gale_return_batch_t;

typedef struct gale_pool {
    void *free[GALE_POOL_CLASSES]; /* singly linked through each block's first word */
    uint32_t count[GALE_POOL_CLASSES];
    gale_return_batch_t **returns; /* [n_execs]: blocks of executor c waiting to go back */
} gale_pool_t;

struct gale_executor;

/* Allocates `size` bytes; *cls and *owner say where the block must go back (pass them to gale__pool_free). */
void *gale__pool_alloc(size_t size, uint8_t *cls, int16_t *owner);
void gale__pool_free(void *block, uint8_t cls, int16_t owner);

/* Executors: bind the pool of `e` to this thread; take back a batch of returned blocks; send partial batches. */
void gale__pool_bind(struct gale_executor *e);
void gale__pool_take_back(struct gale_executor *e, gale_return_batch_t *b);
size_t gale__pool_flush_returns(struct gale_executor *e);
/* Frees every cached block (at executor destroy). */
void gale__pool_destroy(struct gale_executor *e, int n_execs);

#endif
