#include "worker_swap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "validate.h"

/* The plugin at `path`, loaded by an earlier swap or now (then kept). 0, or a code with `d`. */
static int plugin_at(gale_swaps_t *kept, const char *path, gale_plugin_handle_t **out, gale_diag_t *d)
{
    for (size_t i = 0; i < kept->n; i++)
        if (!strcmp(kept->h[i]->path, path)) return *out = kept->h[i], 0;
    gale_plugin_handle_t **grown = realloc(kept->h, (kept->n + 1) * sizeof *grown);
    if (!grown) return gale__diag(d, GALE_ENOMEM, "out of memory");
    kept->h = grown;
    int rc = gale_plugin_load(path, out, d);
    if (!rc) kept->h[kept->n++] = *out;
    return rc;
}

/* Keeps what `h` declares for `component` (taking `streams`) unless kept already; the kept declaration. */
static const gale_swap_decl_t *keep_decl(gale_swaps_t *kept, const gale_plugin_handle_t *h, int component,
                                         gale_stream_t *streams, size_t n)
{
    for (size_t i = 0; i < kept->n_decl; i++)
        if (kept->decl[i].h == h && kept->decl[i].component == component) {
            gale_streams_free(streams, n);
            return &kept->decl[i];
        }
    gale_swap_decl_t *grown = realloc(kept->decl, (kept->n_decl + 1) * sizeof *grown);
    if (!grown) {
        gale_streams_free(streams, n);
        return NULL;
    }
    kept->decl = grown;
    kept->decl[kept->n_decl] = (gale_swap_decl_t){h, component, streams, n};
    return &kept->decl[kept->n_decl++];
}

bool gale_worker_swap(gale_runtime_t *rt, gale_swaps_t *kept, const char *args, char *text, size_t cap)
{
    const char *sp = strchr(args, ' ');
    int n = sp ? (int)(sp - args) : (int)strlen(args);
    const char *path = sp ? sp + 1 : "";
    char name[256];
    snprintf(name, sizeof name, "%.*s", n, args);
    int c = gale_topology_find(rt->topo, name);
    gale_diag_t d = {{0}};
    const gale_plugin_t *desc = NULL;
    const gale_swap_decl_t *decl = NULL;
    if (c < 0) {
        snprintf(text, cap, "%s no component named '%s'", name, name);
        return false;
    }
    if (!strcmp(path, "-")) {
        desc = rt->topo->components[c].plugin->desc;
    } else {
        gale_plugin_handle_t *h;
        gale_stream_t *streams = NULL;
        size_t n_streams = 0;
        if (plugin_at(kept, path, &h, &d) || gale_topology_check_swap(rt->topo, c, h, &streams, &n_streams, &d)) {
            snprintf(text, cap, "%s %s", name, d.msg);
            return false;
        }
        if (streams && !(decl = keep_decl(kept, h, c, streams, n_streams))) {
            snprintf(text, cap, "%s out of memory", name);
            return false;
        }
        desc = h->desc;
    }
    char why[300];
    int rc = gale__runtime_swap(rt, c, desc, decl ? decl->streams : NULL, decl ? decl->n_streams : 0,
                                GALE_SWAP_TIMEOUT_MS, why, sizeof why);
    if (rc) {
        snprintf(text, cap, "%s %s", name, *why ? why : gale_strerror(rc));
        return false;
    }
    gale_logf(GALE_LOG_INFO, "worker", "%s runs plugin %s from now on", name, desc->name);
    snprintf(text, cap, "%s", name);
    return true;
}

void gale_swaps_free(gale_swaps_t *s)
{
    for (size_t i = 0; i < s->n_decl; i++) gale_streams_free(s->decl[i].streams, s->decl[i].n_streams);
    free(s->decl);
    for (size_t i = 0; i < s->n; i++) gale_plugin_unload(s->h[i]);
    free(s->h);
    *s = (gale_swaps_t){0};
}
