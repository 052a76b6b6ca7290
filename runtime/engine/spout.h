/*
 * spout.h: the spout side of reliability. A spout task with acking on keeps each open tree (root id -> message id,
 * start time, and the values when they may be replayed or journaled). The acker's DONE calls the spout's ack;
 * FAILED, or no answer within message_timeout_s, either schedules a replay (runtime-managed replay, with
 * exponential backoff, up to max_retries) or ends the tree for good: the journal gets a record, then the spout's
 * fail is called. Everything here runs on the spout task's executor thread, between loop turns, never inside
 * another task's callback.
 *
 * A spout that called gale_replayable has a resume position (gale.h): its message ids must increase over first
 * emits (checked here, per tracked emit), and every timeout scan it publishes in t->position the smallest message id
 * still open, else the next one. A driver that restarts the task's process gives the new task that position before
 * it opens (gale__runtime_resume), so that it emits again what its previous life had open.
 */
#ifndef GALE_SPOUT_H
#define GALE_SPOUT_H

#include "task.h"

/* Appends a journal record of tuple `d` (its values and stream) when the topology has a journal: `cause`, `error`
   (NULL, or what was wrong), who failed it (task `from`, 0: unknown) and `attempts`. 0, or the append's code
   (logged against t). */
int gale__spout_journal(gale_task_t *t, const gale_tuple_data_t *d, uint64_t msg_id, const char *cause,
                        const char *error, uint32_t from, uint32_t attempts);

/* Emits on a resolved stream (emit.c); `attempts` counts this emit for a replayed message. */
int gale__emit_stream(gale_task_t *t, int stream, const gale_emit_t *e, uint32_t attempts);

/* Records a new tree of `d` (which has its deliveries) and sends the acker its INIT. */
void gale__spout_track(gale_task_t *t, gale_tuple_data_t *d, uint64_t msg_id, uint32_t attempts);

/* Handles DONE, FAILED and TOUCH from an acker. */
void gale__spout_op(gale_task_t *t, const gale_op_t *op, uint64_t now_ns);

/* Times out trees older than the topology's timeout and emits the replays that are due. Returns the work done. */
size_t gale__spout_tick(gale_task_t *t, uint64_t now_ns, bool scan_timeouts);

/* Open trees: pending and waiting for a replay. */
static inline size_t gale__spout_open_trees(const gale_task_t *t) { return t->pending.count + t->n_retries; }

/* Whether max_spout_pending lets next_tuple be called. */
bool gale__spout_may_emit(const gale_task_t *t);

/* The wait before a replay, after attempt number `attempts` failed (1: the first emit): retry_backoff_ms doubling, capped at
   retry_backoff_max_ms, with jitter drawn from `random` (between half the capped wait and all of it). */
uint64_t gale__retry_backoff_ns(const gale_config_t *cfg, uint32_t attempts, uint64_t random);

/* gale_replayable (gale.h): in open, marks the task resumable and tells it its resume position, if it has one. */
int gale__replayable(gale_ctx_t *ctx, uint64_t *resume_from);

/* Before the task opens: it resumes from `position` (its previous life's, as the driver kept it). */
void gale__spout_resume(gale_task_t *t, uint64_t position);

/* At close: publishes the task's resume position one last time, journals the trees still open (cause "stopped") when there is a journal, and releases their values. */
void gale__spout_forget(gale_task_t *t);

/* Before a hot swap opens spout task t on another plugin: when t has a position, the new plugin's gale_replayable
   gets the next one (what the last plugin emitted stays open in t and replays from there: none twice); else it
   starts afresh. */
void gale__spout_reopening(gale_task_t *t);

#endif
