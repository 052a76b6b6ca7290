/* `gale run` and `gale validate`. */
#include <stdio.h>
#include <string.h>
#include <signal.h>

#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "http_auth.h"
#include "plugin.h"
#include "run_http.h"
#include "run_workers.h"
#include "tls.h"
#include "runtime.h"

/* What `gale run` says when a run ends badly; the exit status is 1 for each. */
static const char *run_failure(int rc)
{
    if (rc == GALE_EINCOMPLETE) return "the run stopped before all of its work was done";
    if (rc == GALE_ETIMEDOUT) return "a task did not return after the stop";
    return "the run failed";
}

/* `--workers N`: this process supervises N `gale worker` processes running the same file; `http` (NULL: none)
   serves their last reports. */
static int run_workers(const gale_cli_args_t *a, const gale_topology_t *topo, int workers, gale_run_http_t *http)
{
    char exe[4096];
    if (gale_cli_self_exe(exe, sizeof exe)) return GALE_EXIT_ERROR;
    const char **sets = calloc(a->n_overrides + 1, sizeof *sets);
    for (size_t i = 0; i < a->n_overrides; i++) sets[i] = a->overrides[i].assignment;
    gale_run_workers_opts_t o = {.exe = exe,
                                 .file = a->file,
                                 .sets = sets,
                                 .n_sets = a->n_overrides,
                                 .workers = workers,
                                 .threads = a->threads,
                                 .duration_s = a->duration_s,
                                 .quiet = a->quiet,
                                 .stats = a->stats,
                                 .fresh_state = a->fresh,
                                 .tls = a->tls,
                                 .watcher = http ? &http->workers_watcher : NULL};
    int rc = gale_run_workers(topo, &o);
    free(sets);
    if (rc) fprintf(stderr, "gale: %s: %s (see the errors above)\n", a->file, run_failure(rc));
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

static void write_stats(const gale_runtime_t *rt, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || gale_runtime_metrics_json(rt, f) != 0) fprintf(stderr, "gale: %s: cannot write the metrics\n", path);
    if (f) fclose(f);
}

