/*
 * topology_build.h: a topology made in C instead of read from a file: for tests that run the engine with plugins
 * defined in the test itself, and for programs that make topologies of their own.
 *
 * The calls make an unresolved model, as gale_topology_load() does from a file; gale_topology_build() then checks
 * what a file's reader checks of the whole (a spout at least, inputs for every bolt) and resolves the model with
 * gale_topology_resolve(), so that a built topology gets the same checks and errors as a file: an input from an
 * unknown component, a fields grouping on an undeclared field, a cycle, a setting the plugin does not declare.
 * Those errors read "(built): bolt 'NAME': what", since there is no file and no line.
 *
 * Each add or set call checks its own arguments (names, parallelism, groupings and their fields) and on failure
 * returns a negative code and leaves the topology as it was. Components are added spouts first (the model keeps
 * spouts before bolts); the returned index is the component's index in topo->components.
 *
 * Ownership: everything given is copied, except a plugin descriptor, which is borrowed and must outlive the
 * topology (it is a static constant in practice). The topology is freed with gale_topology_free().
 */
#ifndef GALE_TOPOLOGY_BUILD_H
#define GALE_TOPOLOGY_BUILD_H

#include "topology.h"

/* A new, empty topology named `name`, with every config key at its default; NULL when out of memory or when
   `name` is NULL. Plugins named by path are looked for from the current directory. */
gale_topology_t *gale_topology_new(const char *name);

/* Adds a component run by `desc` (its kind is the descriptor's), used as it is: nothing is loaded. Returns the
   component's index, or GALE_EINVAL (bad name, parallelism not 1..65535, no descriptor), GALE_EEXIST (the name is
   taken), GALE_ESTATE (a spout after a bolt), GALE_ENOMEM. */
int gale_topology_add(gale_topology_t *topo, const char *name, const gale_plugin_t *desc, int parallelism);

/* Adds a component whose plugin is named as in a file (`plugin = "word_count";`, a path, or "shell"): it is
   loaded by gale_topology_build(). Returns the index or a code, as gale_topology_add(). */
int gale_topology_add_plugin(gale_topology_t *topo, const char *name, gale_kind_t kind, const char *plugin,
                             int parallelism);

/* Subscribes bolt `to` to stream `stream` (NULL: "default") of the component named `from` (checked when built)
   with grouping `g`; `fields` (n_fields of them) for the fields and partial_key groupings, which need at least
   one, and NULL otherwise. 0, or GALE_ERANGE (`to` is not a bolt), GALE_EINVAL, GALE_ENOMEM. */
int gale_topology_add_input(gale_topology_t *topo, int to, const char *from, const char *stream, gale_grouping_t g,
                            const char *const *fields, size_t n_fields);

/* Sets component `comp`'s setting `key` to a copy of `value` (any tree of nil, bools, numbers, strings, lists and
   groups with string keys), replacing an earlier one. Checked against the plugin's declared settings when built.
   0, or GALE_ERANGE (no such component), GALE_EINVAL (no key, bytes in the value), GALE_ENOMEM. */
int gale_topology_set(gale_topology_t *topo, int comp, const char *key, const gale_value_t *value);
int gale_topology_set_int(gale_topology_t *topo, int comp, const char *key, int64_t value);
int gale_topology_set_double(gale_topology_t *topo, int comp, const char *key, double value);
int gale_topology_set_bool(gale_topology_t *topo, int comp, const char *key, bool value);
int gale_topology_set_str(gale_topology_t *topo, int comp, const char *key, const char *value);

/* Managed replay for spout `comp` (`replay = true;` in a file). GALE_ERANGE when `comp` is not a spout. */
int gale_topology_set_replay(gale_topology_t *topo, int comp, bool replay);

/* Bolt `comp`'s tick tuple interval in seconds (`tick_s = 5;` in its block), over config.tick_s. GALE_ERANGE when
   `comp` is not a bolt, GALE_EINVAL outside 0..86400. */
int gale_topology_set_tick(gale_topology_t *topo, int comp, double seconds);

/* Sets topology-wide config key `key` (a name of the table of config keys) as `config = { KEY = VALUE; }` does,
   with the same checks of type and range. 0, or GALE_ENOENT (no such key) / GALE_EINVAL with "config.KEY ..." in
   `diag`; the config is unchanged on failure. */
int gale_topology_config(gale_topology_t *topo, const char *key, const gale_value_t *value, gale_diag_t *diag);

/* Checks the whole and resolves it (gale_topology_resolve). Call once, after the last add or set. On failure the
   topology may be partly resolved and must only be freed. */
int gale_topology_build(gale_topology_t *topo, gale_diag_t *diag);

#endif
