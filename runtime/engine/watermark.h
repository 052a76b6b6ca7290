/*
 * watermark.h: event time's watermarks, from the tasks that feed an event-time window (Flink's periodic
 * watermarks). Such a task keeps the highest timestamp it emitted on each stream a window reads, and every
 * window.watermark_ms sends that minus the window's lag_ms to every task of the window: a control item behind the
 * tuples it emitted before, on the same lane or through the transport, as a checkpoint barrier travels. It goes to
 * every task of the window, those its grouping sent nothing to as well, so that a window task that a fields
 * grouping starves still sees time pass. The window takes the smallest of its feeders' watermarks (window.h).
 */
#ifndef GALE_WATERMARK_H
#define GALE_WATERMARK_H

#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* One event-time window that a stream of the task feeds. */
typedef struct gale_watermark_out {
    uint16_t stream;            /* of the task's component */
    uint16_t field;             /* the window's timestamp_field in that stream */
    int64_t lag;                /* the window's lag_ms */
    const gale_component_t *to; /* the windowed bolt */
    int64_t max_ts;             /* the highest timestamp emitted on the stream; INT64_MIN: none yet */
    int64_t sent;               /* the last watermark sent; INT64_MIN: none */
} gale_watermark_out_t;

typedef struct gale_watermarks {
    gale_watermark_out_t *outs;
    size_t n;
    uint64_t interval_ns; /* the shortest watermark_ms among the windows */
    uint64_t next_ns;     /* when the next ones are due */
} gale_watermarks_t;

/* t->wm_out, when t's component feeds an event-time window (NULL otherwise). 0 or GALE_ENOMEM. */
int gale__watermarks_init(gale_task_t *t);
void gale__watermarks_destroy(gale_task_t *t);

/* An emit of `d` on `stream`: its timestamps noted. Out of line, behind one test on the emit path. */
void gale__watermarks_note(gale_task_t *t, int stream, const gale_tuple_data_t *d);
static inline void gale__watermarks_emitted(gale_task_t *t, int stream, const gale_tuple_data_t *d)
{
    if (__builtin_expect(t->wm_out != NULL, 0)) gale__watermarks_note(t, stream, d);
}

/* When t's next watermarks are due (executor clock, ns); UINT64_MAX when it has none to send. */
uint64_t gale__watermarks_due_ns(const gale_task_t *t);
/* Sends t's watermarks that advanced, if they are due at `now_ns`. How many it sent. */
size_t gale__watermarks_send(gale_task_t *t, uint64_t now_ns);

#endif
