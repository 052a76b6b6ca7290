#include "cli.h"
#include "daemon_client.h"
#include "keyfile.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the commands and their usage ------------------------------------------------------------------------------ */

#define FILTER_OPTIONS                                                                                           \
    "  --spout NAME          only records of this spout\n"                                                       \
    "  --cause C             only records that ended this way: timeout, fail, stopped or rejected\n"             \
    "  --since T, --until T  only records from/up to T: milliseconds since the epoch, or 2026-11-25T02:40:00Z\n" \
    "  --key FILE            the key that opens a sealed journal's records (config.journal_key)\n"

#define SET_OPTION                                                                                                     \
    "  --set C.K=V           override setting K of component C (config.K: a topology setting, also under Storm's\n" \
    "                        name, as topology.max.spout.pending=500); V reads as an integer, a float,\n"          \
    "                        true/false, a \"quoted string\", or else a plain string\n"

static const gale_cli_command_t COMMANDS[] = {
    {"run",
     "gale run [--workers N] [--duration S] [--threads N] [--quiet] [--stats FILE] [--http [HOST:]PORT "
     "[--secret-file FILE]] [--tls DIR/NAME] [--fresh] [--set C.K=V]... FILE",
     "run a topology in this process, or in N worker processes under a supervisor",
     "  --workers N           run in N worker processes on this host (1 to 64; default config.workers)\n"
     "  --duration S          stop after S seconds (default: when the spouts are done, or on SIGINT/SIGTERM)\n"
     "  --threads N           executor threads per process (default config.threads: one per core)\n"
     "  --quiet               no metrics on stderr at the end\n"
     "  --stats FILE          write the metrics as JSON to FILE\n"
     "  --http [HOST:]PORT    serve the web UI, Storm UI's REST API and Prometheus's /metrics while it runs\n"
     "                        (HOST default 127.0.0.1; PORT 0: any, logged)\n"
     "  --secret-file FILE    with --http: the secret of the POST actions' tokens (gale token); without it the\n"
     "                        actions (activate, deactivate, kill) are refused\n"
     "  --tls DIR/NAME        with --workers: the workers speak TLS 1.3 to each other, with DIR/ca.crt,\n"
     "                        DIR/NAME.crt and DIR/NAME.key (gale certs); default in clear on 127.0.0.1\n"
     "  --fresh               with checkpoints: remove the topology's state and start from nothing, instead\n"
     "                        of resuming from its last complete checkpoint\n" SET_OPTION,
     gale_cmd_run, 0},
    {"validate", "gale validate [--set C.K=V]... FILE", "check a topology file and its plugins without running it",
     SET_OPTION, gale_cmd_validate, 0},
    {"journal", "gale journal ls|show [--json] [FILTERS] JOURNAL",
     "list (ls) or print (show) the records of a failed-tuple journal",
     "  --json                one JSON object per record on stdout\n" FILTER_OPTIONS, gale_cmd_journal, 0},
    {"replay",
     "gale replay JOURNAL --topology FILE [--component BOLT [--trace]] [--threads N] [--quiet] [FILTERS]\n"
     "[--set C.K=V]...",
     "feed journaled tuples through a topology, or through one bolt alone with a trace",
     "  --topology FILE       the topology to replay through (required)\n"
     "  --component BOLT      into this bolt alone, in this process\n"
     "  --trace               with --component: print what the bolt does with each tuple\n"
     "  --threads N           executor threads (1 to 4096)\n"
     "  --quiet               no metrics on stderr at the end\n" FILTER_OPTIONS SET_OPTION,
     gale_cmd_replay, 0},
    {"supervisor",
     "gale supervisor --secret-file FILE [--host ADDR] [--port P] [--slots N] [--cores N] [--allow-path DIR]...\n"
     "[--zk HOST:PORT[,...] [--root PATH] [--zk-session-timeout S] [--data DIR]] [--tls DIR/NAME] [--audit-log FILE]",
     "run the supervisor daemon of this host: topologies assigned over its control port or by nimbus",
     "  --secret-file FILE    the cluster secret: 16 bytes or more, readable by its owner only (required)\n"
     "  --host ADDR           the address (or host name, resolved at start) of the control port and the workers;\n"
     "                        peers connect to it, so not 0.0.0.0 (default 127.0.0.1)\n"
     "  --port P              the control port (default 0: any; printed as \"listening HOST:PORT\")\n"
     "  --slots N             worker slots on this host, 1 to 1024 (default 4)\n"
     "  --cores N             the cores its workers share out (default: the host's); give each of several\n"
     "                        supervisors on one host its part, or their workers run more threads than cores\n"
     "  --allow-path DIR      a folder assignments may name files in, besides the daemon's own (repeatable, 64)\n"
     "  --zk HOSTS            cluster mode: publish this host in the ZooKeeper ensemble HOST:PORT[,HOST:PORT...]\n"
     "                        (ROOT/supervisors/HOST:PORT: its slots and free slots), for nimbus to find\n"
     "  --root PATH           with --zk: the ZooKeeper folder of the cluster (default /gale)\n"
     "  --zk-session-timeout S  with --zk: seconds without ZooKeeper before nimbus counts this host gone\n"
     "                        (default 20)\n"
     "  --data DIR            with --zk: the cache of what nimbus ships and the folders topologies run in\n"
     "                        (default gale-data; assignments may name files there)\n"
     "  --tls DIR/NAME        its control port, its fetches from nimbus and the workers it starts speak TLS 1.3,\n"
     "                        with DIR/ca.crt, DIR/NAME.crt and DIR/NAME.key (gale certs); without it they\n"
     "                        speak in clear, and a cluster (--zk) warns at the start\n"
     "  --audit-log FILE      append who did what here (assign, kill, ..., refused logins) to FILE, each line\n"
     "                        chained to the last by a SHA-256 (gale audit verify); default with --zk:\n"
     "                        DATA/supervisor-HOST-PORT-audit.log, else none\n",
     gale_cmd_supervisor, 0},
    {"nimbus",
     "gale nimbus --zk HOST:PORT[,HOST:PORT...] --secret-file FILE [--host ADDR] [--port P] [--data DIR]\n"
     "[--root PATH] [--zk-session-timeout S] [--http [HOST:]PORT] [--tls DIR/NAME] [--audit-log FILE]",
     "run a nimbus of a cluster on ZooKeeper: one of several leads, placing topologies on the supervisors",
     "  --zk HOSTS            the ZooKeeper ensemble, HOST:PORT[,HOST:PORT...] (required)\n"
     "  --secret-file FILE    the cluster secret: the ACL of every node gale writes in ZooKeeper (required)\n"
     "  --host ADDR           the address of its control port, where clients and supervisors reach it\n"
     "                        (default 127.0.0.1)\n"
     "  --port P              the control port (default 0: any; printed as \"listening HOST:PORT\")\n"
     "  --data DIR            where the uploaded plugins, models and resources are kept (default gale-data;\n"
     "                        a copy of each is in ZooKeeper too, for a nimbus that takes over)\n"
     "  --root PATH           the ZooKeeper folder of the cluster (default /gale)\n"
     "  --zk-session-timeout S  seconds without ZooKeeper before the lead passes on (default 20, Storm's\n"
     "                        storm.zookeeper.session.timeout; the ensemble bounds it)\n"
     "  --http [HOST:]PORT    serve the web UI, Storm UI's REST API and /metrics of every topology of the\n"
     "                        cluster (HOST default 127.0.0.1; PORT 0: any, logged); its actions need tokens\n"
     "                        of the cluster secret (gale token)\n"
     "  --tls DIR/NAME        its control port speaks TLS 1.3 (DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key): every\n"
     "                        client, supervisor and user, needs a certificate of the same CA (gale certs)\n"
     "  --audit-log FILE      append who did what (submit, kill, rebalance, ..., refused logins) to FILE, each\n"
     "                        line chained to the last by a SHA-256 (default DATA/nimbus-HOST-PORT-audit.log)\n",
     gale_cmd_nimbus, 0},
    {"submit",
     "gale submit (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE [--name N] [--timeout S]\n"
     "[--set C.K=V]... FILE",
     "run a topology on a cluster: checked here, shipped to nimbus with its plugins, placed on the supervisors",
     "  --zk HOSTS            find the leading nimbus in this ZooKeeper ensemble (or --nimbus)\n"
     "  --root PATH           with --zk: the ZooKeeper folder of the cluster (default /gale)\n"
     "  --nimbus HOST:PORT    a nimbus's control port (a standby sends the command on to the leader)\n"
     "  --secret-file FILE    the cluster secret (required)\n"
     "  --tls DIR/NAME        speak TLS 1.3 to nimbus as user NAME (DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key),\n"
     "                        as a nimbus started with --tls requires\n"
     "  --name N              run it under this name (default the file's `name`)\n"
     "  --timeout S           seconds for its workers to start before nimbus gives up and removes it (default "
     "60)\n" SET_OPTION,
     gale_cmd_submit, 0},
    {"list", "gale list (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE [--timeout S]",
     "the topologies of a cluster: name, status, workers, executors, uptime",
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_list, 0},
    {"kill", "gale kill (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE [--wait S] NAME",
     "stop a topology of a cluster: its spouts deactivated, its tuples drained for up to S seconds, then removed",
     "  --wait S              seconds to drain before the workers stop (default 30)\n"
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_kill, 0},
    {"activate", "gale activate (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE NAME",
     "let a deactivated topology's spouts emit again (Storm's activate)",
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_activate, 0},
    {"deactivate", "gale deactivate (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE NAME",
     "stop calling a topology's spouts, without stopping it: the tuples in flight finish, bolts run on",
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_deactivate, 0},
    {"rebalance",
     "gale rebalance (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE [--workers N]\n"
     "               [--parallelism COMPONENT=N]... [--wait S] NAME",
     "spread a running topology over another number of workers, or change a component's parallelism: it drains, is "
     "placed again, and its spouts resume where they were",
     "  --workers N           the worker slots it runs in from then on\n"
     "  --parallelism C=N     component C's tasks (repeatable); a spout whose parallelism changes starts afresh\n"
     "  --wait S              seconds to drain before it is placed again (default 30)\n"
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_rebalance, 0},
    {"stats", "gale stats (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE [--json] NAME",
     "the figures of a running topology of a cluster, merged over every host: as a table, or as the document "
     "gale run --stats writes",
     "  --json                the JSON document of gale run --stats (one line), not the table\n"
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_stats, 0},
    {"swap", "gale swap (--zk HOSTS [--root PATH] | --nimbus HOST:PORT) --secret-file FILE NAME COMPONENT FILE.so",
     "hot swap: replace COMPONENT's plugin (a bolt's or a spout's) in running topology NAME, one worker at a time "
     "on every host, without a restart; refused (and nothing changed) when the plugin is of another kind, drops or "
     "changes a stream or a field (adding some is allowed), or fails to open",
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE, --timeout S, --tls DIR/NAME  as for gale\n"
     "                        submit\n",
     gale_cmd_swap, 0},
    {"dev-cluster",
     "gale dev-cluster [--dir DIR] [--supervisors N] [--slots N] [--zk-port P] [--nimbus-port P] [--no-tls]",
     "a cluster on this host to try cluster mode: ZooKeeper, one nimbus and N supervisors, until Ctrl-C",
     "  --dir DIR             the folder of its secret, data and logs, new or empty (default a new\n"
     "                        $TMPDIR/gale-dev-cluster-XXXXXX, kept after it stops, for the logs)\n"
     "  --supervisors N       supervisors to start, 1 to 16 (default 2)\n"
     "  --slots N             worker slots of each supervisor, 1 to 1024 (default 2)\n"
     "  --zk-port P           ZooKeeper's port on 127.0.0.1 (default a free one)\n"
     "  --nimbus-port P       nimbus's control port on 127.0.0.1 (default a free one)\n"
     "  --no-tls              everything in clear; by default DIR/certs holds a new CA and certificates for\n"
     "                        nimbus, each supervisor and a user (admin), and every control port and worker\n"
     "                        speaks TLS\n",
     gale_cmd_dev_cluster, 0},
    {"ctl", "gale ctl --secret-file FILE [--timeout S] HOST:PORT COMMAND [ARG]...",
     "send one command to a supervisor (slots, assign, peers, kill, activate, deactivate, wait, status, stats, "
     "forget, swap)",
     "  --secret-file FILE    the cluster secret (required)\n"
     "  --tls DIR/NAME        speak TLS 1.3 to a supervisor started with --tls, as NAME\n"
     "  --timeout S           seconds to wait for the reply (default 60; none for wait)\n",
     gale_cmd_ctl, 0},
    {"worker",
     "gale worker --index I --workers N [--listen HOST] [--placement V] [--threads T] [--model] [--set C.K=V]... "
     "FILE",
     "one worker of a topology, started by a supervisor (not for people)",
     "  --index I             this worker's slot, 0 to N - 1\n"
     "  --workers N           worker slots of the whole topology (2 or more)\n"
     "  --listen HOST         the address (or host name) to listen on (default 127.0.0.1)\n"
     "  --placement V         cluster mode: the placement version its slot runs under (peers of older ones are\n"
     "                        refused)\n"
     "  --threads T           executor threads\n"
     "  --model               FILE is a resolved model, as cluster mode ships it (no --set then)\n" SET_OPTION,
     gale_cmd_worker, 1},
    {"monitor",
     "gale monitor URL|NAME [--topology NAME] [--component C] [--interval S] [--count N] [--zk HOSTS [--root PATH] | "
     "--nimbus HOST:PORT] [--secret-file FILE] [--tls DIR/NAME]",
     "print a running topology's rates every interval, a line per component, like storm monitor",
     "  URL                   a gale HTTP endpoint (gale run --http), as http://127.0.0.1:8080, or\n"
     "                        https://... with --tls DIR/NAME (the server checked against DIR/ca.crt)\n"
     "  NAME                  a topology of the cluster (with --zk or --nimbus, and --secret-file)\n"
     "  --topology NAME       at URL: the topology (default the only one there)\n"
     "  --component C         only this component (default every one but the system's)\n"
     "  --interval S          seconds between lines (default 5, at least 0.1)\n"
     "  --count N             stop after N intervals (default: until Ctrl-C or the topology is gone)\n"
     "  --zk HOSTS, --root PATH, --nimbus HOST:PORT, --secret-file FILE  as for gale submit\n",
     gale_cmd_monitor, 0},
    {"token", "gale token --secret-file FILE [--method M] PATH",
     "print the Authorization header that lets one HTTP request change a topology (POST PATH, good for 5 minutes)",
     "  --secret-file FILE    the secret the endpoint was started with (gale run --secret-file, or the cluster's)\n"
     "  --method M            the request's method (default POST)\n"
     "  PATH                  the request's path, as /api/v1/topology/NAME/kill\n",
     gale_cmd_token, 0},
    {"certs", "gale certs init DIR [--days N] | gale certs issue DIR NAME [--role R] [--host H]... [--days N]",
     "make a cluster's CA (init), or a key and certificate it signs for a node or a user (issue)",
     "  init DIR              DIR/ca.crt and DIR/ca.key (mode 600), an EC P-256 CA (default 3650 days)\n"
     "  issue DIR NAME        DIR/NAME.crt and DIR/NAME.key signed by DIR's CA, for TLS both ways (default 365\n"
     "                        days); NAME is the certificate's common name: the node's or the user's identity\n"
     "  --role R              what its holder may do on nimbus: admin (everything), deployer (submit, and kill,\n"
     "                        rebalance, swap, activate, deactivate its own topologies), viewer (list, stats),\n"
     "                        node (nimbus and the supervisors themselves; the default)\n"
     "  --host H              also valid for host name or IPv4 address H (repeatable)\n"
     "  --days N              how long it is valid\n"
     "                        Neither ever replaces a file.\n",
     gale_cmd_certs, 0},
    {"audit", "gale audit verify FILE",
     "check an audit log's chain: every line's hash, and each line's link to the one before",
     "  FILE                  a nimbus's or a supervisor's --audit-log\n", gale_cmd_audit, 0},
    {"keygen", "gale keygen FILE",
     "make a key: 32 random bytes in FILE, mode 600, for config.journal_key (never replaces a file)",
     "  FILE                  where the key goes; it must not exist\n", gale_cmd_keygen, 0},
    {"version", "gale version", "print the version and plugin ABI", NULL, gale_cmd_version, 0},
    {"help", "gale help [COMMAND]", "this text, or COMMAND's usage and options", NULL, gale_cmd_help, 0},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

const gale_cli_command_t *gale_cli_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

/* A synopsis, its continuation lines indented by `indent` spaces. */
static void print_synopsis(FILE *f, const char *synopsis, int indent)
{
    for (const char *p = synopsis; *p; p++) {
        fputc(*p, f);
        if (*p == '\n') fprintf(f, "%*s", indent, "");
    }
    fputc('\n', f);
}

void gale_cli_print_help(FILE *f)
{
    fputs("usage: gale COMMAND [OPTIONS] ...\n\ncommands:\n", f);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (COMMANDS[i].hidden) continue;
        fputs("  ", f);
        print_synopsis(f, COMMANDS[i].synopsis + strlen("gale "), 4);
        fprintf(f, "      %s\n", COMMANDS[i].summary);
    }
    fputs("\nFILTERS pick journal records: --spout NAME, --cause timeout|fail|stopped|rejected, --since T, --until T;\n"
          "--key FILE opens a sealed journal's records.\n"
          "'gale help COMMAND' or 'gale COMMAND --help' shows a command's options.\n"
          "exit codes: 0 success, 1 topology, plugin or run error, 2 usage error\n",
          f);
}

