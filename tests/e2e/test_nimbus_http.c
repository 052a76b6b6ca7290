/*
 * `gale nimbus --http` end to end (test_cluster.h: a real ZooKeeper, nimbus, supervisors): the REST API shows every
 * topology of the cluster with its figures merged over the hosts, each task's own too, the supervisors, and
 * /metrics that promtool accepts; its actions are the control port's verbs: refused without a token of the cluster
 * secret (the topology keeps running), and with one the topology is deactivated, then killed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_cluster.h"

static void use_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    free(dir);
}

TestSuite(nimbus_http, .init = use_plugins, .timeout = 240);

static char *get(const tl_cluster_t *c, const char *path, int want)
{
    int status;
    char *body = tl_http(c->nimbus[0].http_port, "GET", path, NULL, NULL, &status);
    cr_assert_not_null(body, "no answer to %s", path);
    cr_assert_eq(status, want, "%s: %d %s", path, status, body);
    return body;
}

static int post(const tl_cluster_t *c, const char *path, const char *headers, char **body)
{
    int status;
    *body = tl_http(c->nimbus[0].http_port, "POST", path, headers, NULL, &status);
    cr_assert_not_null(*body, "no answer to POST %s", path);
    return status;
}

/* The figure after `key` following `"ID_KEY": "NAME"` in doc. */
static long figure(const char *doc, const char *id_key, const char *name, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": \"%s\"", id_key, name);
    const char *at = strstr(doc, pat);
    return at ? tl_json_number(at, key) : -1;
}

