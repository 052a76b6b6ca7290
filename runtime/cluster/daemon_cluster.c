/*
 * daemon_cluster.c: the supervisor daemon in cluster mode. It follows the topologies nimbus placed in ZooKeeper
 * (sup_node.h) and makes what runs here match them:
 *   - a topology with slots here that does not run yet is fetched (sup_fetch.h, in libuv's thread pool: the loop
 *     keeps serving its workers meanwhile), checked and started like any assignment (daemon.c), and reported
 *     "starting", then "running" or "refused" with the reason (ROOT/status/NAME/HOST:PORT);
 *   - one whose slots here changed (nimbus moved some) is drained and started again on the new ones; one that has
 *     no slot here any more, or is gone from ZooKeeper, is drained and stopped: a supervisor that comes back after
 *     its slots moved stops what it no longer owns;
 *   - one being killed or rebalanced is drained for its kill_wait_s and stopped, then reported "ended" (nimbus then
 *     removes it, or writes its next placement, which starts like a new one, its spouts resuming where they were);
 *   - one that ended by itself (a finite topology whose every slot is here, once its spouts are done) is reported
 *     "ended" and not started again at that version: nimbus removes it once every part has ended.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_state.h"
#include "diag.h"
#include "gale.h"
#include "log.h"
#include "sup_fetch.h"
#include "topology_codec.h"

/* How often the spouts' positions go to ZooKeeper: a spout moved after a crash goes on from at most this far back
   (its trees since then are emitted again: at least once). After a drain the last positions are written too. The
   parts' figures go with them when the workers sent new ones (every config.metrics_interval_s). */
#define PUBLISH_EVERY_MS 1000
/* How long the part of a topology whose slots moved away drains before it stops. */
#define MOVE_WAIT_S 5.0
/* Each exchange with nimbus while fetching. */
#define FETCH_TIMEOUT_MS 30000

typedef struct fetch_job {
    struct fetch_job *next;
    supd_t *d;
    uv_work_t work;
    char *text;             /* the topology's node, as the thread parses it (owned) */
    gale_topo_record_t rec; /* parsed on the loop, for the start */
    char nimbus[160], sup[96];
    gale_sup_fetch_opts_t fo;
    char model[PATH_MAX], why[1024];
    int rc;
    bool stale; /* the placement changed meanwhile: drop the result and look again */
} fetch_job_t;

/* A part that ended by itself, at a version: not started again unless nimbus places it anew. */
typedef struct done_part {
    struct done_part *next;
    char name[GALE_TOPO_NAME_MAX];
    int64_t version;
} done_part_t;

static bool is_done(const supd_t *d, const char *name, int64_t version)
{
    for (const done_part_t *p = d->done; p; p = p->next)
        if (!strcmp(p->name, name) && p->version == version) return true;
    return false;
}

/* What nimbus placed here through ZooKeeper, and how it went: the assignment's audit record (audit.h). */
static void audit_report(supd_t *d, const char *name, int64_t version, gale_topo_state_t state, const char *error)
{
    if (state == GALE_TOPO_STARTING) return; /* its outcome is the record */
    char detail[600];
    snprintf(detail, sizeof detail, "version %lld %s%s%s", (long long)version,
             state == GALE_TOPO_RUNNING ? "running here"
             : state == GALE_TOPO_ENDED ? "ended here"
                                        : "refused here",
             error ? ": " : "", error ? error : "");
    gale__supd_audit(d, "zookeeper", "nimbus", state == GALE_TOPO_ENDED ? "end" : "assign", name,
                     state == GALE_TOPO_REFUSED ? "error" : "ok", detail);
}

static void report(supd_t *d, const char *name, int64_t version, gale_topo_state_t state, const char *error)
{
    if (state == GALE_TOPO_REFUSED) audit_report(d, name, version, state, error);
    gale_topo_report_t r = {.version = version, .state = state};
    if (error) snprintf(r.error, sizeof r.error, "%.*s", (int)sizeof r.error - 1, error);
    gale_sup_node_report(d->node, name, &r);
}

static fetch_job_t *find_job(supd_t *d, const char *name)
{
    for (fetch_job_t *j = d->jobs; j; j = j->next)
        if (!strcmp(j->rec.name, name)) return j;
    return NULL;
}

static void free_job(fetch_job_t *j)
{
    gale_topo_record_free(&j->rec);
    free(j->text);
    free(j);
}

static void run_fetch(uv_work_t *w)
{
    fetch_job_t *j = w->data;
    j->rc = gale_sup_fetch(&j->fo, &j->rec, j->model, sizeof j->model, j->why, sizeof j->why);
}

/* ---- the spouts' positions in ZooKeeper ----------------------------------------------------------------------- */

