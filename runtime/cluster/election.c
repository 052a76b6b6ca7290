#include "election.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "gale.h"
#include "log.h"

#define ELECTION_PATH_MAX 512

struct gale_election {
    gale_zk_t *zk;
    char folder[ELECTION_PATH_MAX];
    char node[ELECTION_PATH_MAX];        /* ours, as the server named it; "" once it is gone */
    char watched[2 * ELECTION_PATH_MAX]; /* the candidate just below ours, while we wait for it */
    bool leading;
    void (*changed)(void *arg, bool leading);
    void *arg;
};

static void set_leading(gale_election_t *e, bool leading)
{
    if (e->leading == leading) return;
    e->leading = leading;
    if (e->changed) e->changed(e->arg, leading);
}

/* Where we stand: the lowest leads; else watch the one just below. Looks again when that one went in between. */
static int look(gale_election_t *e)
{
    const char *mine = strrchr(e->node, '/') + 1;
    for (int round = 0; round < 16; round++) {
        char **names;
        size_t n;
        int rc = gale_zk_children(e->zk, e->folder, false, &names, &n);
        if (rc) return rc;
        /* Sequence numbers have ten digits, so names sort by number. */
        size_t at = n;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(names[i], mine)) at = i;
        if (at == n) { /* our node is gone: the session expired under us */
            gale_zk_free_names(names, n);
            return GALE_ESTATE;
        }
        if (at == 0) {
            gale_zk_free_names(names, n);
            e->watched[0] = '\0';
            set_leading(e, true);
            return 0;
        }
        snprintf(e->watched, sizeof e->watched, "%s/%s", e->folder, names[at - 1]);
        gale_zk_free_names(names, n);
        rc = gale_zk_exists(e->zk, e->watched, true, NULL);
        if (rc == 0) return 0; /* waiting for it */
        if (rc != GALE_ENOENT) return rc;
    }
    return GALE_EAGAIN;
}

int gale_election_join(gale_zk_t *zk, const char *folder, const char *about, void (*changed)(void *arg, bool leading),
                       void *arg, gale_election_t **out)
{
    *out = NULL;
    if (strlen(folder) + 16 >= ELECTION_PATH_MAX) return GALE_EINVAL;
    gale_election_t *e = calloc(1, sizeof *e);
    if (!e) return GALE_ENOMEM;
    e->zk = zk;
    e->changed = changed;
    e->arg = arg;
    snprintf(e->folder, sizeof e->folder, "%s", folder);
    char prefix[ELECTION_PATH_MAX + 4];
    snprintf(prefix, sizeof prefix, "%s/n-", folder);
    int rc = gale_zk_create_all(zk, folder);
    if (!rc)
        rc = gale_zk_create(zk, prefix, about, strlen(about), GALE_ZK_EPHEMERAL | GALE_ZK_SEQUENTIAL, e->node,
                            sizeof e->node);
    if (!rc) rc = look(e);
    if (rc) {
        gale_election_leave(e);
        return rc;
    }
    *out = e;
    return 0;
}

bool gale_election_watch(gale_election_t *e, gale_zk_event_t event, const char *path)
{
    if (!e->watched[0] || strcmp(path, e->watched)) return false;
    if (event == GALE_ZK_NODE_DELETED) {
        int rc = look(e);
        if (rc)
            gale_logf(GALE_LOG_ERROR, "election", "%s: cannot look at the candidates: %s", e->folder,
                      gale_strerror(rc));
    } else if (gale_zk_exists(e->zk, e->watched, true, NULL) == GALE_ENOENT) { /* set the watch again */
        look(e);
    }
    return true;
}

void gale_election_lost(gale_election_t *e)
{
    e->node[0] = '\0';
    e->watched[0] = '\0';
    set_leading(e, false);
}

bool gale_election_leading(const gale_election_t *e) { return e->leading; }

int gale_election_leader(gale_election_t *e, char *buf, size_t cap)
{
    char **names;
    size_t n;
    int rc = gale_zk_children(e->zk, e->folder, false, &names, &n);
    if (rc) return rc;
    rc = GALE_ENOENT;
    for (size_t i = 0; i < n && rc == GALE_ENOENT; i++) { /* the lowest that is still there */
        char path[ELECTION_PATH_MAX * 2], *data;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", e->folder, names[i]);
        rc = gale_zk_get(e->zk, path, false, &data, &len, NULL);
        if (!rc) {
            snprintf(buf, cap, "%s", data);
            free(data);
        }
    }
    gale_zk_free_names(names, n);
    return rc;
}

void gale_election_leave(gale_election_t *e)
{
    if (!e) return;
    if (e->node[0]) gale_zk_delete(e->zk, e->node, -1);
    free(e);
}
