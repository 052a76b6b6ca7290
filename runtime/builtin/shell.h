/*
 * shell.h: the built-in `shell` plugin (shell.c): spouts and bolts run by a child process over Storm's multilang
 * protocol. A component with `plugin = "shell"` gets the descriptor of its kind, without any .so to load.
 */
#ifndef GALE_SHELL_H
#define GALE_SHELL_H

#include "gale.h"

/* Registers `shell` with the plugin loader (plugin.h: gale_plugin_register_builtin). Call once at start, before any
   topology is read; a second call is a no-op. */
int gale_shell_register(void);

#endif
