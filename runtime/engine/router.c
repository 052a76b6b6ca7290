#include "router.h"

#include <stdlib.h>
#include <string.h>

static void free_sub(gale_sub_t *s)
{
    free((void *)s->tasks);
    free((void *)s->local);
}

/* Task ids of `c`, and those of them that are local. */
static int fill_tasks(gale_sub_t *s, const gale_component_t *c, const bool *is_local)
{
    uint32_t n = (uint32_t)c->parallelism;
    uint32_t *tasks = malloc(n * sizeof *tasks), *local = malloc(n * sizeof *local);
    if (!tasks || !local) {
        free(tasks);
        free(local);
        return GALE_ENOMEM;
    }
    uint32_t nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        tasks[i] = c->first_task + i;
        if (!is_local || is_local[tasks[i]]) local[nl++] = tasks[i];
    }
    s->tasks = tasks;
    s->n_tasks = n;
    s->local = local;
    s->n_local = nl;
    return 0;
}

static int add_sub(gale_route_t *route, const gale_topology_t *topo, int target, const gale_input_t *in,
                   const bool *is_local)
{
    gale_sub_t *subs = realloc(route->subs, (route->n_subs + 1) * sizeof *subs);
    if (!subs) return GALE_ENOMEM;
    route->subs = subs;
    gale_sub_t *s = &subs[route->n_subs];
    memset(s, 0, sizeof *s);
    s->grouping = in->grouping;
    s->component = target;
    s->fields = in->field_index;
    s->n_fields = in->n_fields;
    if (topo->config.checkpoint_interval_ms) s->key_groups = (uint32_t)topo->config.state_key_groups;
    int rc = fill_tasks(s, &topo->components[target], is_local);
    if (rc) return rc;
    route->n_subs++;
    if (in->grouping == GALE_GROUPING_DIRECT) route->has_direct = true;
    route->max_fanout += in->grouping == GALE_GROUPING_ALL || in->grouping == GALE_GROUPING_DIRECT ? s->n_tasks : 1;
    return 0;
}

int gale_router_init(gale_router_t *r, const gale_topology_t *topo, const bool *is_local)
{
    r->topo = topo;
    r->routes = calloc(topo->n_components, sizeof *r->routes);
    if (!r->routes) return GALE_ENOMEM;
    for (size_t c = 0; c < topo->n_components; c++) {
        r->routes[c] = calloc(topo->components[c].n_streams ? topo->components[c].n_streams : 1,
                              sizeof(gale_route_t));
        if (!r->routes[c]) goto fail;
    }
    for (size_t t = 0; t < topo->n_components; t++) {
        const gale_component_t *c = &topo->components[t];
        for (size_t i = 0; i < c->n_inputs; i++) {
            const gale_input_t *in = &c->inputs[i];
            if (add_sub(&r->routes[in->from_index][in->stream_index], topo, (int)t, in, is_local)) goto fail;
        }
    }
    return 0;
fail:
    gale_router_destroy(r);
    return GALE_ENOMEM;
}

void gale_router_destroy(gale_router_t *r)
{
    if (!r->routes) return;
    for (size_t c = 0; c < r->topo->n_components; c++) {
        if (!r->routes[c]) continue;
        for (size_t s = 0; s < r->topo->components[c].n_streams; s++) {
            gale_route_t *route = &r->routes[c][s];
            for (size_t i = 0; i < route->n_subs; i++) free_sub(&route->subs[i]);
            free(route->subs);
        }
        free(r->routes[c]);
    }
    free(r->routes);
    r->routes = NULL;
}