/* The spout task `index` of `of` of component `name` in r's model: its task id, or 0 when there is none (the
   component is gone, is not a spout, or a rebalance changed its parallelism: the position is another split's). */
static uint32_t spout_task(const topo_rec_t *r, const char *name, int index, int of)
{
    for (size_t i = 0; i < r->topo->n_components; i++) {
        const gale_component_t *c = &r->topo->components[i];
        if (!strcmp(c->name, name))
            return c->kind == GALE_SPOUT && of == c->parallelism ? c->first_task + (uint32_t)index : 0;
    }
    return 0;
}

static void add_position(void *arg, const char *component, int index, int of, uint64_t position)
{
    topo_rec_t *r = arg;
    uint32_t task = spout_task(r, component, index, of);
    if (!task || r->n_resume >= (int)r->topo->n_tasks) return;
    r->resume_tasks[r->n_resume] = task;
    r->resume_positions[r->n_resume++] = position;
}

/* Where r's spouts were, before it was placed here: its part resumes from there. */
static void load_positions(supd_t *d, topo_rec_t *r)
{
    size_t n = r->topo->n_tasks + 1;
    r->resume_tasks = calloc(n, sizeof *r->resume_tasks);
    r->resume_positions = calloc(n, sizeof *r->resume_positions);
    r->saved_positions = calloc(n, sizeof *r->saved_positions);
    if (!r->resume_tasks || !r->resume_positions || !r->saved_positions) return;
    int rc = gale_sup_node_load_positions(d->node, r->id, add_position, r);
    if (rc)
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot read its spouts' positions: %s: they start afresh", r->id,
                  gale_strerror(rc));
    else if (r->n_resume)
        gale_logf(GALE_LOG_INFO, "supervisor", "%s: %d spout tasks resume where they were", r->id, r->n_resume);
}

void gale__supd_cluster_save_positions(supd_t *d, topo_rec_t *r)
{
    if (!r->sup || !r->saved_positions || !d->node) return;
    uint32_t n = r->topo->n_tasks, tasks[64];
    uint64_t positions[64];
    int k = gale_sup_positions(r->sup, tasks, positions, 64);
    for (int i = 0; i < k; i++) {
        uint32_t t = tasks[i];
        if (t == 0 || t > n || r->saved_positions[t] == positions[i]) continue;
        const gale_component_t *c = NULL;
        for (size_t j = 0; j < r->topo->n_components && !c; j++) {
            const gale_component_t *x = &r->topo->components[j];
            if (t >= x->first_task && t < x->first_task + (uint32_t)x->parallelism) c = x;
        }
        if (!c) continue;
        int rc = gale_sup_node_save_position(d->node, r->id, c->name, (int)(t - c->first_task), c->parallelism,
                                             positions[i]);
        if (!rc) r->saved_positions[t] = positions[i];
    }
}

void gale__supd_cluster_publish_stats(supd_t *d, topo_rec_t *r)
{
    if (!r->sup || !d->node || gale_sup_stats_seq(r->sup) == r->stats_said) return;
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f) return;
    /* The placement's version first: nimbus leaves out what an earlier placement's parts said. */
    fprintf(f, "version=%" PRId64 "\n", r->version);
    int rc = gale_sup_metrics_json(r->sup, true, f);
    fclose(f);
    if (!rc) rc = gale_sup_node_publish_stats(d->node, r->id, doc);
    if (!rc) r->stats_said = gale_sup_stats_seq(r->sup);
    else if (rc != GALE_ESTATE)
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot publish its figures (%zu bytes) in ZooKeeper: %s", r->id,
                  len, gale_strerror(rc));
    free(doc);
}

static void on_publish_timer(uv_timer_t *h)
{
    supd_t *d = h->data;
    for (topo_rec_t *r = d->topos; r; r = r->next)
        if (r->cluster && !r->expired) gale__supd_cluster_save_positions(d, r), gale__supd_cluster_publish_stats(d, r);
}

void gale__supd_cluster_stop(supd_t *d)
{
    gale__supd_lease_stop(d);
    if (!d->publish_timing) return;
    d->publish_timing = false;
    uv_close((uv_handle_t *)&d->publish_timer, NULL);
}

/* The started part tells how it went (daemon.c's answer): running, or refused with why. */
static void on_reply(void *arg, const char *id, const char *error)
{
    topo_rec_t *r = arg;
    if (error) report(r->d, id, r->version, GALE_TOPO_REFUSED, error);
    else audit_report(r->d, id, r->version, GALE_TOPO_RUNNING, NULL), gale__supd_swap_report(r->d, r);
    /* Placed while a swap runs: it takes it too. */
    if (!error) gale_sup_node_topologies_again(r->d->node);
}

