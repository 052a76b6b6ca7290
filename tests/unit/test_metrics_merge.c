/* metrics_merge.c: the metrics of several workers merged: counts summed, histograms merged into exact quantiles
   (not the worst worker's), a document that does not parse left out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics_out.h"
#include "metrics_merge.h"
#include "topology_build.h"

static const gale_plugin_t spout = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "s",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}, .direct = false}, {NULL}}};
static const gale_plugin_t bolt = {.abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT,
                                   .name = "b"};

/* gale_metrics_json of one component, with the histograms. */
static void comp_json(gale_buf_t *b, const char *name, gale_kind_t kind, int tasks, const gale_task_metrics_t *m,
                      uint32_t first_task, const gale_task_metrics_t *per_task)
{
    gale_metrics_doc_t doc = {
        .name = name, .kind = kind, .tasks = tasks, .first_task = first_task, .m = m, .per_task = per_task};
    gale_metrics_json(b, &doc, true);
}

/* One worker's document, as gale_runtime_metrics_json writes it in a worker: `n_fast` executes of 1 us and `n_slow`
   of 1 ms in bolt "work". */
static char *worker_doc(double secs, int n_fast, int n_slow)
{
    gale_task_metrics_t src = {.emitted = 10, .acked = 10}, work = {.executed = (uint64_t)(n_fast + n_slow)};
    for (int i = 0; i < n_fast; i++) gale_hist_add(&work.exec, 1000);
    for (int i = 0; i < n_slow; i++) gale_hist_add(&work.exec, 1000000);
    gale_buf_t b = {0};
    gale_buf_printf(&b, "{\"topology\": \"t\", \"seconds\": %.3f, \"threads\": 1, \"peak_rss_kb\": 1000, \"components\": [", secs);
    comp_json(&b, "src", GALE_SPOUT, 1, &src, 1, NULL);
    gale_buf_puts(&b, ", ");
    comp_json(&b, "work", GALE_BOLT, 2, &work, 2, NULL);
    gale_buf_puts(&b, "]}");
    return b.p;
}

static char *merged_with(const gale_topology_t *t, const char *const *docs, int n, gale_sup_losses_t l, bool mergeable)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(gale_metrics_merged_json(t, docs, n, &l, mergeable, f), 0);
    fclose(f);
    return text;
}

static char *merged_json(const gale_topology_t *t, const char *const *docs, int n)
{
    return merged_with(t, docs, n, (gale_sup_losses_t){0}, false);
}

