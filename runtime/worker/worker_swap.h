/*
 * worker_swap.h: a worker's side of a hot swap (control.h, `swap COMPONENT PATH`): the plugin loaded in this
 * process, checked against the component (validate.h, gale_topology_check_swap), and the component's tasks reopened
 * on it (runtime.h, gale__runtime_swap). The plugins loaded for swaps stay loaded until the worker's end: a
 * rollback, or a swap back, reopens a task on one of them.
 */
#ifndef GALE_WORKER_SWAP_H
#define GALE_WORKER_SWAP_H

#include <stdbool.h>
#include <stddef.h>

#include "plugin.h"
#include "runtime.h"

/* What a plugin declares for a component it was swapped into, when more than the component's streams. */
typedef struct gale_swap_decl {
    const gale_plugin_handle_t *h;
    int component;
    gale_stream_t *streams; /* owned */
    size_t n_streams;
} gale_swap_decl_t;

typedef struct gale_swaps {
    gale_plugin_handle_t **h; /* owned, each loaded once by path */
    size_t n;
    gale_swap_decl_t *decl; /* one per (plugin, component) that declares more; they live as long as the tasks */
    size_t n_decl;
} gale_swaps_t;

/* How long the executors have to reopen the tasks. */
#define GALE_SWAP_TIMEOUT_MS 30000

/* Runs the swap `args` ("COMPONENT PATH", PATH "-" for the topology's own plugin) on rt, before its start too. The
   answer for the supervisor into `text` ("COMPONENT" when done, else "COMPONENT WHY"); true when done. */
bool gale_worker_swap(gale_runtime_t *rt, gale_swaps_t *kept, const char *args, char *text, size_t cap);

/* Unloads what was kept (every task closed first). */
void gale_swaps_free(gale_swaps_t *s);

#endif
