/*
 * host.h: the run phase's host table, handed to every task's plugin (host.c).
 *
 * Its model entries (settings, inputs, task info, logging) are the declare phase's (declare.h); the rest are the
 * engine's: emitting and acking (emit.h), reading tuples (tuple.h) and the wake (service.h). Every gale_ctx_t it is
 * called with is a task's gale_ctx_base_t (context.h).
 */
#ifndef GALE_HOST_H
#define GALE_HOST_H

#include "context.h"
#include "gale.h"

extern const gale_host_t gale__host;

#endif
