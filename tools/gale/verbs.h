/*
 * verbs.h: the plumbing of the cluster verbs (cmd_submit.c) that other commands reuse: the options that find the
 * leading nimbus (--zk HOSTS [--root PATH] | --nimbus HOST:PORT, --secret-file FILE, --timeout S), the secret read
 * from its file, and an authenticated connection to nimbus. `gale monitor NAME` uses it to ask for `stats NAME json`.
 */
#ifndef GALE_VERBS_H
#define GALE_VERBS_H

#include <stddef.h>

#include "nimbus_client.h"

#define GALE_VERB_SECRET_MAX 1024

/* The options every verb shares; zeroed, with timeout_s set, before the first option. */
typedef struct verb_opts {
    const char *secret_file, *nimbus, *zk, *root;
    const char *tls; /* --tls DIR/NAME: speak TLS to nimbus with this user's certificate */
    double timeout_s;
    char secret[GALE_VERB_SECRET_MAX];
    size_t secret_len;
    gale_nimbus_target_t target; /* set by gale_verb_finish_options; borrows the strings above */
} verb_opts_t;

/* Takes a shared option at argv[*i] for command `cmd`: 1 when it was one (*i moved past its value), 0 when not, or
   GALE_EXIT_USAGE after printing the problem. */
int gale_verb_option(const char *cmd, int argc, char **argv, int *i, verb_opts_t *v);
/* Checks the shared options, reads the secret and sets v->target (SIGPIPE is then ignored). 0, or an exit code
   after printing why. */
int gale_verb_finish_options(const char *cmd, verb_opts_t *v);
/* A connection to the leading nimbus (gale_daemon_client_free), or NULL after printing "gale CMD: why". */
gale_daemon_client_t *gale_verb_connect(const char *cmd, verb_opts_t *v);

#endif
