/*
 * emit.h: the run-phase host functions (emit.c): emit, ack, fail (and fail_with), keep, done, reset_timeout and reject. Each checks the
 * phase and the task's kind first and answers GALE_ESTATE where gale.h's phase table forbids the call.
 */
#ifndef GALE_EMIT_H
#define GALE_EMIT_H

#include <stdbool.h>

#include "gale.h"
#include "plugin.h"

#define GALE__EMIT_SIZE_2_0 GALE__SIZE_2_0(gale_emit_t, n_tasks)

/* Whether emit may read `e`: its size covers ABI 2.0's fields. One predictable branch on the per-tuple path. */
static inline bool gale__emit_sized(const gale_emit_t *e) { return e->size >= GALE__EMIT_SIZE_2_0; }

int gale__emit(gale_ctx_t *ctx, const gale_emit_t *e);
int gale__ack(gale_ctx_t *ctx, const gale_tuple_t *input);
int gale__fail(gale_ctx_t *ctx, const gale_tuple_t *input);
int gale__fail_with(gale_ctx_t *ctx, const gale_tuple_t *input, const char *why);
const gale_tuple_t *gale__keep(gale_ctx_t *ctx, const gale_tuple_t *input);
void gale__done(gale_ctx_t *ctx);
int gale__reset_timeout(gale_ctx_t *ctx, const gale_tuple_t *input);
/* Spouts: a record that will not be emitted goes to the journal (gale_host_t.reject). */
int gale__reject(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n, uint64_t msg_id,
                 const char *error);

struct gale_task;
/* Settles `in`, which the runtime holds for the task (a window's tuple: not the current input, not in the kept
   list), as `how` (GALE_DLV_ACKED or GALE_DLV_FAILED): counted and told to the ackers; its reference stays the
   caller's. */
void gale__settle_held(struct gale_task *t, struct gale_tuple *in, uint32_t how);

#endif
