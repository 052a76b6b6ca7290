/*
 * daemon_swap.c: a supervisor's side of a hot swap in cluster mode. While a topology's node says
 * swap=COMPONENT:SHA and swap_on= names this supervisor (the parts swap one after another), its part makes
 * COMPONENT run that plugin: the blob is fetched into the cache
 * in libuv's thread pool (its digest checked, an ELF object), then the local workers take it one at a time
 * (gale_sup_swap), and the part reports swap=COMPONENT:SHA:done, or :refused with why (ROOT/status/NAME/SUPERVISOR).
 * Nimbus commits it once every part has done it, or writes the plugin they had back (the same rule, the other way).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_state.h"
#include "log.h"
#include "sup_fetch.h"

typedef struct swap_fetch {
    uv_work_t work;
    supd_t *d;
    char name[GALE_TOPO_NAME_MAX], component[256], sha[GALE_BLOB_HEX_LEN + 1];
    char nimbus[160], sup[96];
    gale_sup_fetch_opts_t fo;
    char path[PATH_MAX], why[512];
    int rc;
} swap_fetch_t;

void gale__supd_swap_report(supd_t *d, topo_rec_t *r)
{
    gale_topo_report_t rep = {.version = r->version, .state = GALE_TOPO_RUNNING};
    snprintf(rep.swap, sizeof rep.swap, "%s", r->swap_report);
    snprintf(rep.error, sizeof rep.error, "%s", r->swap_error);
    gale_sup_node_report(d->node, r->id, &rep);
}

/* What part r runs for `component`: a swap's plugin, else the one it started with ("-": gale's own). */
static const char *runs(const topo_rec_t *r, const char *component)
{
    if (!strcmp(r->swap_component, component)) return r->swap_sha;
    for (size_t i = 0; i < r->n_plugins; i++)
        if (!strcmp(r->plugins[i].component, component)) return r->plugins[i].sha;
    return "-";
}

/* The plugin r started with, for a swap's PATH: "-" tells the workers to take the model's own. */
static bool started_with(const topo_rec_t *r, const char *component, const char *sha)
{
    for (size_t i = 0; i < r->n_plugins; i++)
        if (!strcmp(r->plugins[i].component, component)) return !strcmp(r->plugins[i].sha, sha);
    return !strcmp(sha, "-");
}

static void said(supd_t *d, topo_rec_t *r, const char *why)
{
    snprintf(r->swap_report, sizeof r->swap_report, "%s:%s:%s", r->swap_want_component, r->swap_want,
             why ? "refused" : "done");
    snprintf(r->swap_error, sizeof r->swap_error, "%s", why ? why : "");
    gale__supd_swap_report(d, r);
}

static void on_swapped(void *arg, const char *why)
{
    topo_rec_t *r = arg;
    r->swapping = false;
    if (!why) {
        snprintf(r->swap_component, sizeof r->swap_component, "%s", r->swap_want_component);
        snprintf(r->swap_sha, sizeof r->swap_sha, "%s", r->swap_want);
    } else {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: %s not swapped: %s", r->id, r->swap_want_component, why);
    }
    said(r->d, r, why);
    /* The node may have asked for something else meanwhile (nimbus going back once another part refused): look. */
    gale_sup_node_topologies_again(r->d->node);
}

static void swap_to(supd_t *d, topo_rec_t *r, const char *path)
{
    int rc = r->sup ? gale_sup_swap(r->sup, r->swap_want_component, path, on_swapped, r) : GALE_ESTATE;
    if (rc) {
        r->swapping = false;
        said(d, r, rc == GALE_EAGAIN ? "the part is stopping or swapping already" : gale_strerror(rc));
    }
}

static void run_fetch(uv_work_t *w)
{
    swap_fetch_t *f = w->data;
    f->rc = gale_sup_fetch_plugin(&f->fo, f->component, f->sha, f->path, sizeof f->path, f->why, sizeof f->why);
}

static void after_fetch(uv_work_t *w, int status)
{
    swap_fetch_t *f = w->data;
    topo_rec_t *r = gale__supd_find_any(f->d, f->name);
    /* Still the swap it was fetched for: else what the node says now is followed at the next look. */
    if (r && r->cluster && r->swapping && !strcmp(r->swap_want, f->sha) &&
        !strcmp(r->swap_want_component, f->component)) {
        if (status || f->rc) {
            r->swapping = false;
            said(f->d, r, f->why[0] ? f->why : "the fetch was cancelled");
            gale_sup_node_topologies_again(f->d->node);
        } else {
            swap_to(f->d, r, f->path);
        }
    }
    free(f);
}

void gale__supd_swap_follow(supd_t *d, topo_rec_t *r, const gale_topo_record_t *rec)
{
    if (!rec->swap_component[0] || !r->sup || r->killing || r->swapping) return;
    if (strcmp(rec->swap_on, gale_sup_node_id(d->node))) return; /* another part's turn */
    const char *want = rec->swap_sha, *component = rec->swap_component;
    bool same_ask = !strcmp(r->swap_want_component, component) && !strcmp(r->swap_want, want);
    if (!strcmp(runs(r, component), want)) { /* nothing to do: say so once */
        snprintf(r->swap_want_component, sizeof r->swap_want_component, "%s", component);
        snprintf(r->swap_want, sizeof r->swap_want, "%s", want);
        if (!same_ask || strstr(r->swap_report, ":refused")) said(d, r, NULL);
        return;
    }
    if (same_ask && strstr(r->swap_report, ":refused")) return; /* refused already: nimbus decides what next */
    snprintf(r->swap_want_component, sizeof r->swap_want_component, "%s", component);
    snprintf(r->swap_want, sizeof r->swap_want, "%s", want);
    r->swapping = true;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: swapping %s to plugin %s", r->id, component, want);
    if (started_with(r, component, want)) return swap_to(d, r, "-");
    swap_fetch_t *f = calloc(1, sizeof *f);
    if (!f) {
        r->swapping = false;
        return said(d, r, "out of memory");
    }
    f->d = d;
    f->work.data = f;
    snprintf(f->name, sizeof f->name, "%s", r->id);
    snprintf(f->component, sizeof f->component, "%s", component);
    snprintf(f->sha, sizeof f->sha, "%s", want);
    gale__supd_fetch_opts(d, f->nimbus, sizeof f->nimbus, f->sup, sizeof f->sup, &f->fo);
    if (uv_queue_work(&d->loop, &f->work, run_fetch, after_fetch)) {
        free(f);
        r->swapping = false;
        said(d, r, "cannot fetch the plugin");
    }
}
