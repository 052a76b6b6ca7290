/* gale: the command. One file per family of subcommands; this one only dispatches (the commands and their usage
   are in cli.c's table). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gale.h"
#include "log.h"
#include "shell.h"

#define GALE_VERSION "0.1.0"

const char *gale_cli_version(void) { return GALE_VERSION; }

int gale_cmd_version(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("version");
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') return gale_cli_unknown_option("version", argv[i]);
        return gale_cli_usage_error("version", "unexpected argument '%s'", argv[i]);
    }
    printf("gale %s (plugin ABI %d.%d)\n", GALE_VERSION, GALE_ABI_MAJOR, GALE_ABI_MINOR);
    return GALE_EXIT_OK;
}

/* `gale help [COMMAND]`. */
int gale_cmd_help(int argc, char **argv)
{
    const char *topic = NULL;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("help");
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') return gale_cli_unknown_option("help", argv[i]);
        if (topic) return gale_cli_usage_error("help", "one command only (got %s too)", argv[i]);
        topic = argv[i];
    }
    if (!topic) {
        printf("gale " GALE_VERSION ": a Storm-style stream processor\n\n");
        gale_cli_print_help(stdout);
        return GALE_EXIT_OK;
    }
    if (!gale_cli_command(topic)) return gale_cli_usage_error("help", "no command '%s'", topic);
    return gale_cli_help(topic);
}

int main(int argc, char **argv)
{
    /* Read GALE_LOG_LEVEL now, before any thread: a bad value is reported once, whatever the command logs. */
    (void)gale_log_threshold();
    /* The built-in plugins, by the names a topology gives them, before any topology is read. */
    if (gale_shell_register()) return GALE_EXIT_ERROR;
    if (argc < 2) {
        gale_cli_print_help(stderr);
        return GALE_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version")) name = "version";
    if (gale_cli_is_help(name)) name = "help";
    const gale_cli_command_t *cmd = gale_cli_command(name);
    if (!cmd) {
        fprintf(stderr, "gale: unknown command '%s' (see 'gale help')\n\n", name);
        gale_cli_print_help(stderr);
        return GALE_EXIT_USAGE;
    }
    int rc = cmd->run(argc - 1, argv + 1);
    return rc == GALE_EXIT_HELP ? GALE_EXIT_OK : rc;
}
