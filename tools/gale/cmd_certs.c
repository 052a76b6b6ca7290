/* `gale certs init DIR` and `gale certs issue DIR NAME [--host H]...`: a cluster's CA and its certificates (certs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "cli.h"

#define MAX_HOSTS 32

int gale_cmd_certs(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("certs");
    if (argc < 2 || (strcmp(argv[1], "init") && strcmp(argv[1], "issue"))) {
        if (argc >= 2 && argv[1][0] == '-') return gale_cli_unknown_option("certs", argv[1]);
        return gale_cli_usage_error("certs", "init or issue is needed%s%s", argc >= 2 ? ", not " : "",
                                    argc >= 2 ? argv[1] : "");
    }
    bool init = !strcmp(argv[1], "init");
    const char *pos[2] = {NULL, NULL}, *hosts[MAX_HOSTS], *v, *role = "node";
    int n_pos = 0, days = init ? 3650 : 365;
    size_t n_hosts = 0;
    for (int i = 2; i < argc; i++) {
        if ((v = gale_cli_option_value(argc, argv, &i, "--days"))) {
            if (gale_cli_parse_int(v, 1, 36500, &days))
                return gale_cli_usage_error("certs", "--days needs 1 to 36500, not '%s'", v);
        } else if (!init && (v = gale_cli_option_value(argc, argv, &i, "--role"))) {
            if (!gale_certs_role_ok(v))
                return gale_cli_usage_error("certs", "--role is admin, deployer, viewer or node, not '%s'", v);
            role = v;
        } else if (!init && (v = gale_cli_option_value(argc, argv, &i, "--host"))) {
            if (n_hosts == MAX_HOSTS) return gale_cli_usage_error("certs", "at most %d --host", MAX_HOSTS);
            hosts[n_hosts++] = v;
        } else if (!strcmp(argv[i], "--days") || !strcmp(argv[i], "--host") || !strcmp(argv[i], "--role")) {
            return gale_cli_usage_error("certs", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return gale_cli_unknown_option("certs", argv[i]);
        } else if (n_pos == (init ? 1 : 2)) {
            return gale_cli_usage_error("certs", "unexpected argument '%s'", argv[i]);
        } else pos[n_pos++] = argv[i];
    }
    if (n_pos < (init ? 1 : 2))
        return gale_cli_usage_error("certs", init ? "DIR is needed" : "DIR and NAME are needed");
    gale_diag_t d = {{0}};
    int rc = init ? gale_certs_init(pos[0], days, &d)
                  : gale_certs_issue_as(pos[0], pos[1], role, hosts, n_hosts, 0, days, &d);
    if (rc) {
        fprintf(stderr, "gale certs: %s\n", d.msg);
        return GALE_EXIT_ERROR;
    }
    if (init)
        printf("%s/ca.crt and %s/ca.key: a new CA, valid %d days. Keep ca.key on this machine only; give each host "
               "ca.crt and its own NAME.crt and NAME.key (gale certs issue %s NAME).\n",
               pos[0], pos[0], days, pos[0]);
    else
        printf("%s/%s.crt and %s/%s.key: role %s, valid %d days, signed by %s/ca.crt.\n", pos[0], pos[1], pos[0],
               pos[1], role, days, pos[0]);
    return GALE_EXIT_OK;
}
