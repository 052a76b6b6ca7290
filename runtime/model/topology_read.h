/*
 * topology_read.h: a topology file (libconfig) into the model of topology.h, with the `--set` overrides applied to
 * the file's tree before the model is made, and every file it names checked before it is opened (a regular file
 * of bounded size, `@include` too).
 */
#ifndef GALE_TOPOLOGY_READ_H
#define GALE_TOPOLOGY_READ_H

#include <stddef.h>

#include "diag.h"
#include "topology.h"

/* An override from `--set COMPONENT.KEY=VALUE` or `--set config.KEY=VALUE`. VALUE is read as libconfig reads a
   scalar: an integer, a float, true/false, a "quoted string", and anything else as a plain string. */
typedef struct gale_override {
    const char *assignment; /* borrowed */
} gale_override_t;

/*
 * Reads and checks the file's syntax and structure (names, keys, types, groupings, parallelism), applying the
 * overrides. Does not load plugins: see gale_topology_resolve().
 * On success *out is a new topology the caller frees with gale_topology_free(). On failure *out is untouched
 * and `diag` says "FILE:LINE: what".
 */
int gale_topology_load(const char *path, const gale_override_t *overrides, size_t n_overrides,
                       gale_topology_t **out, gale_diag_t *diag);

/* Loads and resolves: what every command that reads a topology calls. */
int gale_topology_open(const char *path, const gale_override_t *overrides, size_t n_overrides,
                       gale_topology_t **out, gale_diag_t *diag);

#endif
