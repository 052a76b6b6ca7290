/*
 * End to end: `gale run --http 0 --tls DIR/NAME` serves the web UI, the REST API and /metrics over HTTPS, checked by
 * curl with the cluster's CA as a user would, through a recording TCP proxy (testlib_proxy.h): the figures cross
 * encrypted (in clear without --tls: the test checks itself); a client in clear is closed and the endpoint goes on.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "testlib.h"
#include "testlib_proxy.h"

TestSuite(https, .timeout = 120);

typedef struct web_run {
    char *dir, *wire, *ca;
    pid_t pid;
    int port;
    tl_proxy_t proxy;
} web_run_t;

static void start(web_run_t *w, bool tls)
{
    memset(w, 0, sizeof *w);
    w->dir = tl_tmpdir();
    w->wire = tl_path("%s/wire", w->dir);
    w->ca = tl_path("%s/certs/ca.crt", w->dir);
    char *certs = tl_path("%s/certs", w->dir), *web = tl_path("%s/certs/web", w->dir);
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_certs_init(certs, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(certs, "web", (const char *const[]){"127.0.0.1"}, 1, 0, 30, &d), 0, "%s", d.msg);
    /* without TLS the file comes where --tls would, and the list ends after it */
    const char *argv[] = {tl_gale(),
                          "run",
                          "--quiet",
                          "--duration",
                          "60",
                          "--http",
                          "0",
                          tls ? "--tls" : "topologies/wordcount.cfg",
                          tls ? web : NULL,
                          "topologies/wordcount.cfg",
                          NULL};
    w->pid = tl_spawn(argv, w->dir);
    cr_assert_gt(w->pid, 0);
    char *err_path = tl_path("%s/err.txt", w->dir);
    const char *at = tls ? " at https://127.0.0.1:" : " at http://127.0.0.1:";
    for (int i = 0; i < 600 && !w->port; i++) {
        char *err = tl_read_file(err_path, NULL);
        const char *p = err ? strstr(err, at) : NULL;
        if (p) w->port = atoi(p + strlen(at));
        free(err);
        if (!w->port) tl_sleep_ms(20);
    }
    cr_assert_gt(w->port, 0, "the endpoint did not say where it listens");
    tl_proxy_start(&w->proxy, w->port, w->wire);
    free(certs), free(web), free(err_path);
}

static void stop(web_run_t *w)
{
    tl_proxy_stop(&w->proxy);
    kill(w->pid, SIGTERM);
    bool timed_out;
    tl_wait(w->pid, 60, &timed_out);
    cr_assert_not(timed_out);
    tl_rmtree(w->dir);
    free(w->dir), free(w->wire), free(w->ca);
}

/* curl [--cacert CA] SCHEME://127.0.0.1:PORT/PATH: its exit status, stdout in *out (malloc'd). */
static int curl(const char *ca, const char *scheme, int port, const char *path, char **out)
{
    char *url = tl_path("%s://127.0.0.1:%d%s", scheme, port, path);
    const char *argv[] = {"/usr/bin/curl", "-sS", "--max-time", "10", ca ? "--cacert" : url, ca ? ca : NULL, url, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    *out = r.out;
    r.out = NULL;
    int status = r.status;
    tl_result_free(&r);
    free(url);
    return status;
}

Test(https, without_tls_the_figures_are_on_the_wire)
{
    web_run_t w;
    start(&w, false);
    char *body;
    cr_assert_eq(curl(NULL, "http", w.proxy.port, "/api/v1/topology/summary", &body), 0);
    cr_assert_not_null(strstr(body, "\"wordcount\""), "%s", body);
    free(body);
    size_t len;
    char *wire = tl_read_file(w.wire, &len);
    cr_assert_not_null(memmem(wire, len, "\"topologies\"", 12), "the answer is not seen in clear");
    free(wire);
    stop(&w);
}

Test(https, with_tls_curl_reads_the_figures_with_the_ca_and_nothing_is_in_clear)
{
    web_run_t w;
    start(&w, true);
    char *body;
    cr_assert_eq(curl(w.ca, "https", w.proxy.port, "/api/v1/topology/summary", &body), 0);
    cr_assert_not_null(strstr(body, "\"wordcount\""), "%s", body);
    free(body);
    cr_assert_eq(curl(w.ca, "https", w.proxy.port, "/metrics", &body), 0);
    cr_assert_not_null(strstr(body, "gale_"), "%s", body);
    free(body);
    size_t len;
    char *wire = tl_read_file(w.wire, &len);
    cr_assert_gt(len, 1000);
    static const char *const words[] = {"\"topologies\"", "wordcount", "gale_", "GET /api", "Content-Type"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert_null(memmem(wire, len, words[i], strlen(words[i])), "'%s' on the wire with TLS", words[i]);
    free(wire);
    /* Without the CA, curl does not trust it; in clear, the endpoint closes the connection; then it still serves. */
    cr_assert_neq(curl(NULL, "https", w.port, "/api/v1/topology/summary", &body), 0, "%s", body);
    free(body);
    cr_assert_neq(curl(NULL, "http", w.port, "/api/v1/topology/summary", &body), 0, "%s", body);
    free(body);
    cr_assert_eq(curl(w.ca, "https", w.port, "/api/v1/cluster/summary", &body), 0);
    cr_assert_not_null(strstr(body, "\"topologies\": 1"), "%s", body);
    free(body);

    /* gale monitor reads it over HTTPS with the cluster's CA, and says what it needs without --tls. */
    char *url = tl_path("https://127.0.0.1:%d", w.port), *tls = tl_path("%s/certs/web", w.dir);
    const char *monitor[] = {tl_gale(), "monitor", url, "--tls", tls, "--interval", "0.2", "--count", "1", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(monitor, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "split"), "%s", r.out);
    tl_result_free(&r);
    const char *bare[] = {tl_gale(), "monitor", url, "--count", "1", NULL};
    cr_assert_eq(tl_run(bare, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "https needs --tls DIR/NAME"), "%s", r.err);
    tl_result_free(&r);
    free(url), free(tls);
    stop(&w);
}
