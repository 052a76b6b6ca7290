/* process.c: the plugins' process hooks around a run (process.h). */
#include "process.h"

#include <stdarg.h>
#include <stdlib.h>

#include "diag.h"
#include "log.h"
#include "runtime.h"
#include "task.h"

static void process_log(const gale_process_info_t *info, gale_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gale_logv(level, info->plugin, fmt, ap);
    va_end(ap);
}

/* Whether `d` has hooks already in `list` (the same .so loaded for two components has two descriptor copies). */
static bool listed(const gale_plugin_t *const *list, size_t n, const gale_plugin_t *d)
{
    for (size_t i = 0; i < n; i++)
        if (list[i]->process_init == d->process_init && list[i]->process_exit == d->process_exit) return true;
    return false;
}

void gale__process_exit(gale_process_hooks_t *hooks)
{
    while (hooks->n > 0) {
        const gale_plugin_t *d = hooks->plugins[--hooks->n];
        if (d->process_exit) d->process_exit();
    }
    free(hooks->plugins);
    hooks->plugins = NULL;
}

int gale__process_init_plugin(gale_process_hooks_t *hooks, const char *topology, uint32_t worker_index,
                              uint32_t worker_count, const gale_plugin_t *d)
{
    if ((!d->process_init && !d->process_exit) || listed(hooks->plugins, hooks->n, d)) return 0;
    const gale_plugin_t **grown = realloc(hooks->plugins, (hooks->n + 1) * sizeof *grown);
    if (!grown) return GALE_ENOMEM;
    hooks->plugins = grown;
    gale_process_info_t info = {.size = sizeof info, .topology = topology, .plugin = d->name,
                                .worker_index = worker_index, .worker_count = worker_count, .log = process_log};
    int rc = d->process_init ? d->process_init(&info) : 0;
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "runtime", "process_init of plugin %s failed: %s (%d)", d->name, gale_strerror(rc),
                  rc);
        return GALE_EPLUGIN;
    }
    hooks->plugins[hooks->n++] = d;
    return 0;
}

int gale__process_init(gale_runtime_t *rt, gale_process_hooks_t *hooks)
{
    *hooks = (gale_process_hooks_t){0};
    bool driven = rt->opts.driver && rt->opts.n_workers > 1;
    uint32_t index = driven ? (uint32_t)rt->opts.worker_index : 0, count = driven ? (uint32_t)rt->opts.n_workers : 1;
    for (uint32_t id = 1; id <= rt->n_all_tasks; id++) {
        const gale_task_t *t = rt->tasks[id];
        if (t->acker || rt->task_exec[id] >= rt->n_execs) continue; /* no plugin, or another worker's task */
        int rc = gale__process_init_plugin(hooks, rt->topo->name, index, count, t->desc);
        if (rc) {
            gale__process_exit(hooks);
            return rc;
        }
    }
    return 0;
}
