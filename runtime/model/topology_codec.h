/*
 * topology_codec.h: a resolved model as bytes and back, without plugin handles, so that a topology resolved once
 * (by nimbus, later) can be shipped to the hosts that run it, which then need neither the file nor its includes.
 *
 * The bytes are one MessagePack array whose first item is the format version (GALE_TOPOLOGY_FORMAT); then the
 * name, the file and folder it came from, the config (a map of the keys of topology.c's table), the components
 * (name, kind, the plugin as written and the file it was resolved to, parallelism, replay, lines, settings with
 * their types and nested values, inputs with their resolved indexes, declared streams with their fields and whether
 * they are direct, first task, tick interval), the topological order and the number of tasks.
 *
 * Reading trusts nothing: every count is checked against the bytes there (mpread.h), nesting is bounded, every
 * index is checked against what it points into, and the whole is checked to be what resolving gives (spouts first,
 * names unique, the order topological, task ids consecutive, the direct grouping on direct streams and only there).
 * A buffer that is not such a model is refused with "topology model: WHAT (at byte N)" in `diag`.
 */
#ifndef GALE_TOPOLOGY_CODEC_H
#define GALE_TOPOLOGY_CODEC_H

#include <stddef.h>

#include "topology.h"

#define GALE_TOPOLOGY_FORMAT 3 /* 2: streams say whether they are direct; 3: bolts carry their window */

/* Writes resolved `topo`. On success *out is a malloc'd buffer of *len bytes the caller frees. GALE_ESTATE for a
   model that is not resolved, GALE_ENOMEM; *out is untouched on failure. */
int gale_topology_write(const gale_topology_t *topo, char **out, size_t *len);

/*
 * Reads a model written by gale_topology_write. On success *out is a new topology whose plugins are not loaded
 * (each component's plugin_path names the file; see gale_topology_attach); the caller frees it with
 * gale_topology_free. GALE_ENOTSUP for another format version, GALE_ECORRUPT for anything else that is wrong,
 * GALE_ENOMEM; *out is untouched on failure and `diag` says what.
 */
int gale_topology_read(const char *buf, size_t len, gale_topology_t **out, gale_diag_t *diag);

/* Loads the plugin of every component of a read-back model from the file it was resolved to (the built-in
   `shell` by name), with the checks of gale_plugin_load, and checks each is of its component's kind. (A
   descriptor handed to the builder has no file: a model of one is written, but cannot be attached.) On failure
   the model may be partly attached and must only be freed; `diag` names the component and the file. */
int gale_topology_attach(gale_topology_t *topo, gale_diag_t *diag);

/* Reads a model from the file at `path` (at most GALE_TOPOLOGY_MODEL_MAX bytes), its plugins not attached (a
   supervisor loads them in a child first). 0 and *out (free it with gale_topology_free), or a negative code with
   `diag` naming the file. */
#define GALE_TOPOLOGY_MODEL_MAX (64 << 20)
int gale_topology_load_model(const char *path, gale_topology_t **out, gale_diag_t *diag);
/* The same, then attached: what a worker in cluster mode runs from. */
int gale_topology_open_model(const char *path, gale_topology_t **out, gale_diag_t *diag);

#endif
