#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "tuple.h"

static _Thread_local gale_pool_t *current; /* the pool of the lane running on this thread, if any */

static const size_t CLASS_SIZE[GALE_POOL_CLASSES] = {256, 512, 1024, 2048};

size_t gale__pool_class_bytes(uint8_t cls) { return cls < GALE_POOL_CLASSES ? CLASS_SIZE[cls] : 0; }

static int class_of(size_t size)
{
    for (int c = 0; c < GALE_POOL_CLASSES; c++)
        if (size <= CLASS_SIZE[c]) return c;
    return -1;
}

int gale__pool_init(gale_pool_t *p, int owner, int n_lanes, gale_pool_send_fn send, void *send_arg)
{
    memset(p, 0, sizeof *p);
    p->returns = calloc((size_t)n_lanes, sizeof *p->returns);
    if (!p->returns) return GALE_ENOMEM;
    p->owner = owner;
    p->n_lanes = n_lanes;
    p->send = send;
    p->send_arg = send_arg;
    return 0;
}

void gale__pool_bind(gale_pool_t *p) { current = p; }

void *gale__pool_alloc(size_t size, uint8_t *cls, int16_t *owner)
{
    int c = current ? class_of(size) : -1;
    if (c < 0) {
        *cls = GALE_POOL_NONE;
        *owner = -1;
        return malloc(size);
    }
    gale_pool_t *p = current;
    *cls = (uint8_t)c;
    *owner = (int16_t)p->owner;
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

static void ship_returns(gale_pool_t *p, int owner)
{
    gale_return_batch_t *b = p->returns[owner];
    p->returns[owner] = NULL;
    p->send(p->send_arg, owner, b);
}

void gale__pool_free(void *block, uint8_t cls, int16_t owner)
{
    gale_pool_t *p = current;
    if (cls == GALE_POOL_NONE || !p || owner < 0 || owner >= p->n_lanes) {
        free(block);
        return;
    }
    if (owner == p->owner) {
        push_local(p, block, cls);
        return;
    }
    gale_return_batch_t **slot = &p->returns[owner];
    if (!*slot) {
        *slot = aligned_alloc(8, sizeof **slot);
        if (!*slot) {
            free(block);
            return;
        }
        (*slot)->n = 0;
    }
    (*slot)->blocks[(*slot)->n++] = block;
    if ((*slot)->n == GALE_RETURN_BATCH) ship_returns(p, owner);
}

/* Blocks carry their class in the tuple header, not here, so a returned block's class is read back from it. */
void gale__pool_take_back(gale_pool_t *p, gale_return_batch_t *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        gale_tuple_data_t *d = b->blocks[i];
        push_local(p, d, d->pool_class);
    }
    free(b);
}

size_t gale__pool_flush_returns(gale_pool_t *p)
{
    size_t n = 0;
    for (int c = 0; p->returns && c < p->n_lanes; c++)
        if (p->returns[c]) {
            ship_returns(p, c);
            n++;
        }
    return n;
}

void gale__pool_destroy(gale_pool_t *p)
{
    for (int c = 0; c < GALE_POOL_CLASSES; c++)
        for (void *b = p->free[c], *next; b; b = next) {
            next = *(void **)b;
            free(b);
        }
    for (int c = 0; p->returns && c < p->n_lanes; c++)
        if (p->returns[c]) {
            for (uint32_t i = 0; i < p->returns[c]->n; i++) free(p->returns[c]->blocks[i]);
            free(p->returns[c]);
        }
    free(p->returns);
    memset(p, 0, sizeof *p);
}
