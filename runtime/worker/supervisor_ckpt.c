/*
 * supervisor_ckpt.c: the checkpoint coordinator of a topology's workers (checkpoint.h's, across processes).
 *
 * Every checkpoint_interval_ms, once every worker runs, the supervisor tells each `checkpoint N`; each worker's
 * spouts inject N's barriers, which cross to the other workers in CONTROL frames in order with the tuples
 * (frame.h), and each worker stores its own tasks' snapshots in the backend and answers `checkpointed N`. Once
 * every worker's part is stored, the supervisor writes N's record (the backend's `complete`: only now is N the one
 * to restore) and tells them `commit N`; a failed part, a worker that dies, or checkpoint_timeout_s tells them
 * `abort N`. The workers never write a record and never wipe: one process decides what is complete.
 *
 * A worker that dies takes the others down with it: each is killed and every worker starts again from the latest
 * complete checkpoint (Flink's full restart). A restart of only the dead worker cannot be made exact: its peers'
 * state has counted tuples whose effects died with it, and its spouts would rewind under them. What the survivors
 * emitted since the checkpoint is cut back by a transactional sink on its restart (file_sink), and is emitted
 * again in any case. Spawns wait while a record is being written, so that every worker restores the same one.
 *
 * The end of the input: the drain's stop first takes a final checkpoint (after the bolts' finishes, as local mode
 * does), and once every worker exited cleanly the state is wiped. A supervisor that finds a final record at its
 * start is recovering: each worker commits its tasks' part of it and exits, and the state is then wiped.
 * So is a restart after a worker died with the final record already written.
 *
 * Cluster mode, with the slots on several supervisors (supervisor.h, gale_sup_ckpt_link_t): the one with slot 0
 * coordinates, as above, counting every slot's part, the remote ones from the reports its link brings; it tells
 * the others BEGIN, COMMIT and ABORT, which they pass to their workers. A restart is in two phases, so that no
 * tuple of a life before it reaches a life after it (the transport would carry it): STOP, every supervisor kills
 * its workers and starts none, and reports each STOPPED; once every slot is stopped, START. A worker that died
 * anywhere is reported DIED; one that started anew without dying here (its part was moved to another host, or
 * started again by its supervisor) shows as a new life in its UP, and needs the restart too. A coordinator that
 * starts while orders exist (it was moved, or the topology rebalanced) restarts the topology at once, since the
 * other parts may run with state its new workers do not have. The end of the input is no one's to judge there:
 * checkpoints go on while the topology runs.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "log.h"
#include "metrics.h"
#include "state_store.h"
#include "supervisor_state.h"

struct sup_ckpt {
    gale_sup_t *s;
    gale_state_store_t *store;
    uint64_t interval_ms, timeout_ms;
    uint64_t next_id; /* never reused: a part of an abandoned checkpoint may still be in the backend */
    uint64_t current; /* in flight; 0: none */
    uint64_t due_ms;
    uint64_t started_ns;
    int parts; /* workers whose part of `current` is stored */
    uint64_t bytes;
    bool failed, completing;
    char why[640];
    int final;       /* 0: not asked; 1: wanted; 2: under way (current); 3: done */
    bool final_ok;   /* the final checkpoint completed: the state goes once the workers exited cleanly */
    bool recovering; /* the latest record was a final one: the workers only commit it */
    bool recovered_all;
    gale_checkpoint_stats_t stats;
    /* Cluster mode (the slots on several supervisors): */
    gale_sup_ckpt_link_t link; /* send NULL: every slot is here */
    bool coord;                /* this part has slot 0: it coordinates */
    uint64_t epoch;            /* the restart every worker runs in */
    bool stopping;             /* between a STOP and its START: no worker starts */
    bool restart_due;          /* the coordinator: a restart asked for while a record was being written */
    char restart_why[128];
    bool start_said; /* the coordinator said its first order (a START, or the STOP of a rejoin) */
    uint64_t said_ms; /* when the coordinator last said STOP or START (loop ms) */
    bool died_here;   /* the others: a worker here died in this epoch; the restart it asked for is to come */
    int died_slot;    /* which (said again until the restart comes) */
    uint64_t died_said_ms;
    /* The coordinator, per slot of the topology ([s->n]; only the remote ones are used): */
    uint64_t *up_life; /* the life it runs in this epoch, 0: none reported */
    uint64_t *part_of; /* the checkpoint whose part it reported */
    bool *stopped;     /* stopped for this epoch's restart */
};

