/*
 * nimbus_stats.c: `stats NAME [json]`, the figures of a running topology over every host. Each supervisor keeps
 * its part's figures in ZooKeeper (ROOT/stats/NAME/HOST:PORT, sup_node.h): its workers' last reports merged, with
 * the histograms, under a first line "version=V" (the placement the part runs). Nimbus merges the parts of the
 * current placement the way a supervisor merges its workers (metrics_merge.h), so the quantiles are exact over
 * the cluster, and answers with the document `gale run --stats` writes, or with its table. A standby answers too:
 * it reads the same nodes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_client.h"
#include "gale.h"
#include "metrics_merge.h"
#include "nimbus_state.h"

int nimbus_read_parts(nimbus_t *n, const char *name, int64_t version, char ***docs, int *n_docs)
{
    char folder[2 * NIMBUS_PATH_MAX], **names;
    size_t count;
    *docs = NULL, *n_docs = 0;
    snprintf(folder, sizeof folder, "%s/%s", n->stats_folder, name);
    int rc = gale_zk_children(n->zk, folder, false, &names, &count);
    if (rc) return rc == GALE_ENOENT ? 0 : rc;
    *docs = calloc(count + 1, sizeof **docs);
    for (size_t i = 0; *docs && i < count; i++) {
        char path[3 * NIMBUS_PATH_MAX], *data = NULL, *end;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        if (gale_zk_get(n->zk, path, false, &data, &len, NULL)) continue; /* gone meanwhile */
        /* An earlier placement's part (a host that ran it before a rebalance or a move) is left out. */
        long long said = strncmp(data, "version=", 8) ? -1 : strtoll(data + 8, &end, 10);
        if (said == version && *end == '\n') {
            memmove(data, end + 1, strlen(end + 1) + 1);
            (*docs)[(*n_docs)++] = data;
        } else {
            free(data);
        }
    }
    gale_zk_free_names(names, count);
    return *docs ? 0 : GALE_ENOMEM;
}

/* The merged figures as `json` (one line) or as the table, every line indented: a line of the table must not
   read as the reply ("ok" or "error" are fine names for a component). */
static void answer(gale_ctl_conn_t *c, const gale_topology_t *t, const char *const *docs, int n_docs, bool json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return gale_ctl_sendf(c, "error out of memory");
    gale_sup_losses_t none = {0};
    int rc = 0;
    if (json) rc = gale_metrics_merged_json(t, docs, n_docs, &none, false, f);
    else gale_metrics_merged_report(t, docs, n_docs, &none, f);
    fclose(f);
    if (rc || !text) {
        gale_ctl_sendf(c, "error cannot merge the figures of %s: %s", t->name, gale_strerror(rc ? rc : GALE_ENOMEM));
    } else if (json) {
        while (len && text[len - 1] == '\n') len--;
        if (len > GALE_DAEMON_CLIENT_LINE_MAX)
            gale_ctl_sendf(c, "error the figures of %s are %zu bytes, over a reply line's %d", t->name, len,
                           GALE_DAEMON_CLIENT_LINE_MAX);
        else gale_ctl_send(c, text, len), gale_ctl_sendf(c, "ok");
    } else {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            gale_ctl_sendf(c, "  %s", line);
        gale_ctl_sendf(c, "ok");
    }
    free(text);
}

void nimbus_cmd_stats(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok)
{
    const char *usage = "stats NAME [json]";
    bool json = ntok == 3 && !strcmp(tok[2], "json");
    if (ntok > 3 || (ntok == 3 && !json)) return gale_ctl_sendf(c, "error usage: %s", usage);
    gale_topo_record_t r;
    if (nimbus_verb_topo(n, c, tok, ntok, usage, &r, NULL)) return gale_topo_record_free(&r);
    char **docs = NULL, why[700];
    int n_docs = 0;
    gale_topology_t *t = NULL;
    int rc = nimbus_read_parts(n, r.name, r.version, &docs, &n_docs);
    if (rc) gale_ctl_sendf(c, "error cannot read the figures of %s: %s", r.name, gale_strerror(rc));
    else if (!n_docs)
        gale_ctl_sendf(c, "error %s has no figures yet: its workers report every config.metrics_interval_s", r.name);
    else if (nimbus_read_model(n, &r, &t, why, sizeof why)) gale_ctl_sendf(c, "error %s", why);
    else answer(c, t, (const char *const *)docs, n_docs, json);
    for (int i = 0; i < n_docs; i++) free(docs[i]);
    free(docs);
    gale_topology_free(t);
    gale_topo_record_free(&r);
}
