/*
 * nimbus_roles.c: who may do what on nimbus's control port (Storm's nimbus.admins and topology.users, with the role
 * in the client's certificate, signed by the cluster's CA: certs.h).
 *
 *   viewer    list, stats, supervisors, leader
 *   deployer  what a viewer may, and has, put, submit; kill, rebalance, swap, activate, deactivate of the
 *             topologies it submitted (owner=) or whose config.users names it
 *   admin     everything
 *   node      nimbus's and the supervisors' own certificates: has, get (the fetch of what nimbus ships), leader,
 *             supervisors
 *
 * Without TLS the only credential is the cluster secret, and its holder is admin (what every client was before
 * roles); so is an HTTP action, whose token is made with the secret. A certificate without a role may do nothing.
 */
#include <stdio.h>
#include <string.h>

#include "nimbus_state.h"

static bool in(const char *word, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(word, *list)) return true;
    return false;
}

/* Whether `name` is one of the comma-separated `list`. */
static bool listed(const char *name, const char *list)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static const char *const VIEW[] = {"list", "stats", "supervisors", "leader", NULL};
static const char *const DEPLOY[] = {"has", "put", "submit", NULL};
static const char *const CHANGE[] = {"kill", "rebalance", "swap", "activate", "deactivate", NULL};
static const char *const NODE[] = {"has", "get", "leader", "supervisors", NULL};

bool nimbus_may(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok)
{
    const char *role = gale_ctl_role(c), *who = gale_ctl_identity(c), *verb = tok[0];
    if (!strcmp(role, "admin")) return true;
    bool viewer = !strcmp(role, "viewer"), deployer = !strcmp(role, "deployer"), node = !strcmp(role, "node");
    char why[400];
    const char *as = *role ? role : "a holder of no role";
    if (in(verb, VIEW) && (viewer || deployer)) return true;
    if (in(verb, NODE) && node) return true;
    if (in(verb, DEPLOY) && deployer) return true;
    if (in(verb, CHANGE) && deployer && ntok >= 2) {
        gale_topo_record_t r;
        int rc = nimbus_read_topo(n, tok[1], &r, NULL);
        bool mine = !rc && (!strcmp(r.owner, who) || listed(who, r.users));
        gale_topo_record_free(&r);
        if (mine || rc == GALE_ENOENT) return true; /* a topology that is not there is the verb's to say */
        snprintf(why, sizeof why,
                 "%s of '%s' needs the admin role, or the deployer role as its owner or one of its config.users "
                 "(%s is a deployer, and '%s' is another's)",
                 verb, tok[1], who, tok[1]);
        gale_ctl_deny(c, why);
        return false;
    }
    if (in(verb, CHANGE) && deployer) return true; /* the verb says its usage */
    const char *needs = in(verb, VIEW)     ? "the viewer, deployer or admin role"
                        : in(verb, DEPLOY) ? "the deployer or admin role"
                        : in(verb, CHANGE) ? "the admin role, or the deployer role on a topology of its own"
                        : in(verb, NODE)   ? "the node or admin role"
                                           : "the admin role";
    snprintf(why, sizeof why, "%s needs %s (%s is %s%s)", verb, needs, who,
             *role && strchr("ae", role[0]) ? "an "
             : *role                        ? "a "
                                            : "",
             as);
    gale_ctl_deny(c, why);
    return false;
}