typedef struct complete_arg {
    sup_ckpt_t *k;
    uint64_t id;
} complete_arg_t;

/* Cluster mode: how often a restart's phase, and the parts' answers to it, are said again. */
#define RESEND_MS 1000

static void tell_all(gale_sup_t *s, gale_control_kind_t kind, uint64_t id)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].started) gale__sup_say(&s->w[i], &(gale_control_msg_t){.kind = kind, .id = id});
}

/* The coordinator's order to the other supervisors (none when every slot is here). */
static void order(sup_ckpt_t *k, gale_sup_ckpt_kind_t kind, uint64_t id)
{
    if (k->link.send) k->link.send(k->link.arg, &(gale_sup_ckpt_msg_t){.kind = kind, .epoch = k->epoch, .id = id});
}

/* The local workers, and (cluster mode) the other supervisors, hear `kind` for checkpoint `id`. */
static void tell_everyone(sup_ckpt_t *k, gale_control_kind_t kind, uint64_t id)
{
    tell_all(k->s, kind, id);
    order(k,
          kind == GALE_CTL_CHECKPOINT ? GALE_SUPCK_BEGIN
          : kind == GALE_CTL_COMMIT   ? GALE_SUPCK_COMMIT
                                      : GALE_SUPCK_ABORT,
          id);
}

static bool is_local(const gale_sup_t *s, int slot)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].index == slot) return true;
    return false;
}

static void abandon(sup_ckpt_t *k, const char *why)
{
    gale_sup_t *s = k->s;
    uint64_t id = k->current;
    gale_logf(GALE_LOG_WARN, "checkpoint", "%s: checkpoint %" PRIu64 " failed: %s; the run goes on (%s)", s->id, id,
              why,
              k->stats.last_id ? "the last complete one stays the one to restore" : "no checkpoint is complete yet");
    k->stats.failed++;
    k->current = 0;
    tell_everyone(k, GALE_CTL_ABORT, id);
}

static void fail(sup_ckpt_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sup_ckpt_t *k, const char *fmt, ...)
{
    if (k->failed) return;
    k->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
}

static void restart(sup_ckpt_t *k, const char *why);

static void on_complete(void *arg, int rc, const char *why)
{
    complete_arg_t *a = arg;
    sup_ckpt_t *k = a->k;
    uint64_t id = a->id;
    free(a);
    k->completing = false;
    if (id != k->current) {
        /* given up meanwhile */
    } else if (rc) {
        char text[700];
        snprintf(text, sizeof text, "the %s backend: %s", k->store->ops->name, why ? why : gale_strerror(rc));
        abandon(k, text);
    } else {
        k->stats.completed++;
        k->stats.last_id = id;
        k->stats.last_ms = (gale_now_ns() - k->started_ns) / 1000000;
        k->stats.last_bytes = k->bytes;
        k->current = 0;
        if (k->final == 2) k->final_ok = true;
        gale_logf(GALE_LOG_DEBUG, "checkpoint",
                  "%s: checkpoint %" PRIu64 " complete: %" PRIu64 " bytes in %" PRIu64 " ms", k->s->id, id, k->bytes,
                  k->stats.last_ms);
        tell_everyone(k, GALE_CTL_COMMIT, id); /* a worker dead meanwhile commits it when it restores it */
    }
    if (k->restart_due) restart(k, k->restart_why); /* asked for while the record was written */
}

static void check(sup_ckpt_t *k)
{
    if (!k->current || k->completing) return;
    if (k->failed) {
        abandon(k, k->why);
        return;
    }
    if (k->parts < k->s->n) return; /* every slot's part, here and (cluster mode) elsewhere */
    gale_checkpoint_record_t r;
    complete_arg_t *a = malloc(sizeof *a);
    if (!a || gale_checkpoint_record_of(k->s->topo, k->current, k->final == 2, &r)) {
        free(a);
        abandon(k, "out of memory");
        return;
    }
    *a = (complete_arg_t){k, k->current};
    k->completing = true;
    k->store->ops->complete(k->store, &r, on_complete, a);
    gale_checkpoint_record_free(&r);
}

static void start(sup_ckpt_t *k)
{
    gale_sup_t *s = k->s;
    k->current = k->next_id++;
    k->started_ns = gale_now_ns();
    k->parts = 0;
    k->bytes = 0;
    k->failed = false;
    for (int i = 0; i < s->n_local; i++) s->w[i].ckpt_part = 0;
    tell_everyone(k, GALE_CTL_CHECKPOINT, k->current);
}

