/*
 * host.h: the host function table handed to plugins, and the context behind every gale_ctx_t.
 *
 * Every gale_ctx_t a plugin sees is the first member of a gale_ctx_base_t, so a host function finds the runtime's
 * side with gale__ctx_base(). The phase says which host functions are allowed (gale.h's phase table):
 * declare_stream only while declaring; emit, ack, fail, keep, done and reset_timeout only while running, which
 * ends before close/cleanup.
 */
#ifndef GALE_API_H
#define GALE_API_H

#include <stddef.h>

#include "gale.h"
#include "plugin.h"
#include "topology.h"

typedef enum gale_phase {
    GALE_PHASE_DECLARE = 1,
    GALE_PHASE_OPEN,
    GALE_PHASE_RUN,
    GALE_PHASE_CLOSED,
} gale_phase_t;

typedef struct gale_ctx_base {
    gale_ctx_t pub; /* must stay first */
    gale_phase_t phase;
    gale_topology_t *topo;
    int component; /* index into topo->components */
    uint32_t task_id;
    uint32_t task_index;
} gale_ctx_base_t;

static inline gale_ctx_base_t *gale__ctx_base(gale_ctx_t *ctx) { return (gale_ctx_base_t *)ctx; }

extern const gale_host_t gale__host;

#define GALE__EMIT_SIZE_2_0 GALE__SIZE_2_0(gale_emit_t, n_tasks)

/* Whether emit may read `e`: its size covers ABI 2.0's fields. One predictable branch on the per-tuple path. */
static inline bool gale__emit_sized(const gale_emit_t *e) { return e->size >= GALE__EMIT_SIZE_2_0; }

/* emit.c: the run-phase host functions. */
int gale__emit(gale_ctx_t *ctx, const gale_emit_t *e);
int gale__ack(gale_ctx_t *ctx, const gale_tuple_t *input);
int gale__fail(gale_ctx_t *ctx, const gale_tuple_t *input);
const gale_tuple_t *gale__keep(gale_ctx_t *ctx, const gale_tuple_t *input);
void gale__done(gale_ctx_t *ctx);
int gale__reset_timeout(gale_ctx_t *ctx, const gale_tuple_t *input);

/* service.c: the public wake and the service it asks for. */
int gale__wake(gale_ctx_t *ctx);

/* declare.c: the host functions for `declare` and settings, shared by every phase. */
int gale__setting(gale_ctx_t *ctx, const char *key, gale_value_t *out);
int gale__declare_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields);
size_t gale__input_count(gale_ctx_t *ctx);
int gale__input_fields(gale_ctx_t *ctx, size_t index, const char *const **fields, size_t *n_fields);

#endif
