/*
 * window_run.h: a task's window as window.c runs it and window_state.c snapshots and restores it; for those two.
 */
#ifndef GALE_WINDOW_RUN_H
#define GALE_WINDOW_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin_metrics.h"
#include "task.h"

#define NO_END INT64_MAX

typedef enum { BY_COUNT, BY_CLOCK, BY_EVENT } win_time_t;

/* One input of the window: where its tuples come from, and where they hold their timestamp (event time). */
typedef struct win_input {
    const gale_component_t *src;
    uint16_t stream;
    uint16_t field;
    const gale_input_t *in; /* the subscription (its grouping gives a tuple's key group, window_state.c) */
} win_input_t;

typedef struct gale_window_run {
    win_time_t time;
    bool session;
    int64_t len, slide, gap;
    win_input_t *inputs;
    size_t n_inputs;
    int late_stream; /* index into the component's streams; -1: late tuples are dropped */
    /* The tuples held, in window order: q[head, end) with their times in ts. */
    gale_tuple_t **q;
    int64_t *ts;
    size_t head, end, cap;
    size_t acked;      /* q[head, acked) left every window: acked, shown as expired at the next fire, then released */
    size_t chain;      /* sessions: q[acked, chain] is known to be one run of the first open session */
    int64_t next_end;  /* tumbling, sliding: the end of the next window to fire (NO_END: none holds a tuple) */
    int64_t fired_end; /* the end of the last window fired: tuples below it were in a window before */
    int64_t wm;        /* the watermark: no input below it is still to come */
    uint64_t arrivals; /* count: inputs numbered so far */
    int64_t clock_ms;  /* processing time: the latest clock reading, never going back */
    /* Event time: the watermark of each task feeding the window (slot[task id] indexes in_wm; -1: none). */
    int32_t *slot;
    int64_t *in_wm;
    uint32_t n_producers, max_task;
    size_t held_bytes, max_bytes;
    gale_metric_t *m_late, *m_fired, *m_full;
} gale_window_run_t;

/* The end of the first tumbling or sliding window holding time `ts` (window.c). */
int64_t gale__window_first_end(const gale_window_run_t *w, int64_t ts);
/* What holding `in` costs the window's bound (window.c). */
size_t gale__window_cost(const gale_tuple_t *in);
/* Room for `n` more entries after q[end]: 0 or GALE_ENOMEM (the window unchanged). */
int gale__window_reserve(gale_window_run_t *w, size_t n);
/* The window's input that `d` came by, or NULL. */
const win_input_t *gale__window_input_of(const gale_window_run_t *w, const gale_tuple_data_t *d);

#endif
