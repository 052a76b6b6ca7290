/*
 * process.h: the plugins' process hooks (gale.h's process_init and process_exit) around one run.
 *
 * gale_runtime_run calls gale__process_init before the executors start and gale__process_exit after they are
 * joined. The plugins are those of the tasks this process runs (a worker's, not the whole topology's; the
 * descriptor tasks run, so `gale replay`'s spouts count as the replay spout), each once however many components
 * use it. Both run on the control thread.
 */
#ifndef GALE_PROCESS_H
#define GALE_PROCESS_H

#include "gale.h"

struct gale_runtime;

typedef struct gale_process_hooks {
    const gale_plugin_t **plugins; /* initialised: one descriptor per distinct pair of hooks, in order */
    size_t n;
} gale_process_hooks_t;

/* Calls process_init of each plugin the process runs tasks of, in task order. 0, or GALE_EPLUGIN (logged with the
   plugin's name and the code) after calling process_exit of those already initialised, in reverse; GALE_ENOMEM.
   On failure *hooks holds nothing. */
int gale__process_init(struct gale_runtime *rt, gale_process_hooks_t *hooks);
/* Calls process_init of `d` unless *hooks has a plugin with the same hooks (or `d` has none), and adds it to
   *hooks when it succeeded. 0; GALE_EPLUGIN (logged, naming the plugin) or GALE_ENOMEM, *hooks unchanged. For a
   caller that runs plugins without a runtime (`gale replay` of one bolt). *hooks starts zeroed. */
int gale__process_init_plugin(gale_process_hooks_t *hooks, const char *topology, uint32_t worker_index,
                              uint32_t worker_count, const gale_plugin_t *d);
/* Calls process_exit of every plugin initialised, in reverse order, and frees *hooks. */
void gale__process_exit(gale_process_hooks_t *hooks);

#endif
