/*
 * confine.h: what an assignment may touch on a supervisor's host. The daemon runs what its control port and
 * ZooKeeper tell it to, so everything a topology names must lie in the daemon's own folder (its working folder),
 * one of its --allow-path folders, or its data folder: the topology file, plugins named by path, the journal,
 * every string setting that is an absolute path or climbs with "..", and each shell component's working folder
 * and program. Paths are resolved (symbolic links and ".." followed) before they are judged, and nothing is said
 * of a path outside, so that an answer cannot be used to probe the host's files.
 */
#ifndef GALE_CONFINE_H
#define GALE_CONFINE_H

#include <stdbool.h>
#include <stddef.h>

#include "topology.h"

typedef struct gale_confine {
    char **roots; /* realpaths, owned */
    int n_roots;
} gale_confine_t;

/* The daemon's working folder and each of `allow` (borrowed). 0, GALE_ENOMEM, or GALE_EINVAL (logged) for one that
   is not a folder; free with gale_confine_free on failure too. */
int gale_confine_init(gale_confine_t *c, const char *const *allow, int n_allow);
/* One folder more (the data folder, made before). 0, GALE_ENOMEM, GALE_EINVAL (logged). */
int gale_confine_add(gale_confine_t *c, const char *dir);
void gale_confine_free(gale_confine_t *c);

/* Whether `path` (relative to `base` when not absolute; base NULL: the working folder) lies in a folder of `c`. A
   path that does not exist yet (a file a sink will create) is judged by its folder, which must exist. */
bool gale_confine_path(const gale_confine_t *c, const char *path, const char *base);

/* Checks what the loaded (not necessarily resolved) topology `t` would touch, above. A model read back
   (topology_codec.h) is judged by the files its plugins were given (plugin_path), the plugins that ship with gale
   being allowed. 0, or -EACCES with "WHAT: not allowed ..." in `why`. */
int gale_confine_topology(const gale_confine_t *c, const gale_topology_t *t, char *why, size_t cap);

#endif