/* A slot's part of the checkpoint in flight, here or elsewhere. */
static void count_part(sup_ckpt_t *k, int slot, bool ok, uint64_t bytes, const char *why)
{
    if (ok) {
        k->parts++;
        k->bytes += bytes;
    } else {
        fail(k, "worker %d's part failed: %s", slot, why ? why : "unknown");
    }
    check(k);
}

/* The coordinator: every worker of the topology stops and then starts again from the latest complete checkpoint
   (a record being written first completes, or fails: every worker must restore the same one). */
static void restart(sup_ckpt_t *k, const char *why)
{
    gale_sup_t *s = k->s;
    if (k->completing) {
        if (!k->restart_due) snprintf(k->restart_why, sizeof k->restart_why, "%s", why);
        k->restart_due = true;
        return;
    }
    k->restart_due = false;
    if (k->current) abandon(k, why);
    if (k->final) k->final = 0; /* the input is replayed from the checkpoint: the end comes again */
    k->epoch++;
    k->stopping = true;
    for (int i = 0; k->link.send && i < s->n; i++) k->up_life[i] = 0, k->stopped[i] = false;
    bool killed = false;
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *o = &s->w[i];
        if (!o->running) continue;
        o->ckpt_killed = true;
        uv_process_kill(&o->proc, SIGKILL);
        killed = true;
    }
    gale_logf(GALE_LOG_WARN, "checkpoint", "%s: %s: %severy worker starts again from %s", s->id, why,
              killed || k->link.send ? "the others are stopped, and " : "",
              k->stats.last_id ? "the latest complete checkpoint" : "the beginning (no checkpoint is complete yet)");
    order(k, GALE_SUPCK_STOP, 0);
    k->said_ms = uv_now(s->loop);
    if (!k->link.send) k->stopping = false; /* every worker is here: its spawn follows its exit */
}

/* Cluster mode, every tick: the coordinator starts the workers once every slot stopped for the restart; the others
   report their slots' news. */
static void cluster_tick(sup_ckpt_t *k)
{
    gale_sup_t *s = k->s;
    uint64_t now = uv_now(s->loop);
    if (k->coord) {
        if (!k->start_said) { /* the first order: the others learn that a coordinator runs, at which epoch */
            k->start_said = true;
            if (k->stopping)
                gale_logf(GALE_LOG_INFO, "checkpoint",
                          "%s: this part of the topology starts anew while the others may run: every worker "
                          "starts again from %s",
                          s->id, k->stats.last_id ? "the latest complete checkpoint" : "the beginning");
            order(k, k->stopping ? GALE_SUPCK_STOP : GALE_SUPCK_START, 0);
            k->said_ms = now;
        }
        bool all_up = true;
        for (int i = 0; i < s->n; i++)
            if (!is_local(s, i) && !k->up_life[i]) all_up = false;
        /* A write ZooKeeper lost (a connection that dropped) must not leave a restart half done: the phase is said
           again until every slot answers. The others take a repeated order as they took the first. */
        if (now - k->said_ms >= RESEND_MS && (k->stopping || !all_up)) {
            order(k, k->stopping ? GALE_SUPCK_STOP : GALE_SUPCK_START, 0);
            k->said_ms = now;
        }
        if (!k->stopping) return;
        for (int i = 0; i < s->n_local; i++)
            if (s->w[i].running) return;
        for (int i = 0; i < s->n; i++)
            if (!is_local(s, i) && !k->stopped[i]) return;
        k->stopping = false;
        gale_logf(GALE_LOG_INFO, "checkpoint", "%s: every worker stopped: starting them (restart %" PRIu64 ")", s->id,
                  k->epoch);
        order(k, GALE_SUPCK_START, 0);
        k->said_ms = now;
        return;
    }
    if (k->died_here && now - k->died_said_ms >= RESEND_MS) { /* the restart has not come: say it again */
        k->died_said_ms = now;
        k->link.send(k->link.arg,
                     &(gale_sup_ckpt_msg_t){.kind = GALE_SUPCK_DIED, .epoch = k->epoch, .slot = k->died_slot});
    }
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *w = &s->w[i];
        gale_sup_ckpt_msg_t m = {.epoch = k->epoch, .slot = w->index, .life = w->life};
        if (w->ckpt_said_epoch != k->epoch) {
            w->ckpt_said_epoch = k->epoch;
            w->ckpt_said_life = 0;
            w->ckpt_said_stopped = false;
        }
        /* Said again now and then, in case ZooKeeper lost it: the coordinator takes it twice as once. */
        if (k->stopping && !w->running) {
            if (w->ckpt_said_stopped && now - w->ckpt_said_ms < RESEND_MS) continue;
            w->ckpt_said_stopped = true;
            m.kind = GALE_SUPCK_STOPPED;
        } else if (!k->stopping && w->running && w->started && w->have_status) {
            if (w->ckpt_said_life == w->life && now - w->ckpt_said_ms < 5 * RESEND_MS) continue;
            w->ckpt_said_life = w->life;
            m.kind = GALE_SUPCK_UP;
        } else {
            continue;
        }
        w->ckpt_said_ms = now;
        k->link.send(k->link.arg, &m);
    }
}

