#include "drain.h"

#include <string.h>

void gale_drain_init(gale_drain_t *d, const int *finish_order, size_t n_finish, unsigned lost_after)
{
    memset(d, 0, sizeof *d);
    d->finish_order = finish_order;
    d->n_finish = n_finish;
    d->lost_after = lost_after;
    d->state = GALE_DRAIN_RUNNING;
    d->deadline_ns = UINT64_MAX;
    d->finish_deadline_ns = UINT64_MAX;
}

const char *gale_drain_state_name(gale_drain_state_t s)
{
    switch (s) {
    case GALE_DRAIN_RUNNING: return "running";
    case GALE_DRAIN_DRAINING: return "draining";
    case GALE_DRAIN_FINISHING: return "finishing";
    case GALE_DRAIN_STOPPING: return "stopping";
    }
    return "?";
}

/* Trees are settled when none waits for a replay and none is open, except those bolts hold on purpose (kept
   inputs, a window): those are theirs to settle in `finish`, so waiting for them before it would never end. */
static bool trees_settled(const gale_flow_t *f)
{
    return f->retrying == 0 && (f->open_trees == 0 || f->kept > 0);
}

/* Records still counted in flight after this many quiet samples went down with a part that died. */
static bool lost(const gale_drain_t *d) { return d->lost_after && d->quiet > d->lost_after; }

/*
 * Nothing in flight: idle and nothing moved in two samples in a row (which rules out a record that moved between
 * the reads of one sample), every record sent received, and the trees settled (unless hurried).
 */
static bool quiescent(gale_drain_t *d, const gale_flow_t *f)
{
    bool same = d->have_prev && f->activity == d->prev.activity;
    d->quiet = f->idle && !f->stale && same ? d->quiet + 1 : 0;
    d->prev = *f;
    d->have_prev = true;
    /* Hurried, the trees still open are those the drain gave up on: only what moves is waited for. */
    return d->quiet >= 2 && (!f->in_flight || lost(d)) && (d->hurried || trees_settled(f));
}

static void restart_sampling(gale_drain_t *d)
{
    d->have_prev = false;
    d->quiet = 0;
}

static gale_drain_cmd_t stop(gale_drain_t *d, const gale_flow_t *f, const char *note)
{
    /* finish_pos counts the finishes issued: the last one may not have come back yet. */
    bool finish_unacked = d->state == GALE_DRAIN_FINISHING && !f->finish_acked;
    d->state = GALE_DRAIN_STOPPING;
    d->open_at_stop = f->open_trees;
    d->incomplete = d->failed || f->open_trees > 0 || (f->in_flight && !lost(d)) || d->finish_pos < d->n_finish ||
                    finish_unacked;
    return (gale_drain_cmd_t){.kind = GALE_DRAIN_STOP, .note = note, .warn = note != NULL};
}

/* The finish of the next component, or the stop when every one has finished. */
static gale_drain_cmd_t next_finish(gale_drain_t *d, const gale_flow_t *f, uint64_t now_ns, const char *note)
{
    if (d->finish_pos >= d->n_finish) {
        gale_drain_cmd_t c = stop(d, f, NULL);
        c.note = note;
        c.warn = note != NULL;
        return c;
    }
    d->state = GALE_DRAIN_FINISHING;
    restart_sampling(d);
    d->prev.finish_acked = false; /* this finish has not come back yet, whatever the last sample said */
    d->finish_deadline_ns = d->hurried ? now_ns + GALE_DRAIN_FINISH_GRACE_NS : UINT64_MAX;
    return (gale_drain_cmd_t){.kind = GALE_DRAIN_FINISH, .component = d->finish_order[d->finish_pos++],
                              .note = note, .warn = note != NULL};
}

static const char TIMED_OUT[] = "tuples still in flight after the drain timeout: finishing the bolts without them";

gale_drain_cmd_t gale_drain_step(gale_drain_t *d, const gale_flow_t *f, uint64_t now_ns)
{
    gale_drain_cmd_t none = {0};
    if (d->state == GALE_DRAIN_STOPPING) return none;
    if (f->failed) {
        d->failed = true;
        return stop(d, f, "a task failed to open: stopping");
    }
    switch (d->state) {
    case GALE_DRAIN_RUNNING:
        if (!f->stale && f->spouts_done >= f->spout_tasks) {
            d->state = GALE_DRAIN_DRAINING; /* by itself: no deadline, open trees complete or time out */
            restart_sampling(d);
        }
        return none;
    case GALE_DRAIN_DRAINING: {
        /* Unless a stop deactivated them, a spout started again (its worker died and came back) holds the drain
           until it is done once more. */
        bool q = quiescent(d, f) && (d->stop_requests || f->spouts_done >= f->spout_tasks);
        if (now_ns > d->deadline_ns) {
            d->hurried = true;
            return next_finish(d, f, now_ns, TIMED_OUT);
        }
        return q ? next_finish(d, f, now_ns, NULL) : none;
    }
    case GALE_DRAIN_FINISHING: {
        bool q = quiescent(d, f);
        const char *note = NULL;
        if (!d->hurried) {
            if (now_ns <= d->deadline_ns) return f->finish_acked && q ? next_finish(d, f, now_ns, NULL) : none;
            d->hurried = true;
            d->finish_deadline_ns = now_ns + GALE_DRAIN_FINISH_GRACE_NS;
            note = TIMED_OUT;
        }
        if (f->finish_acked && (q || now_ns > d->finish_deadline_ns)) return next_finish(d, f, now_ns, note);
        if (!f->finish_acked && now_ns > d->finish_deadline_ns)
            return stop(d, f, "a bolt did not finish within the grace: stopping without the rest");
        return (gale_drain_cmd_t){.note = note, .warn = note != NULL};
    }
    case GALE_DRAIN_STOPPING: break;
    }
    return none;
}

gale_drain_cmd_t gale_drain_request_stop(gale_drain_t *d, uint64_t now_ns, uint64_t wait_ns)
{
    gale_drain_cmd_t none = {0};
    if (d->state == GALE_DRAIN_STOPPING) return none;
    d->stop_requests++;
    if (d->stop_requests >= 3) return stop(d, &d->prev, "stopping at once, without finishing the bolts");
    if (d->stop_requests == 2) {
        d->hurried = true;
        if (d->state == GALE_DRAIN_FINISHING) {
            uint64_t grace = now_ns + GALE_DRAIN_FINISH_GRACE_NS;
            if (grace < d->finish_deadline_ns) d->finish_deadline_ns = grace;
            return (gale_drain_cmd_t){.note = "finishing the bolts without waiting for the drain (again to stop at "
                                              "once)", .warn = true};
        }
        return next_finish(d, &d->prev, now_ns,
                           "finishing the bolts without waiting for the drain (again to stop at once)");
    }
    uint64_t deadline = wait_ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + wait_ns;
    if (deadline < d->deadline_ns) d->deadline_ns = deadline;
    if (d->state == GALE_DRAIN_RUNNING) {
        d->state = GALE_DRAIN_DRAINING;
        restart_sampling(d);
        return (gale_drain_cmd_t){.kind = GALE_DRAIN_DEACTIVATE,
                                  .note = "deactivating the spouts and draining (again to finish the bolts now, a "
                                          "third time to stop at once)"};
    }
    /* Draining by itself already (the spouts are done): the spouts are deactivated all the same, so that no
       replay starts a tree the bounded drain would have to wait for. */
    return (gale_drain_cmd_t){.kind = GALE_DRAIN_DEACTIVATE,
                              .note = "already draining: the drain is now bounded (again to finish the bolts now, a "
                                      "third time to stop at once)"};
}
