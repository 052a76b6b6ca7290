/*
 * nimbus_topos.c: the topologies of a cluster, as nimbus keeps them in ZooKeeper (topo_record.h): submit, list,
 * kill, the placement of their worker slots over the supervisors (Storm's even scheduler, scheduler.h), and the
 * moving of the slots of a supervisor that left. Nothing here is kept only in memory but the replies still owed to
 * a connection: a nimbus that takes over finds every topology, and every kill under way, in ZooKeeper.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gale.h"
#include "hmac.h"
#include "log.h"
#include "nimbus_state.h"
#include "scheduler.h"
#include "topology_codec.h"

#define SUBMIT_TIMEOUT_S 60.0
#define KILL_WAIT_S 30.0
#define KILL_WAIT_MAX_S 86400.0
/* How long past its drain a kill waits for the supervisors to say their part ended before it removes the rest. */
#define KILL_GRACE_S 15.0

uint64_t nimbus_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void topo_path(const nimbus_t *n, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", n->topos_folder, name);
}

/* Reads ROOT/topologies/NAME into *r. 0, GALE_ENOENT, or a code (logged when the node does not parse). */
int nimbus_read_topo(nimbus_t *n, const char *name, gale_topo_record_t *r, int32_t *version)
{
    char path[NIMBUS_PATH_MAX + GALE_TOPO_NAME_MAX], *text = NULL, why[200];
    size_t len;
    topo_path(n, name, path, sizeof path);
    memset(r, 0, sizeof *r);
    int rc = gale_zk_get(n->zk, path, false, &text, &len, version);
    if (rc) return rc;
    rc = gale_topo_record_parse(text, r, why, sizeof why);
    if (rc) gale_logf(GALE_LOG_ERROR, "nimbus", "%s: the node does not parse: %s", path, why);
    free(text);
    return rc;
}

int nimbus_write_topo(nimbus_t *n, const gale_topo_record_t *r, int32_t version, bool create)
{
    char path[NIMBUS_PATH_MAX + GALE_TOPO_NAME_MAX];
    topo_path(n, r->name, path, sizeof path);
    char *text = gale_topo_record_format(r);
    if (!text) return GALE_ENOMEM;
    int rc = create ? gale_zk_create(n->zk, path, text, strlen(text), 0, NULL, 0)
                    : gale_zk_set(n->zk, path, text, strlen(text), version);
    free(text);
    return rc;
}

/* Deletes `path` and everything under it, as far as it can (a supervisor may still write there). */
void nimbus_delete_tree(nimbus_t *n, const char *path)
{
    char **names;
    size_t count;
    if (gale_zk_children(n->zk, path, false, &names, &count) == 0) {
        for (size_t i = 0; i < count; i++) {
            char child[2 * NIMBUS_PATH_MAX];
            snprintf(child, sizeof child, "%s/%s", path, names[i]);
            nimbus_delete_tree(n, child);
        }
        gale_zk_free_names(names, count);
    }
    gale_zk_delete(n->zk, path, -1);
}

/* A topology's nodes: its own first (the supervisors stop their parts when it goes), then what they reported. */
static void remove_topology(nimbus_t *n, const char *name)
{
    char path[2 * NIMBUS_PATH_MAX];
    topo_path(n, name, path, sizeof path);
    gale_zk_delete(n->zk, path, -1);
    snprintf(path, sizeof path, "%s/%s", n->status_folder, name);
    nimbus_delete_tree(n, path);
    snprintf(path, sizeof path, "%s/%s", n->workers_folder, name);
    nimbus_delete_tree(n, path);
    snprintf(path, sizeof path, "%s/%s", n->positions_folder, name);
    nimbus_delete_tree(n, path);
    snprintf(path, sizeof path, "%s/%s", n->stats_folder, name);
    nimbus_delete_tree(n, path);
    snprintf(path, sizeof path, "%s/%s", n->ckpt_folder, name);
    nimbus_delete_tree(n, path);
}

/* ---- supervisors and their free slots ------------------------------------------------------------------------- */

void nimbus_sup_slots_free(sup_slots_t *s)
{
    gale_zk_free_names(s->names, s->n);
    free(s->total), free(s->free_slots);
    memset(s, 0, sizeof *s);
}

int nimbus_sup_index(const sup_slots_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) return (int)i;
    return -1;
}

/* The registered supervisors with their slots, less the slots every topology in ZooKeeper gives each (`skip`, when
   not NULL, is left out: the topology being placed again). 0 or a zk.h code. */
