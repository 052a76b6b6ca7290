/*
 * nimbus_rebalance.c: `rebalance NAME [workers=N] [parallelism=COMPONENT=N]... [wait=S]`, Storm's rebalance. The
 * topology drains for up to S seconds on every supervisor (its spouts deactivated, the trees in flight finished,
 * its spouts' positions written to ZooKeeper), then is placed anew over the free slots with N workers and the new
 * parallelism (a new model, when that changed), and starts again with its spouts resuming where they were (a spout
 * whose own parallelism changed starts afresh: its positions were another split's). The reply comes once every new
 * worker runs. What is asked for is in the topology's node (topo_record.h: status=rebalancing, next_*), so that a
 * nimbus that takes over half-way finishes it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "log.h"
#include "nimbus_state.h"
#include "scheduler.h"
#include "topology_codec.h"

/* Storm waits the message timeout; its default is 30 s. */
#define REBALANCE_WAIT_S 30.0
#define REBALANCE_WAIT_MAX_S 86400.0
/* Past its drain, how long to wait for the supervisors to say their part ended before placing it all the same. */
#define DRAIN_GRACE_S 15.0
/* How long the new placement's workers have to come up. */
#define START_TIMEOUT_S 60.0
#define MAX_CHANGES 32

typedef struct change {
    const char *component;
    int parallelism;
} change_t;

/* The model of `r` with the parallelism changes applied and config.workers set, stored as a blob: its digest and
   task count. 0, or a code with `why` filled. */
static int changed_model(nimbus_t *n, const gale_topo_record_t *r, const change_t *ch, int n_ch, int workers,
                         char sha[GALE_BLOB_HEX_LEN + 1], uint32_t *tasks, char *why, size_t cap)
{
    char *out = NULL;
    size_t out_len;
    gale_topology_t *t = NULL;
    int rc = nimbus_read_model(n, r, &t, why, cap);
    if (rc) return rc;
    for (int k = 0; k < n_ch && !rc; k++) {
        size_t i = 0;
        while (i < t->n_components && strcmp(t->components[i].name, ch[k].component)) i++;
        if (i == t->n_components) {
            snprintf(why, cap, "%s has no component named '%s'", r->name, ch[k].component);
            rc = GALE_ENOENT;
        } else {
            t->components[i].parallelism = ch[k].parallelism;
        }
    }
    if (!rc) { /* the task ids follow the parallelism, as resolving a file gives them (validate.c) */
        uint32_t next = 1;
        for (size_t i = 0; i < t->n_components; i++) {
            t->components[i].first_task = next;
            next += (uint32_t)t->components[i].parallelism;
        }
        t->n_tasks = next - 1;
        t->config.workers = workers;
        *tasks = t->n_tasks;
        rc = gale_topology_write(t, &out, &out_len);
        if (rc) snprintf(why, cap, "cannot write the new model of %s: %s", r->name, gale_strerror(rc));
    }
    if (!rc && (rc = nimbus_blob_store(n, out, out_len, sha)))
        snprintf(why, cap, "cannot store the new model of %s: %s", r->name, gale_strerror(rc));
    free(out);
    gale_topology_free(t);
    return rc;
}

/* Parses "workers=N", "parallelism=COMPONENT=N" and "wait=S" words. 0, or GALE_EINVAL with `why` filled. */
static int parse_args(char **tok, int ntok, int *workers, change_t *ch, int *n_ch, double *wait_s, char *why,
                      size_t cap)
{
    for (int i = 2; i < ntok; i++) {
        char *end, *eq;
        if (!strncmp(tok[i], "workers=", 8)) {
            long v = strtol(tok[i] + 8, &end, 10);
            if (end == tok[i] + 8 || *end || v < 1 || v > 4096) goto bad;
            *workers = (int)v;
        } else if (!strncmp(tok[i], "parallelism=", 12) && (eq = strrchr(tok[i] + 12, '=')) && eq > tok[i] + 12) {
            long v = strtol(eq + 1, &end, 10);
            if (end == eq + 1 || *end || v < 1 || v > 65535 || *n_ch == MAX_CHANGES) goto bad;
            *eq = '\0';
            ch[(*n_ch)++] = (change_t){tok[i] + 12, (int)v};
        } else if (!strncmp(tok[i], "wait=", 5)) {
            *wait_s = strtod(tok[i] + 5, &end);
            if (end == tok[i] + 5 || *end || !(*wait_s >= 0 && *wait_s <= REBALANCE_WAIT_MAX_S)) goto bad;
        } else {
            goto bad;
        }
        continue;
    bad:
        snprintf(why, cap, "bad argument '%s' (workers=N, parallelism=COMPONENT=N with N >= 1, wait=SECONDS)", tok[i]);
        return GALE_EINVAL;
    }
    return 0;
}

