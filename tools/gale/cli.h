/*
 * cli.h: what the `gale` subcommands share: the options of every command that reads a topology, and the exit
 * codes (0 success, 1 a topology, plugin or run error, 2 a usage error).
 */
#ifndef GALE_CLI_H
#define GALE_CLI_H

#include <stddef.h>

#include "topology.h"

enum { GALE_EXIT_OK = 0, GALE_EXIT_ERROR = 1, GALE_EXIT_USAGE = 2 };

typedef struct gale_cli_args {
    const char *file;
    gale_override_t *overrides; /* owned by the args; free with gale_cli_args_free */
    size_t n_overrides;
    double duration_s;
    int threads;
    int quiet;
    const char *stats; /* --stats FILE: the figures as JSON */
    int workers;       /* --workers N */
} gale_cli_args_t;

/* Parses `--set K=V`, and when `run_options` also `--duration S`, `--threads N`, `--quiet`, `--stats FILE`, then
   one FILE.
   Returns 0, or GALE_EXIT_USAGE after printing the problem and `usage`. */
int gale_cli_parse(int argc, char **argv, int run_options, const char *usage, gale_cli_args_t *out);
void gale_cli_args_free(gale_cli_args_t *a);

/* The value of an option given as "--opt VALUE" or "--opt=VALUE" at argv[*i] (moving *i past it), or NULL. */
const char *gale_cli_option_value(int argc, char **argv, int *i, const char *name);
int gale_cli_is_option(const char *arg, const char *name);
/* The path of the running gale binary, to start workers with. 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_self_exe(char *buf, size_t cap);
/* The cluster secret from `path`: 16 bytes or more, trailing whitespace dropped, the file not readable by group
   or others. 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_read_secret(const char *path, char *buf, size_t cap, size_t *len);

/* Loads and resolves the topology of `a`, printing the diagnostic on failure. NULL on failure. */
gale_topology_t *gale_cli_open_topology(const gale_cli_args_t *a);

int gale_cmd_run(int argc, char **argv);
int gale_cmd_validate(int argc, char **argv);
int gale_cmd_journal(int argc, char **argv);
int gale_cmd_worker(int argc, char **argv);
int gale_cmd_replay(int argc, char **argv);
int gale_cmd_supervisor(int argc, char **argv);
int gale_cmd_ctl(int argc, char **argv);

/* Which journal records a command takes: --spout NAME, --cause timeout|fail, --since T, --until T, where T is
   milliseconds since the epoch or an ISO 8601 UTC time (2026-11-25T02:40:00Z). */
typedef struct gale_journal_filter {
    const char *spout;
    const char *cause;
    int64_t since_ms, until_ms; /* 0: no bound */
} gale_journal_filter_t;

struct gale_journal_record;
/* Consumes a filter option at argv[*i]: 1 when it was one, 0 when not, GALE_EXIT_USAGE (after printing) when it
   was malformed. */
int gale_cli_filter_option(int argc, char **argv, int *i, gale_journal_filter_t *f, const char *usage);
int gale_journal_filter_match(const gale_journal_filter_t *f, const struct gale_journal_record *r);
/* Prints a skipped-record report line to stderr, prefixed with the journal's path (`arg`). */
void gale_cli_journal_report(void *arg, const char *line);
/* "2026-11-25T02:40:00.123Z" */
void gale_cli_format_time(int64_t ms, char *buf, size_t cap);

#endif
