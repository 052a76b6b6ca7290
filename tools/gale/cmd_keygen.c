/* `gale keygen FILE`: a new key of 32 bytes from the kernel's random source, in a file of mode 600 (keyfile.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keyfile.h"

int gale_cmd_keygen(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("keygen");
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) return gale_cli_unknown_option("keygen", argv[i]);
        if (path) return gale_cli_usage_error("keygen", "one FILE only (got %s too)", argv[i]);
        path = argv[i];
    }
    if (!path) return gale_cli_usage_error("keygen", "no FILE given");
    char why[PATH_MAX + 128];
    bool made;
    if (gale_keyfile_create(path, 32, &made, why, sizeof why)) {
        fprintf(stderr, "gale keygen: %s\n", why);
        return GALE_EXIT_ERROR;
    }
    if (!made) {
        /* Never replaced: what a key sealed would be lost with it. */
        fprintf(stderr, "gale keygen: %s exists; it is kept (remove it first to make a new key)\n", path);
        return GALE_EXIT_ERROR;
    }
    fprintf(stderr, "gale keygen: %s: a new key of 32 bytes (mode 600); keep a copy where the journals are not\n",
            path);
    return GALE_EXIT_OK;
}