int gale_cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int gale_cli_wants_help(int argc, char **argv, int options_end_at_operand)
{
    for (int i = 1; i < argc; i++) {
        if (gale_cli_is_help(argv[i])) return 1;
        if (!options_end_at_operand) continue;
        if (argv[i][0] != '-') return 0;
        if (!strchr(argv[i], '=')) i++; /* its value */
    }
    return 0;
}

int gale_cli_help(const char *name)
{
    const gale_cli_command_t *c = gale_cli_command(name);
    fputs("usage: ", stdout);
    print_synopsis(stdout, c->synopsis, 7);
    printf("\n%s\n", c->summary);
    if (c->options) printf("\noptions:\n%s", c->options);
    printf("  -h, --help            this text\n");
    return GALE_EXIT_HELP;
}

int gale_cli_usage_error(const char *name, const char *fmt, ...)
{
    const gale_cli_command_t *c = gale_cli_command(name);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "gale %s: %s\nusage: ", name, msg);
    print_synopsis(stderr, c->synopsis, 7);
    fprintf(stderr, "see 'gale %s --help'\n", name);
    return GALE_EXIT_USAGE;
}

int gale_cli_unknown_option(const char *name, const char *arg)
{
    return gale_cli_usage_error(name, "unknown option '%s'", arg);
}

