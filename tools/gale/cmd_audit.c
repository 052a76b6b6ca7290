/* `gale audit verify FILE`: whether an audit log's hash chain holds (audit.h). */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

int gale_cmd_audit(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("audit");
    if (argc < 2) return gale_cli_usage_error("audit", "verify is needed");
    if (strcmp(argv[1], "verify")) {
        if (argv[1][0] == '-') return gale_cli_unknown_option("audit", argv[1]);
        return gale_cli_usage_error("audit", "verify is needed, not '%s'", argv[1]);
    }
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) return gale_cli_unknown_option("audit", argv[i]);
        if (path) return gale_cli_usage_error("audit", "one FILE only (got %s too)", argv[i]);
        path = argv[i];
    }
    if (!path) return gale_cli_usage_error("audit", "no FILE given");
    size_t lines = 0;
    char last[65], why[512];
    int rc = gale_audit_verify(path, &lines, last, why, sizeof why);
    if (rc) {
        fprintf(stderr, "gale audit: %s: %s\n", path, why);
        return GALE_EXIT_ERROR;
    }
    /* The last hash, to keep elsewhere: a chain cannot show alone that lines were cut from its end. */
    printf("%s: %zu line%s, chain intact, last hash %s\n", path, lines, lines == 1 ? "" : "s", last);
    return GALE_EXIT_OK;
}
