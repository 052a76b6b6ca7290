/* `gale supervisor` (the daemon of a host, runtime/cluster/daemon.h) and `gale ctl` (one command to a daemon's control port). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon.h"
#include "daemon_client.h"
#include "http_auth.h"
#include "http_server.h"
#include "log.h"
#include "tls.h"
#include "nimbus.h"
#include "nimbus_http.h"

#define SECRET_MAX 1024

/* A ZooKeeper folder of gale's own: absolute, not "/" (gale's nodes need a folder whose ACL is the cluster's), no
   trailing slash. */
static bool zk_root_ok(const char *v)
{
    size_t n = strlen(v);
    return v[0] == '/' && n > 1 && v[n - 1] != '/' && n <= 200 && !strchr(v, ' ');
}

/* --zk-session-timeout: 0 and *out, or -1. */
static int parse_seconds(const char *v, double *out)
{
    char *end;
    double s = strtod(v, &end);
    if (!*v || *end || !(s >= 0.2 && s <= 3600)) return -1;
    *out = s;
    return 0;
}

int gale_cmd_supervisor(int argc, char **argv)
{
    const char *secret_file = NULL, *host = "127.0.0.1", *zk = NULL, *root = NULL, *data = NULL, *audit = NULL,
               *tls = NULL, *v;
    int port = 0, slots = 4, n_allow = 0, cores = 0;
    double session_s = 20;
    const char *allow[64]; /* --allow-path: folders assignments may name besides the daemon's own (daemon.h) */
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("supervisor");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--host"))) host = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--port"))) {
            if (gale_cli_parse_int(v, 0, 65535, &port))
                return gale_cli_usage_error("supervisor", "--port needs 0 to 65535, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--slots"))) {
            if (gale_cli_parse_int(v, 1, 1024, &slots))
                return gale_cli_usage_error("supervisor", "--slots needs 1 to 1024, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--cores"))) {
            if (gale_cli_parse_int(v, 1, 4096, &cores))
                return gale_cli_usage_error("supervisor", "--cores needs 1 to 4096, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--allow-path"))) {
            if (n_allow == 64) return gale_cli_usage_error("supervisor", "at most 64 --allow-path folders");
            allow[n_allow++] = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--zk"))) {
            zk = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--data"))) {
            data = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--audit-log"))) {
            audit = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--tls"))) {
            tls = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--root"))) {
            if (!zk_root_ok(v))
                return gale_cli_usage_error("supervisor", "--root needs a ZooKeeper folder such as /gale, not '%s'", v);
            root = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--zk-session-timeout"))) {
            if (parse_seconds(v, &session_s))
                return gale_cli_usage_error("supervisor",
                                            "--zk-session-timeout needs seconds from 0.2 to 3600, not '%s'", v);
        } else if (o[0] == '-' && o[1]) {
            const char *const valued[] = {"--secret-file", "--host", "--port", "--slots", "--cores",
                                          "--allow-path",  "--zk",   "--root", "--data",  "--zk-session-timeout",
                                          "--audit-log",   "--tls"};
            for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
                if (!strcmp(o, valued[k])) return gale_cli_usage_error("supervisor", "%s needs a value", o);
            return gale_cli_unknown_option("supervisor", o);
        } else return gale_cli_usage_error("supervisor", "unexpected argument '%s'", o);
    }
    if (!secret_file) return gale_cli_usage_error("supervisor", "--secret-file is required: the control port runs topologies");
    if ((root || session_s != 20 || data) && !zk)
        return gale_cli_usage_error("supervisor", "--root, --zk-session-timeout and --data go with --zk");
    char addr[64];
    int rc = gale_cli_resolve_host("supervisor", "--host", host, addr, sizeof addr);
    if (rc) return rc;
    char secret[SECRET_MAX], exe[4096];
    size_t secret_len;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &secret_len) || gale_cli_self_exe(exe, sizeof exe))
        return GALE_EXIT_ERROR;
    /* Checked at the start, once, not by each worker; the control port and the fetches from nimbus use it too. */
    gale_tls_ctx_t *tls_ctx = NULL;
    if (tls && gale_cli_tls_open(tls, &tls_ctx)) return GALE_EXIT_ERROR;
    if (tls_ctx) gale_daemon_client_use_tls(tls_ctx);
    signal(SIGPIPE, SIG_IGN);
    gale_daemon_opts_t o = {.host = addr,
                            .port = port,
                            .slots = slots,
                            .cores = cores,
                            .secret = secret,
                            .secret_len = secret_len,
                            .exe = exe,
                            .allow = allow,
                            .n_allow = n_allow,
                            .zk_hosts = zk,
                            .zk_root = root,
                            .zk_session_ms = (int)(session_s * 1000),
                            .version = gale_cli_version(),
                            .data_dir = data,
                            .tls = tls,
                            .tls_ctx = tls_ctx,
                            .audit_log = audit};
    rc = gale_daemon_run(&o) ? GALE_EXIT_ERROR : GALE_EXIT_OK;
    gale_tls_ctx_free(tls_ctx);
    return rc;
}