int nimbus_read_sup_slots(nimbus_t *n, const char *skip, sup_slots_t *s)
{
    memset(s, 0, sizeof *s);
    int rc = gale_zk_children(n->zk, n->sups_folder, false, &s->names, &s->n);
    if (rc) return rc;
    s->total = calloc(s->n + 1, sizeof *s->total);
    s->free_slots = calloc(s->n + 1, sizeof *s->free_slots);
    if (!s->total || !s->free_slots) return GALE_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        char path[2 * NIMBUS_PATH_MAX], *data = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", n->sups_folder, s->names[i]);
        if (gale_zk_get(n->zk, path, false, &data, &len, NULL) == 0) {
            const char *p = strstr(data, "slots=");
            s->total[i] = p ? atoi(p + 6) : 0;
        }
        s->free_slots[i] = s->total[i];
        free(data);
    }
    char **topos;
    size_t count;
    if ((rc = gale_zk_children(n->zk, n->topos_folder, false, &topos, &count))) return rc;
    for (size_t t = 0; t < count; t++) {
        gale_topo_record_t r;
        if (skip && !strcmp(topos[t], skip)) continue;
        if (nimbus_read_topo(n, topos[t], &r, NULL) == 0)
            for (int k = 0; k < r.workers; k++) {
                int i = nimbus_sup_index(s, r.slots[k]);
                if (i >= 0) s->free_slots[i]--;
            }
        gale_topo_record_free(&r);
    }
    gale_zk_free_names(topos, count);
    return 0;
}

/* "A:2 free of 4, B:0 free of 2" into buf. */
void nimbus_say_free(const sup_slots_t *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0, len = 0; i < s->n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s: %d free of %d", i ? ", " : "", s->names[i],
                                s->free_slots[i] > 0 ? s->free_slots[i] : 0, s->total[i]);
    if (!s->n) snprintf(buf, cap, "no supervisor has registered");
}

/* ---- pending replies ------------------------------------------------------------------------------------------ */

pending_t *nimbus_add_pending(nimbus_t *n, pending_kind_t kind, const char *name, int64_t version, nconn_t *x,
                              double wait_s)
{
    pending_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->version = version;
    p->x = x;
    p->started_ms = uv_now(&n->loop);
    p->deadline_ms = p->started_ms + (uint64_t)(wait_s * 1000);
    if (x) x->pending = p;
    p->next = n->pendings;
    n->pendings = p;
    return p;
}