void nimbus_cmd_rebalance(nimbus_t *n, nconn_t *x, char **tok, int ntok)
{
    gale_ctl_conn_t *c = x->conn;
    gale_topo_record_t r;
    int32_t version;
    change_t ch[MAX_CHANGES];
    int n_ch = 0, workers = 0;
    double wait_s = REBALANCE_WAIT_S;
    char why[1024];
    if (nimbus_verb_topo(n, c, tok, ntok, "rebalance NAME [workers=N] [parallelism=COMPONENT=N]... [wait=S]", &r,
                         &version))
        return gale_topo_record_free(&r);
    int rc = parse_args(tok, ntok, &workers, ch, &n_ch, &wait_s, why, sizeof why);
    pending_t *p = nimbus_pending_for(n, r.name);
    if (!rc && (p || r.status == GALE_TOPO_KILLING || r.status == GALE_TOPO_REBALANCING)) {
        snprintf(why, sizeof why, "%s is %s: wait for that first", r.name,
                 (p && p->kind == P_SUBMIT)                                           ? "starting"
                 : (p && p->kind == P_SWAP)                                           ? "being swapped"
                 : (p && p->kind == P_REBALANCE) || r.status == GALE_TOPO_REBALANCING ? "being rebalanced"
                                                                                      : "being killed");
        rc = GALE_ESTATE;
    }
    if (!rc && !workers && !n_ch) {
        snprintf(why, sizeof why, "nothing to change: give workers=N or parallelism=COMPONENT=N");
        rc = GALE_EINVAL;
    }
    if (!workers) workers = r.workers;
    /* Room for it once its own slots are free: every slot of the cluster but those of the other topologies. */
    sup_slots_t s = {0};
    if (!rc && (rc = nimbus_read_sup_slots(n, r.name, &s)))
        snprintf(why, sizeof why, "cannot read the supervisors: %s", gale_strerror(rc));
    int room = 0;
    for (size_t i = 0; !rc && i < s.n; i++) room += s.free_slots[i] > 0 ? s.free_slots[i] : 0;
    if (!rc && room < workers) {
        char free_text[600];
        nimbus_say_free(&s, free_text, sizeof free_text);
        snprintf(why, sizeof why, "not enough free slots: %d asked, %d there once %s has drained (%s)", workers, room,
                 r.name, free_text);
        rc = GALE_ELIMIT;
    }
    nimbus_sup_slots_free(&s);
    r.next_tasks = r.tasks;
    snprintf(r.next_model, sizeof r.next_model, "%s", r.model);
    if (!rc && (n_ch || workers != r.workers))
        rc = changed_model(n, &r, ch, n_ch, workers, r.next_model, &r.next_tasks, why, sizeof why);
    if (!rc) {
        r.next_workers = workers;
        r.after = r.status;
        r.status = GALE_TOPO_REBALANCING;
        r.kill_wait_s = wait_s;
        rc = nimbus_write_topo(n, &r, version, false);
        if (rc == GALE_EAGAIN) snprintf(why, sizeof why, "%s changed meanwhile: try again", r.name);
        else if (rc) snprintf(why, sizeof why, "cannot rebalance %s: %s", r.name, gale_strerror(rc));
    }
    if (!rc && !nimbus_add_pending(n, P_REBALANCE, r.name, r.version, x, wait_s + DRAIN_GRACE_S + START_TIMEOUT_S))
        snprintf(why, sizeof why, "out of memory"), rc = GALE_ENOMEM;
    if (rc) {
        gale_logf(GALE_LOG_WARN, "nimbus", "rebalance of %s refused: %s", r.name, why);
        gale_ctl_sendf(c, "error %s", why);
    } else {
        gale_logf(GALE_LOG_INFO, "nimbus", "%s: rebalancing to %d workers, %u tasks: draining for up to %g s", r.name,
                  workers, r.next_tasks, wait_s);
    }
    gale_topo_record_free(&r);
}