static int parse_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

static int add_override(gale_cli_args_t *out, const char *assignment)
{
    gale_override_t *o = realloc(out->overrides, (out->n_overrides + 1) * sizeof *o);
    if (!o) return -1;
    out->overrides = o;
    out->overrides[out->n_overrides++].assignment = assignment;
    return 0;
}

/* Takes the value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL when it is missing. */
const char *gale_cli_option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

int gale_cli_is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int gale_cli_parse_int(const char *v, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) return -1;
    *out = (int)n;
    return 0;
}

int gale_cli_parse(int argc, char **argv, int run_options, const char *cmd, gale_cli_args_t *out)
{
    memset(out, 0, sizeof *out);
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help(cmd);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (gale_cli_is_option(a, "--set")) {
            if (!(v = gale_cli_option_value(argc, argv, &i, "--set"))) return gale_cli_usage_error(cmd, "%s needs COMPONENT.KEY=VALUE", a);
            if (!strchr(v, '=') || !strchr(v, '.')) return gale_cli_usage_error(cmd, "--set %s: expected COMPONENT.KEY=VALUE", v);
            if (add_override(out, v)) return gale_cli_usage_error(cmd, "%s", "out of memory");
        } else if (run_options && gale_cli_is_option(a, "--duration")) {
            if (!(v = gale_cli_option_value(argc, argv, &i, "--duration")) || parse_number(v, &out->duration_s))
                return gale_cli_usage_error(cmd, "%s needs a number of seconds", a);
        } else if (run_options && gale_cli_is_option(a, "--threads")) {
            double t;
            if (!(v = gale_cli_option_value(argc, argv, &i, "--threads")) || parse_number(v, &t) || t < 1 || t > 4096)
                return gale_cli_usage_error(cmd, "%s needs a number of threads from 1 to 4096", a);
            out->threads = (int)t;
        } else if (run_options && gale_cli_is_option(a, "--workers")) {
            double w;
            if (!(v = gale_cli_option_value(argc, argv, &i, "--workers")) || parse_number(v, &w) || w < 1 || w > 64)
                return gale_cli_usage_error(cmd, "%s needs a number of workers from 1 to 64", a);
            out->workers = (int)w;
        } else if (run_options && gale_cli_is_option(a, "--stats")) {
            if (!(out->stats = gale_cli_option_value(argc, argv, &i, "--stats"))) return gale_cli_usage_error(cmd, "%s needs a file", a);
        } else if (run_options && gale_cli_is_option(a, "--http") && !strcmp(cmd, "run")) {
            if (!(out->http = gale_cli_option_value(argc, argv, &i, "--http")))
                return gale_cli_usage_error(cmd, "%s needs [HOST:]PORT", a);
        } else if (run_options && gale_cli_is_option(a, "--secret-file") && !strcmp(cmd, "run")) {
            if (!(out->secret_file = gale_cli_option_value(argc, argv, &i, "--secret-file")))
                return gale_cli_usage_error(cmd, "%s needs a file", a);
        } else if (run_options && gale_cli_is_option(a, "--tls") && !strcmp(cmd, "run")) {
            if (!(out->tls = gale_cli_option_value(argc, argv, &i, "--tls")))
                return gale_cli_usage_error(cmd, "%s needs DIR/NAME (gale certs issue DIR NAME)", a);
        } else if (run_options && !strcmp(a, "--quiet")) {
            out->quiet = 1;
        } else if (run_options && !strcmp(a, "--fresh") && !strcmp(cmd, "run")) {
            out->fresh = 1;
        } else if (a[0] == '-' && a[1]) {
            return gale_cli_unknown_option(cmd, a);
        } else if (out->file) {
            return gale_cli_usage_error(cmd, "one topology file only (got %s too)", a);
        } else {
            out->file = a;
        }
    }
    if (!out->file) return gale_cli_usage_error(cmd, "%s", "no topology file given");
    return 0;
}

