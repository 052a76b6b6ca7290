/* `gale worker`: one worker of `gale run --workers N`, started by its supervisor (internal; not for people). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "runtime.h"

/* The first line on fd 3 is "secret HEX": read byte by byte, so that nothing after it is taken from the pipe. */
static int read_secret(char *out, size_t cap)
{
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read(3, line + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        if (line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    if (strncmp(line, "secret ", 7) || strlen(line + 7) >= cap) return -1;
    strcpy(out, line + 7);
    return 0;
}

int gale_cmd_worker(int argc, char **argv)
{
    int index = -1, workers = 0;
    const char *listen = "127.0.0.1";
    char listen_addr[64];
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--index") && i + 1 < argc) index = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--listen") && i + 1 < argc) listen = argv[++i];
        else rest[nrest++] = argv[i];
    }
    gale_cli_args_t a;
    int rc = gale_cli_parse(nrest, rest, 1, "worker", &a);
    if (!rc && (index < 0 || workers < 2 || index >= workers))
        rc = gale_cli_usage_error("worker", "--index I and --workers N are needed, with 0 <= I < N and N >= 2");
    if (!rc) rc = gale_cli_resolve_host("worker", "--listen", listen, listen_addr, sizeof listen_addr);
    if (rc) {
        free(rest);
        gale_cli_args_free(&a);
        return rc;
    }
    /* A worker never outlives its supervisor, however the supervisor ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return GALE_EXIT_ERROR; /* the supervisor died before the line above took effect */
    signal(SIGPIPE, SIG_IGN);
    /* The supervisor drives the lifecycle over the control pipe; signals meant for it must not kill us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    char secret[128];
    if (read_secret(secret, sizeof secret)) {
        fprintf(stderr, "gale: worker %d: no secret from the supervisor (run topologies with gale run)\n", index);
        free(rest);
        gale_cli_args_free(&a);
        return GALE_EXIT_USAGE;
    }
    gale_topology_t *topo = gale_cli_open_topology(&a);
    gale_runtime_t *rt = NULL;
    rc = GALE_EXIT_ERROR;
    if (topo) {
        gale_runtime_opts_t opts = {.threads = a.threads, .n_workers = workers, .worker_index = index, .listen_host = listen_addr,
                                    .secret = secret, .secret_len = strlen(secret)};
        gale_diag_t d = {{0}};
        if (gale_runtime_new(topo, &opts, &rt, &d) == 0) rc = gale_runtime_run(rt) ? GALE_EXIT_ERROR : GALE_EXIT_OK;
        else fprintf(stderr, "gale: %s\n", d.msg);
    }
    gale_runtime_free(rt);
    gale_topology_free(topo);
    gale_cli_args_free(&a);
    free(rest);
    return rc;
}
