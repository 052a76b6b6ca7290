/*
 * The scheduler (scheduler.h): Storm's even spread over (worker, thread) slots, chaining, the ackers after the
 * topology's tasks, threads per process and per worker, and the same assignment for the same input.
 */
#include <criterion/criterion.h>

#include "scheduler.h"
#include "topology_build.h"

static const gale_plugin_t SPOUT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "s",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"w", NULL}, .direct = false}, {NULL}}};
static const gale_plugin_t BOLT = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_BOLT,
    .name = "b",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"w", NULL}, .direct = false}, {NULL}}};

/* spout x1 -> split x3 (shuffle) -> count x2 (fields) */
static gale_topology_t *wordcount(void)
{
    gale_topology_t *t = gale_topology_new("wc");
    t->config.ackers = 1;
    int s = gale_topology_add(t, "sentences", &SPOUT, 1);
    int split = gale_topology_add(t, "split", &BOLT, 3);
    int count = gale_topology_add(t, "count", &BOLT, 2);
    gale_topology_add_input(t, split, t->components[s].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_topology_add_input(t, count, t->components[split].name, NULL, GALE_GROUPING_FIELDS, (const char *[]){"w"}, 1);
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    return t;
}

Test(scheduler, spreads_over_workers_first_then_threads)
{
    gale_topology_t *t = wordcount();
    gale_placement_t p;
    cr_assert_eq(gale_schedule(t, 2, 2, 2, &p), 0);
    cr_assert_eq(p.n_tasks, 8);
    /* Slot k is worker k % 2, thread k / 2, and slots wrap after 4: tasks 1..6, then ackers 7 and 8. */
    const int worker[] = {0, 0, 1, 0, 1, 0, 1, 0, 1};
    const int thread[] = {0, 0, 0, 1, 1, 0, 0, 1, 1};
    for (uint32_t id = 1; id <= p.n_tasks; id++) {
        cr_assert_eq(p.worker[id], worker[id], "task %u", id);
        cr_assert_eq(p.thread[id], thread[id], "task %u", id);
    }
    gale_placement_free(&p);
    gale_topology_free(t);
}

Test(scheduler, every_slot_gets_its_share)
{
    gale_topology_t *t = gale_topology_new("many");
    t->config.ackers = 0;
    int s = gale_topology_add(t, "s", &SPOUT, 7);
    int b = gale_topology_add(t, "b", &BOLT, 13);
    gale_topology_add_input(t, b, t->components[s].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    gale_placement_t p;
    cr_assert_eq(gale_schedule(t, 0, 3, 2, &p), 0);
    int per_slot[3][2] = {{0}};
    for (uint32_t id = 1; id <= p.n_tasks; id++) {
        cr_assert_lt(p.worker[id], 3);
        cr_assert_lt(p.thread[id], 2);
        per_slot[p.worker[id]][p.thread[id]]++;
    }
    /* 20 tasks over 6 slots: 3 or 4 each. */
    for (int w = 0; w < 3; w++)
        for (int k = 0; k < 2; k++) cr_assert(per_slot[w][k] == 3 || per_slot[w][k] == 4, "%d/%d", w, k);
    gale_placement_free(&p);
    gale_topology_free(t);
}

Test(scheduler, a_chained_component_shares_its_sources_slots)
{
    gale_topology_t *t = gale_topology_new("chain");
    t->config.ackers = 1;
    int s = gale_topology_add(t, "s", &SPOUT, 2);
    int chained = gale_topology_add(t, "near", &BOLT, 2);
    int apart = gale_topology_add(t, "far", &BOLT, 3); /* local_or_shuffle, but another parallelism: not chained */
    gale_topology_add_input(t, chained, t->components[s].name, NULL, GALE_GROUPING_LOCAL_OR_SHUFFLE, NULL, 0);
    gale_topology_add_input(t, apart, t->components[chained].name, NULL, GALE_GROUPING_LOCAL_OR_SHUFFLE, NULL, 0);
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    cr_assert_eq(gale_schedule_chain_source(t, &t->components[chained]), &t->components[s]);
    cr_assert_null(gale_schedule_chain_source(t, &t->components[apart]));
    cr_assert_null(gale_schedule_chain_source(t, &t->components[s]));
    gale_placement_t p;
    cr_assert_eq(gale_schedule(t, 1, 2, 2, &p), 0);
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t src = t->components[s].first_task + i, near = t->components[chained].first_task + i;
        cr_assert_eq(p.worker[near], p.worker[src]);
        cr_assert_eq(p.thread[near], p.thread[src]);
    }
    /* The chained tasks take no slot of their own: "far" goes on where the spout left off. */
    uint32_t far0 = t->components[apart].first_task;
    cr_assert_eq(p.worker[far0], 0);
    cr_assert_eq(p.thread[far0], 1);
    gale_placement_free(&p);
    gale_topology_free(t);
}

Test(scheduler, the_same_input_gives_the_same_assignment)
{
    gale_topology_t *t = wordcount();
    gale_placement_t a, b;
    cr_assert_eq(gale_schedule(t, 3, 3, 4, &a), 0);
    cr_assert_eq(gale_schedule(t, 3, 3, 4, &b), 0);
    cr_assert_eq(a.n_tasks, b.n_tasks);
    cr_assert_arr_eq(a.worker, b.worker, (a.n_tasks + 1) * sizeof *a.worker);
    cr_assert_arr_eq(a.thread, b.thread, (a.n_tasks + 1) * sizeof *a.thread);
    gale_placement_free(&a);
    gale_placement_free(&b);
    gale_topology_free(t);
}

Test(scheduler, one_slot_holds_everything_and_bad_sizes_are_refused)
{
    gale_topology_t *t = wordcount();
    gale_placement_t p;
    cr_assert_eq(gale_schedule(t, 1, 1, 1, &p), 0);
    for (uint32_t id = 1; id <= p.n_tasks; id++) cr_assert(p.worker[id] == 0 && p.thread[id] == 0);
    gale_placement_free(&p);
    cr_assert_eq(gale_schedule(t, 1, 0, 1, &p), GALE_EINVAL);
    cr_assert_null(p.worker);
    cr_assert_eq(gale_schedule(t, 1, 1, 0, &p), GALE_EINVAL);
    cr_assert_eq(gale_schedule(t, -1, 1, 1, &p), GALE_EINVAL);
    gale_placement_free(&p); /* an empty placement frees as a no-op */
    gale_placement_free(NULL);
    gale_topology_free(t);
}

Test(scheduler, threads_per_process)
{
    cr_assert_eq(gale_schedule_threads(3, 8, 2, 100), 3, "asked for");
    cr_assert_eq(gale_schedule_threads(0, 8, 2, 100), 8, "configured");
    cr_assert_eq(gale_schedule_threads(0, 0, 2, 100), 2, "one per core");
    cr_assert_eq(gale_schedule_threads(0, 0, -1, 100), 1, "cores unknown");
    cr_assert_eq(gale_schedule_threads(16, 0, 2, 5), 5, "no more than the tasks");
    cr_assert_eq(gale_schedule_threads(100000, 0, 2, 1000000), 4096, "capped");
    cr_assert_eq(gale_schedule_threads(0, 0, 2, 0), 1, "at least one");
}

Test(scheduler, workers_of_a_host_share_its_cores)
{
    cr_assert_eq(gale_schedule_share_cores(2, 2), 1);
    cr_assert_eq(gale_schedule_share_cores(2, 8), 4);
    cr_assert_eq(gale_schedule_share_cores(3, 8), 2);
    cr_assert_eq(gale_schedule_share_cores(16, 8), 1, "at least one");
    cr_assert_eq(gale_schedule_share_cores(0, 8), 1);
    cr_assert_eq(gale_schedule_share_cores(2, -1), 1, "cores unknown");
}

Test(scheduler, spread_puts_one_worker_on_each_supervisor_first)
{
    const int free_slots[] = {2, 2, 2};
    int out[3] = {-1, -1, -1};
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 3, out), 0);
    for (int k = 0; k < 3; k++) cr_assert_eq(out[k], k, "slot %d", k);
}

