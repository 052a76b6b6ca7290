#include "pool.h"

#include <stdlib.h>

#include "executor.h"
#include "runtime.h"

static _Thread_local gale_executor_t *current; /* the executor running on this thread, if any */

static const size_t CLASS_SIZE[GALE_POOL_CLASSES] = {256, 512, 1024, 2048};

static int class_of(size_t size)
{
    for (int c = 0; c < GALE_POOL_CLASSES; c++)
        if (size <= CLASS_SIZE[c]) return c;
    return -1;
}

void gale__pool_bind(gale_executor_t *e) { current = e; }

void *gale__pool_alloc(size_t size, uint8_t *cls, int16_t *owner)
{
    int c = current ? class_of(size) : -1;
    if (c < 0) {
        *cls = GALE_POOL_NONE;
        *owner = -1;
        return malloc(size);
    }
    gale_pool_t *p = &current->pool;
    *cls = (uint8_t)c;
    *owner = (int16_t)current->index;
    void *b = p->free[c];
    if (b) {
        p->free[c] = *(void **)b;
        p->count[c]--;
        return b;
    }
    return malloc(CLASS_SIZE[c]);
}

static void push_local(gale_pool_t *p, void *block, uint8_t cls)
{
    if (p->count[cls] >= GALE_POOL_MAX_CACHED) {
        free(block);
        return;
    }
    *(void **)block = p->free[cls];
    p->free[cls] = block;
    p->count[cls]++;
}

static void ship_returns(gale_executor_t *e, int owner)
{
    gale_return_batch_t *b = e->pool.returns[owner];
    e->pool.returns[owner] = NULL;
    gale__executor_send(e, owner, (void *)((uintptr_t)b | GALE_ITEM_RETURNS));
}

void gale__pool_free(void *block, uint8_t cls, int16_t owner)
{
    if (cls == GALE_POOL_NONE || !current) {
        free(block);
        return;
    }
    if (owner == current->index) {
        push_local(&current->pool, block, cls);
        return;
    }
    gale_return_batch_t **slot = &current->pool.returns[owner];
    if (!*slot) {
        *slot = aligned_alloc(8, sizeof **slot);
        if (!*slot) {
            free(block);
            return;
        }
        (*slot)->n = 0;
    }
    (*slot)->blocks[(*slot)->n++] = block;
    if ((*slot)->n == GALE_RETURN_BATCH) ship_returns(current, owner);
}

/* Blocks carry their class in the tuple header, not here, so a returned block's class is read back from it. */
void gale__pool_take_back(gale_executor_t *e, gale_return_batch_t *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        gale_tuple_data_t *d = b->blocks[i];
        push_local(&e->pool, d, d->pool_class);
    }
    free(b);
}

size_t gale__pool_flush_returns(gale_executor_t *e)
{
    size_t n = 0;
    for (int c = 0; c < e->rt->n_execs; c++)
        if (e->pool.returns && e->pool.returns[c]) {
            ship_returns(e, c);
            n++;
        }
    return n;
}

void gale__pool_destroy(gale_executor_t *e, int n_execs)
{
    for (int c = 0; c < GALE_POOL_CLASSES; c++)
        for (void *b = e->pool.free[c], *next; b; b = next) {
            next = *(void **)b;
            free(b);
        }
    if (e->pool.returns)
        for (int c = 0; c < n_execs; c++)
            if (e->pool.returns[c]) {
                for (uint32_t i = 0; i < e->pool.returns[c]->n; i++) free(e->pool.returns[c]->blocks[i]);
                free(e->pool.returns[c]);
            }
    free(e->pool.returns);
    e->pool.returns = NULL;
}
