/* `gale submit | list | kill | activate | deactivate | rebalance | stats | swap`: the verbs that talk to the leading nimbus of a cluster (runtime/cluster/nimbus.h),
   found through ZooKeeper (--zk) or given (--nimbus). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nimbus_client.h"
#include "submit.h"
#include "verbs.h"

#define TIMEOUT_S 60.0

/* The options every verb shares: verb_opts_t, in verbs.h. */

/* Takes a shared option at argv[*i]: 1 when it was one, 0 when not, or a usage error's code. */
static int shared_option(const char *cmd, int argc, char **argv, int *i, verb_opts_t *v)
{
    const char *val;
    if ((val = gale_cli_option_value(argc, argv, i, "--secret-file"))) v->secret_file = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--nimbus"))) v->nimbus = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--zk"))) v->zk = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--root"))) v->root = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--tls"))) v->tls = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--timeout"))) {
        char *end;
        v->timeout_s = strtod(val, &end);
        if (*end || !(v->timeout_s > 0 && v->timeout_s <= 86400))
            return gale_cli_usage_error(cmd, "--timeout needs seconds, more than 0, not '%s'", val);
    } else {
        const char *const valued[] = {"--secret-file", "--nimbus", "--zk", "--root", "--timeout", "--tls"};
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (!strcmp(argv[*i], valued[k])) return gale_cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return 0;
    }
    return 1;
}

