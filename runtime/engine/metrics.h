/*
 * metrics.h: per-task counters and a latency histogram. Each task writes only its own, on its own thread, so
 * nothing here is atomic; they are summed per component when read, after the executors have stopped (or, for live
 * reading, with the understanding that a figure may be a few tuples behind).
 */
#ifndef GALE_METRICS_H
#define GALE_METRICS_H

#include <stdint.h>

/* Latencies in nanoseconds, in buckets of about 9% width: 4 sub-buckets per power of two, up to 2^40 ns. */
#define GALE_HIST_BUCKETS (41 * 4)

typedef struct gale_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint32_t buckets[GALE_HIST_BUCKETS];
} gale_hist_t;

void gale_hist_add(gale_hist_t *h, uint64_t ns);
void gale_hist_merge(gale_hist_t *into, const gale_hist_t *from);
/* Samples at most `ns` (by whole buckets: those whose upper bound is at most ns), for cumulative histograms. */
uint64_t gale_hist_count_le(const gale_hist_t *h, uint64_t ns);
/* The value at quantile q (0..1), as the upper bound of its bucket; 0 for an empty histogram. */
uint64_t gale_hist_quantile(const gale_hist_t *h, double q);

/* The last error reported against a task (Storm UI's lastError): errors beyond a task's first ten are reported at
   powers of two, as the log says them, so under a flood this is the last one logged. */
#define GALE_LAST_ERROR_MAX 240
typedef struct gale_last_error {
    int64_t time_ms; /* wall clock, milliseconds since the epoch; 0: none */
    uint32_t task;
    char text[GALE_LAST_ERROR_MAX];
} gale_last_error_t;

/* Keeps in `into` the later of the two. */
void gale_last_error_keep(gale_last_error_t *into, const gale_last_error_t *from);

typedef struct gale_task_metrics {
    uint64_t emitted;
    uint64_t transferred; /* deliveries of what it emitted: one per receiving task (Storm UI's transferred) */
    uint64_t executed;
    uint64_t acked;    /* spouts: trees completed; bolts: inputs acked */
    uint64_t failed;   /* spouts: trees failed; bolts: inputs failed */
    uint64_t errors;   /* errors reported against the task */
    uint64_t pending;  /* spouts: tuple trees open now (a gauge, read when the figures are) */
    /* Of the task's executor, shared by the tasks on it: how full its fullest inbound ring is now (0 to 1), and
       how long its outboxes held more than the rings took, so that every spout waited (backpressure). A
       component's are its tasks' highest. */
    double queue_fill;
    uint64_t backpressure_ns;
    uint64_t restarts; /* worker and cluster mode: restarts of the worker the task runs on (a component: of the
                          workers its tasks run on), filled in by the supervisor, which sees them */
    gale_hist_t exec;  /* bolts: execute latency, sampled */
    gale_hist_t complete; /* spouts: complete latency */
    gale_hist_t e2e;      /* bolts: from the spout's emit to this execute, for sampled tuples (latency markers) */
    gale_hist_t process;  /* bolts: from the start of execute to the input's ack (Storm's process latency), sampled
                             with the execute latency; an input kept and acked later counts when it is acked */
    gale_last_error_t last_error; /* written under gale_task_t.error_seq: read it with gale__task_last_error */
} gale_task_metrics_t;

/* Monotonic clock in nanoseconds. */
uint64_t gale_now_ns(void);

#endif