/* ---- from the supervisor ------------------------------------------------------------------------------------ */

int gale__sup_ckpt_open(gale_sup_t *s, bool fresh, const gale_sup_ckpt_link_t *link, char *why, size_t cap)
{
    const gale_config_t *cfg = &s->topo->config;
    if (!cfg->checkpoint_interval_ms) return 0;
    if (!s->complete && (!link || !link->send)) {
        snprintf(why, cap,
                 "%s: config.checkpoint_interval_ms: checkpoints need every worker of the topology on one "
                 "supervisor (`gale run --workers N`), or cluster mode",
                 s->topo->file);
        return GALE_ENOTSUP;
    }
    sup_ckpt_t *k = calloc(1, sizeof *k);
    if (!k) return GALE_ENOMEM;
    k->s = s;
    k->interval_ms = (uint64_t)cfg->checkpoint_interval_ms;
    k->timeout_ms = (uint64_t)cfg->checkpoint_timeout_s * 1000;
    if (!s->complete) {
        k->link = *link;
        k->coord = is_local(s, 0);
        k->epoch = link->epoch;
        k->stopping = link->stopped;
        if (k->coord && link->rejoin) k->epoch++, k->stopping = true;
        k->up_life = calloc((size_t)s->n, sizeof *k->up_life);
        k->part_of = calloc((size_t)s->n, sizeof *k->part_of);
        k->stopped = calloc((size_t)s->n, sizeof *k->stopped);
        if (!k->up_life || !k->part_of || !k->stopped) {
            free(k->up_life), free(k->part_of), free(k->stopped), free(k);
            return GALE_ENOMEM;
        }
    }
    char text[600];
    int rc = gale_state_store_open(s->loop, s->topo, &k->store, text, sizeof text);
    if (!rc && fresh) rc = k->store->ops->wipe(k->store, text, sizeof text);
    gale_checkpoint_record_t rec = {0};
    if (!rc) {
        rc = k->store->ops->latest(k->store, &rec, text, sizeof text);
        if (rc == GALE_ENOENT) rc = 0;
        else if (!rc) {
            k->stats.restored = k->stats.last_id = rec.id;
            k->recovering = rec.final;
        }
    }
    k->next_id = rec.id + 1;
    gale_checkpoint_record_free(&rec);
    if (rc) {
        snprintf(why, cap, "%s: state: %s; `gale run --fresh` starts from nothing", s->topo->file, text);
        if (k->store) {
            k->store->ops->stop(k->store);
            k->store->ops->close(k->store);
        }
        free(k->up_life), free(k->part_of), free(k->stopped), free(k);
        return rc;
    }
    if (k->recovering)
        gale_logf(GALE_LOG_INFO, "checkpoint",
                  "%s: checkpoint %" PRIu64 " was the last run's final one (its input was done): the workers "
                  "commit its output, with nothing to run; the next run starts from nothing",
                  s->id, k->stats.restored);
    k->due_ms = uv_now(s->loop) + k->interval_ms;
    s->ckpt = k;
    return 0;
}

