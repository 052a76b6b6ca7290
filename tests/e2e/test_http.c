/*
 * `gale run --http` end to end: the REST document of a running local topology, field by field against the
 * --stats written at its end; /metrics passes `promtool check metrics` (Debian's prometheus) and its counters grow
 * between two scrapes, and a real Prometheus server scraping a run records its series; hostile clients (garbage, a 1 MB header, ten thousand idle connections) leave the topology
 * running and the endpoint answering; a bad --http is a usage error.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

TestSuite(http, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 120);

static char *get(const tl_http_run_t *r, const char *path, int want_status)
{
    int status;
    char *body = tl_http(r->port, "GET", path, NULL, NULL, &status);
    cr_assert_not_null(body, "no answer to %s", path);
    cr_assert_eq(status, want_status, "%s: %d %s", path, status, body);
    return body;
}

/* A component's figure in a document: the number after `key` following `"ID_KEY": "NAME"`. */
static long figure(const char *doc, const char *id_key, const char *name, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": \"%s\"", id_key, name);
    const char *at = strstr(doc, pat);
    cr_assert_not_null(at, "no %s in %s", pat, doc);
    return tl_json_number(at, key);
}

/* held.cfg run with `extra`: its REST document, once the 5000 trees are done and the spout holds, field by field
   against the --stats written at the end. */
static void rest_matches_the_figures_at_exit(const char *const *extra, int workers)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", extra);
    /* The spout's 5000 trees complete, then it holds: the figures stand still while the run goes on. */
    char *doc = NULL;
    for (int i = 0; i < 300; i++, tl_sleep_ms(100)) {
        free(doc);
        doc = get(&r, "/api/v1/topology/held", 200);
        if (figure(doc, "spoutId", "numbers", "acked") == 5000 && figure(doc, "boltId", "probe", "acked") == 5000)
            break;
    }
    cr_assert(tl_json_valid(doc), "%s", doc);
    cr_assert_eq(figure(doc, "spoutId", "numbers", "acked"), 5000, "%s", doc);
    cr_assert_eq(figure(doc, "spoutId", "numbers", "pending"), 0, "every tree done, none open: %s", doc);
    cr_assert_not_null(strstr(doc, "\"status\": \"ACTIVE\""), "%s", doc);
    cr_assert_eq(tl_json_number(doc, "tasksTotal"), 4, "spout, 2 probes, acker: %s", doc);
    cr_assert_eq(tl_json_number(doc, "workersTotal"), workers, "%s", doc);
    cr_assert_not_null(
        strstr(doc, workers > 1 ? "\"workers\": [{\"slot\": 0, \"supervisorId\": \"local\", \"address\": "
                                  "\"127.0.0.1:"
                                : "\"workers\": [{\"slot\": 0, \"supervisorId\": \"local\", \"address\": \"\"}]"),
        "%s", doc);
    cr_assert_eq(tl_json_number(doc, "restarts"), 0, "%s", doc);
    cr_assert_null(strstr(doc, "__acker"), "system components are not listed: %s", doc);
    char *summary = get(&r, "/api/v1/topology/summary", 200),
         *comp = get(&r, "/api/v1/topology/held/component/probe", 200);
    cr_assert(tl_json_valid(summary) && tl_json_valid(comp), "%s\n%s", summary, comp);
    cr_assert_not_null(strstr(summary, "\"name\": \"held\""), "%s", summary);
    cr_assert_not_null(strstr(comp, "\"executorStats\": [{\"id\": \"[2-2]\""), "%s", comp);
    long t2 = tl_json_number(strstr(comp, "[2-2]"), "executed"), t3 = tl_json_number(strstr(comp, "[3-3]"), "executed");
    cr_assert_eq(t2 + t3, 5000, "%s", comp);
    cr_assert(t2 > 0 && t3 > 0, "each task's own figures: %s", comp);
    cr_assert_not_null(strstr(strstr(doc, "\"boltId\": \"probe\""), "\"processLatency\": \""), "%s", doc);
    /* Storm UI's windows: a run shorter than 10 minutes has the same figures in each. */
    cr_assert_not_null(strstr(doc, "\"window\": \":all-time\", \"windowHint\": \"All time\""), "%s", doc);
    const char *windows[] = {"\"window\": \"600\"", "\"window\": \"10800\"", "\"window\": \"86400\"",
                             "\"window\": \":all-time\", \"emitted\""};
    for (size_t i = 0; i < 4; i++) {
        const char *at = strstr(strstr(doc, "\"topologyStats\": ["), windows[i]);
        cr_assert_not_null(at, "no %s in topologyStats: %s", windows[i], doc);
        cr_assert_eq(tl_json_number(at, "acked"), 5000, "%s: %s", windows[i], doc);
    }
    cr_assert_not_null(strstr(comp, "\"boltStats\": [{\"windowPretty\": \"10m 0s\", \"window\": \"600\""), "%s", comp);
    char *ten = get(&r, "/api/v1/topology/held?window=600", 200);
    cr_assert_not_null(strstr(ten, "\"window\": \"600\", \"windowHint\": \"10m 0s\""), "%s", ten);
    cr_assert_eq(figure(ten, "spoutId", "numbers", "acked"), 5000, "%s", ten);
    free(ten);
    free(get(&r, "/api/v1/topology/held?window=601", 400));
    cr_assert_eq(tl_http_run_stop(&r), 0);
    char *stats = tl_read_file(r.stats, NULL);
    cr_assert_not_null(stats);
    static const char *spout_keys[] = {"emitted", "transferred", "acked", "failed"};
    static const char *bolt_keys[] = {"emitted", "transferred", "acked", "failed", "executed"};
    for (size_t k = 0; k < 4; k++)
        cr_assert_eq(figure(doc, "spoutId", "numbers", spout_keys[k]), figure(stats, "name", "numbers", spout_keys[k]),
                     "numbers.%s: REST %s\nstats %s", spout_keys[k], doc, stats);
    for (size_t k = 0; k < 5; k++)
        cr_assert_eq(figure(doc, "boltId", "probe", bolt_keys[k]), figure(stats, "name", "probe", bolt_keys[k]),
                     "probe.%s: REST %s\nstats %s", bolt_keys[k], doc, stats);
    cr_assert_eq(figure(stats, "name", "numbers", "transferred"), 5000, "one delivery per tuple: %s", stats);
    free(doc), free(summary), free(comp), free(stats);
    tl_http_run_free(&r);
}

