/*
 * run_workers.h: `gale run --workers N`: one supervisor (supervisor.h) with every slot of the topology, on a loop of
 * its own, ended by the topology finishing, --duration, or SIGINT/SIGTERM (the drain rule of drain.h).
 */
#ifndef GALE_RUN_WORKERS_H
#define GALE_RUN_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "supervisor.h"
#include "topology.h"

/* Something that lives on the run's loop beside the supervisor (the HTTP endpoint): started once the workers are,
   stopped when they have all ended, both on the loop. A start that fails stops the run. */
typedef struct gale_run_workers_watcher {
    int (*start)(uv_loop_t *loop, gale_sup_t *sup, void *arg);
    void (*stop)(void *arg);
    void *arg;
} gale_run_workers_watcher_t;

typedef struct gale_run_workers_opts {
    const char *exe;            /* the gale binary to run as `gale worker` */
    const char *file;           /* the topology file */
    const char *const *sets;    /* the --set assignments, passed on to the workers */
    size_t n_sets;
    int workers, threads;
    double duration_s;
    bool quiet;
    const char *stats; /* write the merged metrics there as JSON, as `gale run --stats` does */
    bool fresh_state;  /* checkpoints: wipe the topology's state first (`gale run --fresh`) */
    const char *tls;   /* DIR/NAME: TLS between the workers (gale_assignment_t); NULL: in clear */
    const gale_run_workers_watcher_t *watcher; /* NULL: none (borrowed) */
} gale_run_workers_opts_t;

/* `gale run --workers N`: runs the topology in worker processes until it ends, on a loop of its own, stopping on
   SIGINT/SIGTERM. 0 when every worker ended cleanly; GALE_EPLUGIN when a worker failed to open its tasks. */
int gale_run_workers(const gale_topology_t *topo, const gale_run_workers_opts_t *opts);

#endif
