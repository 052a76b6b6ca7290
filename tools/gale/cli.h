/*
 * cli.h: what the `gale` subcommands share: the options of every command that reads a topology, and the exit
 * codes (0 success, 1 a topology, plugin or run error, 2 a usage error).
 */
#ifndef GALE_CLI_H
#define GALE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "topology.h"
#include "topology_read.h"

/* GALE_EXIT_HELP is not an exit code: a parser returns it when it has printed --help, and main exits 0. It is
   negative so that `if (rc) return rc;` passes it up through every command unchanged. */
enum { GALE_EXIT_OK = 0, GALE_EXIT_ERROR = 1, GALE_EXIT_USAGE = 2, GALE_EXIT_HELP = -1 };

/* One subcommand: its name, its usage (the synopsis, printed on usage errors and first in --help), what it does,
   and its options (printed by --help after the synopsis). The one place each command's usage is written. */
typedef struct gale_cli_command {
    const char *name;
    const char *synopsis; /* "gale run [--workers N] ... FILE"; lines after the first are indented */
    const char *summary;  /* one line, for `gale help` */
    const char *options;  /* NULL or lines "  --opt VALUE   what it does\n" */
    int (*run)(int argc, char **argv);
    int hidden; /* not listed by `gale help` (gale worker is started by supervisors, not people) */
} gale_cli_command_t;

/* The command named `name` (static storage), or NULL. */
const gale_cli_command_t *gale_cli_command(const char *name);
/* The text of `gale help`, on `f`. */
void gale_cli_print_help(FILE *f);
/* Whether `arg` asks for help: --help or -h. */
int gale_cli_is_help(const char *arg);
/* Whether any of argv[1..] asks for help, so that help wins over any usage error, wherever it is. With
   `options_end_at_operand` (gale ctl, whose words after HOST:PORT are the daemon's), only the options before the
   first operand count; there every option takes a value, as "--opt VALUE" or "--opt=VALUE". */
int gale_cli_wants_help(int argc, char **argv, int options_end_at_operand);
/* Prints command `name`'s usage and options on stdout; returns GALE_EXIT_HELP. */
int gale_cli_help(const char *name);
/* Prints "gale NAME: PROBLEM", NAME's synopsis and a pointer to `gale NAME --help` on stderr; returns
   GALE_EXIT_USAGE. */
int gale_cli_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The one wording of an unknown option: gale_cli_usage_error(name, "unknown option '%s'", arg). */
int gale_cli_unknown_option(const char *name, const char *arg);

typedef struct gale_cli_args {
    const char *file;
    gale_override_t *overrides; /* owned by the args; free with gale_cli_args_free */
    size_t n_overrides;
    double duration_s;
    int threads;
    int quiet;
    int fresh;         /* run: --fresh */
    const char *stats; /* --stats FILE: the metrics as JSON */
    int workers;       /* --workers N */
    const char *http;  /* --http [HOST:]PORT: the REST API and /metrics of the run */
    const char *secret_file; /* --secret-file FILE: with --http, the secret of the actions' tokens */
    const char *tls;         /* run: --tls DIR/NAME, TLS between the workers */
} gale_cli_args_t;

/* Parses `--set K=V`, and when `run_options` also `--duration S`, `--threads N`, `--quiet`, `--stats FILE`, then
   one FILE, for command `cmd` (whose usage errors and --help it prints).
   Returns 0, GALE_EXIT_HELP after printing --help, or GALE_EXIT_USAGE after printing the problem. On a nonzero
   return *out still owns what it holds: free it with gale_cli_args_free. */
int gale_cli_parse(int argc, char **argv, int run_options, const char *cmd, gale_cli_args_t *out);
void gale_cli_args_free(gale_cli_args_t *a);

/* The value of an option given as "--opt VALUE" or "--opt=VALUE" at argv[*i] (moving *i past it), or NULL. */
const char *gale_cli_option_value(int argc, char **argv, int *i, const char *name);
int gale_cli_is_option(const char *arg, const char *name);
/* An integer option's value: 0 with *out set, or -1 when `v` is not an integer from min to max. */
int gale_cli_parse_int(const char *v, long min, long max, int *out);
/* The path of the running gale binary, to start workers with. 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_self_exe(char *buf, size_t cap);
/* The cluster secret from `path`: 16 bytes or more, trailing whitespace dropped, the file not readable by group
   or others. 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_read_secret(const char *path, char *buf, size_t cap, size_t *len);
struct gale_tls_ctx;
/* The TLS context of `prefix` DIR/NAME (DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key: gale certs issue DIR NAME). 0, or
   GALE_EXIT_ERROR after printing why. */