/* Answers (when someone still waits) and drops the record. */
void nimbus_settle(nimbus_t *n, pending_t *p, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (p->x) {
        p->x->pending = NULL;
        gale_ctl_send(p->x->conn, text, strlen(text));
    }
    for (pending_t **q = &n->pendings; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    free(p);
}

pending_t *nimbus_pending_for(nimbus_t *n, const char *name)
{
    for (pending_t *p = n->pendings; p; p = p->next)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

void nimbus_topos_forget_conn(nimbus_t *n, nconn_t *x)
{
    for (pending_t *p = n->pendings; p; p = p->next)
        if (p->x == x) p->x = NULL;
}

void nimbus_topos_free(nimbus_t *n)
{
    while (n->pendings) {
        pending_t *p = n->pendings;
        n->pendings = p->next;
        free(p);
    }
}

/* ---- submit --------------------------------------------------------------------------------------------------- */

/* Checks what a submit names and fills `r` (but the slots). 0, or an error line's text in `why`. */
static int check_submit(nimbus_t *n, char **tok, int ntok, gale_topo_record_t *r, double *timeout_s, char *why,
                        size_t cap)
{
    *timeout_s = SUBMIT_TIMEOUT_S;
    if (ntok < 2 || !gale_topo_name_ok(tok[1])) {
        snprintf(why, cap,
                 "usage: submit NAME workers=N model=SHA [plugin=COMPONENT:SHA]... "
                 "[resource=COMPONENT:SHA]... [timeout=S] (NAME: letters, digits, _ . -)");
        return GALE_EINVAL;
    }
    snprintf(r->name, sizeof r->name, "%s", tok[1]);
    for (int i = 2; i < ntok; i++) {
        const char *t = tok[i];
        char *end;
        int rc = 0;
        if (!strncmp(t, "workers=", 8)) {
            long w = strtol(t + 8, &end, 10);
            rc = *end || w < 1 || w > 4096 ? GALE_EINVAL : 0;
            r->workers = (int)w;
        } else if (!strncmp(t, "model=", 6)) {
            rc = gale_blob_digest_ok(t + 6) ? 0 : GALE_EINVAL;
            snprintf(r->model, sizeof r->model, "%s", t + 6);
        } else if (!strncmp(t, "timeout=", 8)) {
            *timeout_s = strtod(t + 8, &end);
            rc = *end || !(*timeout_s > 0 && *timeout_s <= 3600) ? GALE_EINVAL : 0;
        } else if (!strncmp(t, "users=", 6)) { /* config.users: names of certificates, comma-separated */
            rc = strlen(t + 6) < sizeof r->users && !strpbrk(t + 6, " =") ? 0 : GALE_EINVAL;
            snprintf(r->users, sizeof r->users, "%s", t + 6);
        } else if (!strncmp(t, "plugin=", 7) || !strncmp(t, "resource=", 9)) {
            bool plugin = t[0] == 'p';
            const char *v = t + (plugin ? 7 : 9), *colon = strrchr(v, ':');
            char comp[256];
            rc = colon && colon > v && (size_t)(colon - v) < sizeof comp && gale_blob_digest_ok(colon + 1)
                     ? 0
                     : GALE_EINVAL;
            if (!rc) {
                snprintf(comp, sizeof comp, "%.*s", (int)(colon - v), v);
                rc = plugin ? gale_topo_record_add_file(&r->plugins, &r->n_plugins, comp, colon + 1)
                            : gale_topo_record_add_file(&r->resources, &r->n_resources, comp, colon + 1);
            }
        } else {
            rc = GALE_EINVAL;
        }
        if (rc) {
            snprintf(why, cap, "bad argument '%s'", t);
            return rc;
        }
    }
    if (!r->workers || !r->model[0]) {
        snprintf(why, cap, "submit needs workers=N and model=SHA");
        return GALE_EINVAL;
    }
    /* Every blob must be here already (put), and each plugin an ELF object, before anything is written. */
    if (!nimbus_blob_known(n, r->model)) {
        snprintf(why, cap, "the model %s was not uploaded (put it first)", r->model);
        return GALE_ENOENT;
    }
    for (size_t k = 0; k < r->n_plugins + r->n_resources; k++) {
        bool plugin = k < r->n_plugins;
        const gale_topo_file_t *f = plugin ? &r->plugins[k] : &r->resources[k - r->n_plugins];
        if (!nimbus_blob_known(n, f->sha)) {
            snprintf(why, cap, "%s's %s %s was not uploaded (put it first)", f->component,
                     plugin ? "plugin" : "resources", f->sha);
            return GALE_ENOENT;
        }
        unsigned char head[4];
        if (plugin && (nimbus_blob_head(n, f->sha, head, sizeof head) != 4 || memcmp(head, "\177ELF", 4))) {
            snprintf(why, cap,
                     "%s's plugin (%s) is not an ELF object: a plugin is a shared object (.so) built for "
                     "the supervisors' hosts",
                     f->component, f->sha);
            return GALE_EINVAL;
        }
    }
    /* The model must read back whole (the codec trusts nothing), and name every component given a file. */
    char *bytes = NULL;
    size_t len = 0;
    gale_topology_t *t = NULL;
    gale_diag_t d = {{0}};
    int rc = gale_blob_read(n->o->data_dir, r->model, GALE_TOPOLOGY_MODEL_MAX, &bytes, &len);
    if (!rc) rc = gale_topology_read(bytes, len, &t, &d);
    free(bytes);
    if (rc) {
        snprintf(why, cap, "the model %s: %.700s", r->model, d.msg[0] ? d.msg : gale_strerror(rc));
        return rc;
    }
    r->tasks = t->n_tasks;
    for (size_t k = 0; !rc && k < r->n_plugins + r->n_resources; k++) {
        bool plugin = k < r->n_plugins;
        const gale_topo_file_t *f = plugin ? &r->plugins[k] : &r->resources[k - r->n_plugins];
        int at = gale_topology_find(t, f->component);
        if (at < 0) rc = GALE_ENOENT;
        else if (!plugin && strcmp(t->components[at].plugin_name, "shell")) rc = GALE_EINVAL;
        if (rc)
            snprintf(why, cap, "%s=%s: %s", plugin ? "plugin" : "resource", f->component,
                     at < 0 ? "no such component in the topology" : "resources are for shell components");
    }
    gale_topology_free(t);
    return rc;
}

void nimbus_cmd_submit(nimbus_t *n, nconn_t *x, char **tok, int ntok)
{
    gale_ctl_conn_t *c = x->conn;
    gale_topo_record_t r = {0};
    sup_slots_t s = {0};
    double timeout_s;
    char why[1024], path[2 * NIMBUS_PATH_MAX];
    int rc = check_submit(n, tok, ntok, &r, &timeout_s, why, sizeof why);
    if (!rc) {
        topo_path(n, r.name, path, sizeof path);
        if (gale_zk_exists(n->zk, path, false, NULL) == 0 || nimbus_pending_for(n, r.name)) {
            snprintf(why, sizeof why, "a topology named %s is running: kill it first, or submit under another --name",
                     r.name);
            rc = GALE_EEXIST;
        }
    }
    int *at = NULL;
    if (!rc && (rc = nimbus_read_sup_slots(n, NULL, &s)))
        snprintf(why, sizeof why, "cannot read the supervisors: %s", gale_strerror(rc));
    if (!rc && !(at = calloc((size_t)r.workers, sizeof *at))) rc = GALE_ENOMEM;
    if (!rc && (rc = gale_schedule_spread(s.free_slots, (int)s.n, r.workers, at))) {
        char free_text[600];
        nimbus_say_free(&s, free_text, sizeof free_text);
        snprintf(why, sizeof why, "not enough free slots: %d asked, %s", r.workers, free_text);
    }
    if (!rc && !(r.slots = calloc((size_t)r.workers, sizeof *r.slots))) rc = GALE_ENOMEM;
    for (int k = 0; !rc && k < r.workers; k++)
        if (!(r.slots[k] = strdup(s.names[at[k]]))) rc = GALE_ENOMEM;
    unsigned char secret[32];
    if (!rc && gale_auth_nonce(secret)) rc = GALE_EIO;
    if (!rc) {
        gale_hex_encode(secret, sizeof secret, r.secret);
        snprintf(r.owner, sizeof r.owner, "%s", gale_ctl_identity(c)); /* who may change it later (roles) */
        r.version = 1;
        r.status = GALE_TOPO_ACTIVE;
        r.submitted_ms = nimbus_wall_ms();
        r.kill_wait_s = KILL_WAIT_S;
        /* The folders the supervisors report in come first: they may answer as soon as the topology is there. */
        snprintf(path, sizeof path, "%s/%s", n->status_folder, r.name);
        rc = gale_zk_create_all(n->zk, path);
        snprintf(path, sizeof path, "%s/%s", n->workers_folder, r.name);
        if (!rc) rc = gale_zk_create_all(n->zk, path);
        snprintf(path, sizeof path, "%s/%s", n->positions_folder, r.name);
        if (!rc) rc = gale_zk_create_all(n->zk, path);
        snprintf(path, sizeof path, "%s/%s", n->stats_folder, r.name);
        if (!rc) rc = gale_zk_create_all(n->zk, path);
        if (!rc) rc = nimbus_write_topo(n, &r, -1, true);
        if (rc == GALE_EEXIST) snprintf(why, sizeof why, "a topology named %s is running", r.name);
        else if (rc) snprintf(why, sizeof why, "cannot write the topology to ZooKeeper: %s", gale_strerror(rc));
    }
    if (rc) {
        if (rc == GALE_ENOMEM) snprintf(why, sizeof why, "out of memory");
        gale_logf(GALE_LOG_WARN, "nimbus", "submit of %s refused: %s", ntok > 1 ? tok[1] : "?", why);
        gale_ctl_sendf(c, "error %s", why);
    } else {
        char placed[600] = "";
        for (int k = 0, len = 0; k < r.workers && len < (int)sizeof placed; k++)
            len += snprintf(placed + len, sizeof placed - (size_t)len, " %d:%s", k, r.slots[k]);
        gale_logf(GALE_LOG_INFO, "nimbus", "%s: submitted, %d workers, %u tasks; slots:%s", r.name, r.workers, r.tasks,
                  placed);
        if (!nimbus_add_pending(n, P_SUBMIT, r.name, r.version, x, timeout_s)) {
            remove_topology(n, r.name);
            gale_ctl_sendf(c, "error out of memory");
        }
    }
    free(at);
    nimbus_sup_slots_free(&s);
    gale_topo_record_free(&r);
}

/* ---- reports of the supervisors ------------------------------------------------------------------------------- */

/* What the supervisors say of topology `name` at `version` (older reports are about a placement that is gone). */
void nimbus_read_reports(nimbus_t *n, const char *name, int64_t version, reports_t *out)
{
    memset(out, 0, sizeof *out);
    char folder[2 * NIMBUS_PATH_MAX], **names;
    size_t count;
    snprintf(folder, sizeof folder, "%s/%s", n->status_folder, name);
    if (gale_zk_children(n->zk, folder, false, &names, &count)) return;
    for (size_t i = 0; i < count; i++) {
        char path[3 * NIMBUS_PATH_MAX], *text = NULL;
        size_t len;
        gale_topo_report_t rep;
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        if (gale_zk_get(n->zk, path, false, &text, &len, NULL) == 0 && gale_topo_report_parse(text, &rep) == 0 &&
            rep.version == version) {
            out->running += rep.state == GALE_TOPO_RUNNING;
            out->ended += rep.state == GALE_TOPO_ENDED;
            if (rep.state == GALE_TOPO_REFUSED && !out->refused++)
                snprintf(out->refusal, sizeof out->refusal, "supervisor %s: %s", names[i], rep.error);
        }
        free(text);
    }
    gale_zk_free_names(names, count);
}

/* The slots of `r` with no worker address in ZooKeeper yet, as " 0 (on A) 2 (on B)" into buf; their number. */
int nimbus_slots_without_worker(nimbus_t *n, const gale_topo_record_t *r, char *buf, size_t cap)
{
    int missing = 0;
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < r->workers; k++) {
        char path[2 * NIMBUS_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%d", n->workers_folder, r->name, k);
        if (gale_zk_exists(n->zk, path, false, NULL) == 0) continue;
        missing++;
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, " %d (on %s)", k, r->slots[k]);
    }
    return missing;
}

static void tick_submit(nimbus_t *n, pending_t *p, const gale_topo_record_t *r, uint64_t now)
{
    reports_t rep;
    char missing[600];
    nimbus_read_reports(n, p->name, p->version, &rep);
    if (rep.refused) {
        remove_topology(n, p->name);
        gale_logf(GALE_LOG_WARN, "nimbus", "%s: refused by a supervisor, removed: %s", p->name, rep.refusal);
        return nimbus_settle(n, p, "error %s: nothing of %s runs", rep.refusal, p->name);
    }
    /* Every worker listens; or a finite topology ran and ended before a tick saw its workers' addresses. */
    if (nimbus_slots_without_worker(n, r, missing, sizeof missing) == 0 ||
        (rep.ended && rep.ended >= nimbus_count_holders(n, r))) {
        gale_logf(GALE_LOG_INFO, "nimbus", "%s: every worker runs, %" PRIu64 " ms after the submit", p->name,
                  now - p->started_ms);
        return nimbus_settle(n, p, "ok submitted %s version=%" PRId64 " workers=%d ms=%" PRIu64, p->name, r->version,
                             r->workers, now - p->started_ms);
    }
    if (now >= p->deadline_ms) {
        remove_topology(n, p->name);
        return nimbus_settle(n, p, "error %s: no worker came up within %.0f s for slots%s: nothing of it runs", p->name,
                             (double)(p->deadline_ms - p->started_ms) / 1000, missing);
    }
}

/* The supervisors that hold a slot of `r` and are registered. */
int nimbus_count_holders(nimbus_t *n, const gale_topo_record_t *r)
{
    int holders = 0;
    for (int k = 0; k < r->workers; k++) {
        bool first = true;
        for (int j = 0; j < k && first; j++) first = strcmp(r->slots[j], r->slots[k]) != 0;
        if (!first) continue;
        char path[2 * NIMBUS_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", n->sups_folder, r->slots[k]);
        holders += gale_zk_exists(n->zk, path, false, NULL) == 0;
    }
    return holders;
}

/* A finite topology whose every part ended by itself (its spouts were done, everything drained) is removed. */
static bool finished(nimbus_t *n, const gale_topo_record_t *r)
{
    reports_t rep;
    nimbus_read_reports(n, r->name, r->version, &rep);
    int holders = rep.ended ? nimbus_count_holders(n, r) : 0;
    if (!holders || rep.ended < holders) return false;
    remove_topology(n, r->name);
    gale_logf(GALE_LOG_INFO, "nimbus", "%s: finished: every part ended by itself", r->name);
    return true;
}

static void tick_kill(nimbus_t *n, pending_t *p, const gale_topo_record_t *r, uint64_t now)
{
    /* Done when every supervisor that holds a slot and is still registered says its part ended. */
    int holders = nimbus_count_holders(n, r);
    reports_t rep;
    nimbus_read_reports(n, p->name, r->version, &rep);
    bool late = now >= p->deadline_ms;
    if (rep.ended < holders && !late) return;
    remove_topology(n, p->name);
    gale_logf(GALE_LOG_INFO, "nimbus", "%s: killed%s", p->name, late ? " (not every supervisor said it ended)" : "");
    nimbus_settle(n, p, "ok killed %s%s", p->name, late ? " (not every supervisor said its part ended in time)" : "");
}

/* ---- moving the slots of supervisors that left ---------------------------------------------------------------- */

/* Gives the slots of `r` whose supervisor is not registered to those that are, as a new version. True when it
   wrote one (or tried to): the node's version has moved on from node_version. */
static bool replace_lost_slots(nimbus_t *n, gale_topo_record_t *r, int32_t node_version)
{
    sup_slots_t s;
    if (nimbus_read_sup_slots(n, r->name, &s)) {
        nimbus_sup_slots_free(&s);
        return false;
    }
    int lost = 0;
    for (int k = 0; k < r->workers; k++) {
        int i = nimbus_sup_index(&s, r->slots[k]);
        if (i < 0) lost++;
        else s.free_slots[i]--; /* the slots it keeps */
    }
    int *at = lost ? calloc((size_t)lost, sizeof *at) : NULL;
    if (!lost || !at || gale_schedule_spread(s.free_slots, (int)s.n, lost, at)) {
        if (lost && at) {
            static uint64_t said_ms;
            uint64_t now = uv_now(&n->loop);
            if (now - said_ms > 10000) { /* once in a while, not every tick */
                char free_text[600];
                nimbus_say_free(&s, free_text, sizeof free_text);
                gale_logf(GALE_LOG_WARN, "nimbus",
                          "%s: %d slots lost their supervisor and there is no room for them: %s", r->name, lost,
                          free_text);
                said_ms = now;
            }
        }
        free(at);
        nimbus_sup_slots_free(&s);
        return false;
    }
    char moved[600] = "";
    for (int k = 0, j = 0, len = 0; k < r->workers; k++) {
        if (nimbus_sup_index(&s, r->slots[k]) >= 0) continue;
        char *to = strdup(s.names[at[j++]]);
        if (!to) continue;
        if (len < (int)sizeof moved)
            len += snprintf(moved + len, sizeof moved - (size_t)len, " %d:%s->%s", k, r->slots[k], to);
        free(r->slots[k]);
        r->slots[k] = to;
    }
    r->version++;
    int rc = nimbus_write_topo(n, r, node_version, false);
    if (rc) gale_logf(GALE_LOG_WARN, "nimbus", "%s: cannot move its slots: %s", r->name, gale_strerror(rc));
    else
        gale_logf(GALE_LOG_WARN, "nimbus", "%s: moved the slots of supervisors that left (version %" PRId64 "):%s",
                  r->name, r->version, moved);
    free(at);
    nimbus_sup_slots_free(&s);
    return true;
}

/* The status and workers folders of topologies that are gone (a kill or failed submit that could not finish). */
static void sweep_leftovers(nimbus_t *n, char **topos, size_t count)
{
    const char *folders[] = {n->status_folder, n->workers_folder, n->positions_folder, n->stats_folder, n->ckpt_folder};
    for (size_t f = 0; f < sizeof folders / sizeof *folders; f++) {
        char **names;
        size_t k;
        if (gale_zk_children(n->zk, folders[f], false, &names, &k)) continue;
        for (size_t i = 0; i < k; i++) {
            bool live = nimbus_pending_for(n, names[i]) != NULL;
            for (size_t t = 0; t < count && !live; t++) live = !strcmp(topos[t], names[i]);
            char path[2 * NIMBUS_PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", folders[f], names[i]);
            if (!live) nimbus_delete_tree(n, path);
        }
        gale_zk_free_names(names, k);
    }
}

void nimbus_topos_tick(nimbus_t *n)
{
    if (!n->zk || !gale_election_leading(n->election)) return;
    uint64_t now = uv_now(&n->loop);
    char **topos;
    size_t count;
    if (gale_zk_children(n->zk, n->topos_folder, false, &topos, &count)) return;
    for (size_t t = 0; t < count; t++) {
        gale_topo_record_t r;
        int32_t node_version;
        if (nimbus_read_topo(n, topos[t], &r, &node_version)) {
            gale_topo_record_free(&r);
            continue;
        }
        pending_t *p = nimbus_pending_for(n, r.name);
        if (!p && r.status == GALE_TOPO_KILLING) /* a kill a nimbus before us began: finish it */
            p = nimbus_add_pending(n, P_KILL, r.name, r.version, NULL, r.kill_wait_s + KILL_GRACE_S);
        if (!p && r.swap_component[0]) /* and a swap */
            p = nimbus_add_pending(n, P_SWAP, r.name, r.version, NULL, 180);
        if (!p && r.status == GALE_TOPO_REBALANCING) /* and a rebalance */
            p = nimbus_add_pending(n, P_REBALANCE, r.name, r.version, NULL, r.kill_wait_s + 2 * KILL_GRACE_S + 60);
        if (p && p->kind == P_SUBMIT) tick_submit(n, p, &r, now);
        else if (p && p->kind == P_KILL) tick_kill(n, p, &r, now);
        else if (p && p->kind == P_REBALANCE) nimbus_tick_rebalance(n, p, &r, node_version, now);
        /* A swap does not hold up a failover: the slots of a part whose supervisor left move first, and the swap
           then asks their new host in its turn (it would wait for the lost part, which never answers). */
        else if (p && p->kind == P_SWAP && !replace_lost_slots(n, &r, node_version))
            nimbus_tick_swap(n, p, &r, node_version, now);
        else if (!p && !finished(n, &r)) replace_lost_slots(n, &r, node_version);
        gale_topo_record_free(&r);
    }
    /* A pending record whose topology is gone (removed by hand, or by another nimbus) answers now. */
    for (pending_t *p = n->pendings, *next; p; p = next) {
        next = p->next;
        bool there = false;
        for (size_t t = 0; t < count && !there; t++) there = !strcmp(topos[t], p->name);
        if (!there)
            nimbus_settle(n, p,
                          p->kind == P_KILL        ? "ok killed %s"
                          : p->kind == P_REBALANCE ? "error %s was removed while it was rebalanced"
                          : p->kind == P_SWAP      ? "error %s was removed while it was swapped"
                                                   : "error %s was removed before it ran",
                          p->name);
    }
    sweep_leftovers(n, topos, count);
    gale_zk_free_names(topos, count);
}

/* ---- list, kill, supervisors ------------------------------------------------------------- */

void nimbus_cmd_list(nimbus_t *n, gale_ctl_conn_t *c)
{
    char **topos;
    size_t count;
    int rc = gale_zk_children(n->zk, n->topos_folder, false, &topos, &count);
    if (rc) return gale_ctl_sendf(c, "error cannot list the topologies: %s", gale_strerror(rc));
    uint64_t now = nimbus_wall_ms();
    for (size_t t = 0; t < count; t++) {
        gale_topo_record_t r;
        if (nimbus_read_topo(n, topos[t], &r, NULL) == 0) {
            pending_t *p = nimbus_pending_for(n, r.name);
            const char *status = p && p->kind == P_SUBMIT ? "starting" : gale_topo_status_name(r.status);
            gale_ctl_sendf(c, "topology %s status=%s workers=%d executors=%u uptime_s=%" PRIu64 " version=%" PRId64,
                           r.name, status, r.workers, r.tasks, now > r.submitted_ms ? (now - r.submitted_ms) / 1000 : 0,
                           r.version);
        }
        gale_topo_record_free(&r);
    }
    gale_zk_free_names(topos, count);
    gale_ctl_sendf(c, "ok %zu topologies", count);
}

/* Reads topology tok[1] for a verb, answering the errors. 0 with *r and its node version. */
int nimbus_verb_topo(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok, const char *usage, gale_topo_record_t *r,
                     int32_t *version)
{
    memset(r, 0, sizeof *r);
    if (ntok < 2 || !gale_topo_name_ok(tok[1])) {
        gale_ctl_sendf(c, "error usage: %s", usage);
        return GALE_EINVAL;
    }
    int rc = nimbus_read_topo(n, tok[1], r, version);
    if (rc == GALE_ENOENT) gale_ctl_sendf(c, "error no topology named %s", tok[1]);
    else if (rc) gale_ctl_sendf(c, "error cannot read topology %s: %s", tok[1], gale_strerror(rc));
    return rc;
}

void nimbus_cmd_kill(nimbus_t *n, nconn_t *x, char **tok, int ntok)
{
    gale_ctl_conn_t *c = x->conn;
    gale_topo_record_t r;
    int32_t version;
    double wait_s = KILL_WAIT_S;
    if (ntok > 2) {
        char *end;
        wait_s = strncmp(tok[2], "wait=", 5) ? -1 : strtod(tok[2] + 5, &end);
        if (!(wait_s >= 0 && wait_s <= KILL_WAIT_MAX_S) || *end)
            return gale_ctl_sendf(c, "error bad argument '%s' (wait=SECONDS, at most %.0f)", tok[2], KILL_WAIT_MAX_S);
    }
    if (nimbus_verb_topo(n, c, tok, ntok, "kill NAME [wait=SECONDS]", &r, &version)) return gale_topo_record_free(&r);
    pending_t *p = nimbus_pending_for(n, r.name);
    if (p && p->kind == P_KILL && !p->x) { /* a kill already under way: this connection waits for it */
        p->x = x;
        x->pending = p;
        return gale_topo_record_free(&r);
    }
    if (p) {
        gale_ctl_sendf(c, "error %s is %s: wait for that first", r.name,
                       p->kind == P_KILL        ? "being killed"
                       : p->kind == P_REBALANCE ? "being rebalanced"
                       : p->kind == P_SWAP      ? "being swapped"
                                                : "starting");
        return gale_topo_record_free(&r);
    }
    r.status = GALE_TOPO_KILLING;
    r.kill_wait_s = wait_s;
    int rc = nimbus_write_topo(n, &r, version, false);
    if (rc == GALE_EAGAIN) gale_ctl_sendf(c, "error %s changed meanwhile: try again", r.name);
    else if (rc) gale_ctl_sendf(c, "error cannot kill %s: %s", r.name, gale_strerror(rc));
    else if (!nimbus_add_pending(n, P_KILL, r.name, r.version, x, wait_s + KILL_GRACE_S))
        gale_ctl_sendf(c, "error out of memory");
    else gale_logf(GALE_LOG_INFO, "nimbus", "%s: killing (drain for up to %g s)", r.name, wait_s);
    gale_topo_record_free(&r);
}

/* Storm's activate and deactivate: the status in the topology's node, which its supervisors follow. The reply
   comes once ZooKeeper has it (as Storm's does), not once every spout has heard. */
void nimbus_cmd_activate(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok, bool active)
{
    gale_topo_status_t want = active ? GALE_TOPO_ACTIVE : GALE_TOPO_INACTIVE;
    for (int attempt = 0; attempt < 3; attempt++) { /* a move of its slots may write the node meanwhile */
        gale_topo_record_t r;
        int32_t version;
        if (nimbus_verb_topo(n, c, tok, ntok, active ? "activate NAME" : "deactivate NAME", &r, &version))
            return gale_topo_record_free(&r);
        int rc = 0;
        if (r.status == GALE_TOPO_KILLING) {
            gale_ctl_sendf(c, "error %s is being killed", r.name);
        } else if (r.status != want && (r.status = want, rc = nimbus_write_topo(n, &r, version, false))) {
            if (rc != GALE_EAGAIN) gale_ctl_sendf(c, "error cannot change %s: %s", r.name, gale_strerror(rc));
        } else {
            gale_logf(GALE_LOG_INFO, "nimbus", "%s: %s", r.name, active ? "activated" : "deactivated");
            gale_ctl_sendf(c, "ok %s %s", r.name, gale_topo_status_name(want));
        }
        gale_topo_record_free(&r);
        if (rc != GALE_EAGAIN) return;
    }
    gale_ctl_sendf(c, "error %s keeps changing: try again", tok[1]);
}

void nimbus_cmd_supervisors(nimbus_t *n, gale_ctl_conn_t *c)
{
    sup_slots_t s;
    int rc = nimbus_read_sup_slots(n, NULL, &s);
    if (rc) {
        nimbus_sup_slots_free(&s);
        return gale_ctl_sendf(c, "error cannot read the supervisors: %s", gale_strerror(rc));
    }
    for (size_t i = 0; i < s.n; i++) {
        char path[2 * NIMBUS_PATH_MAX], *data = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", n->sups_folder, s.names[i]);
        gale_zk_get(n->zk, path, false, &data, &len, NULL);
        const char *v = data ? strstr(data, "version=") : NULL;
        gale_ctl_sendf(c, "supervisor %s slots=%d assigned=%d %s", s.names[i], s.total[i], s.total[i] - s.free_slots[i],
                       v ? v : "version=?");
        free(data);
    }
    gale_ctl_sendf(c, "ok %zu supervisors", s.n);
    nimbus_sup_slots_free(&s);
}