Test(http, the_rest_document_of_a_running_topology_matches_its_figures_at_exit)
{
    rest_matches_the_figures_at_exit(NULL, 1);
}

/* The figures are the workers' reports, every metrics_interval_s, merged: each task's own too. */
Test(http, the_rest_document_of_a_worker_mode_run_matches_its_figures_at_exit)
{
    const char *extra[] = {"--workers", "2", "--set", "config.metrics_interval_s=1", NULL};
    rest_matches_the_figures_at_exit(extra, 2);
}

Test(http, unknown_paths_and_other_methods_are_refused_with_json)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", NULL);
    const char *missing[] = {"/nope", "/api/v1/topology/other", "/api/v1/topology/held/component/nope",
                             "/api/v1/topology/heldx", "/api/v1/topology/held/what"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        char *body = get(&r, missing[i], 404);
        cr_assert(tl_json_valid(body), "%s: %s", missing[i], body);
        free(body);
    }
    int status;
    char *body = tl_http(r.port, "DELETE", "/api/v1/topology/held", NULL, NULL, &status);
    cr_assert_eq(status, 405, "%s", body);
    free(body);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    tl_http_run_free(&r);
}

static long emitted_in_metrics(const char *text)
{
    const char *at = strstr(text, "gale_tuples_emitted_total{topology=\"held\",component=\"numbers\",task=\"1\"} ");
    cr_assert_not_null(at, "%s", text);
    return atol(strchr(at, '}') + 2);
}

Test(http, metrics_pass_promtool_and_a_counter_grows_between_two_scrapes)
{
    tl_http_run_t r;
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", unbounded);
    char *first = get(&r, "/metrics", 200);
    tl_sleep_ms(500);
    char *second = get(&r, "/metrics", 200);
    cr_assert_gt(emitted_in_metrics(second), emitted_in_metrics(first));
    cr_assert_not_null(strstr(second, "# TYPE gale_execute_latency_seconds histogram\n"), "%s", second);
    cr_assert_not_null(strstr(second, "gale_pending_trees{topology=\"held\",component=\"numbers\",task=\"1\"} "), "%s",
                       second);
    cr_assert_not_null(strstr(second, "gale_complete_latency_seconds_bucket{topology=\"held\",component=\"numbers\","
                                      "task=\"1\",le=\"+Inf\"} "),
                       "%s", second);
    tl_promtool_ok(r.dir, second);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(first), free(second);
    tl_http_run_free(&r);
}

