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

#endif
