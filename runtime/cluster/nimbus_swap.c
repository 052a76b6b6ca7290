/*
 * nimbus_swap.c: `swap NAME COMPONENT SHA`, a hot swap over the cluster. Nimbus checks what it can without running
 * the plugin (a component of the model, a blob it has, an ELF object), writes swap=COMPONENT:SHA into the topology's
 * node; then, one part after another (swap_on=SUPERVISOR, in the order of their names), a part swaps its local
 * workers one at a time (daemon_swap.c) and reports. Once every part reports it done, the node's
 * plugin=COMPONENT:SHA says it (a part placed later runs it) and the reply comes. When a part refuses (the plugin's
 * streams differ, its prepare fails, ...), the parts that took the new one are asked back to the plugin the
 * component had, one after another, and the reply says why. A nimbus that takes over finds the swap in the
 * node and finishes it the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nimbus_state.h"

#define SWAP_TIMEOUT_S 180.0

/* The plugin the node commits COMPONENT to: its plugin= entry, else "-" (gale's own). */
static const char *committed(const gale_topo_record_t *r, const char *component)
{
    for (size_t i = 0; i < r->n_plugins; i++)
        if (!strcmp(r->plugins[i].component, component)) return r->plugins[i].sha;
    return "-";
}

/* Asks the parts for `sha` as COMPONENT's plugin; the tick then asks them one after another. 0 or a code. */
static int ask(nimbus_t *n, gale_topo_record_t *r, int32_t node_version, const char *component, const char *sha,
               const char *on)
{
    snprintf(r->swap_component, sizeof r->swap_component, "%s", component);
    snprintf(r->swap_sha, sizeof r->swap_sha, "%s", sha);
    snprintf(r->swap_on, sizeof r->swap_on, "%s", on ? on : "");
    return nimbus_write_topo(n, r, node_version, false);
}

void nimbus_cmd_swap(nimbus_t *n, nconn_t *x, char **tok, int ntok)
{
    gale_ctl_conn_t *c = x->conn;
    gale_topo_record_t r;
    int32_t version;
    const char *usage = "swap NAME COMPONENT SHA";
    if (ntok != 4) return gale_ctl_sendf(c, "error usage: %s", usage);
    if (nimbus_verb_topo(n, c, tok, ntok, usage, &r, &version)) return gale_topo_record_free(&r);
    const char *component = tok[2], *sha = tok[3];
    gale_topology_t *t = NULL;
    char why[700];
    unsigned char head[4];
    int at = -1;
    pending_t *p = nimbus_pending_for(n, r.name);
    if (p || r.swap_component[0] || (r.status != GALE_TOPO_ACTIVE && r.status != GALE_TOPO_INACTIVE))
        gale_ctl_sendf(c, "error %s is %s: wait for that first", r.name,
                       p && p->kind == P_SUBMIT                 ? "starting"
                       : r.swap_component[0]                    ? "being swapped"
                       : p || r.status == GALE_TOPO_REBALANCING ? "being rebalanced"
                                                                : "being killed");
    else if (!gale_blob_digest_ok(sha)) gale_ctl_sendf(c, "error bad digest '%s'", sha);
    else if (!nimbus_blob_known(n, sha)) gale_ctl_sendf(c, "error no blob %s: put it first", sha);
    else if (nimbus_blob_head(n, sha, head, sizeof head) != 4 || memcmp(head, "\177ELF", 4))
        gale_ctl_sendf(c, "error %s is not an ELF object: a plugin is a shared object (.so)", sha);
    else if (nimbus_read_model(n, &r, &t, why, sizeof why)) gale_ctl_sendf(c, "error %s", why);
    else if ((at = gale_topology_find(t, component)) < 0)
        gale_ctl_sendf(c, "error %s has no component named '%s'", r.name, component);
    else if (!strcmp(committed(&r, component), sha))
        gale_ctl_sendf(c, "ok swapped %s %s (it ran it already)", r.name, component);
    else {
        int rc = ask(n, &r, version, component, sha, NULL); /* the next tick names the first part */
        if (rc == GALE_EAGAIN) gale_ctl_sendf(c, "error %s changed meanwhile: try again", r.name);
        else if (rc) gale_ctl_sendf(c, "error cannot swap %s: %s", r.name, gale_strerror(rc));
        else if (!(p = nimbus_add_pending(n, P_SWAP, r.name, r.version, x, SWAP_TIMEOUT_S)))
            gale_ctl_sendf(c, "error out of memory");
        else gale_logf(GALE_LOG_INFO, "nimbus", "%s: swapping %s to plugin %s", r.name, component, sha);
    }
    gale_topology_free(t);
    gale_topo_record_free(&r);
}