/* The value of series `series` (its whole name and labels) in a /metrics text; -1 when absent. */
static long series_value(const char *text, const char *series)
{
    const char *at = strstr(text, series);
    return at ? atol(at + strlen(series) + 1) : -1;
}

/* A plugin's own metrics (e2e_probe's with `metrics`: counter probed, gauge last_n, histogram n_values) show with
   the built-in figures: in the component's REST document, per task too, in /metrics (which promtool accepts) and
   in the --stats at exit, in local and worker mode alike. */
static void plugin_metrics_show_everywhere(const char *const *extra)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", extra);
    char *comp = NULL;
    for (int i = 0; i < 300; i++, tl_sleep_ms(100)) {
        free(comp);
        comp = get(&r, "/api/v1/topology/held/component/probe", 200);
        if (strstr(comp, "{\"name\": \"probed\", \"type\": \"counter\", \"value\": 5000}")) break;
    }
    cr_assert_not_null(strstr(comp, "{\"name\": \"probed\", \"type\": \"counter\", \"value\": 5000}"), "%s", comp);
    cr_assert_not_null(strstr(comp, "{\"name\": \"n_values\", \"type\": \"histogram\", \"count\": 5000, "), "%s", comp);
    const char *t2 = strstr(comp, "\"id\": \"[2-2]\""), *t3 = strstr(comp, "\"id\": \"[3-3]\"");
    cr_assert(t2 && t3, "%s", comp);
    long p2 = tl_json_number(strstr(t2, "\"name\": \"probed\""), "value"),
         p3 = tl_json_number(strstr(t3, "\"name\": \"probed\""), "value");
    cr_assert(p2 > 0 && p3 > 0 && p2 + p3 == 5000, "each task's own: %ld + %ld\n%s", p2, p3, comp);
    char *metrics = get(&r, "/metrics", 200);
    cr_assert_not_null(strstr(metrics, "# TYPE gale_plugin_probed_total counter\n"), "%s", metrics);
    cr_assert_not_null(strstr(metrics, "# TYPE gale_plugin_last_n gauge\n"), "%s", metrics);
    cr_assert_not_null(strstr(metrics, "# TYPE gale_plugin_n_values histogram\n"), "%s", metrics);
    long m2 = series_value(metrics, "gale_plugin_probed_total{topology=\"held\",component=\"probe\",task=\"2\"}"),
         m3 = series_value(metrics, "gale_plugin_probed_total{topology=\"held\",component=\"probe\",task=\"3\"}");
    cr_assert_eq(m2, p2, "%s", metrics);
    cr_assert_eq(m3, p3, "%s", metrics);
    tl_promtool_ok(r.dir, metrics);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    char *err = tl_read_file(r.err_path, NULL);
    cr_assert_not_null(strstr(err, "  its own metrics: probed=5000 last_n="), "under probe's row of the table:\n%s",
                       err);
    free(err);
    char *stats = tl_read_file(r.stats, NULL);
    const char *probe = strstr(stats, "{\"name\": \"probe\"");
    cr_assert(probe && strstr(probe, "{\"name\": \"probed\", \"type\": \"counter\", \"value\": 5000}"), "%s", stats);
    free(stats), free(metrics), free(comp);
    tl_http_run_free(&r);
}

Test(http, a_plugins_own_metrics_show_in_rest_prometheus_and_stats)
{
    const char *extra[] = {"--set", "probe.metrics=true", NULL};
    plugin_metrics_show_everywhere(extra);
}

Test(http, a_plugins_own_metrics_show_in_a_worker_mode_run_too)
{
    const char *extra[] = {"--set", "probe.metrics=true",          "--workers", "2",
                           "--set", "config.metrics_interval_s=1", NULL};
    plugin_metrics_show_everywhere(extra);
}

/* A worker SIGKILLed in a worker-mode run: its supervisor restarts it, and the REST document says so for the
   topology, for each task that worker runs, and for their components. */