void gale__sup_ckpt_tick(gale_sup_t *s, bool all_running, bool spouts_done)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || s->state != S_ACTIVE) return;
    if (k->link.send) {
        cluster_tick(k);
        if (!k->coord) return; /* the coordinator starts checkpoints, and times them out */
        for (int i = 0; i < s->n && all_running; i++)
            if (!is_local(s, i) && !k->up_life[i]) all_running = false;
        all_running = all_running && !k->stopping;
        spouts_done = false; /* the end is not this part's to judge: checkpoints go on while the topology runs */
    }
    uint64_t now = uv_now(s->loop);
    if (k->current && !k->completing && gale_now_ns() - k->started_ns > k->timeout_ms * 1000000) {
        char text[256];
        int n = snprintf(text, sizeof text, "not complete within checkpoint_timeout_s (%d s); no part from worker",
                         s->topo->config.checkpoint_timeout_s);
        for (int i = 0; i < s->n_local && n > 0 && (size_t)n < sizeof text - 12; i++)
            if (s->w[i].ckpt_part != k->current) n += snprintf(text + n, sizeof text - (size_t)n, " %d", s->w[i].index);
        for (int i = 0; k->link.send && i < s->n && n > 0 && (size_t)n < sizeof text - 12; i++)
            if (!is_local(s, i) && k->part_of[i] != k->current)
                n += snprintf(text + n, sizeof text - (size_t)n, " %d", i);
        abandon(k, text);
    }
    if (k->final == 1 && !k->current && !k->completing && all_running) {
        k->final = 2;
        start(k);
        return;
    }
    if (k->current || k->completing || k->final || now < k->due_ms) return;
    k->due_ms = now + k->interval_ms;
    if (!all_running || spouts_done || s->deactivated || s->inactive) return;
    start(k);
}

void gale__sup_ckpt_part(gale_sup_t *s, sworker_t *w, const gale_control_msg_t *m)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || !m->id) return;
    if (k->link.send && !k->coord) { /* the coordinator counts it */
        k->link.send(k->link.arg, &(gale_sup_ckpt_msg_t){.kind = GALE_SUPCK_PART,
                                                         .epoch = k->epoch,
                                                         .slot = w->index,
                                                         .life = w->life,
                                                         .id = m->id,
                                                         .ok = m->number != 0,
                                                         .bytes = m->bytes,
                                                         .why = m->text});
        return;
    }
    if (m->id != k->current || w->ckpt_part == m->id) return; /* one abandoned, or said twice */
    w->ckpt_part = m->id;
    count_part(k, w->index, m->number != 0, m->bytes, m->text);
}

bool gale__sup_ckpt_busy(const gale_sup_t *s) { return s->ckpt && (s->ckpt->completing || s->ckpt->stopping); }

bool gale__sup_ckpt_died(gale_sup_t *s, sworker_t *dead)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || k->recovering) return false;
    if (dead->ckpt_killed) return true; /* one of those killed for a restart: its death is not news */
    char text[96];
    snprintf(text, sizeof text, "worker %d died", dead->index);
    if (k->link.send && !k->coord) { /* the coordinator restarts the topology; this part waits for its STOP */
        k->link.send(k->link.arg,
                     &(gale_sup_ckpt_msg_t){
                         .kind = GALE_SUPCK_DIED, .epoch = k->epoch, .slot = dead->index, .life = dead->life});
        k->stopping = true; /* no spawn until the START of the restart that follows */
        k->died_here = true;
        k->died_slot = dead->index;
        k->died_said_ms = uv_now(s->loop);
        gale_logf(GALE_LOG_WARN, "checkpoint", "%s: %s: waiting for the coordinator to restart the topology", s->id,
                  text);
        return true;
    }
    restart(k, text);
    return true;
}

/* ---- cluster mode: the other supervisors ------------------------------------------------------------------- */

/* The coordinator hears a report about remote slot m->slot. */
static void hear_report(sup_ckpt_t *k, const gale_sup_ckpt_msg_t *m)
{
    gale_sup_t *s = k->s;
    if (m->slot < 0 || m->slot >= s->n || is_local(s, m->slot) || m->epoch != k->epoch) return; /* stale */
    char text[96];
    switch (m->kind) {
    case GALE_SUPCK_UP:
        if (k->stopping) return;
        /* A new life, or (after a restart) a life that did not come through its STOP: a part that joined while the
           others ran, with state they do not share. */
        if ((k->up_life[m->slot] && k->up_life[m->slot] != m->life) || (k->epoch > 0 && !k->stopped[m->slot])) {
            snprintf(text, sizeof text, "worker %d started anew", m->slot);
            restart(k, text);
            return;
        }
        k->up_life[m->slot] = m->life;
        return;
    case GALE_SUPCK_DIED:
        if (k->stopping) return; /* a restart is under way: the slot reports STOPPED */
        snprintf(text, sizeof text, "worker %d died", m->slot);
        restart(k, text);
        return;
    case GALE_SUPCK_STOPPED:
        if (k->stopping) k->stopped[m->slot] = true;
        return;
    case GALE_SUPCK_PART:
        if (!k->current || m->id != k->current || k->part_of[m->slot] == m->id || m->life != k->up_life[m->slot])
            return; /* one abandoned, said twice, or of a life that has not said it runs */
        k->part_of[m->slot] = m->id;
        count_part(k, m->slot, m->ok, m->bytes, m->why);
        return;
    default: return;
    }
}

