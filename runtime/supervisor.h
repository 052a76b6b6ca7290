/*
 * supervisor.h: `gale run --workers N`: N worker processes (`gale worker`) on this host, started, told each other's
 * ports, driven through the same lifecycle as local mode (run, drain, finish in topological order, stop) from the
 * status they report, restarted with backoff when one exits, and their figures summed at the end.
 *
 * A worker's figures die with it: after a restart, the table counts only its last life.
 */
#ifndef GALE_SUPERVISOR_H
#define GALE_SUPERVISOR_H

#include "topology.h"

typedef struct gale_supervise_opts {
    const char *exe;            /* the gale binary to run as `gale worker` */
    const char *file;           /* the topology file */
    const char *const *sets;    /* the --set assignments, passed on to the workers */
    size_t n_sets;
    int workers, threads;
    double duration_s;
    bool quiet;
    const char *stats; /* write the merged figures there as JSON, as `gale run --stats` does */
} gale_supervise_opts_t;

/* Runs the topology in worker processes until it ends. 0 when every worker ended cleanly; GALE_EPLUGIN when a
   worker failed to open its tasks. */
int gale_supervise(const gale_topology_t *topo, const gale_supervise_opts_t *opts);

#endif
