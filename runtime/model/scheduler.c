#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

const gale_component_t *gale_schedule_chain_source(const gale_topology_t *topo, const gale_component_t *c)
{
    if (c->n_inputs != 1 || c->inputs[0].grouping != GALE_GROUPING_LOCAL_OR_SHUFFLE) return NULL;
    const gale_component_t *src = &topo->components[c->inputs[0].from_index];
    return src->parallelism == c->parallelism ? src : NULL;
}

void gale_placement_free(gale_placement_t *p)
{
    if (!p) return;
    free(p->worker);
    free(p->thread);
    memset(p, 0, sizeof *p);
}

int gale_schedule(const gale_topology_t *topo, int ackers, int workers, int threads, gale_placement_t *out)
{
    memset(out, 0, sizeof *out);
    if (workers < 1 || threads < 1 || ackers < 0 || workers > UINT16_MAX || threads > UINT16_MAX) return GALE_EINVAL;
    uint32_t n = topo->n_tasks + (uint32_t)ackers;
    uint32_t *slot = calloc(n + 1, sizeof *slot);
    out->worker = calloc(n + 1, sizeof *out->worker);
    out->thread = calloc(n + 1, sizeof *out->thread);
    if (!slot || !out->worker || !out->thread) {
        free(slot);
        gale_placement_free(out);
        return GALE_ENOMEM;
    }
    out->n_tasks = n;
    out->workers = workers;
    out->threads = threads;
    uint32_t slots = (uint32_t)workers * (uint32_t)threads, next = 0;
    for (size_t k = 0; k < topo->n_components; k++) {
        const gale_component_t *c = &topo->components[topo->order[k]];
        const gale_component_t *src = gale_schedule_chain_source(topo, c);
        for (int i = 0; i < c->parallelism; i++)
            slot[c->first_task + (uint32_t)i] = src ? slot[src->first_task + (uint32_t)i] : next++ % slots;
    }
    for (int i = 0; i < ackers; i++) slot[topo->n_tasks + 1 + (uint32_t)i] = next++ % slots;
    for (uint32_t id = 1; id <= n; id++) {
        out->worker[id] = (uint16_t)(slot[id] % (uint32_t)workers);
        out->thread[id] = (uint16_t)(slot[id] / (uint32_t)workers);
    }
    free(slot);
    return 0;
}

int gale_schedule_threads(int requested, int configured, long cores, uint32_t tasks)
{
    long n = requested > 0 ? requested : configured > 0 ? configured : cores > 0 ? cores : 1;
    if (n > (long)tasks) n = (long)tasks;
    return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

int gale_schedule_share_cores(int workers_here, long cores)
{
    long n = cores > 0 && workers_here > 0 ? cores / workers_here : 1;
    return n < 1 ? 1 : (int)n;
}

int gale_schedule_spread(const int *free_slots, int n, int workers, int *out)
{
    long total = 0;
    for (int i = 0; i < n; i++) total += free_slots[i] > 0 ? free_slots[i] : 0;
    if (workers < 0 || total < workers) return GALE_ELIMIT;
    int *left = calloc(n > 0 ? (size_t)n : 1, sizeof *left);
    if (!left) return GALE_ENOMEM;
    for (int i = 0; i < n; i++) left[i] = free_slots[i] > 0 ? free_slots[i] : 0;
    for (int k = 0, at = 0; k < workers; k++) {
        while (left[at] == 0) at = (at + 1) % n;
        out[k] = at;
        left[at]--;
        at = (at + 1) % n;
    }
    free(left);
    return 0;
}