Test(http, a_restarted_worker_shows_in_the_topology_its_tasks_and_components)
{
    const char *extra[] = {"--workers", "2", "--set", "config.metrics_interval_s=1", "--set", "numbers.count=0", NULL};
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", extra);
    pid_t victim = 0;
    for (int i = 0; i < 300 && !victim; i++, tl_sleep_ms(100)) victim = tl_worker_pid(r.pid, 1);
    cr_assert_gt(victim, 0, "no worker 1");
    kill(victim, SIGKILL);
    char *doc = NULL;
    for (int i = 0; i < 300; i++, tl_sleep_ms(100)) {
        free(doc);
        doc = get(&r, "/api/v1/topology/held", 200);
        if (tl_json_number(doc, "restarts") == 1) break;
    }
    cr_assert_eq(tl_json_number(doc, "restarts"), 1, "%s", doc);
    /* Slot 1 runs some of the tasks (the scheduler deals them round robin): those say 1, the rest 0. */
    char *probe = get(&r, "/api/v1/topology/held/component/probe", 200);
    long t2 = tl_json_number(strstr(probe, "\"id\": \"[2-2]\""), "restarts"),
         t3 = tl_json_number(strstr(probe, "\"id\": \"[3-3]\""), "restarts");
    cr_assert_eq(t2 + t3, 1, "one of the two probe tasks runs on slot 1: %ld and %ld\n%s", t2, t3, probe);
    cr_assert_eq(figure(doc, "boltId", "probe", "restarts"), 1, "%s", doc);
    free(doc), free(probe);
    tl_http_run_free(&r);
}

/* A slow bolt under a spout that nothing holds back (no acking: no max_spout_pending): its executor's rings fill
   and the spouts wait, which the REST document and /metrics show as the queue fill and the backpressure time. */
Test(http, a_slow_bolt_shows_as_queue_fill_and_backpressure)
{
    char *dir = tl_tmpdir(), *lines = tl_path("%s/lines.txt", dir), *set = tl_path("lines.path=%s", lines);
    long counts[10];
    tl_make_lines(lines, counts);
    const char *extra[] = {"--set", "config.ackers=0", "--set", set, "--set", "sink.path=/dev/null", NULL};
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/overload.cfg", extra);
    char *doc = NULL;
    double bp = 0, fill = 0;
    for (int i = 0; i < 300 && !(bp > 0 && fill > 0.5); i++, tl_sleep_ms(100)) {
        free(doc);
        doc = get(&r, "/api/v1/topology/overload", 200);
        const char *slow = strstr(doc, "\"boltId\": \"slow\"");
        const char *b = slow ? strstr(slow, "\"backpressureSeconds\": \"") : NULL,
                   *q = slow ? strstr(slow, "\"queueFill\": \"") : NULL;
        bp = b ? atof(b + strlen("\"backpressureSeconds\": \"")) : 0;
        fill = q ? atof(q + strlen("\"queueFill\": \"")) : 0;
    }
    cr_assert(bp > 0 && fill > 0.5, "backpressure %f s, fill %f:\n%s", bp, fill, doc);
    char *metrics = get(&r, "/metrics", 200);
    cr_assert_not_null(strstr(metrics, "# TYPE gale_backpressure_seconds_total counter\n"), "%s", metrics);
    cr_assert_not_null(strstr(metrics, "gale_queue_fill{topology=\"overload\",component=\"slow\",task=\"3\"} "), "%s",
                       metrics);
    free(doc), free(metrics);
    tl_http_run_free(&r);
    tl_rmtree(dir);
    free(dir), free(lines), free(set);
}

/* Debian's Prometheus server, scraping a running `gale run --http` every second, records its series: its HTTP
   API answers a query for the spout's emitted counter with a value, and the target is up. */