int gale_cli_resolve_host(const char *cmd, const char *option, const char *name, char *buf, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &ai);
    if (rc || !ai) {
        fprintf(stderr, "gale %s: %s %s: cannot resolve it to an IPv4 address (%s)\n", cmd, option, name,
                rc ? gai_strerror(rc) : "no address");
        return GALE_EXIT_ERROR;
    }
    struct in_addr addr = ((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
    freeaddrinfo(ai);
    /* Workers tell their peers the address they listen on; nobody can connect to the wildcard. */
    if (addr.s_addr == htonl(INADDR_ANY))
        return gale_cli_usage_error(cmd, "%s %s: workers are reached at this address, and peers cannot connect to "
                                         "0.0.0.0; give an address of this host the others reach (127.0.0.1 for "
                                         "this host alone)", option, name);
    if (!inet_ntop(AF_INET, &addr, buf, (socklen_t)cap)) return gale_cli_usage_error(cmd, "%s %s: too long", option, name);
    return 0;
}

int gale_cli_self_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0) {
        fprintf(stderr, "gale: cannot find the gale binary to start workers\n");
        return GALE_EXIT_ERROR;
    }
    buf[n] = '\0';
    return 0;
}

int gale_cli_read_secret(const char *path, char *buf, size_t cap, size_t *len)
{
    char why[PATH_MAX + 128];
    size_t n = 0;
    /* keyfile.h's rule (a regular file of this user's that no one else reads); a secret is text, so the newline
       `echo ... > file` adds is not part of it, and it must still be 16 bytes without it. */
    int rc = gale_keyfile_read(path, (unsigned char *)buf, cap, 1, cap - 1, &n, why, sizeof why);
    while (!rc && n && strchr(" \t\r\n", buf[n - 1])) n--;
    if (!rc && n < 16) {
        explicit_bzero(buf, cap);
        snprintf(why, sizeof why, "%s: the secret must be 16 to %zu bytes", path, cap - 1);
        rc = GALE_EINVAL;
    }
    if (rc) {
        fprintf(stderr, "gale: the secret file: %s\n", why);
        return GALE_EXIT_ERROR;
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}

static int tls_open(const char *prefix, bool web, gale_tls_ctx_t **out);

int gale_cli_tls_open(const char *prefix, gale_tls_ctx_t **out) { return tls_open(prefix, false, out); }
int gale_cli_tls_open_web(const char *prefix, gale_tls_ctx_t **out) { return tls_open(prefix, true, out); }

static int tls_open(const char *prefix, bool web, gale_tls_ctx_t **out)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(prefix, '/');
    const char *name = slash ? slash + 1 : prefix;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - prefix) : 1, slash ? prefix : ".");
    gale_diag_t d = {{0}};
    if (!*name || (web ? gale_tls_ctx_from_dir_web : gale_tls_ctx_from_dir)(dir, name, out, &d)) {
        fprintf(stderr, "gale: --tls %s: %s\n", prefix,
                *name ? d.msg
                      : "expected DIR/NAME (DIR/ca.crt, DIR/NAME.crt, DIR/NAME.key: gale certs issue DIR NAME)");
        return GALE_EXIT_ERROR;
    }
    return 0;
}

int gale_cli_client_tls(const char *prefix)
{
    static gale_tls_ctx_t *tls; /* one per process, for as long as it runs */
    if (!tls && gale_cli_tls_open(prefix, &tls)) return GALE_EXIT_ERROR;
    gale_daemon_client_use_tls(tls);
    return 0;
}

void gale_cli_args_free(gale_cli_args_t *a)
{
    free(a->overrides);
    a->overrides = NULL;
}

gale_topology_t *gale_cli_open_topology(const gale_cli_args_t *a)
{
    gale_topology_t *topo = NULL;
    gale_diag_t diag = {{0}};
    int rc = gale_topology_open(a->file, a->overrides, a->n_overrides, &topo, &diag);
    if (rc) {
        fprintf(stderr, "gale: %s\n", diag.msg[0] ? diag.msg : gale_strerror(rc));
        return NULL;
    }
    return topo;
}
