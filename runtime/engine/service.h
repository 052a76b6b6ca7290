/*
 * service.h: the public wake (gale_wake) and the plugin `service` it runs on the task's executor (service.c).
 */
#ifndef GALE_SERVICE_H
#define GALE_SERVICE_H

#include <stddef.h>

#include "gale.h"

typedef struct gale_task gale_task_t;

/* The host's wake: callable from any thread once the task exists (a declare context has none: GALE_ESTATE). */
int gale__wake(gale_ctx_t *ctx);

/* A plugin's `service` (gale.h) as a task's service hook; set on tasks whose plugin has one. */
size_t gale__plugin_service(gale_task_t *t);

#endif
