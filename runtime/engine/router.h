/*
 * router.h: for every (component, stream), the compiled list of its subscriptions, built once from a resolved
 * topology. Read-only while running; each emitting task keeps its own gale_sub_state_t per subscription.
 */
#ifndef GALE_ROUTER_H
#define GALE_ROUTER_H

#include <stdbool.h>

#include "grouping.h"
#include "topology.h"

typedef struct gale_route {
    gale_sub_t *subs;
    size_t n_subs;
    uint32_t max_fanout; /* the most deliveries one emit can make: the sum of each subscription's most */
    bool has_direct;     /* some subscription uses the direct grouping */
} gale_route_t;

typedef struct gale_router {
    gale_route_t **routes; /* routes[component][stream] */
    const gale_topology_t *topo;
} gale_router_t;

/* Builds the routes. `is_local[task_id]` (n_tasks + 1 entries, may be NULL for "all local") says which tasks run in
   this process, for local_or_shuffle. 0 or GALE_ENOMEM (then nothing is left allocated). */
int gale_router_init(gale_router_t *r, const gale_topology_t *topo, const bool *is_local);
void gale_router_destroy(gale_router_t *r);

static inline const gale_route_t *gale_router_route(const gale_router_t *r, int component, int stream)
{
    return &r->routes[component][stream];
}

#endif