Test(http, a_prometheus_server_scraping_a_run_records_its_series)
{
    tl_http_run_t r;
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", unbounded);
    char *config = tl_path("%s/prometheus.yml", r.dir), *data = tl_path("%s/tsdb", r.dir),
         *config_arg = tl_path("--config.file=%s", config), *data_arg = tl_path("--storage.tsdb.path=%s", data);
    char *yml = tl_path("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                        "  - job_name: gale\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
                        r.port);
    tl_write_file(config, yml);
    char *prom_dir = tl_path("%s/prometheus", r.dir);
    cr_assert_eq(mkdir(prom_dir, 0700), 0);
    const char *argv[] = {"/usr/bin/prometheus", config_arg, data_arg, "--web.listen-address=127.0.0.1:0",
                          "--log.level=warn",    NULL};
    pid_t prom = tl_spawn(argv, prom_dir);
    cr_assert_gt(prom, 0, "prometheus (make test-deps installs it)");
    tl_remember(prom);
    int port = 0;
    for (int i = 0; i < 600 && !port && tl_alive(prom); i++, tl_sleep_ms(100)) port = tl_listening_port(prom);
    cr_assert_gt(port, 0, "prometheus does not listen");
    /* Up to a minute for the first scrapes to land: the query's result holds the series with a value. */
    char *answer = NULL;
    long value = 0;
    for (int i = 0; i < 600; i++, tl_sleep_ms(100)) {
        int status;
        free(answer);
        answer = tl_http(port, "GET",
                         "/api/v1/query?query=gale_tuples_emitted_total%7Bjob%3D%22gale%22%2Ccomponent%3D%22numbers%22"
                         "%7D",
                         NULL, NULL, &status);
        const char *v = answer && status == 200 ? strstr(answer, "\"value\":[") : NULL;
        const char *num = v ? strchr(strchr(v, ',') ? strchr(v, ',') : v, '"') : NULL;
        if (num && (value = atol(num + 1)) > 0) break;
    }
    cr_assert_gt(value, 0, "no series recorded: %s", answer ? answer : "(no answer)");
    cr_assert_not_null(strstr(answer, "\"topology\":\"held\""), "%s", answer);
    cr_assert_not_null(strstr(answer, "\"task\":\"1\""), "%s", answer);
    int status;
    char *up = tl_http(port, "GET", "/api/v1/query?query=up%7Bjob%3D%22gale%22%7D", NULL, NULL, &status);
    cr_assert_not_null(up);
    cr_assert_not_null(strstr(up, "\"1\"]"), "the target is up: %s", up);
    kill(prom, SIGTERM);
    bool timed_out;
    tl_wait(prom, 30, &timed_out);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(up), free(answer), free(config), free(data), free(config_arg), free(data_arg), free(yml), free(prom_dir);
    tl_http_run_free(&r);
}

/* A secret file of its own (0600) in a new folder; *dir to remove after. */
static char *secret_file(const char *text, char **dir)
{
    *dir = tl_tmpdir();
    char *path = tl_path("%s/secret", *dir);
    tl_write_file(path, text);
    chmod(path, 0600);
    return path;
}

static int post(const tl_http_run_t *r, const char *path, const char *headers, char **body)
{
    int status;
    *body = tl_http(r->port, "POST", path, headers, NULL, &status);
    cr_assert_not_null(*body, "no answer to POST %s", path);
    return status;
}

static long emitted_now(const tl_http_run_t *r)
{
    char *doc = get(r, "/api/v1/topology/held", 200);
    long n = figure(doc, "spoutId", "numbers", "emitted");
    free(doc);
    return n;
}

/* Grows within 30 s of `than`: the topology runs. */
static bool still_emitting(const tl_http_run_t *r, long than)
{
    for (int i = 0; i < 300; i++, tl_sleep_ms(100))
        if (emitted_now(r) > than) return true;
    return false;
}

