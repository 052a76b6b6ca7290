/*
 * nimbus_swap.c: `swap NAME COMPONENT SHA`, a hot swap over the cluster. Nimbus checks what it can without running
 * the plugin (a bolt of the model, a blob it has, an ELF object), writes swap=COMPONENT:SHA into the topology's
 * node, and every part swaps its local workers one at a time (daemon_swap.c) and reports. Once every part reports
 * it done, the node's plugin=COMPONENT:SHA says it (a part placed later runs it) and the reply comes. When a part
 * refuses (the plugin's streams differ, its prepare fails, ...), the node asks for the plugin the component had,
 * the parts that took the new one go back, and the reply says why. A nimbus that takes over finds the swap in the
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

/* Asks the parts for `sha` as COMPONENT's plugin. 0 or a code. */
static int ask(nimbus_t *n, gale_topo_record_t *r, int32_t node_version, const char *component, const char *sha)
{
    snprintf(r->swap_component, sizeof r->swap_component, "%s", component);
    snprintf(r->swap_sha, sizeof r->swap_sha, "%s", sha);
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
    else if (t->components[at].kind != GALE_BOLT)
        gale_ctl_sendf(c, "error '%s' is a spout: only a bolt's plugin is swapped", component);
    else if (!strcmp(committed(&r, component), sha))
        gale_ctl_sendf(c, "ok swapped %s %s (it ran it already)", r.name, component);
    else {
        int rc = ask(n, &r, version, component, sha);
        if (rc == GALE_EAGAIN) gale_ctl_sendf(c, "error %s changed meanwhile: try again", r.name);
        else if (rc) gale_ctl_sendf(c, "error cannot swap %s: %s", r.name, gale_strerror(rc));
        else if (!(p = nimbus_add_pending(n, P_SWAP, r.name, r.version, x, SWAP_TIMEOUT_S)))
            gale_ctl_sendf(c, "error out of memory");
        else gale_logf(GALE_LOG_INFO, "nimbus", "%s: swapping %s to plugin %s", r.name, component, sha);
    }
    gale_topology_free(t);
    gale_topo_record_free(&r);
}

void nimbus_tick_swap(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version, uint64_t now)
{
    if (!r->swap_component[0]) return nimbus_settle(n, p, "error %s: the swap was taken back", r->name);
    char want[600], component[256];
    snprintf(component, sizeof component, "%s", r->swap_component);
    snprintf(want, sizeof want, "%s:%s", component, r->swap_sha);
    reports_t rep;
    nimbus_read_reports(n, r->name, r->version, want, &rep);
    int holders = nimbus_count_holders(n, r);
    bool back = !strcmp(r->swap_sha, committed(r, component)); /* asking for what it had: going back */
    if (rep.swap_refused && !back) {
        snprintf(p->why, sizeof p->why, "%s", rep.swap_refusal);
        gale_logf(GALE_LOG_WARN, "nimbus", "%s: swap of %s refused by %s: going back", r->name, component, p->why);
        if (ask(n, r, node_version, component, committed(r, component)))
            return nimbus_settle(n, p, "error %s: %s not swapped: %s (and the plugin it had could not be asked back)",
                                 r->name, component, p->why);
        return;
    }
    bool all = holders > 0 && rep.swapped >= holders;
    if (!all && !rep.swap_refused) {
        if (now > p->deadline_ms)
            nimbus_settle(n, p, "error %s: %s: no answer from every part in %.0f s (%d of %d did it)", r->name,
                          component, SWAP_TIMEOUT_S, rep.swapped, holders);
        return;
    }
    /* Every part runs what was asked (or, going back, one could not): the node says so and the swap is over. */
    if (!back) {
        bool there = false;
        for (size_t i = 0; i < r->n_plugins; i++)
            if (!strcmp(r->plugins[i].component, component))
                snprintf(r->plugins[i].sha, sizeof r->plugins[i].sha, "%s", r->swap_sha), there = true;
        if (!there && gale_topo_record_add_file(&r->plugins, &r->n_plugins, component, r->swap_sha))
            return; /* out of memory: the next tick tries again */
    }
    char sha[GALE_BLOB_HEX_LEN + 1];
    snprintf(sha, sizeof sha, "%s", r->swap_sha);
    r->swap_component[0] = '\0', r->swap_sha[0] = '\0';
    int rc = nimbus_write_topo(n, r, node_version, false);
    if (rc == GALE_EAGAIN) return; /* written meanwhile (a move): the next tick sees it again */
    if (rc) return nimbus_settle(n, p, "error %s: cannot write the swap's end: %s", r->name, gale_strerror(rc));
    if (back && p->why[0]) return nimbus_settle(n, p, "error %s: %s not swapped: %s", r->name, component, p->why);
    if (back && rep.swap_refused)
        return nimbus_settle(n, p, "error %s: %s: going back failed: %s", r->name, component, rep.swap_refusal);
    gale_logf(GALE_LOG_INFO, "nimbus", "%s: %s runs plugin %s on every part", r->name, component, sha);
    nimbus_settle(n, p, "ok swapped %s %s", r->name, component);
}