/* Another supervisor hears the coordinator's order. */
static void hear_order(sup_ckpt_t *k, const gale_sup_ckpt_msg_t *m)
{
    gale_sup_t *s = k->s;
    if (m->epoch < k->epoch) return; /* stale */
    if (m->epoch > k->epoch || m->kind == GALE_SUPCK_STOP) {
        bool was = k->stopping && m->epoch == k->epoch; /* a STOP said again */
        if (m->epoch > k->epoch) k->epoch = m->epoch, k->died_here = false;
        for (int i = 0; i < s->n_local; i++) { /* their lives belong to the epoch before, or to none */
            sworker_t *o = &s->w[i];
            if (!o->running || o->ckpt_killed) continue;
            o->ckpt_killed = true;
            uv_process_kill(&o->proc, SIGKILL);
        }
        k->stopping = m->kind == GALE_SUPCK_STOP;
        if (k->stopping) {
            if (was) return;
            gale_logf(GALE_LOG_INFO, "checkpoint", "%s: the topology restarts (%" PRIu64 "): stopping the workers here",
                      s->id, k->epoch);
            return;
        }
    }
    switch (m->kind) {
    case GALE_SUPCK_START: /* a START said again must not start a worker that died here: its restart is to come */
        if (!k->died_here) k->stopping = false;
        return;
    case GALE_SUPCK_BEGIN: tell_all(s, GALE_CTL_CHECKPOINT, m->id); return;
    case GALE_SUPCK_COMMIT: tell_all(s, GALE_CTL_COMMIT, m->id); return;
    case GALE_SUPCK_ABORT: tell_all(s, GALE_CTL_ABORT, m->id); return;
    default: return;
    }
}

void gale_sup_ckpt_hear(gale_sup_t *s, const gale_sup_ckpt_msg_t *m)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || !k->link.send || s->state != S_ACTIVE) return;
    if (k->coord) hear_report(k, m);
    else hear_order(k, m);
}

bool gale__sup_ckpt_recovered(gale_sup_t *s, sworker_t *w, int64_t status, int signal)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || !k->recovering || status || signal) return false;
    w->ckpt_recovered = true;
    for (int i = 0; i < s->n_local; i++)
        if (!s->w[i].ckpt_recovered) return true;
    k->recovered_all = true;
    return true;
}

bool gale__sup_ckpt_all_recovered(const gale_sup_t *s) { return s->ckpt && s->ckpt->recovered_all; }

bool gale__sup_ckpt_final(gale_sup_t *s)
{
    sup_ckpt_t *k = s->ckpt;
    /* Cluster mode: no part sees the end of the whole topology, and a kill keeps the state, as a signal does. */
    if (!k || k->final == 3 || k->link.send) return false;
    if (!k->final) k->final = 1;
    else if (k->final == 2 && !k->current && !k->completing) k->final = 3; /* completed, or abandoned */
    return k->final != 3;
}

void gale__sup_ckpt_end(gale_sup_t *s)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k) return;
    if ((k->final_ok || k->recovered_all) && !s->failed) {
        char why[600];
        if (k->store->ops->wipe(k->store, why, sizeof why))
            gale_logf(GALE_LOG_WARN, "checkpoint", "%s: the input is done, but the state could not be removed: %s",
                      s->id, why);
        else gale_logf(GALE_LOG_DEBUG, "checkpoint", "%s: the input is done: the state is removed", s->id);
    }
    k->store->ops->stop(k->store);
}

void gale__sup_ckpt_free(gale_sup_t *s)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k) return;
    k->store->ops->close(k->store);
    free(k->up_life), free(k->part_of), free(k->stopped);
    free(k);
    s->ckpt = NULL;
}

bool gale_sup_checkpoints(const gale_sup_t *s, gale_checkpoint_stats_t *out)
{
    if (!s->ckpt || (s->ckpt->link.send && !s->ckpt->coord)) return false; /* the coordinator's are the figures */
    *out = s->ckpt->stats;
    return true;
}
