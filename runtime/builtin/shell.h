/*
 * shell.h: the built-in `shell` plugin (shell.c): spouts and bolts run by a child process over Storm's multilang
 * protocol. A component with `plugin = "shell"` gets the descriptor of its kind, without any .so to load.
 */
#ifndef GALE_SHELL_H
#define GALE_SHELL_H

#include "gale.h"

extern const gale_plugin_t gale__shell_bolt;
extern const gale_plugin_t gale__shell_spout;

#endif