int gale_cmd_run(int argc, char **argv)
{
    gale_cli_args_t a;
    int rc = gale_cli_parse(argc, argv, 1, "run", &a);
    if (rc) {
        gale_cli_args_free(&a);
        return rc;
    }
    gale_topology_t *topo = gale_cli_open_topology(&a);
    if (!topo) {
        gale_cli_args_free(&a);
        return GALE_EXIT_ERROR;
    }
    /* A sink writing to a closed pipe should get EPIPE and report it, not kill the whole topology. */
    signal(SIGPIPE, SIG_IGN);
    int workers = a.workers ? a.workers : topo->config.workers;
    char http_host[64];
    int http_port = 0;
    if (a.http && gale_http_parse_addr(a.http, http_host, sizeof http_host, &http_port)) {
        rc = gale_cli_usage_error("run", "--http %s: expected [HOST:]PORT, PORT from 0 to 65535", a.http);
        gale_topology_free(topo);
        gale_cli_args_free(&a);
        return rc;
    }
    if (a.secret_file && !a.http)
        rc = gale_cli_usage_error("run", "--secret-file is for the HTTP actions: it needs --http");
    if (!rc && a.tls && workers < 2 && !a.http)
        rc = gale_cli_usage_error("run", "--tls is for the connections between workers and for --http: it needs "
                                         "--workers 2 or more, or --http");
    gale_tls_ctx_t *tls = NULL, *web = NULL; /* the files are checked here, once, before a worker starts */
    if (!rc && a.tls && gale_cli_tls_open(a.tls, &tls)) rc = GALE_EXIT_ERROR;
    gale_tls_ctx_free(tls);
    if (!rc && a.tls && a.http && gale_cli_tls_open_web(a.tls, &web)) rc = GALE_EXIT_ERROR;
    /* The actions' secret, read before anything runs: a bad file is the user's error, said at once. */
    static gale_http_auth_t auth; /* large (the tokens it remembers); one per process */
    char secret[GALE_HTTP_AUTH_SECRET_MAX];
    size_t secret_len = 0;
    if (!rc && a.secret_file &&
        (gale_cli_read_secret(a.secret_file, secret, sizeof secret, &secret_len) ||
         gale_http_auth_init(&auth, secret, secret_len)))
        rc = GALE_EXIT_ERROR;
    explicit_bzero(secret, sizeof secret);
    if (rc) {
        gale_tls_ctx_free(web);
        gale_topology_free(topo);
        gale_cli_args_free(&a);
        return rc;
    }
    /* What the run shows while it runs: the endpoint, and on a terminal the status line. */
    gale_run_http_t http;
    gale_run_http_init(&http, a.http ? http_host : NULL, http_port, topo);
    http.version = gale_cli_version();
    http.auth = a.secret_file ? &auth : NULL;
    http.tls = web;
    http.status_line = !a.quiet && isatty(STDERR_FILENO);
    bool watched = a.http || http.status_line;
    if (workers > 1) {
        rc = run_workers(&a, topo, workers, watched ? &http : NULL);
        gale_topology_free(topo);
        gale_cli_args_free(&a);
        gale_tls_ctx_free(web);
        return rc;
    }
    gale_runtime_opts_t opts = {
        .threads = a.threads, .duration_s = a.duration_s, .handle_signals = true, .fresh_state = a.fresh};
    if (watched) opts.watcher = &http.watcher;
    gale_runtime_t *rt = NULL;
    gale_diag_t diag = {{0}};
    rc = gale_runtime_new(topo, &opts, &rt, &diag);
    if (rc) {
        fprintf(stderr, "gale: %s\n", diag.msg);
    } else {
        rc = gale_runtime_run(rt);
        if (!a.quiet) gale_runtime_report(rt, stderr);
        if (a.stats) write_stats(rt, a.stats);
        if (rc) fprintf(stderr, "gale: %s: %s (see the errors above)\n", a.file, run_failure(rc));
        if (rt->stuck) { /* a task's thread still runs inside the runtime: nothing of it may be freed */
            fflush(NULL);
            _exit(GALE_EXIT_ERROR);
        }
    }
    gale_runtime_free(rt);
    gale_topology_free(topo);
    gale_cli_args_free(&a);
    gale_tls_ctx_free(web);
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

static void print_streams(const gale_topology_t *topo)
{
    for (size_t i = 0; i < topo->n_components; i++) {
        const gale_component_t *c = &topo->components[topo->order[i]];
        printf("  %s %s (%s, parallelism %d, tasks %u-%u)\n", c->kind == GALE_SPOUT ? "spout" : "bolt", c->name,
               c->plugin->path, c->parallelism, c->first_task, c->first_task + (uint32_t)c->parallelism - 1);
        for (size_t s = 0; s < c->n_streams; s++) {
            printf("    stream %s: [", c->streams[s].name);
            for (size_t f = 0; f < c->streams[s].n_fields; f++) printf("%s%s", f ? ", " : "", c->streams[s].fields[f]);
            printf("]%s\n", c->streams[s].direct ? " direct" : "");
        }
        for (size_t k = 0; k < c->n_inputs; k++)
            printf("    input %s/%s (%s)\n", c->inputs[k].from, c->inputs[k].stream,
                   gale_grouping_name(c->inputs[k].grouping));
    }
}

int gale_cmd_validate(int argc, char **argv)
{
    gale_cli_args_t a;
    int rc = gale_cli_parse(argc, argv, 0, "validate", &a);
    if (rc) {
        gale_cli_args_free(&a);
        return rc;
    }
    gale_topology_t *topo = gale_cli_open_topology(&a);
    if (topo) {
        printf("%s: ok: topology '%s', %zu components, %u tasks\n", a.file, topo->name, topo->n_components,
               topo->n_tasks);
        print_streams(topo);
    }
    gale_topology_free(topo);
    gale_cli_args_free(&a);
    return topo ? GALE_EXIT_OK : GALE_EXIT_ERROR;
}