static gale_topology_t *topology(void)
{
    gale_topology_t *t = gale_topology_new("t");
    t->config.ackers = 0;
    int s = gale_topology_add(t, "src", &spout, 1);
    int w = gale_topology_add(t, "work", &bolt, 2);
    gale_topology_add_input(t, w, t->components[s].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    return t;
}

Test(metrics_merge, quantiles_come_from_the_merged_histograms)
{
    gale_topology_t *t = topology();
    /* Worker 0: 998 fast executes; worker 1: 1 fast, 1 slow. The worst worker's p99 would be 1 ms; the merged
       p99 of 1000 executes with one slow is 1 us, and p999 is 1 ms. */
    char *a = worker_doc(2.0, 998, 0), *b = worker_doc(3.0, 1, 1);
    const char *docs[] = {a, b};
    char *json = merged_json(t, docs, 2);
    cr_assert_not_null(strstr(json, "\"seconds\": 3.000000, \"workers\": 2, \"threads\": 2, \"peak_rss_kb\": 2000"),
                       "%s", json);
    cr_assert_not_null(strstr(json, "{\"name\": \"src\", \"kind\": \"spout\", \"tasks\": 1, \"emitted\": 20, "
                                    "\"transferred\": 0, \"executed\": 0, \"acked\": 20"),
                       "%s", json);
    cr_assert_not_null(strstr(json, "{\"name\": \"work\", \"kind\": \"bolt\", \"tasks\": 2, \"emitted\": 0, "
                                    "\"transferred\": 0, \"executed\": 1000"),
                       "%s", json);
    const char *work = strstr(json, "{\"name\": \"work\"");
    const char *p99 = strstr(work, "\"exec_us_p99\": "), *p999 = strstr(work, "\"exec_us_p999\": ");
    cr_assert(p99 && p999, "%s", json);
    double v99 = atof(p99 + strlen("\"exec_us_p99\": ")), v999 = atof(p999 + strlen("\"exec_us_p999\": "));
    cr_assert(v99 >= 1.0 && v99 < 1.2, "p99 %f us", v99);
    cr_assert(v999 >= 1000 && v999 < 1100, "p999 %f us", v999);
    cr_assert_not_null(strstr(work, "\"exec_mean_us\": 1.999"), "%s", json);
    free(json), free(a), free(b);
    gale_topology_free(t);
}

Test(metrics_merge, a_worker_without_metrics_or_with_broken_ones_is_left_out)
{
    gale_topology_t *t = topology();
    char *a = worker_doc(1.0, 5, 0);
    const char *docs[] = {a, NULL, "{\"components\": [ {\"name\": \"work\", \"executed\": 7, \"hist\": {\"exec\": [1]}} ]}",
                          "{not json"};
    char *json = merged_json(t, docs, 4);
    cr_assert_not_null(strstr(json, "\"executed\": 5"), "%s", json);
    free(json), free(a);
    gale_topology_free(t);
}

/* A document whose bolt "work" had its last error at `ms` in `task`. */
static char *doc_with_error(int64_t ms, uint32_t task, const char *text)
{
    gale_task_metrics_t src = {0}, work = {.errors = 1, .last_error = {.time_ms = ms, .task = task}};
    snprintf(work.last_error.text, sizeof work.last_error.text, "%s", text);
    gale_buf_t b = {0};
    gale_buf_puts(&b, "{\"topology\": \"t\", \"seconds\": 1, \"threads\": 1, \"peak_rss_kb\": 1, \"components\": [");
    comp_json(&b, "src", GALE_SPOUT, 1, &src, 1, NULL);
    gale_buf_puts(&b, ", ");
    comp_json(&b, "work", GALE_BOLT, 2, &work, 2, NULL);
    gale_buf_puts(&b, "]}");
    return b.p;
}

/* Storm UI's lastError: of the workers' last errors, the latest is the component's, with its task and time, and
   its text as it was (a quote in it included). */
Test(metrics_merge, the_latest_last_error_of_the_workers_is_the_components)
{
    gale_topology_t *t = topology();
    char *early = doc_with_error(1000, 2, "early"), *late = doc_with_error(5000, 3, "late: \"quoted\"");
    const char *docs[] = {late, early};
    char *out = merged_json(t, docs, 2);
    const char *work = strstr(out, "{\"name\": \"work\"");
    cr_assert_not_null(work, "%s", out);
    cr_assert_not_null(
        strstr(work, "\"last_error\": {\"time_ms\": 5000, \"task\": 3, \"error\": \"late: \\\"quoted\\\"\"}"), "%s",
        out);
    cr_assert_not_null(strstr(out, "{\"name\": \"src\""), "%s", out);
    cr_assert(strstr(strstr(out, "{\"name\": \"src\""), "\"last_error\": null"), "%s", out);
    free(out), free(early), free(late);
    gale_topology_free(t);
}

/* Two hosts' figures, each merged over its workers with the histograms kept, merged again (nimbus, gale stats):
   the same document as the four workers' merged at once, but for the workers and losses each host adds. */
Test(metrics_merge, hosts_figures_merged_again_are_the_workers_merged_at_once)
{
    gale_topology_t *t = topology();
    char *w[4] = {worker_doc(2.0, 998, 0), worker_doc(3.0, 1, 1), worker_doc(1.0, 10, 0), worker_doc(4.0, 0, 3)};
    const char *all[] = {w[0], w[1], w[2], w[3]}, *host1[] = {w[0], w[1]}, *host2[] = {w[2], w[3]};
    char *at_once = merged_json(t, all, 4);
    char *a = merged_with(t, host1, 2, (gale_sup_losses_t){.restarts = 1, .lost_trees = 5}, true);
    char *b = merged_with(t, host2, 2, (gale_sup_losses_t){.restarts = 2, .resumed_trees = 7}, true);
    cr_assert_not_null(strstr(a, "\"hist\": "), "a host's document keeps its histograms: %s", a);
    const char *hosts[] = {a, b};
    char *again = merged_json(t, hosts, 2);
    cr_assert_not_null(strstr(again, "\"workers\": 4, \"threads\": 4, \"peak_rss_kb\": 4000, \"restarts\": 3, "
                                     "\"lost_trees\": 5, \"resumed_trees\": 7"),
                       "%s", again);
    const char *c1 = strstr(at_once, "\"components\""), *c2 = strstr(again, "\"components\"");
    cr_assert(c1 && c2);
    cr_assert_str_eq(c2, c1, "the components merged in two steps differ from at once");
    free(at_once), free(a), free(b), free(again);
    for (int i = 0; i < 4; i++) free(w[i]);
    gale_topology_free(t);
}

/* Worker `which` of two runs task 2 or 3 of "work" and writes its tasks' own figures ("per_task"). */
static char *doc_per_task(uint32_t task, uint64_t executed, int64_t error_ms)
{
    gale_task_metrics_t src = {0}, work = {.executed = executed}, per[2] = {{0}};
    gale_hist_add(&work.exec, 1000 * executed);
    per[task - 2] = work;
    if (error_ms) {
        per[task - 2].last_error = (gale_last_error_t){.time_ms = error_ms, .task = task};
        snprintf(per[task - 2].last_error.text, sizeof per[task - 2].last_error.text, "boom");
    }
    gale_buf_t b = {0};
    gale_buf_puts(&b, "{\"topology\": \"t\", \"seconds\": 1, \"threads\": 1, \"peak_rss_kb\": 1, \"components\": [");
    comp_json(&b, "src", GALE_SPOUT, 1, &src, 1, (gale_task_metrics_t[]){{0}});
    gale_buf_puts(&b, ", ");
    comp_json(&b, "work", GALE_BOLT, 2, &work, 2, per);
    gale_buf_puts(&b, "]}");
    return b.p;
}

/* The status of a worker-mode or cluster run shows each task: the workers' per-task figures land on their tasks,
   also when a host's merged document is merged again; a task id the component does not have spoils the document. */
Test(metrics_merge, each_tasks_own_figures_survive_two_merges)
{
    gale_topology_t *t = topology();
    char *a = doc_per_task(2, 7, 0), *b = doc_per_task(3, 11, 4000);
    const char *workers[] = {a, b};
    char *host = merged_with(t, workers, 2, (gale_sup_losses_t){0}, true);
    cr_assert_not_null(strstr(host, "\"per_task\": [{\"task\": 2, "), "%s", host);
    cr_assert_not_null(strstr(strstr(host, "{\"name\": \"src\""), "\"per_task\": []"), "idle tasks are left out: %s",
                       host);
    const char *hosts[] = {host};
    gale_merged_t *g = gale_metrics_merge(t, hosts, 1);
    cr_assert_not_null(g);
    cr_assert_eq(g->n, 2);
    cr_assert_eq(g->first_task[1], 2);
    cr_assert_eq(g->task[1][0].executed, 7);
    cr_assert_eq(g->task[1][1].executed, 11);
    cr_assert_eq(g->task[1][1].exec.count, 1);
    cr_assert_eq(g->task[1][1].last_error.time_ms, 4000);
    cr_assert_eq(g->m[1].executed, 18);
    gale_merged_free(g);
    const char *foreign[] = {"{\"components\": [{\"name\": \"work\", \"executed\": 5, \"per_task\": [{\"task\": 9, "
                             "\"executed\": 5}]}]}"};
    g = gale_metrics_merge(t, foreign, 1);
    cr_assert_not_null(g);
    cr_assert_eq(g->m[1].executed, 0, "the whole document is left out, not only its per_task");
    gale_merged_free(g);
    free(a), free(b), free(host);
    gale_topology_free(t);
}

/* A plugin's own metrics (plugin_metrics.h) through the --stats JSON and two merges: counters and gauges summed,
   histograms merged, a name of another kind left out, and a metrics entry that is not one spoils the document. */
Test(metrics_merge, a_plugins_own_metrics_merge_by_name_and_kind)
{
    gale_topology_t *t = topology();
    gale_metric_set_t a = {.n = 3}, b = {.n = 2};
    a.m[0] = (gale_metric_t){.name = "seen", .kind = GALE_METRIC_COUNTER, .count = 7};
    a.m[1] = (gale_metric_t){.name = "lag", .kind = GALE_METRIC_GAUGE, .gauge = 1.5};
    a.m[2] = (gale_metric_t){.name = "sizes", .kind = GALE_METRIC_HISTOGRAM};
    gale_hist_add(&a.m[2].hist, 100);
    b.m[0] = (gale_metric_t){.name = "seen", .kind = GALE_METRIC_COUNTER, .count = 5};
    b.m[1] = (gale_metric_t){.name = "sizes", .kind = GALE_METRIC_GAUGE, .gauge = 9}; /* another kind */
    gale_task_metrics_t src = {0}, work = {.executed = 1};
    char *docs[2];
    gale_metric_set_t *sets[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        gale_buf_t buf = {0};
        gale_buf_puts(&buf, "{\"components\": [");
        comp_json(&buf, "src", GALE_SPOUT, 1, &src, 1, NULL);
        gale_buf_puts(&buf, ", ");
        gale_metrics_doc_t doc = {
            .name = "work", .kind = GALE_BOLT, .tasks = 2, .first_task = 2, .m = &work, .pm = sets[i]};
        gale_metrics_json(&buf, &doc, true);
        gale_buf_puts(&buf, "]}");
        docs[i] = buf.p;
    }
    const char *both[] = {docs[0], docs[1]};
    char *host = merged_with(t, both, 2, (gale_sup_losses_t){0}, true);
    const char *again[] = {host};
    gale_merged_t *g = gale_metrics_merge(t, again, 1);
    cr_assert_not_null(g);
    cr_assert_not_null(g->pm[1], "%s", host);
    const gale_metric_set_t *m = g->pm[1];
    cr_assert_eq(m->n, 3, "%s", host);
    cr_assert_str_eq(m->m[0].name, "seen");
    cr_assert_eq(m->m[0].count, 12);
    cr_assert_float_eq(m->m[1].gauge, 1.5, 1e-12);
    cr_assert_eq(m->m[2].kind, GALE_METRIC_HISTOGRAM, "the gauge of the same name was left out");
    cr_assert_eq(m->m[2].hist.count, 1);
    cr_assert_eq(m->m[2].hist.sum_ns, 100);
    gale_merged_free(g);
    const char *bad[] = {
        "{\"components\": [{\"name\": \"work\", \"executed\": 3, \"metrics\": [{\"name\": \"Bad-Name\", "
        "\"type\": \"counter\", \"value\": 1}]}]}"};
    g = gale_metrics_merge(t, bad, 1);
    cr_assert_eq(g->m[1].executed, 0, "left out whole");
    cr_assert_null(g->pm[1]);
    gale_merged_free(g);
    free(docs[0]), free(docs[1]), free(host);
    gale_topology_free(t);
}

/* Restarts go to the tasks their worker runs (the scheduler's placement) and, once per worker, to the components
   of those tasks. */
Test(metrics_merge, a_slots_restarts_land_on_its_tasks_and_their_components)
{
    gale_topology_t *t = topology(); /* src: task 1; work: tasks 2 and 3; no ackers */
    gale_merged_t *g = gale_metrics_merge(t, NULL, 0);
    cr_assert_not_null(g);
    const int restarts[] = {0, 3}; /* slot 1 restarted three times */
    gale_merged_add_restarts(g, t, 2, restarts);
    /* Round robin: task 1 on slot 0, task 2 on slot 1, task 3 on slot 0. */
    cr_assert_eq(g->task[0][0].restarts, 0);
    cr_assert_eq(g->task[1][0].restarts, 3);
    cr_assert_eq(g->task[1][1].restarts, 0);
    cr_assert_eq(g->m[1].restarts, 3, "counted once for the component");
    cr_assert_eq(g->m[0].restarts, 0);
    const int both[] = {1, 3};
    gale_merged_t *h = gale_metrics_merge(t, NULL, 0);
    gale_merged_add_restarts(h, t, 2, both);
    cr_assert_eq(h->m[1].restarts, 4, "two workers of the component, each once");
    gale_merged_free(g), gale_merged_free(h);
    gale_topology_free(t);
}