/* Checks the shared options and reads the secret. 0, or an exit code. */
static int finish_options(const char *cmd, verb_opts_t *v)
{
    if (!v->secret_file) return gale_cli_usage_error(cmd, "--secret-file is required: nimbus takes only the cluster");
    if (!v->nimbus && !v->zk)
        return gale_cli_usage_error(cmd, "--nimbus HOST:PORT or --zk HOSTS is needed to find nimbus");
    if (v->nimbus && v->zk) return gale_cli_usage_error(cmd, "--nimbus or --zk, not both");
    if (v->root && !v->zk) return gale_cli_usage_error(cmd, "--root goes with --zk");
    if (gale_cli_read_secret(v->secret_file, v->secret, sizeof v->secret, &v->secret_len)) return GALE_EXIT_ERROR;
    if (v->tls && gale_cli_client_tls(v->tls)) return GALE_EXIT_ERROR;
    v->target = (gale_nimbus_target_t){.nimbus = v->nimbus,
                                       .zk_hosts = v->zk,
                                       .root = v->root,
                                       .secret = v->secret,
                                       .secret_len = v->secret_len,
                                       .timeout_ms = 10000};
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static gale_daemon_client_t *connect_or_say(const char *cmd, verb_opts_t *v)
{
    gale_daemon_client_t *c = NULL;
    gale_diag_t d = {{0}};
    if (gale_nimbus_connect(&v->target, &c, &d)) {
        fprintf(stderr, "gale %s: %s\n", cmd, d.msg);
        return NULL;
    }
    return c;
}

/* What verbs.h lends other commands (gale monitor). */
int gale_verb_option(const char *cmd, int argc, char **argv, int *i, verb_opts_t *v)
{
    return shared_option(cmd, argc, argv, i, v);
}

int gale_verb_finish_options(const char *cmd, verb_opts_t *v) { return finish_options(cmd, v); }

gale_daemon_client_t *gale_verb_connect(const char *cmd, verb_opts_t *v) { return connect_or_say(cmd, v); }

/* ---- gale submit ---------------------------------------------------------------------------------------------- */

int gale_cmd_submit(int argc, char **argv)
{
    verb_opts_t v = {.timeout_s = TIMEOUT_S};
    const char *name = NULL, *val;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return GALE_EXIT_ERROR;
    int nrest = 0, rc = 0;
    if (gale_cli_wants_help(argc, argv, 0)) {
        free(rest);
        return gale_cli_help("submit");
    }
    rest[nrest++] = argv[0];
    /* --set and FILE are gale_cli_parse's, as for gale validate; the rest is ours. */
    for (int i = 1; i < argc && !rc; i++) {
        if ((val = gale_cli_option_value(argc, argv, &i, "--name"))) name = val;
        else if (!strcmp(argv[i], "--name")) rc = gale_cli_usage_error("submit", "--name needs a value");
        else if ((rc = shared_option("submit", argc, argv, &i, &v)) == 1) rc = 0;
        else if (!rc) rest[nrest++] = argv[i];
    }
    gale_cli_args_t a;
    memset(&a, 0, sizeof a);
    if (!rc) rc = gale_cli_parse(nrest, rest, 0, "submit", &a);
    free(rest);
    if (!rc) rc = finish_options("submit", &v);
    gale_topology_t *topo = rc ? NULL : gale_cli_open_topology(&a); /* the errors of gale validate, FILE:LINE */
    if (!rc && !topo) rc = GALE_EXIT_ERROR;
    gale_submit_t s = {0};
    char why[1024];
    if (!rc && gale_submit_prepare(topo, name ? name : topo->name, v.timeout_s, &s, why, sizeof why)) {
        fprintf(stderr, "gale submit: %s\n", why);
        rc = GALE_EXIT_ERROR;
    }
    gale_daemon_client_t *c = rc ? NULL : connect_or_say("submit", &v);
    if (!rc && !c) rc = GALE_EXIT_ERROR;
    gale_diag_t d = {{0}};
    int timeout_ms = (int)(v.timeout_s * 1000);
    for (size_t i = 0; !rc && i < s.n_blobs; i++)
        if (gale_nimbus_put(c, s.blobs[i].sha, s.blobs[i].bytes, s.blobs[i].len, timeout_ms, NULL, &d)) {
            fprintf(stderr, "gale submit: cannot upload %s: %s\n", s.blobs[i].what, d.msg);
            rc = GALE_EXIT_ERROR;
        }
    const char *ok = NULL;
    /* nimbus answers once every worker runs, or gives up at --timeout: a little longer here. */
    if (!rc && gale_daemon_client_call(c, s.command, timeout_ms + 10000, NULL, NULL, &ok, &d)) {
        fprintf(stderr, "gale submit: %s\n", d.msg);
        rc = GALE_EXIT_ERROR;
    }
    if (!rc) printf("%s\n", ok);
    gale_daemon_client_free(c);
    gale_submit_free(&s);
    gale_topology_free(topo);
    gale_cli_args_free(&a);
    return rc;
}

/* ---- gale list, kill, activate, deactivate, stats ----------------------------------------------------------- */

static void print_line(void *arg, gale_daemon_line_kind_t kind, const char *line)
{
    (void)arg;
    if (kind == GALE_DAEMON_DATA) printf("%s\n", line);
}

/* A verb with at most one operand (the topology's NAME), an option with a value and a flag, each appended to the
   command as nimbus reads it. */
typedef struct simple_spec {
    const char *cmd;
    bool operand;
    const char *valued, *valued_key; /* "--wait": " wait=SECONDS"; its value is seconds the reply may take more */
    const char *flag, *flag_word;    /* "--json": " json" */
} simple_spec_t;

/* Parses the options of a simple verb, runs it, and prints the data lines and the reply's text. */
static int simple_verb(const simple_spec_t *sp, int argc, char **argv)
{
    const char *cmd = sp->cmd;
    verb_opts_t v = {.timeout_s = TIMEOUT_S};
    const char *arg = NULL, *extra = NULL, *val;
    bool flag = false;
    int rc = 0;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help(cmd);
    for (int i = 1; i < argc && !rc; i++) {
        if (sp->valued && (val = gale_cli_option_value(argc, argv, &i, sp->valued))) extra = val;
        else if (sp->valued && !strcmp(argv[i], sp->valued))
            rc = gale_cli_usage_error(cmd, "%s needs a value", sp->valued);
        else if (sp->flag && !strcmp(argv[i], sp->flag)) flag = true;
        else if ((rc = shared_option(cmd, argc, argv, &i, &v)) == 1) rc = 0;
        else if (rc) break;
        else if (argv[i][0] == '-' && argv[i][1]) rc = gale_cli_unknown_option(cmd, argv[i]);
        else if (!sp->operand || arg) rc = gale_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        else arg = argv[i];
    }
    if (!rc && sp->operand && !arg) rc = gale_cli_usage_error(cmd, "the topology's NAME is needed");
    if (!rc && arg && strchr(arg, ' ')) rc = gale_cli_usage_error(cmd, "a topology's name has no spaces");
    if (!rc && extra && (strchr(extra, ' ') || !*extra))
        rc = gale_cli_usage_error(cmd, "bad %s '%s'", sp->valued, extra);
    if (!rc) rc = finish_options(cmd, &v);
    if (rc) return rc;
    gale_daemon_client_t *c = connect_or_say(cmd, &v);
    if (!c) return GALE_EXIT_ERROR;
    char command[512];
    snprintf(command, sizeof command, "%s%s%s%s%s%s%s%s", cmd, arg ? " " : "", arg ? arg : "", extra ? " " : "",
             extra ? sp->valued_key : "", extra ? extra : "", flag ? " " : "", flag ? sp->flag_word : "");
    const char *ok = NULL;
    gale_diag_t d = {{0}};
    /* A kill drains for up to its wait: the reply may take that long, and a little more. */
    double wait_s = extra ? atof(extra) : 30;
    int timeout_ms = (int)((v.timeout_s + (sp->valued ? wait_s : 0)) * 1000);
    rc = gale_daemon_client_call(c, command, timeout_ms, print_line, NULL, &ok, &d);
    if (rc) fprintf(stderr, "gale %s: %s\n", cmd, d.msg);
    else if (*ok) printf("%s\n", ok);
    gale_daemon_client_free(c);
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

int gale_cmd_list(int argc, char **argv) { return simple_verb(&(simple_spec_t){.cmd = "list"}, argc, argv); }

int gale_cmd_kill(int argc, char **argv)
{
    return simple_verb(&(simple_spec_t){.cmd = "kill", .operand = true, .valued = "--wait", .valued_key = "wait="},
                       argc, argv);
}

int gale_cmd_activate(int argc, char **argv)
{
    return simple_verb(&(simple_spec_t){.cmd = "activate", .operand = true}, argc, argv);
}

int gale_cmd_deactivate(int argc, char **argv)
{
    return simple_verb(&(simple_spec_t){.cmd = "deactivate", .operand = true}, argc, argv);
}

int gale_cmd_stats(int argc, char **argv)
{
    return simple_verb(&(simple_spec_t){.cmd = "stats", .operand = true, .flag = "--json", .flag_word = "json"}, argc,
                       argv);
}

/* ---- gale rebalance ------------------------------------------------------------------------------------------- */

int gale_cmd_rebalance(int argc, char **argv)
{
    verb_opts_t v = {.timeout_s = TIMEOUT_S};
    const char *name = NULL, *val;
    char command[4096];
    size_t len = 0;
    double wait_s = 30;
    int rc = 0;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("rebalance");
    len = (size_t)snprintf(command, sizeof command, "rebalance");
    char words[4096] = "";
    size_t wlen = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *word = NULL, *key = NULL;
        if ((val = gale_cli_option_value(argc, argv, &i, "--workers"))) word = val, key = "workers=";
        else if ((val = gale_cli_option_value(argc, argv, &i, "--parallelism"))) word = val, key = "parallelism=";
        else if ((val = gale_cli_option_value(argc, argv, &i, "--wait"))) {
            char *end;
            wait_s = strtod(val, &end);
            if (*end || !(wait_s >= 0 && wait_s <= 86400))
                rc = gale_cli_usage_error("rebalance", "--wait needs seconds, 0 or more, not '%s'", val);
            word = val, key = "wait=";
        } else if (!strcmp(argv[i], "--workers") || !strcmp(argv[i], "--parallelism") || !strcmp(argv[i], "--wait"))
            rc = gale_cli_usage_error("rebalance", "%s needs a value", argv[i]);
        else if ((rc = shared_option("rebalance", argc, argv, &i, &v)) == 1) rc = 0;
        else if (rc) break;
        else if (argv[i][0] == '-' && argv[i][1]) rc = gale_cli_unknown_option("rebalance", argv[i]);
        else if (name) rc = gale_cli_usage_error("rebalance", "unexpected argument '%s'", argv[i]);
        else name = argv[i];
        if (!rc && word) {
            if (!*word || strchr(word, ' ')) rc = gale_cli_usage_error("rebalance", "bad value '%s'", word);
            else if (key[0] == 'p' && (!strchr(word, '=') || word[0] == '='))
                rc = gale_cli_usage_error("rebalance", "--parallelism needs COMPONENT=N, not '%s'", word);
            else if (wlen + strlen(key) + strlen(word) + 2 >= sizeof words)
                rc = gale_cli_usage_error("rebalance", "too many changes");
            else wlen += (size_t)snprintf(words + wlen, sizeof words - wlen, " %s%s", key, word);
        }
    }
    if (!rc && !name) rc = gale_cli_usage_error("rebalance", "the topology's NAME is needed");
    if (!rc && strchr(name, ' ')) rc = gale_cli_usage_error("rebalance", "a topology's name has no spaces");
    if (!rc && !strstr(words, "workers=") && !strstr(words, "parallelism="))
        rc = gale_cli_usage_error("rebalance", "nothing to change: give --workers N or --parallelism COMPONENT=N");
    if (!rc) rc = finish_options("rebalance", &v);
    if (rc) return rc;
    int m = snprintf(command + len, sizeof command - len, " %s%s", name, words);
    if (m < 0 || (size_t)m >= sizeof command - len) return gale_cli_usage_error("rebalance", "too long a command");
    gale_daemon_client_t *c = connect_or_say("rebalance", &v);
    if (!c) return GALE_EXIT_ERROR;
    const char *ok = NULL;
    gale_diag_t d = {{0}};
    /* nimbus answers once the topology drained (up to --wait) and its new workers run (or did not in time). */
    rc = gale_daemon_client_call(c, command, (int)((v.timeout_s + wait_s + 90) * 1000), print_line, NULL, &ok, &d);
    if (rc) fprintf(stderr, "gale rebalance: %s\n", d.msg);
    else if (*ok) printf("%s\n", ok);
    gale_daemon_client_free(c);
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

/* ---- gale swap -------------------------------------------------------------------------------------------------- */

/* How long nimbus may take: every part swaps one worker at a time (nimbus gives up after 180 s). */
#define SWAP_REPLY_S 200.0

int gale_cmd_swap(int argc, char **argv)
{
    verb_opts_t v = {.timeout_s = TIMEOUT_S};
    const char *operands[3] = {NULL};
    int n = 0, rc = 0;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("swap");
    for (int i = 1; i < argc && !rc; i++) {
        if ((rc = shared_option("swap", argc, argv, &i, &v)) == 1) rc = 0;
        else if (rc) break;
        else if (argv[i][0] == '-' && argv[i][1]) rc = gale_cli_unknown_option("swap", argv[i]);
        else if (n == 3) rc = gale_cli_usage_error("swap", "unexpected argument '%s'", argv[i]);
        else operands[n++] = argv[i];
    }
    if (!rc && n < 3) rc = gale_cli_usage_error("swap", "NAME COMPONENT FILE.so are needed");
    for (int k = 0; !rc && k < 2; k++)
        if (!*operands[k] || strpbrk(operands[k], " \n"))
            rc = gale_cli_usage_error("swap", "bad %s '%s'", k ? "component" : "name", operands[k]);
    if (!rc) rc = finish_options("swap", &v);
    if (rc) return rc;
    gale_submit_t s = {0};
    char why[1024];
    if (gale_submit_prepare_swap(operands[0], operands[1], operands[2], &s, why, sizeof why)) {
        fprintf(stderr, "gale swap: %s\n", why);
        gale_submit_free(&s);
        return GALE_EXIT_ERROR;
    }
    gale_daemon_client_t *c = connect_or_say("swap", &v);
    gale_diag_t d = {{0}};
    int timeout_ms = (int)(v.timeout_s * 1000);
    if (!c) rc = GALE_EXIT_ERROR;
    if (!rc && gale_nimbus_put(c, s.blobs[0].sha, s.blobs[0].bytes, s.blobs[0].len, timeout_ms, NULL, &d)) {
        fprintf(stderr, "gale swap: cannot upload %s: %s\n", s.blobs[0].what, d.msg);
        rc = GALE_EXIT_ERROR;
    }
    const char *ok = NULL;
    if (!rc &&
        gale_daemon_client_call(c, s.command, (int)((v.timeout_s + SWAP_REPLY_S) * 1000), print_line, NULL, &ok, &d)) {
        fprintf(stderr, "gale swap: %s\n", d.msg);
        rc = GALE_EXIT_ERROR;
    }
    if (!rc) printf("%s\n", ok);
    gale_daemon_client_free(c);
    gale_submit_free(&s);
    return rc;
}
