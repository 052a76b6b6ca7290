/* `gale token`: the Authorization header of one HTTP action (http_auth.h), from the secret the endpoint knows. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http_auth.h"

int gale_cmd_token(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("token");
    const char *secret_file = NULL, *method = "POST", *path = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--method"))) method = v;
        else if (argv[i][0] == '-' && argv[i][1]) return gale_cli_unknown_option("token", argv[i]);
        else if (path) return gale_cli_usage_error("token", "one PATH only (got %s too)", argv[i]);
        else path = argv[i];
    }
    if (!secret_file) return gale_cli_usage_error("token", "--secret-file is required");
    if (!path || path[0] != '/')
        return gale_cli_usage_error("token", "PATH must start with /, as /api/v1/topology/NAME/kill");
    if (strchr(path, '?')) return gale_cli_usage_error("token", "PATH is signed without a query: drop the '?...'");
    char secret[GALE_HTTP_AUTH_SECRET_MAX];
    size_t len;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &len)) return GALE_EXIT_ERROR;
    char header[192];
    gale_http_auth_sign(secret, len, method, path, (int64_t)time(NULL), header, sizeof header);
    printf("Authorization: %s\n", header);
    return GALE_EXIT_OK;
}
