/*
 * The gale command as a new user meets it, through the binary: every subcommand's --help and -h, `gale help CMD`,
 * one wording for unknown options, files that are not topology files (a folder, a FIFO: never a hang), a bad
 * GALE_LOG_LEVEL, and host names for --host.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static void use_test_plugins(void)
{
    char *dir = tl_path("%s/tests/plugins", tl_build());
    setenv("GALE_PLUGIN_PATH", dir, 1);
    unsetenv("GALE_LOG_LEVEL");
    free(dir);
}

TestSuite(cli, .init = use_test_plugins, .timeout = 60);

/* Runs gale with up to 6 arguments (NULL-terminated), bounded; the caller frees r. */
static void gale(tl_result_t *r, const char *const *args)
{
    const char *argv[8] = {tl_gale()};
    for (int k = 0; k < 6 && args[k]; k++) argv[k + 1] = args[k];
    cr_assert_eq(tl_run(argv, NULL, 30, r), 0);
    cr_assert_not(r->timed_out, "gale %s did not end", args[0]);
}
#define GALE(r, ...) gale((r), (const char *const[]){__VA_ARGS__, NULL})

/* ---- --help and -h ----------------------------------------------------------------------------------------- */

typedef struct help_case {
    const char *cmd;     /* the usage must start with "usage: gale CMD" */
    const char *args[5]; /* the arguments after "gale", with the help flag as "HELP" */
} help_case_t;

/* Each subcommand, with the help flag first, among other options and after a file or a positional argument. */
static const help_case_t HELP_CASES[] = {
    {"run", {"run", "HELP"}},
    {"run", {"run", "--quiet", "HELP", "x.cfg"}},
    {"run", {"run", "--bogus", "HELP"}}, /* help before any other complaint, wherever it is... */
    {"validate", {"validate", "HELP"}},
    {"validate", {"validate", "--set", "a.b=c", "no/such.cfg", "HELP"}},
    {"journal", {"journal", "HELP"}},
    {"journal", {"journal", "ls", "HELP"}},
    {"journal", {"journal", "show", "--json", "j.log", "HELP"}},
    {"replay", {"replay", "HELP"}},
    {"replay", {"replay", "j.log", "--topology", "t.cfg", "HELP"}},
    {"supervisor", {"supervisor", "HELP"}},
    {"supervisor", {"supervisor", "--port", "0", "HELP"}},
    {"ctl", {"ctl", "HELP"}},
    {"nimbus", {"nimbus", "HELP"}},
    {"nimbus", {"nimbus", "--zk", "127.0.0.1:1", "HELP"}},
    {"ctl", {"ctl", "--timeout", "5", "HELP"}},
    {"dev-cluster", {"dev-cluster", "HELP"}},
    {"dev-cluster", {"dev-cluster", "--supervisors", "0", "HELP"}}, /* help, and nothing started */
    {"worker", {"worker", "HELP"}},
    {"worker", {"worker", "--index", "0", "HELP", "x.cfg"}},
    {"token", {"token", "HELP"}},
    {"monitor", {"monitor", "HELP"}},
    {"monitor", {"monitor", "http://127.0.0.1:1", "--interval", "1", "HELP"}},
    {"token", {"token", "--method", "GET", "/x", "HELP"}},
    {"keygen", {"keygen", "HELP"}},
    {"keygen", {"keygen", "k.key", "HELP"}}, /* help, and no key made */
    {"audit", {"audit", "HELP"}},
    {"certs", {"certs", "HELP"}},
    {"certs", {"certs", "issue", "d", "n", "HELP"}}, /* help, and nothing made */
    {"audit", {"audit", "verify", "a.log", "HELP"}},
    {"version", {"version", "HELP"}},
    {"help", {"help", "HELP"}},
};

static void free_params(struct criterion_test_params *p) { cr_free(p->params); }

/* Every case twice: with --help, then with -h. Indexes, not pointers: each test runs in a new process, where the
   parent's addresses mean nothing. */
typedef struct help_param {
    size_t index;
    bool short_flag;
} help_param_t;

ParameterizedTestParameters(cli, help_everywhere)
{
    size_t n = sizeof HELP_CASES / sizeof *HELP_CASES;
    help_param_t *p = cr_malloc(2 * n * sizeof *p);
    for (size_t i = 0; i < 2 * n; i++) p[i] = (help_param_t){i % n, i >= n};
    return cr_make_param_array(help_param_t, p, 2 * n, free_params);
}

