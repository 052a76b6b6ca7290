/*
 * nimbus_view.c: what a watcher on nimbus's loop (the HTTP endpoint) reads of the cluster: every topology with its
 * model and its parts' figures merged, the supervisors, the leader. Read from ZooKeeper at each call, as the verbs
 * read it, so that a standby shows the same as the leader.
 */
#include <stdlib.h>
#include <string.h>

#include "nimbus.h"
#include "nimbus_state.h"

static const char *storm_status(gale_topo_status_t s)
{
    return s == GALE_TOPO_ACTIVE     ? "ACTIVE"
           : s == GALE_TOPO_INACTIVE ? "INACTIVE"
           : s == GALE_TOPO_KILLING  ? "KILLED"
                                     : "REBALANCING";
}

/* Topology `name` into *v; GALE_ENOENT when it went meanwhile. */
static int view_of(nimbus_t *n, const char *name, gale_nimbus_view_t *v)
{
    gale_topo_record_t r;
    char why[700], **docs = NULL;
    int n_docs = 0;
    memset(v, 0, sizeof *v);
    int rc = nimbus_read_topo(n, name, &r, NULL);
    if (!rc) rc = nimbus_read_model(n, &r, &v->model, why, sizeof why);
    if (!rc) rc = nimbus_read_parts(n, r.name, r.version, &docs, &n_docs);
    if (!rc && !(v->figures = gale_metrics_merge(v->model, (const char *const *)docs, n_docs))) rc = GALE_ENOMEM;
    if (!rc) {
        snprintf(v->name, sizeof v->name, "%s", r.name);
        v->status = storm_status(r.status);
        uint64_t now = nimbus_wall_ms();
        v->uptime_s = now > r.submitted_ms ? (double)(now - r.submitted_ms) / 1e3 : 0;
        v->workers = r.workers;
        if (!(v->slots = calloc((size_t)r.workers + 1, sizeof *v->slots))) rc = GALE_ENOMEM;
    }
    for (int k = 0; !rc && k < r.workers; k++) {
        char path[2 * NIMBUS_PATH_MAX], *data = NULL;
        size_t len;
        snprintf(v->slots[k].supervisor, sizeof v->slots[k].supervisor, "%s", r.slots && r.slots[k] ? r.slots[k] : "");
        snprintf(path, sizeof path, "%s/%s/%d", n->workers_folder, r.name, k);
        if (!gale_zk_get(n->zk, path, false, &data, &len, NULL) && data) /* HOST:PORT@PLACEMENT */
            snprintf(v->slots[k].address, sizeof v->slots[k].address, "%.*s", (int)strcspn(data, "@\n"), data);
        free(data);
    }
    for (int i = 0; i < n_docs; i++) free(docs[i]);
    free(docs);
    gale_topo_record_free(&r);
    return rc;
}

void gale_nimbus_views_free(gale_nimbus_view_t *v, size_t count)
{
    for (size_t i = 0; v && i < count; i++)
        gale_topology_free(v[i].model), gale_merged_free(v[i].figures), free(v[i].slots);
    free(v);
}

int gale_nimbus_views(gale_nimbus_t *n, gale_nimbus_view_t **out, size_t *count)
{
    char **names;
    size_t k;
    *out = NULL, *count = 0;
    if (!n->zk) return GALE_EAGAIN;
    int rc = gale_zk_children(n->zk, n->topos_folder, false, &names, &k);
    if (rc) return rc == GALE_ENOENT ? 0 : rc;
    gale_nimbus_view_t *v = calloc(k + 1, sizeof *v);
    for (size_t i = 0; v && i < k; i++) {
        int got = view_of(n, names[i], &v[*count]);
        if (!got) (*count)++;
        else /* gone meanwhile */
            gale_topology_free(v[*count].model), gale_merged_free(v[*count].figures), free(v[*count].slots);
    }
    gale_zk_free_names(names, k);
    if (!v) return GALE_ENOMEM;
    *out = v;
    return 0;
}

int gale_nimbus_supervisor_views(gale_nimbus_t *n, gale_nimbus_sup_view_t **out, size_t *count)
{
    sup_slots_t s;
    *out = NULL, *count = 0;
    if (!n->zk) return GALE_EAGAIN;
    int rc = nimbus_read_sup_slots(n, NULL, &s);
    gale_nimbus_sup_view_t *v = rc ? NULL : calloc(s.n + 1, sizeof *v);
    for (size_t i = 0; v && i < s.n; i++) {
        char path[2 * NIMBUS_PATH_MAX], *data = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", n->sups_folder, s.names[i]);
        gale_zk_get(n->zk, path, false, &data, &len, NULL);
        const char *ver = data ? strstr(data, "version=") : NULL;
        snprintf(v[i].name, sizeof v[i].name, "%s", s.names[i]);
        snprintf(v[i].version, sizeof v[i].version, "%.*s", ver ? (int)strcspn(ver + 8, " \n") : 1,
                 ver ? ver + 8 : "?");
        v[i].slots = s.total[i];
        v[i].used = s.total[i] - s.free_slots[i];
        free(data);
    }
    if (!rc && !v) rc = GALE_ENOMEM;
    if (!rc) *out = v, *count = s.n;
    nimbus_sup_slots_free(&s);
    return rc;
}

bool gale_nimbus_leading(gale_nimbus_t *n, char *leader, size_t cap)
{
    snprintf(leader, cap, "unknown");
    if (n->election) gale_election_leader(n->election, leader, cap);
    return n->zk && n->election && gale_election_leading(n->election);
}