/* The report of supervisor `sup`'s part at the placement's version: its swap field into `swap` ("" none) and its
   error into `error`. */
static void part_report(nimbus_t *n, const gale_topo_record_t *r, const char *sup, char *swap, size_t cap, char *error,
                        size_t error_cap)
{
    char path[3 * NIMBUS_PATH_MAX], *text = NULL;
    size_t len;
    gale_topo_report_t rep;
    swap[0] = error[0] = '\0';
    snprintf(path, sizeof path, "%s/%s/%s", n->status_folder, r->name, sup);
    if (gale_zk_get(n->zk, path, false, &text, &len, NULL) == 0 && gale_topo_report_parse(text, &rep) == 0 &&
        rep.version == r->version) {
        snprintf(swap, cap, "%s", rep.swap);
        snprintf(error, error_cap, "%s", rep.error);
    }
    free(text);
}

/* The supervisors that hold slots of `r`, each once, sorted (the order the parts swap in); their number. */
static int holders_of(const gale_topo_record_t *r, const char **out)
{
    int n = 0;
    for (int k = 0; k < r->workers; k++) {
        bool seen = false;
        for (int j = 0; j < n && !seen; j++) seen = !strcmp(out[j], r->slots[k]);
        if (!seen) out[n++] = r->slots[k];
    }
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(out[k - 1], out[k]) > 0; k--) {
            const char *t = out[k];
            out[k] = out[k - 1], out[k - 1] = t;
        }
    return n;
}

/* Writes the node asking `sup`'s part (NULL: none) for `sha`. 0 or a code. */
static int turn(nimbus_t *n, gale_topo_record_t *r, int32_t node_version, const char *sha, const char *sup)
{
    if (!strcmp(r->swap_sha, sha) && !strcmp(r->swap_on, sup ? sup : "")) return 0;
    char copy[GALE_BLOB_HEX_LEN + 1]; /* `sha` may be r->swap_sha itself */
    snprintf(copy, sizeof copy, "%s", sha);
    snprintf(r->swap_sha, sizeof r->swap_sha, "%s", copy);
    snprintf(r->swap_on, sizeof r->swap_on, "%s", sup ? sup : "");
    return nimbus_write_topo(n, r, node_version, false);
}

/* The swap's end: the node's plugin= names what every part runs (`commit`), the swap fields go. 0 or a code. */
static int end_swap(nimbus_t *n, gale_topo_record_t *r, int32_t node_version, const char *component, bool commit)
{
    if (commit) {
        bool there = false;
        for (size_t i = 0; i < r->n_plugins; i++)
            if (!strcmp(r->plugins[i].component, component))
                snprintf(r->plugins[i].sha, sizeof r->plugins[i].sha, "%s", r->swap_sha), there = true;
        if (!there && gale_topo_record_add_file(&r->plugins, &r->n_plugins, component, r->swap_sha)) return GALE_ENOMEM;
    }
    r->swap_component[0] = r->swap_sha[0] = r->swap_on[0] = '\0';
    return nimbus_write_topo(n, r, node_version, false);
}

/* Whether a part's report `swap` says it runs a plugin for `component` other than `had`: going back asks it. */
static bool runs_other(const char *swap, const char *component, const char *had)
{
    size_t len = strlen(component);
    if (strncmp(swap, component, len) || swap[len] != ':') return false;
    const char *sha = swap + len + 1, *state = strrchr(sha, ':');
    if (!state || strcmp(state, ":done")) return false;
    return (size_t)(state - sha) != strlen(had) || strncmp(sha, had, (size_t)(state - sha));
}

