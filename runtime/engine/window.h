/*
 * window.h: a windowed bolt's window (its block's `window = { ... }`, Storm's BaseWindowedBolt), run by the runtime
 * on the task's thread.
 *
 * Every input gets a time: its timestamp field (event time), the clock at its arrival (processing time), or its
 * number among the task's inputs (a window of count, which is then a window of time over those numbers). The task
 * holds its inputs in that order; a watermark W says that no input below W is still to come: event time's is the
 * smallest of the watermarks the tasks feeding the window send (watermark.h), processing time's the clock, count's
 * the number of inputs so far. Tumbling and sliding windows are [end - length, end) for every end a multiple of the
 * slide (Flink's alignment, from time 0); a session is a run of inputs each less than gap_ms after the one before,
 * ending gap_ms after its last. A window fires once W reaches its end, if it holds a tuple; an input below W on
 * arrival is late (event time only): emitted on the late stream, or dropped, and acked either way. When the input
 * ends, every window that holds a tuple fires.
 *
 * An input is acked once the last window it belongs to has fired (failed if an execute_window over it failed), and
 * is shown to the plugin once more, as expired, at the next fire, so that a plugin keeping an aggregate can take
 * it out; its block is released after that. What a window holds is bounded by window.max_mb: an input that would
 * pass the bound is failed (and counted), so that its tree is replayed rather than the memory grown.
 */
#ifndef GALE_WINDOW_H
#define GALE_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

/* Set up t's window when its component has one (t->win; NULL otherwise). 0 or GALE_ENOMEM. */
int gale__window_init(gale_task_t *t);
/* Releases every tuple the window still holds (a stop) and frees it. */
void gale__window_destroy(gale_task_t *t);

/* An input of t arrives (t->current is it): in place of the plugin's execute. It is kept by the window, or settled
   (late, bad, over the bound) before this returns. */
void gale__window_execute(gale_task_t *t, gale_tuple_t *in);
/* Producer task `from` says that its tuples for t are at `watermark` or later (event time). */
void gale__window_watermark(gale_task_t *t, uint32_t from, int64_t watermark);
/* Processing time: when the next window of t is due, in the executor's clock (ns); UINT64_MAX: none. */
uint64_t gale__window_due_ns(gale_task_t *t);
/* Processing time: fires what the clock has closed. How many windows fired. */
size_t gale__window_clock(gale_task_t *t);
/* The input has ended (the bolt's finish is next): every window holding a tuple fires, and every tuple is acked. */
void gale__window_finish(gale_task_t *t);
/* Tuples the window holds now (not yet acked), for the drain's count of kept inputs. */
size_t gale__window_held(const gale_task_t *t);

/* Checkpoints (window_state.c). The window's part of the task's snapshot: its tuples and its clock, as entries
   of the runtime's own (a gale_kvstate_encode `more`; `task` is the gale_task_t). 0 or GALE_ENOMEM. */
struct gale_kvsnap;
int gale__window_snapshot(void *task, struct gale_kvsnap *out);
/* Before open: takes the window's entries out of the task's restored state into its window (those of a task whose
   component no longer has a window are dropped). 0, or GALE_ECORRUPT / GALE_ENOMEM with `why`. */
int gale__window_restore(gale_task_t *t, char *why, size_t cap);

/* A watermark as a control item's id (GALE_CONTROL_WATERMARK), order kept: int64 to uint64 and back. */
static inline uint64_t gale__watermark_to_id(int64_t w) { return (uint64_t)w ^ (1ull << 63); }
static inline int64_t gale__watermark_from_id(uint64_t id) { return (int64_t)(id ^ (1ull << 63)); }

#endif
