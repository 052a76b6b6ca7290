/* `gale worker`: one worker of `gale run --workers N`, started by its supervisor (internal; not for people). Its
   command line and the lines on its control pipe are control.h's. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "runtime.h"
#include "tls.h"
#include "topology_codec.h"
#include "worker.h"

int gale_cmd_worker(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return GALE_EXIT_ERROR;
    int nrest = 0;
    gale_worker_args_t wa;
    char why[160], listen_addr[64];
    gale_cli_args_t a;
    int rc;
    if (gale_cli_wants_help(argc, argv, 0)) {
        free(rest);
        return gale_cli_help("worker");
    }
    int bad = gale_control_worker_args_parse(argc, argv, &wa, rest, &nrest, why, sizeof why);
    rc = gale_cli_parse(nrest, rest, 1, "worker", &a); /* an unknown option is said first */
    if (!rc && bad) rc = gale_cli_usage_error("worker", "%s", why);
    if (!rc) rc = gale_cli_resolve_host("worker", "--listen", wa.listen, listen_addr, sizeof listen_addr);
    if (rc) {
        free(rest);
        gale_cli_args_free(&a);
        return rc;
    }
    int index = wa.index, workers = wa.workers;
    /* A worker never outlives its supervisor, however the supervisor ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return GALE_EXIT_ERROR; /* the supervisor died before the line above took effect */
    signal(SIGPIPE, SIG_IGN);
    /* The supervisor drives the lifecycle over the control pipe; signals meant for it must not kill us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    char secret[128];
    if (gale_control_read_secret(GALE_CONTROL_FD, secret, sizeof secret, why, sizeof why)) {
        fprintf(stderr, "gale: worker %d: %s (run topologies with gale run)\n", index, why);
        free(rest);
        gale_cli_args_free(&a);
        return GALE_EXIT_USAGE;
    }
    gale_topology_t *topo = NULL;
    if (wa.model) { /* cluster mode: the supervisor wrote the resolved model nimbus shipped */
        gale_diag_t d = {{0}};
        if (gale_topology_open_model(a.file, &topo, &d)) fprintf(stderr, "gale: %s\n", d.msg);
    } else {
        topo = gale_cli_open_topology(&a);
    }
    gale_runtime_t *rt = NULL;
    gale_tls_ctx_t *tls = NULL;
    rc = GALE_EXIT_ERROR;
    if (topo && wa.tls && gale_cli_tls_open(wa.tls, &tls)) {
        gale_topology_free(topo);
        topo = NULL;
    }
    if (topo) {
        gale_worker_opts_t wo = {.listen_host = listen_addr,
                                 .secret = secret,
                                 .secret_len = strlen(secret),
                                 .placement = wa.placement,
                                 .tls = tls};
        gale_runtime_driver_t driver = gale_worker_driver(&wo);
        gale_runtime_opts_t opts = {.threads = a.threads, .driver = &driver, .n_workers = workers, .worker_index = index};
        gale_diag_t d = {{0}};
        if (gale_runtime_new(topo, &opts, &rt, &d) == 0) rc = gale_runtime_run(rt) ? GALE_EXIT_ERROR : GALE_EXIT_OK;
        else fprintf(stderr, "gale: %s\n", d.msg);
        if (rt && rt->stuck) { /* a task's thread still runs inside the runtime: nothing of it may be freed */
            fflush(NULL);
            _exit(GALE_EXIT_ERROR);
        }
    }
    gale_runtime_free(rt);
    gale_topology_free(topo);
    gale_tls_ctx_free(tls);
    gale_cli_args_free(&a);
    free(rest);
    return rc;
}