/* Every part drained: the next placement, written as a new version in the status the topology had. */
static void place(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version)
{
    sup_slots_t s;
    int *at = calloc((size_t)r->next_workers, sizeof *at);
    char **slots = calloc((size_t)r->next_workers, sizeof *slots);
    int rc = nimbus_read_sup_slots(n, r->name, &s);
    if (!rc && (!at || !slots)) rc = GALE_ENOMEM;
    if (!rc && gale_schedule_spread(s.free_slots, (int)s.n, r->next_workers, at)) {
        /* The room it had when asked is gone (a supervisor left): it runs again as it was. */
        char free_text[600];
        nimbus_say_free(&s, free_text, sizeof free_text);
        gale_logf(GALE_LOG_WARN, "nimbus", "%s: no room for %d workers now (%s): it runs again as it was", r->name,
                  r->next_workers, free_text);
        r->next_workers = r->workers, r->next_tasks = r->tasks;
        snprintf(r->next_model, sizeof r->next_model, "%s", r->model);
        rc = gale_schedule_spread(s.free_slots, (int)s.n, r->workers, at) ? GALE_ELIMIT : GALE_EAGAIN;
    }
    bool fallback = rc == GALE_EAGAIN;
    if (fallback) rc = 0;
    for (int k = 0; !rc && k < r->next_workers; k++)
        if (!(slots[k] = strdup(s.names[at[k]]))) rc = GALE_ENOMEM;
    if (!rc) {
        for (int k = 0; k < r->workers; k++) free(r->slots[k]);
        free(r->slots);
        r->slots = slots, slots = NULL;
        r->workers = r->next_workers;
        r->tasks = r->next_tasks;
        snprintf(r->model, sizeof r->model, "%s", r->next_model);
        r->status = r->after;
        r->version++;
        rc = nimbus_write_topo(n, r, node_version, false);
    }
    if (rc == GALE_ELIMIT) { /* it waits for room, and says so once in a while */
        uint64_t now = uv_now(&n->loop);
        if (now - p->said_ms > 10000) {
            gale_logf(GALE_LOG_ERROR, "nimbus", "%s: no room to run it again: it waits for free slots", r->name);
            p->said_ms = now;
        }
        if (now >= p->deadline_ms)
            nimbus_settle(n, p, "error %s: no room to run it again: it waits for free slots", p->name);
    } else if (rc && rc != GALE_EAGAIN) {
        gale_logf(GALE_LOG_ERROR, "nimbus", "%s: cannot place it after its drain: %s", r->name, gale_strerror(rc));
    } else if (!rc) {
        char placed[600] = "";
        for (int k = 0, len = 0; k < r->workers && len < (int)sizeof placed; k++)
            len += snprintf(placed + len, sizeof placed - (size_t)len, " %d:%s", k, r->slots[k]);
        gale_logf(GALE_LOG_INFO, "nimbus", "%s: drained; placed again (version %" PRId64 "), %d workers, %u tasks:%s",
                  r->name, r->version, r->workers, r->tasks, placed);
        p->placed = true;
        p->version = r->version;
        if (fallback)
            nimbus_settle(n, p, "error %s: the slots asked for were taken meanwhile: it runs as before", p->name);
    }
    for (int k = 0; slots && k < r->next_workers; k++) free(slots[k]);
    free(slots);
    free(at);
    nimbus_sup_slots_free(&s);
}

void nimbus_tick_rebalance(nimbus_t *n, pending_t *p, gale_topo_record_t *r, int32_t node_version, uint64_t now)
{
    if (!p->placed) {
        if (r->status != GALE_TOPO_REBALANCING) /* changed by hand, or by another nimbus */
            return nimbus_settle(n, p, "error %s: its rebalance was taken over", p->name);
        int holders = nimbus_count_holders(n, r);
        reports_t rep;
        nimbus_read_reports(n, r->name, r->version, &rep);
        bool late = now >= p->started_ms + (uint64_t)((r->kill_wait_s + DRAIN_GRACE_S) * 1000);
        if (rep.ended < holders && !late) return;
        if (late) gale_logf(GALE_LOG_WARN, "nimbus", "%s: not every supervisor said its part drained in time", r->name);
        return place(n, p, r, node_version);
    }
    reports_t rep;
    char missing[600];
    nimbus_read_reports(n, p->name, p->version, &rep);
    if (rep.refused) return nimbus_settle(n, p, "error %s: its new placement was refused: %s", p->name, rep.refusal);
    if (r->version == p->version && nimbus_slots_without_worker(n, r, missing, sizeof missing) == 0) {
        gale_logf(GALE_LOG_INFO, "nimbus", "%s: rebalanced: every worker runs, %" PRIu64 " ms after it was asked",
                  p->name, now - p->started_ms);
        return nimbus_settle(n, p, "ok rebalanced %s version=%" PRId64 " workers=%d tasks=%u ms=%" PRIu64, p->name,
                             r->version, r->workers, r->tasks, now - p->started_ms);
    }
    if (now >= p->deadline_ms)
        nimbus_settle(n, p, "error %s: placed again, but no worker came up in time for slots%s", p->name, missing);
}