Test(nimbus_http, the_rest_api_shows_the_clusters_topologies_and_its_actions_need_a_token)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 2, 1);
    tl_result_t r = TL_VERB(&c, "submit", "--set", "config.workers=2", "--set", "config.metrics_interval_s=1", "--set",
                            "numbers.count=0", "tests/topologies/e2e/held.cfg");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    tl_result_free(&r);
    /* The hosts' reports reach nimbus through ZooKeeper: the spout's figures grow. */
    char *doc = NULL;
    long emitted = -1;
    for (int i = 0; i < 600 && emitted <= 0; i++, tl_sleep_ms(100)) {
        int status;
        free(doc);
        /* nimbus reads the cluster at most once a second: a topology just submitted may take that long to show */
        doc = tl_http(c.nimbus[0].http_port, "GET", "/api/v1/topology/held", NULL, NULL, &status);
        cr_assert(doc && (status == 200 || status == 404), "%d %s", status, doc ? doc : "(no answer)");
        emitted = status == 200 ? figure(doc, "spoutId", "numbers", "emitted") : -1;
    }
    cr_assert_gt(emitted, 0, "%s", doc);
    cr_assert(tl_json_valid(doc), "%s", doc);
    cr_assert_not_null(strstr(doc, "\"status\": \"ACTIVE\""), "%s", doc);
    cr_assert_eq(tl_json_number(doc, "workersTotal"), 2, "%s", doc);
    cr_assert_not_null(strstr(doc, "\"topologyStats\": [{\"windowPretty\": \"10m 0s\""), "%s", doc);
    /* Where each slot runs: a supervisor each (the even scheduler), and the worker's address. */
    for (int slot = 0; slot < 2; slot++) {
        char pat[64];
        snprintf(pat, sizeof pat, "{\"slot\": %d, \"supervisorId\": \"127.0.0.1:", slot);
        const char *w = strstr(doc, pat);
        cr_assert_not_null(w, "%s", doc);
        cr_assert_not_null(strstr(w, "\"address\": \"127.0.0.1:"), "%s", doc);
    }
    char *summary = get(&c, "/api/v1/topology/summary", 200), *sups = get(&c, "/api/v1/supervisor/summary", 200),
         *cluster = get(&c, "/api/v1/cluster/summary", 200),
         *graph = get(&c, "/api/v1/topology/held/visualization", 200);
    cr_assert(tl_json_valid(summary) && tl_json_valid(sups) && tl_json_valid(cluster) && tl_json_valid(graph));
    cr_assert_not_null(strstr(summary, "\"name\": \"held\""), "%s", summary);
    cr_assert_eq(tl_json_number(cluster, "supervisors"), 2, "%s", cluster);
    cr_assert_eq(tl_json_number(cluster, "slotsTotal"), 2, "%s", cluster);
    cr_assert_not_null(strstr(sups, "\"slotsTotal\": 1, \"slotsUsed\": 1"), "%s", sups);
    cr_assert_not_null(strstr(graph, "{\"from\": \"numbers\", \"stream\": \"default\""), "%s", graph);
    /* Each task's own, though the tasks run on two hosts. */
    char *comp = NULL;
    long t2 = 0, t3 = 0;
    for (int i = 0; i < 600 && !(t2 > 0 && t3 > 0); i++, tl_sleep_ms(100)) {
        free(comp);
        comp = get(&c, "/api/v1/topology/held/component/probe", 200);
        const char *a = strstr(comp, "\"id\": \"[2-2]\""), *b = strstr(comp, "\"id\": \"[3-3]\"");
        t2 = a ? tl_json_number(a, "executed") : 0, t3 = b ? tl_json_number(b, "executed") : 0;
    }
    cr_assert(t2 > 0 && t3 > 0, "%s", comp);
    char *metrics = get(&c, "/metrics", 200);
    cr_assert_not_null(strstr(metrics, "gale_tuples_emitted_total{topology=\"held\",component=\"numbers\",task=\"1\"}"),
                       "%s", metrics);
    tl_promtool_ok(c.dir, metrics);
    /* Actions: none without a token, a standby-free leader's verbs with one. */
    char *body;
    cr_assert_eq(post(&c, "/api/v1/topology/held/kill", NULL, &body), 401, "%s", body);
    free(body);
    char *other = tl_token_header(c.secret, "/api/v1/topology/held/deactivate");
    cr_assert_eq(post(&c, "/api/v1/topology/held/kill", other, &body), 401, "a token of another path: %s", body);
    free(body);
    cr_assert(tl_cluster_listed(&c, "topology held status=active"), "refused, the topology runs on");
    cr_assert_eq(post(&c, "/api/v1/topology/held/deactivate", other, &body), 200, "%s", body);
    free(body);
    cr_assert(tl_cluster_listed(&c, "topology held status=inactive"));
    char *none = tl_token_header(c.secret, "/api/v1/topology/nope/kill");
    cr_assert_eq(post(&c, "/api/v1/topology/nope/kill", none, &body), 404, "%s", body);
    cr_assert_not_null(strstr(body, "no topology named nope"), "the verb's own words: %s", body);
    free(body);
    /* Rebalance with Storm's body: from two workers to one; a body that is not Storm's is a 400. */
    char *bad = tl_token_header(c.secret, "/api/v1/topology/held/rebalance/0");
    int status;
    body = tl_http(c.nimbus[0].http_port, "POST", "/api/v1/topology/held/rebalance/0", bad, "{\"numWorkers\": 1}",
                   &status);
    cr_assert_eq(status, 400, "%s", body ? body : "(no answer)");
    free(body);
    char *rebalance = tl_token_header(c.secret, "/api/v1/topology/held/rebalance/0");
    body = tl_http(c.nimbus[0].http_port, "POST", "/api/v1/topology/held/rebalance/0", rebalance,
                   "{\"rebalanceOptions\": {\"numWorkers\": 1}}", &status);
    cr_assert_eq(status, 200, "%s", body ? body : "(no answer)");
    cr_assert_not_null(strstr(body, "\"topologyOperation\": \"rebalance\""), "%s", body);
    free(body);
    bool one = false;
    for (int i = 0; i < 600 && !one; i++, tl_sleep_ms(100))
        one = tl_cluster_listed(&c, "topology held status=inactive workers=1 ") ||
              tl_cluster_listed(&c, "topology held status=active workers=1 ");
    cr_assert(one, "rebalanced over HTTP to one worker");
    free(bad), free(rebalance);
    char *kill = tl_token_header(c.secret, "/api/v1/topology/held/kill/1");
    cr_assert_eq(post(&c, "/api/v1/topology/held/kill/1", kill, &body), 200, "%s", body);
    cr_assert_not_null(strstr(body, "\"topologyOperation\": \"kill\""), "%s", body);
    free(body);
    bool gone = false;
    for (int i = 0; i < 600 && !gone; i++, tl_sleep_ms(100)) {
        char *s = get(&c, "/api/v1/topology/summary", 200);
        gone = !strstr(s, "\"name\": \"held\"");
        free(s);
    }
    cr_assert(gone, "killed over HTTP, the topology is removed");
    free(doc), free(summary), free(sups), free(cluster), free(graph), free(comp), free(metrics);
    free(other), free(none), free(kill);
    tl_cluster_free(&c);
}