int gale_cli_tls_open(const char *prefix, struct gale_tls_ctx **out);
/* The same for HTTPS: a server context that asks its clients for no certificate (browsers, Prometheus, curl). */
int gale_cli_tls_open_web(const char *prefix, struct gale_tls_ctx **out);
/* Every control connection this process opens speaks TLS with `prefix`'s certificate (daemon_client.h): the
   context lives until the process ends. 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_client_tls(const char *prefix);

/* Resolves the host name or IPv4 address `name` given to option `option` of command `cmd` (e.g. "localhost")
   to an IPv4 address in dotted form in `buf`, at start-up (getaddrinfo may block). The worker transport is IPv4
   only. A wildcard address (0.0.0.0) is refused: workers are reached at the address they listen on, and peers
   cannot connect to 0.0.0.0. 0, GALE_EXIT_USAGE or GALE_EXIT_ERROR after printing why. */
int gale_cli_resolve_host(const char *cmd, const char *option, const char *name, char *buf, size_t cap);

/* Loads and resolves the topology of `a`, printing the diagnostic on failure. NULL on failure. */
gale_topology_t *gale_cli_open_topology(const gale_cli_args_t *a);

int gale_cmd_run(int argc, char **argv);
int gale_cmd_validate(int argc, char **argv);
int gale_cmd_journal(int argc, char **argv);
int gale_cmd_worker(int argc, char **argv);
int gale_cmd_replay(int argc, char **argv);
int gale_cmd_supervisor(int argc, char **argv);
int gale_cmd_ctl(int argc, char **argv);
int gale_cmd_nimbus(int argc, char **argv);
int gale_cmd_submit(int argc, char **argv);
int gale_cmd_list(int argc, char **argv);
int gale_cmd_kill(int argc, char **argv);
int gale_cmd_activate(int argc, char **argv);
int gale_cmd_deactivate(int argc, char **argv);
int gale_cmd_rebalance(int argc, char **argv);
int gale_cmd_stats(int argc, char **argv);
int gale_cmd_swap(int argc, char **argv);
int gale_cmd_dev_cluster(int argc, char **argv);
int gale_cmd_token(int argc, char **argv);
int gale_cmd_keygen(int argc, char **argv);
int gale_cmd_audit(int argc, char **argv);
int gale_cmd_certs(int argc, char **argv);
int gale_cmd_monitor(int argc, char **argv);
/* gale's version ("0.1.0"), as `gale version` prints it. */
const char *gale_cli_version(void);
int gale_cmd_version(int argc, char **argv);
int gale_cmd_help(int argc, char **argv);

/* Which journal records a command takes: --spout NAME, --cause timeout|fail|stopped, --since T, --until T, where T is
   milliseconds since the epoch or an ISO 8601 UTC time (2026-11-25T02:40:00Z); and --key FILE, the key that opens
   a sealed journal's records (config.journal_key). */
typedef struct gale_journal_filter {
    const char *spout;
    const char *cause;
    int64_t since_ms, until_ms; /* 0: no bound */
    const char *key_file;       /* NULL: records in clear only */
} gale_journal_filter_t;

struct gale_journal_record;
struct gale_journal_reader;
struct gale_journal_key;
/* Opens the journal at `path` for reading with f->key_file's key (loaded into *key, which the reader borrows: wipe
   it after gale_journal_reader_free). 0, or GALE_EXIT_ERROR after printing why. */
int gale_cli_journal_open(const gale_journal_filter_t *f, const char *path, struct gale_journal_reader *r,
                          struct gale_journal_key *key);
/* The end of a read: "N records" and what was skipped or refused, on stderr. */
void gale_cli_journal_summary(const struct gale_journal_reader *r, size_t n);
/* Consumes a filter option at argv[*i] for command `cmd`: 1 when it was one, 0 when not, GALE_EXIT_USAGE (after
   printing) when it was malformed. */
int gale_cli_filter_option(int argc, char **argv, int *i, gale_journal_filter_t *f, const char *cmd);
int gale_journal_filter_match(const gale_journal_filter_t *f, const struct gale_journal_record *r);
/* Prints a skipped-record report line to stderr, prefixed with the journal's path (`arg`). */
void gale_cli_journal_report(void *arg, const char *line);
/* "2026-11-25T02:40:00.123Z" */
void gale_cli_format_time(int64_t ms, char *buf, size_t cap);

#endif