static void after_fetch(uv_work_t *w, int status)
{
    fetch_job_t *j = w->data;
    supd_t *d = j->d;
    for (fetch_job_t **p = &d->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    const gale_topo_record_t *rec = &j->rec;
    if (j->stale || d->signals || status) {
        free_job(j);
        gale_sup_node_topologies_again(d->node);
        return;
    }
    if (j->rc) {
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot run it here: %s", rec->name, j->why);
        report(d, rec->name, rec->version, GALE_TOPO_REFUSED, j->why);
        return free_job(j);
    }
    topo_rec_t *r = calloc(1, sizeof *r);
    int *slots = calloc((size_t)rec->workers, sizeof *slots);
    gale_diag_t diag = {{0}};
    int rc = r && slots ? gale_topology_load_model(j->model, &r->topo, &diag) : GALE_ENOMEM;
    if (rc) {
        const char *why = diag.msg[0] ? diag.msg : gale_strerror(rc);
        gale_logf(GALE_LOG_WARN, "supervisor", "%s: cannot run it here: %s", rec->name, why);
        report(d, rec->name, rec->version, GALE_TOPO_REFUSED, why);
        free(slots);
        if (r) gale__supd_free_rec(r);
        return free_job(j);
    }
    r->d = d;
    snprintf(r->id, sizeof r->id, "%s", rec->name);
    r->cluster = r->model = true;
    r->version = rec->version;
    r->workers = rec->workers;
    r->slots = slots;
    r->n_slots = gale_topo_record_slots_of(rec, gale_sup_node_id(d->node), slots);
    r->secret = strdup(rec->secret);
    r->inactive = rec->status == GALE_TOPO_INACTIVE;
    for (size_t i = 0; i < rec->n_plugins; i++)
        gale_topo_record_add_file(&r->plugins, &r->n_plugins, rec->plugins[i].component, rec->plugins[i].sha);
    r->reply = on_reply;
    r->reply_arg = r;
    free_job(j);
    load_positions(d, r);
    gale__supd_assign(d, r);
}

bool gale__supd_fetch_opts(supd_t *d, char *nimbus, size_t nimbus_cap, char *sup, size_t sup_cap,
                           gale_sup_fetch_opts_t *fo)
{
    snprintf(sup, sup_cap, "%s", gale_sup_node_id(d->node));
    bool leader = gale_sup_node_nimbus(d->node, nimbus, nimbus_cap) == 0;
    *fo = (gale_sup_fetch_opts_t){.data_dir = d->data_dir,
                                  .nimbus = leader ? nimbus : NULL,
                                  .sup_id = sup,
                                  .secret = d->o->secret,
                                  .secret_len = d->o->secret_len,
                                  .timeout_ms = FETCH_TIMEOUT_MS};
    return leader;
}

/* Starts fetching `rec` for this supervisor. */
static void start_job(supd_t *d, const gale_topo_record_t *rec)
{
    fetch_job_t *j = calloc(1, sizeof *j);
    char why[200];
    if (!j || !(j->text = gale_topo_record_format(rec)) || gale_topo_record_parse(j->text, &j->rec, why, sizeof why)) {
        if (j) free_job(j);
        return;
    }
    j->d = d;
    j->work.data = j;
    bool leader = gale__supd_fetch_opts(d, j->nimbus, sizeof j->nimbus, j->sup, sizeof j->sup, &j->fo);
    if (uv_queue_work(&d->loop, &j->work, run_fetch, after_fetch)) {
        free_job(j);
        return;
    }
    j->next = d->jobs;
    d->jobs = j;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: placed here (version %lld): fetching it%s%s", rec->name,
              (long long)rec->version, leader ? " from nimbus at " : "", leader ? j->nimbus : "");
    report(d, rec->name, rec->version, GALE_TOPO_STARTING, NULL);
}

static bool same_slots(const topo_rec_t *r, const int *slots, int n)
{
    if (r->n_slots != n) return false;
    for (int i = 0; i < n; i++)
        if (r->slots[i] != slots[i]) return false;
    return true;
}

static void drain(topo_rec_t *r, double wait_s, const char *why)
{
    if (!r->sup || r->killing) return;
    r->killing = true;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: %s: draining for up to %g s", r->id, why, wait_s);
    gale__supd_audit(r->d, "zookeeper", "nimbus", "kill", r->id, "ok", why);
    gale_sup_kill(r->sup, wait_s, why);
}