/* One part after another: forward, the first part that does not report the new plugin done is asked for it; when
   one refuses, or does not answer in SWAP_TIMEOUT_S, back: the first part that still runs another plugin than the
   one the component had is asked for that one. Going back reads the parts' reports rather than what this nimbus
   asked, so that one that takes over finishes it too. */
void nimbus_tick_swap(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version, uint64_t now)
{
    if (!r->swap_component[0]) return nimbus_settle(n, p, "error %s: the swap was taken back", r->name);
    char component[256], had[GALE_BLOB_HEX_LEN + 1], swap[340], error[512], want[600];
    snprintf(component, sizeof component, "%s", r->swap_component);
    snprintf(had, sizeof had, "%s", committed(r, component));
    bool back = !strcmp(r->swap_sha, had);
    if (back && !p->why[0]) snprintf(p->why, sizeof p->why, "it was being taken back when this nimbus took over");
    const char **holders = calloc((size_t)r->workers + 1, sizeof *holders);
    if (!holders) return;
    int n_holders = holders_of(r, holders);
    const char *next = NULL;
    int rc = 0;
    for (int i = 0; i < n_holders && !next && !rc; i++) {
        part_report(n, r, holders[i], swap, sizeof swap, error, sizeof error);
        if (!back) {
            snprintf(want, sizeof want, "%s:%s:", component, r->swap_sha);
            bool asked = !strncmp(swap, want, strlen(want));
            if (asked && !strcmp(swap + strlen(want), "refused")) { /* back, from the first part on */
                snprintf(p->why, sizeof p->why, "supervisor %s: %s", holders[i], error);
                gale_logf(GALE_LOG_WARN, "nimbus", "%s: swap of %s refused by %s: going back", r->name, component,
                          p->why);
                back = true;
                i = -1;
                continue;
            }
            if (!asked || strcmp(swap + strlen(want), "done")) next = holders[i];
        } else if (runs_other(swap, component, had)) {
            next = holders[i];
        }
    }
    if (next && !back && now > p->deadline_ms) { /* a part that never answers must not hold the swap for ever */
        snprintf(p->why, sizeof p->why, "the part on %s did not answer in %.0f s", next, SWAP_TIMEOUT_S);
        gale_logf(GALE_LOG_WARN, "nimbus", "%s: swap of %s: %s: going back", r->name, component, p->why);
        p->deadline_ms = now + (uint64_t)(SWAP_TIMEOUT_S * 1000);
        rc = turn(n, r, node_version, had, NULL); /* the next tick asks the parts back, one after another */
        if (rc && rc != GALE_EAGAIN)
            nimbus_settle(n, p, "error %s: cannot take the swap back: %s", r->name, gale_strerror(rc));
        free(holders);
        return;
    }
    if (next && !(back && now > p->deadline_ms)) {
        rc = turn(n, r, node_version, back ? had : r->swap_sha, next);
        if (rc && rc != GALE_EAGAIN)
            nimbus_settle(n, p, "error %s: cannot ask %s to swap: %s", r->name, next, gale_strerror(rc));
        free(holders);
        return;
    }
    if (next) /* going back, and a part did not answer that either: the node says what it had, the log says who */
        gale_logf(GALE_LOG_ERROR, "nimbus", "%s: %s: the part on %s did not go back to plugin %s in %.0f s", r->name,
                  component, next, had, SWAP_TIMEOUT_S);
    free(holders);
    char sha[GALE_BLOB_HEX_LEN + 1];
    snprintf(sha, sizeof sha, "%s", r->swap_sha);
    rc = end_swap(n, r, node_version, component, !back);
    if (rc == GALE_EAGAIN) return; /* written meanwhile (a move): the next tick sees it again */
    if (rc) return nimbus_settle(n, p, "error %s: cannot write the swap's end: %s", r->name, gale_strerror(rc));
    if (back) return nimbus_settle(n, p, "error %s: %s not swapped: %s", r->name, component, p->why);
    gale_logf(GALE_LOG_INFO, "nimbus", "%s: %s runs plugin %s on every part", r->name, component, sha);
    nimbus_settle(n, p, "ok swapped %s %s", r->name, component);
}
