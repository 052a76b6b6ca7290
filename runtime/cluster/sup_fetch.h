/*
 * sup_fetch.h: what a supervisor does with a topology nimbus placed on it (topo_record.h) before it can start its
 * workers: fetch every blob the topology names that is not in its cache yet (the model, the plugins, the shell
 * resources) from the leading nimbus, each checked against its digest as it is written (blobs.h), and lay out a run
 * folder DATA/run/SUPERVISOR/NAME-vVERSION holding
 *     model        the model, its plugins pointed at the cached files (or, for gale's own plugins, at this
 *                  supervisor's), its folder at the run folder, and each shell component's cwd at
 *     res/COMPONENT/...   the files of its resources (bundle.h), with their modes.
 * Workers run from that model (`gale worker --model`). A plugin that ships with gale is this supervisor's own: one
 * that is missing here is an error that names it, as a plugin that does not load on a host must be.
 *
 * Blocking (network and disk): run it off the loop, in libuv's thread pool. Everything it needs is in the options.
 */
#ifndef GALE_SUP_FETCH_H
#define GALE_SUP_FETCH_H

#include <stddef.h>

#include "topo_record.h"

typedef struct gale_sup_fetch_opts {
    const char *data_dir; /* the cache (DATA/blobs) and the run folders */
    const char *nimbus;   /* "HOST:PORT" of the leading nimbus; NULL: none known (only what is cached can be used) */
    const char *sup_id;   /* this supervisor, "HOST:PORT": its run folders are apart from other supervisors' */
    const void *secret;   /* the cluster secret, to authenticate with nimbus */
    size_t secret_len;
    int timeout_ms; /* for each exchange with nimbus */
} gale_sup_fetch_opts_t;

/* Fetches and lays out `r` (borrowed). 0 with the model's path in `model` (cap bytes); a negative code with the
   reason in `why` (a blob nimbus does not have, a digest that does not match, a plugin this host lacks). */
int gale_sup_fetch(const gale_sup_fetch_opts_t *o, const gale_topo_record_t *r, char *model, size_t cap, char *why,
                   size_t why_cap);

/* Hot swap: plugin blob `sha` for `component` into the cache (fetched from nimbus when it is not there, its digest
   checked) and checked to be an ELF object. 0 with its file in `path`; a code with `why`. Blocks: run it off the
   loop. */
int gale_sup_fetch_plugin(const gale_sup_fetch_opts_t *o, const char *component, const char *sha, char *path,
                          size_t cap, char *why, size_t why_cap);

#endif