static void actions_need_a_token(const char *const *workers)
{
    char *sdir, *odir;
    char *secret = secret_file("an HTTP secret of 32 characters.", &sdir),
         *other = secret_file("another secret, the same length", &odir);
    const char *extra[12] = {"--secret-file", secret, "--set", "numbers.count=0"};
    for (int i = 0; workers && workers[i]; i++) extra[4 + i] = workers[i];
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", extra);
    static const char KILL[] = "/api/v1/topology/held/kill";
    char *body, *wrong = tl_token_header(other, KILL),
                *good_path_wrong = tl_token_header(secret, "/api/v1/topology/held");
    cr_assert_eq(post(&r, KILL, NULL, &body), 401, "%s", body);
    cr_assert_not_null(strstr(body, "needs a token"), "%s", body);
    free(body);
    cr_assert_eq(post(&r, KILL, wrong, &body), 401, "another secret: %s", body);
    free(body);
    cr_assert_eq(post(&r, KILL, good_path_wrong, &body), 401, "a token for another path: %s", body);
    free(body);
    cr_assert(still_emitting(&r, emitted_now(&r)), "the refused kills stopped the topology");
    /* Deactivate, once: its token does not work twice. */
    char *deactivate = tl_token_header(secret, "/api/v1/topology/held/deactivate");
    cr_assert_eq(post(&r, "/api/v1/topology/held/deactivate", deactivate, &body), 200, "%s", body);
    cr_assert_not_null(strstr(body, "\"topologyOperation\": \"deactivate\""), "%s", body);
    free(body);
    cr_assert_eq(post(&r, "/api/v1/topology/held/deactivate", deactivate, &body), 401, "a replay: %s", body);
    free(body);
    char *doc = NULL;
    for (int i = 0; i < 300; i++, tl_sleep_ms(100)) { /* worker mode: the workers say so at their next report */
        free(doc);
        doc = get(&r, "/api/v1/topology/summary", 200);
        if (strstr(doc, "\"status\": \"INACTIVE\"")) break;
    }
    cr_assert_not_null(strstr(doc, "\"status\": \"INACTIVE\""), "%s", doc);
    free(doc);
    char *activate = tl_token_header(secret, "/api/v1/topology/held/activate");
    cr_assert_eq(post(&r, "/api/v1/topology/held/activate", activate, &body), 200, "%s", body);
    free(body);
    cr_assert(still_emitting(&r, emitted_now(&r)), "activated, the spout emits again");
    char *kill_token = tl_token_header(secret, KILL);
    cr_assert_eq(post(&r, KILL, kill_token, &body), 200, "%s", body);
    free(body);
    bool timed_out;
    int status = tl_wait(r.pid, 60, &timed_out);
    cr_assert_not(timed_out, "killed over HTTP, the run did not stop");
    cr_assert_eq(status, 0, "it drained and stopped cleanly");
    char *err = tl_read_file(r.err_path, NULL);
    cr_assert_not_null(strstr(err, "refused: the token's signature is wrong"), "%s", err);
    free(err);
    free(wrong), free(good_path_wrong), free(deactivate), free(activate), free(kill_token);
    free(secret), free(other);
    tl_rmtree(sdir), tl_rmtree(odir);
    free(sdir), free(odir);
    tl_http_run_free(&r);
}

Test(http, post_actions_need_a_valid_token_and_with_one_the_topology_stops) { actions_need_a_token(NULL); }

Test(http, post_actions_of_a_worker_mode_run_need_a_token_too)
{
    const char *workers[] = {"--workers", "2", "--set", "config.metrics_interval_s=1", NULL};
    actions_need_a_token(workers);
}

Test(http, without_a_secret_file_actions_are_off)
{
    tl_http_run_t r;
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", unbounded);
    char *sdir, *secret = secret_file("an HTTP secret of 32 characters.", &sdir);
    char *token = tl_token_header(secret, "/api/v1/topology/held/kill"), *body;
    cr_assert_eq(post(&r, "/api/v1/topology/held/kill", token, &body), 403, "%s", body);
    cr_assert_not_null(strstr(body, "--secret-file"), "%s", body);
    free(body);
    cr_assert_eq(post(&r, "/api/v1/topology/held/explode", token, &body), 404, "%s", body);
    free(body);
    cr_assert_eq(post(&r, "/api/v1/topology/held/deactivate/5", token, &body), 400, "%s", body);
    free(body);
    const char *elsewhere[] = {"/", "/api", "/api/v1/topology/", "/api/v1/topology//kill", "/metrics"};
    for (size_t i = 0; i < sizeof elsewhere / sizeof *elsewhere; i++) {
        cr_assert_eq(post(&r, elsewhere[i], token, &body), 404, "%s: %s", elsewhere[i], body);
        free(body);
    }
    cr_assert(still_emitting(&r, emitted_now(&r)));
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(token), free(secret);
    tl_rmtree(sdir);
    free(sdir);
    tl_http_run_free(&r);
}

