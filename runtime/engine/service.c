/*
 * service.c: the public wake (gale_wake) and the plugin `service` it runs, on the task's executor, through the
 * service hook the built-in shell component uses too (task.h: gale__task_want_service).
 */
#include "service.h"

#include "diag.h"
#include "task.h"

int gale__wake(gale_ctx_t *ctx)
{
    /* Only task_id and desc are read: both are set before any plugin code runs and never change, so that the call
       is safe from any thread. A declare context has task id 0 and no task behind it. */
    if (gale__ctx_base(ctx)->task_id == 0) return GALE_ESTATE;
    gale_task_t *t = gale__task(ctx);
    if (!t->desc->service) return GALE_ENOTSUP;
    gale__task_want_service(t);
    return 0;
}

size_t gale__plugin_service(gale_task_t *t)
{
    int rc = t->desc->service(&t->base.pub);
    if (rc < 0) {
        gale__task_error(t, "service failed: %s (%d)", gale_strerror(rc), rc);
        return 0;
    }
    return (size_t)rc;
}
