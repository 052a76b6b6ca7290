/*
 * submit.h: what `gale submit` sends nimbus for a resolved topology: the model (topology_codec.h) under the name
 * the topology is to run as, each plugin that is not one of gale's own (those a supervisor has itself), and each
 * shell component's folder (its `cwd`, as a manifest and its files, bundle.h), every one a blob named by its
 * SHA-256; and the one `submit` line that names them all.
 */
#ifndef GALE_SUBMIT_H
#define GALE_SUBMIT_H

#include <stddef.h>

#include "blobs.h"
#include "topology.h"

typedef struct gale_submit_blob {
    char sha[GALE_BLOB_HEX_LEN + 1];
    char *bytes; /* owned */
    size_t len;
    char what[320]; /* "the model", "split's plugin build/plugins/split.so", ... for messages */
} gale_submit_blob_t;

typedef struct gale_submit {
    char *command;             /* "submit NAME workers=N model=SHA plugin=C:SHA... resource=C:SHA... timeout=S" */
    gale_submit_blob_t *blobs; /* model first; owned */
    size_t n_blobs;
    int workers;
    unsigned plugins, resources;
} gale_submit_t;

/* Prepares the submit of resolved `topo` (its name set to `name`: the model carries it) with `timeout_s` for nimbus
   to wait for its workers. 0 and *out (gale_submit_free, on failure too); a negative code with `why` naming the
   file or component. */
int gale_submit_prepare(gale_topology_t *topo, const char *name, double timeout_s, gale_submit_t *out, char *why,
                        size_t cap);
/* Prepares a hot swap of component `component` of topology `name` to the plugin file at `path`: the file loaded here
   first (an ELF shared object of this host, gale's ABI: what can be told without the topology), shipped as
   its blob, and the command "swap NAME COMPONENT SHA". 0 and *out; a negative code with `why`. */
int gale_submit_prepare_swap(const char *name, const char *component, const char *path, gale_submit_t *out, char *why,
                             size_t cap);
void gale_submit_free(gale_submit_t *s);

#endif
