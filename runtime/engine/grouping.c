#include "grouping.h"

#include <stdlib.h>

#define PARTIAL_KEY_SEED2 0x5bd1e9955bd1e995ull

int gale_sub_state_init(gale_sub_state_t *st, const gale_sub_t *sub, uint64_t seed)
{
    uint32_t n = sub->grouping == GALE_GROUPING_LOCAL_OR_SHUFFLE && sub->n_local ? sub->n_local : sub->n_tasks;
    st->next = n ? (uint32_t)(seed % n) : 0;
    st->loads = NULL;
    st->near = NULL;
    st->n_near = 0;
    if (sub->grouping == GALE_GROUPING_PARTIAL_KEY) {
        st->loads = calloc(sub->n_tasks ? sub->n_tasks : 1, sizeof(uint64_t));
        if (!st->loads) return GALE_ENOMEM;
    }
    return 0;
}

int gale_sub_state_set_near(gale_sub_state_t *st, const uint32_t *tasks, uint32_t n)
{
    free(st->near);
    st->near = NULL;
    st->n_near = 0;
    if (!n) return 0;
    st->near = malloc(n * sizeof *st->near);
    if (!st->near) return GALE_ENOMEM;
    for (uint32_t i = 0; i < n; i++) st->near[i] = tasks[i];
    st->n_near = n;
    st->next %= n;
    return 0;
}

void gale_sub_state_destroy(gale_sub_state_t *st)
{
    free(st->loads);
    free(st->near);
    st->loads = NULL;
    st->near = NULL;
}

static uint32_t round_robin(gale_sub_state_t *st, const uint32_t *tasks, uint32_t n)
{
    uint32_t i = st->next;
    if (i >= n) i = 0;
    st->next = i + 1 == n ? 0 : i + 1;
    return tasks[i];
}

size_t gale_grouping_select(const gale_sub_t *sub, gale_sub_state_t *st, const gale_tuple_data_t *d,
                            uint32_t *out)
{
    switch (sub->grouping) {
    case GALE_GROUPING_SHUFFLE:
    case GALE_GROUPING_NONE:
        out[0] = round_robin(st, sub->tasks, sub->n_tasks);
        return 1;
    case GALE_GROUPING_LOCAL_OR_SHUFFLE:
        if (st->n_near) out[0] = round_robin(st, st->near, st->n_near);
        else if (sub->n_local) out[0] = round_robin(st, sub->local, sub->n_local);
        else out[0] = round_robin(st, sub->tasks, sub->n_tasks);
        return 1;
    case GALE_GROUPING_FIELDS: {
        uint64_t h = gale__tuple_hash_fields(d, sub->fields, sub->n_fields, 0);
        out[0] = sub->tasks[sub->key_groups ? (uint32_t)(h % sub->key_groups * sub->n_tasks / sub->key_groups)
                                            : (uint32_t)(h % sub->n_tasks)];
        return 1;
    }
    case GALE_GROUPING_PARTIAL_KEY: {
        uint32_t a = (uint32_t)(gale__tuple_hash_fields(d, sub->fields, sub->n_fields, 0) % sub->n_tasks);
        uint32_t b = (uint32_t)(gale__tuple_hash_fields(d, sub->fields, sub->n_fields, PARTIAL_KEY_SEED2) %
                                sub->n_tasks);
        uint32_t pick = st->loads[b] < st->loads[a] ? b : a;
        st->loads[pick]++;
        out[0] = sub->tasks[pick];
        return 1;
    }
    case GALE_GROUPING_ALL:
        for (uint32_t i = 0; i < sub->n_tasks; i++) out[i] = sub->tasks[i];
        return sub->n_tasks;
    case GALE_GROUPING_GLOBAL:
        out[0] = sub->tasks[0];
        return 1;
    case GALE_GROUPING_DIRECT:
        return 0;
    }
    return 0;
}

int gale_sub_has_task(const gale_sub_t *sub, uint32_t task)
{
    for (uint32_t i = 0; i < sub->n_tasks; i++)
        if (sub->tasks[i] == task) return 1;
    return 0;
}
