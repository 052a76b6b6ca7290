/*
 * declare.h: the host functions that read or extend the model, and the host table a plugin's `declare` runs with.
 *
 * Settings, input fields, task info and logging read only the topology, so that they are the same in every phase;
 * the engine's run-phase table (host.h) takes them from here through GALE__MODEL_HOST_ENTRIES, one list for both
 * tables. declare_stream and declare_direct_stream extend the model and are allowed only while declaring.
 */
#ifndef GALE_DECLARE_H
#define GALE_DECLARE_H

#include <stddef.h>

#include "context.h"
#include "diag.h"
#include "gale.h"
#include "json.h"
#include "mpread.h"

int gale__setting(gale_ctx_t *ctx, const char *key, gale_value_t *out);
int gale__declare_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields);
int gale__declare_direct_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields);
size_t gale__input_count(gale_ctx_t *ctx);
int gale__input_fields(gale_ctx_t *ctx, size_t index, const char *const **fields, size_t *n_fields);
void gale__task_info(gale_ctx_t *ctx, gale_task_info_t *out);
void gale__host_log(gale_ctx_t *ctx, gale_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The entries of a host table that do not need a running task, for a designated initializer. */
#define GALE__MODEL_HOST_ENTRIES                                                                                  \
    .size = sizeof(gale_host_t), .abi_minor = GALE_ABI_MINOR, .item = gale_mp_item, .setting = gale__setting,     \
    .declare_stream = gale__declare_stream, .input_count = gale__input_count, .input_fields = gale__input_fields, \
    .task_info = gale__task_info, .log = gale__host_log, .strerror = gale_strerror, .to_json = gale__to_json,     \
    .err_name = gale_err_name, .declare_direct_stream = gale__declare_direct_stream

/* The table for `declare` (a gale_ctx_base_t in GALE_PHASE_DECLARE): the model's entries, and for the rest the
   answers gale.h's phase table gives there (GALE_ESTATE; keep NULL; done nothing). No tuple exists yet, so the tuple
   readers answer as for an empty tuple. */
extern const gale_host_t gale__declare_host;

#endif