/* One topology of ZooKeeper's, against what runs here. */
static void reconcile(supd_t *d, const gale_topo_record_t *rec)
{
    int *mine = calloc((size_t)rec->workers, sizeof *mine);
    if (!mine) return;
    int n = gale_topo_record_slots_of(rec, gale_sup_node_id(d->node), mine);
    topo_rec_t *r = gale__supd_find_any(d, rec->name);
    fetch_job_t *job = find_job(d, rec->name);
    if (r && !r->cluster) { /* one of that name assigned by hand (`gale ctl assign`): not nimbus's to change */
        free(mine);
        return;
    }
    bool stopping = rec->status == GALE_TOPO_KILLING || rec->status == GALE_TOPO_REBALANCING;
    if (stopping || n == 0) {
        if (job) job->stale = true;
        if (r)
            drain(r, stopping ? rec->kill_wait_s : MOVE_WAIT_S,
                  rec->status == GALE_TOPO_KILLING       ? "killed"
                  : rec->status == GALE_TOPO_REBALANCING ? "rebalancing: its next placement starts once it drained"
                                                         : "its slots moved to other supervisors");
        else if (!job && n > 0) report(d, rec->name, rec->version, GALE_TOPO_ENDED, NULL); /* nothing ran here */
    } else if (!r && !job && is_done(d, rec->name, rec->version)) {
        /* it ended by itself here: nimbus removes it once every part has */
    } else if (r) {
        r->inactive = rec->status == GALE_TOPO_INACTIVE; /* a part still being checked starts so */
        if (r->sup && !r->killing) gale_sup_set_active(r->sup, !r->inactive);
        if (r->version != rec->version && same_slots(r, mine, n)) {
            r->version = rec->version; /* other slots moved: the addresses follow through ZooKeeper */
            if (r->sup) gale__supd_swap_report(d, r);
        } else if (r->version != rec->version) {
            drain(r, MOVE_WAIT_S, "its slots here changed"); /* started again on the new ones once it ended */
        }
        if (r->version == rec->version) gale__supd_swap_follow(d, r, rec);
    } else if (job) {
        if (job->rec.version != rec->version) job->stale = true;
        job->rec.status = rec->status; /* activated or deactivated while fetching */
    } else {
        start_job(d, rec);
    }
    free(mine);
}

static void on_topologies(void *arg, const gale_topo_record_t *recs, size_t n)
{
    supd_t *d = arg;
    if (d->signals) return;
    for (size_t i = 0; i < n; i++) reconcile(d, &recs[i]);
    /* What runs or is fetched here for a topology that is gone from ZooKeeper stops. */
    for (topo_rec_t *r = d->topos; r; r = r->next) {
        bool there = false;
        for (size_t i = 0; i < n && !there; i++) there = !strcmp(recs[i].name, r->id);
        if (r->cluster && !there) drain(r, MOVE_WAIT_S, "it is gone from ZooKeeper");
    }
    for (fetch_job_t *j = d->jobs; j; j = j->next) {
        bool there = false;
        for (size_t i = 0; i < n && !there; i++) there = !strcmp(recs[i].name, j->rec.name);
        if (!there) j->stale = true;
    }
    for (done_part_t **p = &d->done; *p;) {
        bool there = false;
        for (size_t i = 0; i < n && !there; i++) there = !strcmp(recs[i].name, (*p)->name);
        done_part_t *gone = there ? NULL : *p;
        if (gone) *p = gone->next, free(gone);
        else p = &(*p)->next;
    }
}

void gale__supd_cluster_start(supd_t *d)
{
    gale__supd_lease_start(d);
    uv_timer_init(&d->loop, &d->publish_timer);
    d->publish_timer.data = d;
    uv_timer_start(&d->publish_timer, on_publish_timer, PUBLISH_EVERY_MS, PUBLISH_EVERY_MS);
    d->publish_timing = true;
    int rc = gale_sup_node_follow_topologies(d->node, on_topologies, d);
    if (rc) gale_logf(GALE_LOG_ERROR, "supervisor", "cannot follow the topologies in ZooKeeper: %s", gale_strerror(rc));
}

void gale__supd_cluster_ended(supd_t *d, topo_rec_t *r)
{
    audit_report(d, r->id, r->version, GALE_TOPO_ENDED, r->failed ? "a worker failed" : NULL);
    report(d, r->id, r->version, GALE_TOPO_ENDED, r->failed ? "a worker failed" : NULL);
    done_part_t *p = r->killing ? NULL : calloc(1, sizeof *p);
    if (p) { /* it ended by itself: its spouts were done and it drained */
        snprintf(p->name, sizeof p->name, "%s", r->id);
        p->version = r->version;
        p->next = d->done;
        d->done = p;
    }
    gale__supd_drop(d, r);
    gale_sup_node_topologies_again(d->node); /* a part stopped to move starts again on its new slots */
}

void gale__supd_cluster_free(supd_t *d)
{
    while (d->done) {
        done_part_t *p = d->done;
        d->done = p->next;
        free(p);
    }
}
