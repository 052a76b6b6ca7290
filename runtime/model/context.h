/*
 * context.h: the context behind every gale_ctx_t a plugin sees, and the phases of a plugin's life.
 *
 * Every gale_ctx_t is the first member of a gale_ctx_base_t, so that a host function finds the runtime's side with
 * gale__ctx_base(). The model makes one to run a plugin's `declare` (declare.h); the engine embeds one in each task.
 * The phase says which host functions are allowed (gale.h's phase table).
 */
#ifndef GALE_CONTEXT_H
#define GALE_CONTEXT_H

#include <stdint.h>

#include "gale.h"
#include "topology.h"

typedef enum gale_phase {
    GALE_PHASE_DECLARE = 1, /* the model runs `declare` (validate.c); no task exists yet */
    GALE_PHASE_OPEN,        /* open/prepare */
    GALE_PHASE_RUN,         /* from activate to deactivate: the only phase that may emit, ack or fail */
    GALE_PHASE_CLOSED,      /* close/cleanup */
} gale_phase_t;

typedef struct gale_ctx_base {
    gale_ctx_t pub; /* must stay first */
    gale_phase_t phase;
    gale_topology_t *topo;
    int component;    /* index into topo->components */
    uint32_t task_id; /* 0 while declaring */
    uint32_t task_index;
} gale_ctx_base_t;

static inline gale_ctx_base_t *gale__ctx_base(gale_ctx_t *ctx) { return (gale_ctx_base_t *)ctx; }

#endif
