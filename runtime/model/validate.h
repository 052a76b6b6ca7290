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
 * Hot swap: whether plugin `h` (loaded, borrowed) may replace the plugin of bolt `component` of resolved topology
 * `topo` while it runs: a bolt, the component's settings declared by it with the right types, and its declare giving
 * exactly the streams and fields the component has (subscribers and groupings rely on them). Runs the new plugin's
 * declare only. 0, or GALE_ETOPOLOGY with the reason in `diag` (the plugin's file and the component named).
 */
int gale_topology_check_swap(const gale_topology_t *topo, int component, const gale_plugin_handle_t *h,
                             gale_diag_t *diag);

#endif