Test(http, hostile_clients_leave_the_topology_running_and_the_endpoint_answering)
{
    tl_http_run_t r;
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", unbounded);
    int status;
    char *body = tl_http(r.port, "\x01\x02garbage", "/", NULL, NULL, &status);
    cr_assert_eq(status, 400, "%s", body ? body : "(none)");
    free(body);
    size_t big = 1 << 20;
    char *header = malloc(big + 16);
    memcpy(header, "X-Big: ", 7);
    memset(header + 7, 'a', big);
    memcpy(header + 7 + big, "\r\n", 3);
    body = tl_http(r.port, "GET", "/metrics", header, NULL, &status);
    cr_assert_eq(status, 431, "%.100s", body ? body : "(none)");
    free(body), free(header);
    /* Ten thousand connections that never send a byte: the endpoint keeps 256, closing the longest idle. */
    enum { IDLE = 10000 };
    static int idle[IDLE];
    for (int i = 0; i < IDLE; i++) {
        idle[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r.port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(idle[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    char *first = get(&r, "/metrics", 200);
    tl_sleep_ms(300);
    char *second = get(&r, "/metrics", 200);
    cr_assert_gt(emitted_in_metrics(second), emitted_in_metrics(first), "the topology stopped");
    for (int i = 0; i < IDLE; i++) close(idle[i]);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(first), free(second);
    tl_http_run_free(&r);
}

Test(http, a_bad_address_is_a_usage_error)
{
    const char *bad[] = {"x", "1.2.3.4:", "70000", ":80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *argv[] = {tl_gale(), "run", "--http", bad[i], "tests/topologies/e2e/held.cfg", NULL};
        tl_result_t res;
        cr_assert_eq(tl_run(argv, NULL, 30, &res), 0);
        cr_assert_eq(res.status, 2, "%s: %s", bad[i], res.err);
        cr_assert_not_null(strstr(res.err, "expected [HOST:]PORT"), "%s", res.err);
        tl_result_free(&res);
    }
    /* A port that is taken fails the run, saying so. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    listen(fd, 1);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    const char *argv[] = {tl_gale(), "run", "--http", port, "tests/topologies/e2e/held.cfg", NULL};
    tl_result_t res;
    cr_assert_eq(tl_run(argv, NULL, 30, &res), 0);
    cr_assert_eq(res.status, 1, "%s", res.err);
    cr_assert_not_null(strstr(res.err, "cannot listen for HTTP on 127.0.0.1:"), "%s", res.err);
    tl_result_free(&res);
    close(fd);
}

/* With checkpoints, the topology's summary and /metrics carry their counts, latest id, duration and size, and
   promtool accepts them; without, neither shows any. */
Test(http, checkpoints_show_in_the_summary_and_in_metrics)
{
    tl_http_run_t r;
    char *dir = tl_tmpdir(), *state = tl_path("config.state_path=%s", dir);
    const char *extra[] = {"--set", "numbers.count=0", "--set", "config.checkpoint_interval_ms=50", "--set", state,
                           NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", extra);
    char *summary = NULL;
    for (int i = 0; i < 300; i++, tl_sleep_ms(50)) {
        free(summary);
        summary = get(&r, "/api/v1/topology/summary", 200);
        const char *ck = strstr(summary, "\"checkpoints\": {\"counts\": {\"completed\": ");
        if (ck && tl_json_number(ck, "completed") >= 3) break;
    }
    cr_assert(tl_json_valid(summary), "%s", summary);
    const char *ck = strstr(summary, "\"checkpoints\": {\"counts\": {\"completed\": ");
    cr_assert(ck && tl_json_number(ck, "completed") >= 3, "%s", summary);
    cr_assert_eq(tl_json_number(ck, "failed"), 0, "%s", summary);
    cr_assert_geq(tl_json_number(ck, "id"), 3, "%s", summary);
    char *metrics = get(&r, "/metrics", 200);
    long done = series_value(metrics, "gale_checkpoints_completed_total{topology=\"held\"}");
    cr_assert_geq(done, 3, "%s", metrics);
    cr_assert_eq(series_value(metrics, "gale_checkpoints_failed_total{topology=\"held\"}"), 0, "%s", metrics);
    cr_assert_geq(series_value(metrics, "gale_checkpoint_latest_id{topology=\"held\"}"), done, "%s", metrics);
    cr_assert_not_null(strstr(metrics, "# TYPE gale_checkpoint_last_duration_seconds gauge\n"), "%s", metrics);
    cr_assert_not_null(strstr(metrics, "gale_checkpoint_last_size_bytes{topology=\"held\"} "), "%s", metrics);
    tl_promtool_ok(r.dir, metrics);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(metrics), free(summary);
    tl_http_run_free(&r);
    /* A run without checkpoints has no such family. */
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", (const char *const[]){"--set", "numbers.count=0", NULL});
    metrics = get(&r, "/metrics", 200);
    summary = get(&r, "/api/v1/topology/summary", 200);
    cr_assert_null(strstr(metrics, "gale_checkpoint"), "%s", metrics);
    cr_assert_null(strstr(summary, "\"checkpoints\""), "%s", summary);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(metrics), free(summary), free(state);
    tl_http_run_free(&r);
    tl_rmtree(dir);
    free(dir);
}