/* ---- gale nimbus --------------------------------------------------------------------------------------------------- */

int gale_cmd_nimbus(int argc, char **argv)
{
    const char *secret_file = NULL, *zk = NULL, *host = "127.0.0.1", *root = "/gale", *data = "gale-data", *v;
    const char *http = NULL, *audit = NULL, *tls = NULL;
    double session_s = 20;
    int port = 0;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("nimbus");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--zk"))) zk = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--host"))) host = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--data"))) data = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--audit-log"))) audit = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--tls"))) tls = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--http"))) http = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--port"))) {
            if (gale_cli_parse_int(v, 0, 65535, &port))
                return gale_cli_usage_error("nimbus", "--port needs 0 to 65535, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--root"))) {
            if (!zk_root_ok(v))
                return gale_cli_usage_error("nimbus", "--root needs a ZooKeeper folder such as /gale, not '%s'", v);
            root = v;
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--zk-session-timeout"))) {
            if (parse_seconds(v, &session_s))
                return gale_cli_usage_error("nimbus", "--zk-session-timeout needs seconds from 0.2 to 3600, not '%s'",
                                            v);
        } else if (o[0] == '-' && o[1]) {
            const char *const valued[] = {"--secret-file", "--zk",   "--host", "--root",
                                          "--data",        "--port", "--http", "--zk-session-timeout",
                                          "--audit-log",   "--tls"};
            for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
                if (!strcmp(o, valued[k])) return gale_cli_usage_error("nimbus", "%s needs a value", o);
            return gale_cli_unknown_option("nimbus", o);
        } else return gale_cli_usage_error("nimbus", "unexpected argument '%s'", o);
    }
    if (!zk) return gale_cli_usage_error("nimbus", "--zk is required: nimbus keeps its state in ZooKeeper");
    if (!secret_file) return gale_cli_usage_error("nimbus", "--secret-file is required: it guards the cluster's nodes");
    char addr[64], secret[SECRET_MAX], http_host[64];
    int http_port = 0;
    if (http && gale_http_parse_addr(http, http_host, sizeof http_host, &http_port))
        return gale_cli_usage_error("nimbus", "--http %s: expected [HOST:]PORT, PORT from 0 to 65535", http);
    size_t secret_len;
    int rc = gale_cli_resolve_host("nimbus", "--host", host, addr, sizeof addr);
    if (rc) return rc;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &secret_len)) return GALE_EXIT_ERROR;
    gale_tls_ctx_t *tls_ctx = NULL;
    if (tls && gale_cli_tls_open(tls, &tls_ctx)) return GALE_EXIT_ERROR;
    if (!tls)
        gale_logf(GALE_LOG_WARN, "nimbus",
                  "TLS is off: commands and uploads reach this nimbus in clear (--tls DIR/NAME, made with gale certs, "
                  "turns it on)");
    /* The HTTP actions' tokens are made with the cluster secret (gale token --secret-file, the same file). */
    static gale_http_auth_t auth; /* large: one per process */
    static gale_nimbus_http_t endpoint;
    if (http && gale_http_auth_init(&auth, secret, secret_len)) return GALE_EXIT_ERROR;
    if (http) gale_nimbus_http_init(&endpoint, http_host, http_port, &auth);
    gale_tls_ctx_t *web = NULL; /* with --tls, the endpoint is HTTPS with the same certificate */
    if (http && tls && gale_cli_tls_open_web(tls, &web)) return GALE_EXIT_ERROR;
    endpoint.tls = web;
    signal(SIGPIPE, SIG_IGN);
    gale_nimbus_opts_t o = {.zk_hosts = zk,
                            .root = root,
                            .host = addr,
                            .session_timeout_ms = (int)(session_s * 1000),
                            .secret = secret,
                            .secret_len = secret_len,
                            .port = port,
                            .data_dir = data,
                            .audit_log = audit,
                            .tls = tls_ctx,
                            .watcher = http ? &endpoint.watcher : NULL};
    int nrc = gale_nimbus_run(&o) ? GALE_EXIT_ERROR : GALE_EXIT_OK;
    gale_tls_ctx_free(tls_ctx);
    gale_tls_ctx_free(web);
    return nrc;
}

