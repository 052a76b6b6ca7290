/*
 * topo_build.h: builds a resolved topology in C, for tests that run the engine with plugins defined in the test
 * itself (their descriptors are passed directly, nothing is loaded). Components are added in topological order.
 */
#ifndef GALE_TOPO_BUILD_H
#define GALE_TOPO_BUILD_H

#include "topology.h"

gale_topology_t *tb_new(const char *name, int ackers);
/* Adds a component whose streams are the descriptor's static `streams`; returns its index. */
int tb_add(gale_topology_t *t, const char *name, const gale_plugin_t *desc, int parallelism);
/* Subscribes `to` to `from`'s stream (NULL: default) with a grouping; `field` for fields grouping (or NULL). */
void tb_input(gale_topology_t *t, int to, int from, const char *stream, gale_grouping_t g, const char *field);
void tb_setting_int(gale_topology_t *t, int comp, const char *key, int64_t value);
/* Assigns task ids and the order; call once, after the last tb_add/tb_input. */
void tb_done(gale_topology_t *t);
void tb_free(gale_topology_t *t);

#endif