ParameterizedTest(help_param_t *param, cli, help_everywhere)
{
    struct {
        help_case_t c;
        const char *flag;
    } pv = {HELP_CASES[param->index], param->short_flag ? "-h" : "--help"}, *p = &pv;
    const char *args[6] = {0};
    char shown[200] = "";
    for (int k = 0; k < 5 && p->c.args[k]; k++) {
        args[k] = strcmp(p->c.args[k], "HELP") ? p->c.args[k] : p->flag;
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown), " %s", args[k]);
    }
    tl_result_t r;
    gale(&r, args);
    cr_assert_eq(r.status, 0, "gale%s: exit %d\n%s", shown, r.status, r.err);
    char *head = tl_path("usage: gale %s", p->c.cmd);
    cr_assert_eq(strncmp(r.out, head, strlen(head)), 0, "gale%s: stdout does not start with '%s':\n%s", shown, head, r.out);
    cr_assert_not_null(strstr(r.out, "--help"), "gale%s: the usage does not mention --help:\n%s", shown, r.out);
    cr_assert_str_eq(r.err, "", "gale%s wrote to stderr", shown);
    free(head);
    tl_result_free(&r);
}

Test(cli, help_command_prints_that_commands_usage)
{
    const char *cmds[] = {"run",    "validate",    "journal", "replay", "supervisor", "ctl",
                          "nimbus", "dev-cluster", "version", "help",   "keygen",     "audit"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        tl_result_t h, own;
        GALE(&h, "help", cmds[i]);
        GALE(&own, cmds[i], "--help");
        cr_assert_eq(h.status, 0, "gale help %s: exit %d\n%s", cmds[i], h.status, h.err);
        cr_assert_str_eq(h.out, own.out, "gale help %s is not gale %s --help", cmds[i], cmds[i]);
        tl_result_free(&h);
        tl_result_free(&own);
    }
    tl_result_t r;
    GALE(&r, "help");
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "commands:"), "%s", r.out);
    tl_result_free(&r);
    GALE(&r, "help", "frobnicate");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "no command 'frobnicate'"), "%s", r.err);
    tl_result_free(&r);
}

/* ---- unknown options: exit 2, one wording, naming the option and the help ------------------------------------- */

