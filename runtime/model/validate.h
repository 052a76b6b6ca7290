/*
 * validate.h: a read or built topology resolved against its plugins (validate.c).
 */
#ifndef GALE_VALIDATE_H
#define GALE_VALIDATE_H

#include "diag.h"
#include "topology.h"

/*
 * Loads each component's plugin (see gale_plugin_resolve_path for where it is looked for), runs the declares,
 * and checks the graph: subscriptions to declared streams, fields groupings on declared fields, settings against
 * the plugins' declared settings, no cycles. Assigns task ids and the topological order.
 * On failure the topology may be partly resolved and must only be freed.
 */
int gale_topology_resolve(gale_topology_t *topo, gale_diag_t *diag);

/*
 * Hot swap: whether plugin `h` (loaded, borrowed) may replace the plugin of component `component` of resolved
 * topology `topo` while it runs: of its kind, the component's settings declared by it with the right types, and its declare giving
 * the streams the component has, each with the same fields in the same order (subscribers and groupings rely on
 * them), or a superset: more streams, or more fields after a stream's own. Runs the new plugin's declare only.
 * 0, or GALE_ETOPOLOGY with the reason in `diag` (the plugin's file and the component named). When the new
 * plugin's streams are a strict superset and `streams` is not NULL, *streams / *n_streams get them (the caller
 * owns them: gale_streams_free); else NULL and 0.
 */
int gale_topology_check_swap(const gale_topology_t *topo, int component, const gale_plugin_handle_t *h,
                             gale_stream_t **streams, size_t *n_streams, gale_diag_t *diag);

#endif
