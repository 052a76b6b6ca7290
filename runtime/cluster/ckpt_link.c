#include "ckpt_link.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "log.h"
#include "zk.h"

/* Orders kept once read: a part that starts needs only the latest; the others cover a reader a little behind. */
#define ORDERS_KEPT 32

struct gale_ckpt_link {
    gale_sup_node_t *node;
    gale_sup_t *s; /* NULL until attached */
    bool coord;
    char name[160];
    char folder[600], orders[640], reports[640];
    long long last_seq; /* the others: the latest order heard */
};

/* The counter ZooKeeper appended to a sequential node's name ("o-0000000042": 42); -1 for a name not ours. */
static long long seq_of(const char *name, char prefix)
{
    if (name[0] != prefix || name[1] != '-') return -1;
    char *end;
    long long v = strtoll(name + 2, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static int parse(const char *text, gale_sup_ckpt_msg_t *m, char *why, size_t cap)
{
    int kind, slot, ok, used = 0;
    *m = (gale_sup_ckpt_msg_t){0};
    if (sscanf(text, "%d %" SCNu64 " %d %" SCNu64 " %" SCNu64 " %d %" SCNu64 "%n", &kind, &m->epoch, &slot, &m->life,
               &m->id, &ok, &m->bytes, &used) != 7 ||
        kind < GALE_SUPCK_UP || kind > GALE_SUPCK_ABORT)
        return GALE_EINVAL;
    m->kind = (gale_sup_ckpt_kind_t)kind;
    m->slot = slot;
    m->ok = ok != 0;
    const char *rest = text + used;
    if (*rest == ' ') rest++;
    snprintf(why, cap, "%.*s", (int)strcspn(rest, "\n"), rest);
    m->why = why;
    return 0;
}

/* Reads what is new (watching for more) and hands it to the part. */
static void hear(gale_ckpt_link_t *lk)
{
    gale_zk_t *zk = gale_sup_node_zk(lk->node);
    if (!zk || !lk->s) return;
    const char *folder = lk->coord ? lk->reports : lk->orders;
    char **names;
    size_t n;
    if (gale_zk_children(zk, folder, true, &names, &n)) return;
    for (size_t i = 0; i < n; i++) {
        long long seq = seq_of(names[i], lk->coord ? 'r' : 'o');
        if (seq < 0 || (!lk->coord && seq <= lk->last_seq)) continue;
        char path[700], *data = NULL, why[512];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        if (gale_zk_get(zk, path, false, &data, &len, NULL)) continue;
        if (lk->coord) gale_zk_delete(zk, path, -1); /* read once */
        else lk->last_seq = seq;
        gale_sup_ckpt_msg_t m;
        if (parse(data, &m, why, sizeof why))
            gale_logf(GALE_LOG_WARN, "checkpoint", "%s: %s: not a checkpoint message: %.80s", lk->name, path, data);
        else gale_sup_ckpt_hear(lk->s, &m);
        free(data);
    }
    gale_zk_free_names(names, n);
}

static void on_event(void *arg, const char *path)
{
    (void)path; /* a change under the folder, or a new session (path NULL): the watch is set again by reading */
    hear(arg);
}

static void prune_orders(gale_ckpt_link_t *lk, gale_zk_t *zk)
{
    char **names;
    size_t n;
    if (gale_zk_children(zk, lk->orders, false, &names, &n)) return;
    for (size_t i = 0; n > ORDERS_KEPT && i < n - ORDERS_KEPT; i++) { /* sorted: the oldest first */
        char path[700];
        snprintf(path, sizeof path, "%s/%s", lk->orders, names[i]);
        gale_zk_delete(zk, path, -1);
    }
    gale_zk_free_names(names, n);
}

static void send_msg(void *arg, const gale_sup_ckpt_msg_t *m)
{
    gale_ckpt_link_t *lk = arg;
    gale_zk_t *zk = gale_sup_node_zk(lk->node);
    char line[700], path[700];
    snprintf(line, sizeof line, "%d %" PRIu64 " %d %" PRIu64 " %" PRIu64 " %d %" PRIu64 " %.500s", (int)m->kind,
             m->epoch, m->slot, m->life, m->id, m->ok ? 1 : 0, m->bytes, m->why ? m->why : "");
    snprintf(path, sizeof path, "%s/%s", lk->coord ? lk->orders : lk->reports, lk->coord ? "o-" : "r-");
    /* A report goes with its sender's session: a coordinator never reads one of a supervisor that is gone. */
    unsigned flags = GALE_ZK_SEQUENTIAL | (lk->coord ? 0 : GALE_ZK_EPHEMERAL);
    int rc = zk ? gale_zk_create(zk, path, line, strlen(line), flags, NULL, 0) : GALE_ETIMEDOUT;
    if (rc) {
        /* Lost: a checkpoint then times out; a lost restart is asked again by the next death or new life. */
        gale_logf(GALE_LOG_WARN, "checkpoint", "%s: cannot write %s in ZooKeeper: %s", lk->name, path,
                  gale_strerror(rc));
        return;
    }
    if (lk->coord) prune_orders(lk, zk);
}

int gale_ckpt_link_open(gale_sup_node_t *node, const char *name, bool coord, gale_ckpt_link_t **out,
                        gale_sup_ckpt_link_t *link, char *why, size_t cap)
{
    *out = NULL;
    gale_zk_t *zk = gale_sup_node_zk(node);
    if (!zk) {
        snprintf(why, cap, "no ZooKeeper session: the checkpoints' orders cannot be read");
        return GALE_ETIMEDOUT;
    }
    gale_ckpt_link_t *lk = calloc(1, sizeof *lk);
    if (!lk) return GALE_ENOMEM;
    lk->node = node;
    lk->coord = coord;
    lk->last_seq = -1;
    snprintf(lk->name, sizeof lk->name, "%s", name);
    snprintf(lk->folder, sizeof lk->folder, "%s/checkpoints/%s", gale_sup_node_root(node), name);
    snprintf(lk->orders, sizeof lk->orders, "%s/orders", lk->folder);
    snprintf(lk->reports, sizeof lk->reports, "%s/reports", lk->folder);
    int rc = gale_zk_create_all(zk, lk->orders);
    if (!rc) rc = gale_zk_create_all(zk, lk->reports);
    char **names = NULL;
    size_t n = 0;
    if (!rc) rc = gale_zk_children(zk, lk->orders, false, &names, &n);
    *link = (gale_sup_ckpt_link_t){.send = send_msg, .arg = lk};
    /* Where the topology is: the latest order's phase, and the highest epoch any order names (a coordinator that
       went before may have said a lower one later). Any order at all means the topology ran before. */
    bool phase_known = false;
    for (size_t i = n; !rc && i-- > 0;) {
        long long seq = seq_of(names[i], 'o');
        if (seq < 0) continue;
        link->rejoin = true;
        if (seq > lk->last_seq) lk->last_seq = seq;
        char path[700], *data, text[512];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", lk->orders, names[i]);
        if (gale_zk_get(zk, path, false, &data, &len, NULL)) continue;
        gale_sup_ckpt_msg_t m;
        if (!parse(data, &m, text, sizeof text)) {
            if (m.epoch > link->epoch) link->epoch = m.epoch;
            if (!phase_known) link->stopped = m.kind == GALE_SUPCK_STOP, phase_known = true;
        }
        free(data);
    }
    gale_zk_free_names(names, n);
    if (!rc) rc = gale_sup_node_watch(node, lk->folder, on_event, lk);
    if (rc) {
        snprintf(why, cap, "cannot read %s in ZooKeeper: %s", lk->orders, gale_strerror(rc));
        free(lk);
        return rc;
    }
    *out = lk;
    return 0;
}

void gale_ckpt_link_attach(gale_ckpt_link_t *lk, gale_sup_t *s)
{
    lk->s = s;
    hear(lk);
}

void gale_ckpt_link_close(gale_ckpt_link_t *lk)
{
    if (!lk) return;
    gale_sup_node_unwatch(lk->node, lk);
    free(lk);
}