Test(cli, unknown_options_have_one_wording)
{
    const char *cases[][4] = {
        {"run", "run", "--bogus", "x.cfg"},
        {"validate", "validate", "--bogus", "x.cfg"},
        {"journal", "journal", "ls", "--bogus"},
        {"journal", "journal", "--bogus", NULL},
        {"replay", "replay", "j.log", "--bogus"},
        {"supervisor", "supervisor", "--bogus", NULL},
        {"ctl", "ctl", "--bogus", NULL},
        {"nimbus", "nimbus", "--bogus", NULL},
        {"worker", "worker", "--bogus", NULL},
        {"version", "version", "--bogus", NULL},
        {"help", "help", "--bogus", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tl_result_t r;
        gale(&r, &cases[i][1]);
        char *want = tl_path("gale %s: unknown option '--bogus'\nusage: gale %s", cases[i][0], cases[i][0]);
        char *see = tl_path("see 'gale %s --help'\n", cases[i][0]);
        cr_assert_eq(r.status, 2, "gale %s: exit %d\n%s", cases[i][1], r.status, r.err);
        cr_assert_eq(strncmp(r.err, want, strlen(want)), 0, "gale %s %s:\n%s", cases[i][1], cases[i][2], r.err);
        cr_assert_not_null(strstr(r.err, see), "gale %s %s:\n%s", cases[i][1], cases[i][2], r.err);
        cr_assert_str_eq(r.out, "");
        free(want);
        free(see);
        tl_result_free(&r);
    }
}

Test(cli, a_supervisor_with_bad_cores_is_a_usage_error)
{
    const char *values[] = {"0", "x", "4097", NULL};
    for (int i = 0; values[i]; i++) {
        tl_result_t r;
        GALE(&r, "supervisor", "--secret-file", "s", "--cores", values[i]);
        cr_assert_eq(r.status, 2, "--cores %s: exit %d\n%s", values[i], r.status, r.err);
        char *want = tl_path("--cores needs 1 to 4096, not '%s'", values[i]);
        cr_assert_not_null(strstr(r.err, want), "%s", r.err);
        free(want);
        tl_result_free(&r);
    }
}

/* ---- files that are not topology files ------------------------------------------------------------------------- */

Test(cli, a_folder_or_a_fifo_is_refused_by_name_without_blocking)
{
    char *dir = tl_tmpdir(), *fifo = tl_path("%s/fifo", dir), *cfg = tl_path("%s/inc.cfg", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char *text = tl_path("name = \"t\";\n@include \"%s\"\n", fifo);
    tl_write_file(cfg, text);
    tl_result_t r;

    GALE(&r, "validate", dir);
    cr_assert_eq(r.status, 1, "%s", r.err);
    char *want = tl_path("gale: %s: is a directory, not a topology file\n", dir);
    cr_assert_str_eq(r.err, want);
    free(want);
    tl_result_free(&r);

    GALE(&r, "validate", fifo); /* opening a FIFO for reading waits for a writer: it must not be opened so */
    cr_assert_eq(r.status, 1, "%s", r.err);
    want = tl_path("gale: %s: is a FIFO, not a regular file\n", fifo);
    cr_assert_str_eq(r.err, want);
    free(want);
    tl_result_free(&r);

    GALE(&r, "run", "--duration", "1", cfg); /* libconfig would open the included FIFO itself, and block */
    cr_assert_eq(r.status, 1, "%s", r.err);
    want = tl_path("gale: %s:2: @include \"%s\": %s: is a FIFO, not a regular file\n", cfg, fifo, fifo);
    cr_assert_str_eq(r.err, want);
    free(want);
    tl_result_free(&r);

    free(text);
    free(cfg);
    free(fifo);
    tl_rmtree(dir);
    free(dir);
}

Test(cli, a_fifo_as_the_secret_file_is_refused_without_blocking)
{
    char *dir = tl_tmpdir(), *fifo = tl_path("%s/secret", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    tl_result_t r;
    GALE(&r, "ctl", "--secret-file", fifo, "127.0.0.1:1", "slots");
    cr_assert_eq(r.status, 1, "%s", r.err);
    char *want = tl_path("the secret file: %s: is a FIFO, not a regular file", fifo);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    free(want);
    tl_result_free(&r);
    free(fifo);
    tl_rmtree(dir);
    free(dir);
}

/* ---- GALE_LOG_LEVEL ------------------------------------------------------------------------------------------- */

Test(cli, a_bad_log_level_is_reported_once_and_the_default_used)
{
    setenv("GALE_LOG_LEVEL", "loud", 1);
    tl_result_t r;
    GALE(&r, "validate", "tests/topologies/e2e/chain.cfg");
    unsetenv("GALE_LOG_LEVEL");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *w = strstr(r.err, "GALE_LOG_LEVEL=loud is not a log level (debug, info, warn or error): logging at info");
    cr_assert_not_null(w, "no warning:\n%s", r.err);
    cr_assert_null(strstr(w + 1, "GALE_LOG_LEVEL"), "warned twice:\n%s", r.err);
    cr_assert_not_null(strstr(r.out, "ok: topology 'chain'"), "%s", r.out);
    tl_result_free(&r);
}

/* ---- --host ---------------------------------------------------------------------------------------------------- */

static char *make_secret(const char *dir)
{
    char *path = tl_path("%s/secret", dir);
    cr_assert_eq(tl_write_file(path, "0123456789abcdef0123456789abcdef\n"), 0);
    chmod(path, 0600);
    return path;
}

Test(cli, supervisor_host_takes_a_name)
{
    char *dir = tl_tmpdir(), *secret = make_secret(dir), *out_path = tl_path("%s/out.txt", dir);
    const char *argv[] = {tl_gale(), "supervisor", "--secret-file", secret, "--host", "localhost", NULL};
    pid_t pid = tl_spawn(argv, dir);
    cr_assert_gt(pid, 0);
    bool listening = false;
    /* Up to 30 s for a line that comes at once: a slow machine must not fail this. */
    for (int i = 0; i < 3000 && !listening && tl_alive(pid); i++) {
        char *out = tl_read_file(out_path, NULL);
        listening = out && strstr(out, "listening 127.0.0.1:") && strchr(out, '\n');
        free(out);
        if (!listening) tl_sleep_ms(10);
    }
    kill(pid, SIGTERM);
    bool timed_out;
    int status = tl_wait(pid, 30, &timed_out);
    char *err_path = tl_path("%s/err.txt", dir), *err = tl_read_file(err_path, NULL);
    cr_assert(listening, "--host localhost did not listen on 127.0.0.1:\n%s", err);
    cr_assert_not(timed_out);
    cr_assert_eq(status, 0, "%s", err);
    free(err);
    free(err_path);
    free(out_path);
    free(secret);
    tl_rmtree(dir);
    free(dir);
}

Test(cli, supervisor_host_refuses_the_wildcard_it_cannot_advertise)
{
    char *dir = tl_tmpdir(), *secret = make_secret(dir);
    tl_result_t r;
    GALE(&r, "supervisor", "--secret-file", secret, "--host", "0.0.0.0");
    cr_assert_eq(r.status, 2, "exit %d\n%s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "gale supervisor: --host 0.0.0.0: workers are reached at this address"), "%s", r.err);
    tl_result_free(&r);
    free(secret);
    tl_rmtree(dir);
    free(dir);
}
