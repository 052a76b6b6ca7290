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
};

typedef struct complete_arg {
    sup_ckpt_t *k;
    uint64_t id;
} complete_arg_t;

static void tell_all(gale_sup_t *s, gale_control_kind_t kind, uint64_t id)
{
    for (int i = 0; i < s->n_local; i++)
        if (s->w[i].started) gale__sup_say(&s->w[i], &(gale_control_msg_t){.kind = kind, .id = id});
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
    tell_all(s, GALE_CTL_ABORT, id);
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

static void on_complete(void *arg, int rc, const char *why)
{
    complete_arg_t *a = arg;
    sup_ckpt_t *k = a->k;
    uint64_t id = a->id;
    free(a);
    k->completing = false;
    if (id != k->current) return;
    if (rc) {
        char text[700];
        snprintf(text, sizeof text, "the %s backend: %s", k->store->ops->name, why ? why : gale_strerror(rc));
        abandon(k, text);
        return;
    }
    k->stats.completed++;
    k->stats.last_id = id;
    k->stats.last_ms = (gale_now_ns() - k->started_ns) / 1000000;
    k->stats.last_bytes = k->bytes;
    k->current = 0;
    if (k->final == 2) k->final_ok = true;
    gale_logf(GALE_LOG_DEBUG, "checkpoint", "%s: checkpoint %" PRIu64 " complete: %" PRIu64 " bytes in %" PRIu64 " ms",
              k->s->id, id, k->bytes, k->stats.last_ms);
    tell_all(k->s, GALE_CTL_COMMIT, id); /* a worker dead meanwhile commits it when it restores it */
}

static void check(sup_ckpt_t *k)
{
    if (!k->current || k->completing) return;
    if (k->failed) {
        abandon(k, k->why);
        return;
    }
    if (k->parts < k->s->n_local) return;
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
    tell_all(s, GALE_CTL_CHECKPOINT, k->current);
}

/* ---- from the supervisor ------------------------------------------------------------------------------------ */

int gale__sup_ckpt_open(gale_sup_t *s, bool fresh, char *why, size_t cap)
{
    const gale_config_t *cfg = &s->topo->config;
    if (!cfg->checkpoint_interval_ms) return 0;
    if (!s->complete) {
        snprintf(why, cap,
                 "%s: config.checkpoint_interval_ms: checkpoints need every worker of the topology on one "
                 "supervisor (`gale run --workers N`) in this version of gale, not a cluster",
                 s->topo->file);
        return GALE_ENOTSUP;
    }
    sup_ckpt_t *k = calloc(1, sizeof *k);
    if (!k) return GALE_ENOMEM;
    k->s = s;
    k->interval_ms = (uint64_t)cfg->checkpoint_interval_ms;
    k->timeout_ms = (uint64_t)cfg->checkpoint_timeout_s * 1000;
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
        free(k);
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
    uint64_t now = uv_now(s->loop);
    if (k->current && !k->completing && gale_now_ns() - k->started_ns > k->timeout_ms * 1000000) {
        char text[256];
        int n = snprintf(text, sizeof text, "not complete within checkpoint_timeout_s (%d s); no part from worker",
                         s->topo->config.checkpoint_timeout_s);
        for (int i = 0; i < s->n_local && n > 0 && (size_t)n < sizeof text - 12; i++)
            if (s->w[i].ckpt_part != k->current) n += snprintf(text + n, sizeof text - (size_t)n, " %d", s->w[i].index);
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
    if (!k || !m->id || m->id != k->current || w->ckpt_part == m->id) return; /* one abandoned, or said twice */
    w->ckpt_part = m->id;
    if (m->number) {
        k->parts++;
        k->bytes += m->bytes;
    } else {
        fail(k, "worker %d's part failed: %s", w->index, m->text ? m->text : "unknown");
    }
    check(k);
}

bool gale__sup_ckpt_busy(const gale_sup_t *s) { return s->ckpt && s->ckpt->completing; }

bool gale__sup_ckpt_died(gale_sup_t *s, sworker_t *dead)
{
    sup_ckpt_t *k = s->ckpt;
    if (!k || k->recovering) return false;
    if (dead->ckpt_killed) return true; /* one of those killed for a restart: its death is not news */
    if (k->current && !k->completing) {
        char text[96];
        snprintf(text, sizeof text, "worker %d died", dead->index);
        abandon(k, text);
    }
    if (k->final) k->final = 0; /* the input is replayed from the checkpoint: the end comes again */
    bool killed = false;
    for (int i = 0; i < s->n_local; i++) {
        sworker_t *o = &s->w[i];
        if (o == dead || !o->running) continue;
        o->ckpt_killed = true;
        uv_process_kill(&o->proc, SIGKILL);
        killed = true;
    }
    gale_logf(GALE_LOG_WARN, "checkpoint", "%s: worker %d died: %severy worker starts again from %s", s->id,
              dead->index, killed ? "the others are stopped, and " : "",
              k->stats.last_id ? "the latest complete checkpoint" : "the beginning (no checkpoint is complete yet)");
    return true;
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
    if (!k || k->final == 3) return false;
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
    free(k);
    s->ckpt = NULL;
}

bool gale_sup_checkpoints(const gale_sup_t *s, gale_checkpoint_stats_t *out)
{
    if (!s->ckpt) return false;
    *out = s->ckpt->stats;
    return true;
}