Test(scheduler, spread_doubles_up_only_once_every_supervisor_has_one)
{
    const int free_slots[] = {2, 2, 2};
    int out[4] = {-1, -1, -1, -1};
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 4, out), 0);
    const int want[] = {0, 1, 2, 0};
    for (int k = 0; k < 4; k++) cr_assert_eq(out[k], want[k], "slot %d", k);
    cr_assert_eq(free_slots[0], 2, "the free counts are borrowed, not spent");
}

Test(scheduler, spread_skips_a_supervisor_with_no_free_slot)
{
    const int free_slots[] = {1, 0, 3};
    int out[4] = {-1, -1, -1, -1};
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 4, out), 0);
    /* 0, (1 is full), 2, then 0 has no slot left either: 2 takes the rest. */
    const int want[] = {0, 2, 2, 2};
    for (int k = 0; k < 4; k++) cr_assert_eq(out[k], want[k], "slot %d", k);
}

Test(scheduler, spread_refuses_more_workers_than_free_slots_and_leaves_out_untouched)
{
    const int free_slots[] = {1, 0, 2};
    int out[4] = {-7, -7, -7, -7};
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 4, out), GALE_ELIMIT);
    for (int k = 0; k < 4; k++) cr_assert_eq(out[k], -7, "slot %d written", k);
    cr_assert_eq(gale_schedule_spread(free_slots, 0, 1, out), GALE_ELIMIT, "no supervisors");
    cr_assert_eq(out[0], -7);
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 3, out), 0, "exactly enough");
}

Test(scheduler, spread_of_no_workers_over_no_supervisors_is_nothing_to_do)
{
    int out[1] = {-7};
    cr_assert_eq(gale_schedule_spread(NULL, 0, 0, out), 0);
    cr_assert_eq(out[0], -7);
}

Test(scheduler, spread_counts_a_negative_free_count_as_none)
{
    const int free_slots[] = {-5, 1, 1};
    int out[3] = {-7, -7, -7};
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 3, out), GALE_ELIMIT, "2 free slots, not 3");
    cr_assert_eq(out[0], -7);
    cr_assert_eq(gale_schedule_spread(free_slots, 3, 2, out), 0);
    cr_assert_eq(out[0], 1);
    cr_assert_eq(out[1], 2);
}
