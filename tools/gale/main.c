/* gale: the command. One file per family of subcommands; this one only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gale.h"

#define GALE_VERSION "0.1.0"

static const char HELP[] =
    "gale " GALE_VERSION ": a Storm-style stream processor\n"
    "\n"
    "usage: gale COMMAND [OPTIONS] ...\n"
    "\n"
    "commands:\n"
    "  run [--workers N] [--duration S] [--threads N] [--quiet] [--stats FILE] [--set C.K=V]... FILE\n"
    "                  run a topology in this process, or in N worker processes under a supervisor\n"
    "  validate [--set C.K=V]... FILE\n"
    "                  check a topology file and its plugins without running it\n"
    "  journal ls|show [--json] [FILTERS] JOURNAL\n"
    "                  list or print the records of a failed-tuple journal\n"
    "  replay JOURNAL --topology FILE [--component BOLT [--trace]] [FILTERS]\n"
    "                  feed journaled tuples through a topology, or one bolt alone with a trace\n"
    "  supervisor --secret-file FILE [--host ADDR] [--port P] [--slots N]\n"
    "                  run the supervisor daemon of this host: topologies assigned over its control port\n"
    "  ctl --secret-file FILE [--timeout S] HOST:PORT COMMAND [ARG]...\n"
    "                  send one command to a supervisor (slots, assign, peers, kill, wait, status, stats, forget)\n"
    "  version         print the version and plugin ABI\n"
    "  help            this text\n"
    "\n"
    "FILTERS: --spout NAME, --cause timeout|fail, --since T, --until T (ms since the epoch or 2026-11-25T02:40:00Z)\n"
    "--set COMPONENT.KEY=VALUE overrides a component setting, --set config.KEY=VALUE a topology setting.\n"
    "exit codes: 0 success, 1 topology, plugin or run error, 2 usage error\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(HELP, stderr);
        return GALE_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return gale_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "validate")) return gale_cmd_validate(argc - 1, argv + 1);
    if (!strcmp(cmd, "journal")) return gale_cmd_journal(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay")) return gale_cmd_replay(argc - 1, argv + 1);
    if (!strcmp(cmd, "worker")) return gale_cmd_worker(argc - 1, argv + 1);
    if (!strcmp(cmd, "supervisor")) return gale_cmd_supervisor(argc - 1, argv + 1);
    if (!strcmp(cmd, "ctl")) return gale_cmd_ctl(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("gale %s (plugin ABI %d.%d)\n", GALE_VERSION, GALE_ABI_MAJOR, GALE_ABI_MINOR);
        return GALE_EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(HELP, stdout);
        return GALE_EXIT_OK;
    }
    fprintf(stderr, "gale: unknown command '%s'\n\n%s", cmd, HELP);
    return GALE_EXIT_USAGE;
}