/* ---- gale ctl ---------------------------------------------------------------------------------------------------- */

/* Data lines go to stdout as they come; events are not what a person asked for. */
static void print_data(void *arg, gale_daemon_line_kind_t kind, const char *line)
{
    if (kind == GALE_DAEMON_DATA) printf("%s\n", line);
}

int gale_cmd_ctl(int argc, char **argv)
{
    const char *secret_file = NULL, *tls = NULL, *v;
    double timeout_s = 60;
    bool timeout_given = false;
    int i = 1;
    /* Options end at HOST:PORT: what follows is the daemon's command, passed on as it is. */
    if (gale_cli_wants_help(argc, argv, 1)) return gale_cli_help("ctl");
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--tls"))) tls = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--timeout"))) {
            char *end;
            timeout_s = strtod(v, &end);
            if (!*v || *end || !(timeout_s > 0 && timeout_s <= 86400))
                return gale_cli_usage_error("ctl", "--timeout needs seconds, more than 0 and at most 86400, not '%s'", v);
            timeout_given = true;
        } else if (!strcmp(o, "--secret-file") || !strcmp(o, "--timeout") || !strcmp(o, "--tls"))
            return gale_cli_usage_error("ctl", "%s needs a value", o);
        else return gale_cli_unknown_option("ctl", o);
    }
    if (!secret_file) return gale_cli_usage_error("ctl", "--secret-file is required");
    if (argc - i < 2) return gale_cli_usage_error("ctl", "a HOST:PORT and a command are needed");
    const char *target = argv[i++];
    char secret[SECRET_MAX];
    size_t secret_len;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &secret_len)) return GALE_EXIT_ERROR;
    if (tls && gale_cli_client_tls(tls)) return GALE_EXIT_ERROR;
    char command[16384] = "";
    for (; i < argc; i++) {
        size_t used = strlen(command);
        if (strchr(argv[i], ' ') || strchr(argv[i], '\n'))
            return gale_cli_usage_error("ctl", "arguments cannot hold spaces: '%s'", argv[i]);
        if (used + strlen(argv[i]) + 2 >= sizeof command) return gale_cli_usage_error("ctl", "command too long");
        snprintf(command + used, sizeof command - used, "%s%s", used ? " " : "", argv[i]);
    }
    int timeout_ms = (int)(timeout_s * 1000);
    gale_diag_t d = {""};
    gale_daemon_client_t *c = NULL;
    const char *ok = "";
    int rc = gale_daemon_client_new(target, secret, secret_len, timeout_ms, &c, &d);
    if (!rc) {
        if (!strncmp(command, "wait ", 5) && !timeout_given) timeout_ms = -1; /* as long as the topology runs */
        rc = gale_daemon_client_call(c, command, timeout_ms, print_data, NULL, &ok, &d);
    }
    if (rc) fprintf(stderr, "gale: %s: %s\n", target, d.msg);
    else if (*ok) printf("%s\n", ok); /* before the free: the text is the client's */
    gale_daemon_client_free(c);
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}
