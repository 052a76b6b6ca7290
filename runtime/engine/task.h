/*
 * task.h: one running instance of a component. Its gale_ctx_t is what the plugin sees; everything else here is
 * touched only by the executor thread that owns the task, so none of it needs atomics.
 */
#ifndef GALE_TASK_H
#define GALE_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "acker.h"
#include "buf.h"
#include "host.h"
#include "kvstate.h"
#include "grouping.h"
#include "metrics.h"
#include "tuple.h"

/* A task's published position when it has none (it is not replayable, or has not emitted yet). */
#define GALE_NO_POSITION UINT64_MAX

/* One spout tuple in this many carries a latency marker (a power of two). */
#define GALE_MARKER_EVERY 64u

typedef struct gale_runtime gale_runtime_t;
typedef struct gale_executor gale_executor_t;

typedef struct gale_u64vec {
    uint64_t *v;
    size_t n, cap;
} gale_u64vec_t;

/* A spout's open tuple tree (acking on): what it needs to ack, fail, time out or replay it. */
typedef struct gale_pending {
    uint64_t msg_id;
    uint64_t start_ns;
    gale_tuple_data_t *data; /* a reference to the emitted values, when they may be replayed or journaled */
    uint32_t attempts;       /* emits of this message id so far, this one included */
} gale_pending_t;

/* A failed tree waiting for its backoff to pass before it is emitted again. */
typedef struct gale_retry {
    uint64_t msg_id;
    uint64_t due_ns;
    gale_tuple_data_t *data;
    uint32_t attempts;
} gale_retry_t;

/* Checkpoint barriers arriving at a bolt task (barrier.h): Flink's alignment. */
typedef struct gale_align {
    uint64_t id;        /* the checkpoint whose barriers are arriving; 0: none */
    uint64_t last;      /* the last one taken or given up here: its late barriers are ignored */
    uint32_t n_inputs;  /* upstream tasks: each sends one barrier per checkpoint */
    uint32_t n_arrived; /* of which sent it: their later tuples wait in `held` */
    uint64_t *arrived;  /* a bit per task id */
    void **held;        /* ring entries (deliveries, barriers) from those, in arrival order */
    size_t n_held, cap_held;
} gale_align_t;

typedef struct gale_task {
    gale_ctx_base_t base; /* must stay first: the plugin's gale_ctx_t */
    gale_runtime_t *rt;
    gale_executor_t *exec;
    const gale_component_t *comp;
    const gale_plugin_t *desc;
    bool basic;     /* GALE_BOLT_BASIC */
    bool opened;    /* open/prepare succeeded, so close/cleanup is owed */
    bool active;    /* spouts: next_tuple may be called */
    bool done;      /* spouts: said gale_done */
    int default_stream;           /* index of "default" in comp->streams, or -1 */
    /* What desc declares when a hot swap brought a strict superset of comp's streams (borrowed; NULL: comp's).
       Only an emit that comp's streams refuse looks here (emit.c). */
    const gale_stream_t *declared;
    size_t n_declared;
    gale_sub_state_t **sub_state; /* [stream][subscription] */
    gale_tuple_t *current;        /* the input being executed */
    gale_tuple_t **kept;          /* inputs kept past execute, not yet acked or failed */
    size_t n_kept, cap_kept;
    gale_u64vec_t acks_due;       /* spouts: message ids to ack once next_tuple returns (nothing tracks them) */
    bool replay;                  /* spouts: the runtime replays failed trees */
    bool keep_values;             /* spouts: pending trees hold their values (replay or journal) */
    gale_u64map_t pending;        /* spouts, acking on: root id -> gale_pending_t */
    gale_retry_t *retries;        /* spouts: failed trees waiting to be emitted again */
    size_t n_retries, cap_retries;
    /* Spouts that called gale_replayable (acking on): where a restart of the task resumes (spout.c). */
    bool resumable;
    bool resuming;   /* the driver gave it a position before open (gale__runtime_resume) */
    uint64_t resume_from;
    uint64_t next_msg_id;          /* the smallest message id its next first emit may have */
    atomic_uint_fast64_t position; /* published every timeout scan for the driver; GALE_NO_POSITION: none */
    gale_acker_t *acker;          /* acker tasks only; they have no plugin */
    void *override_arg;           /* spouts run with gale_runtime_opts_t.spout_override: its argument */
    uint64_t rng;                 /* gale_rand64's state (acker.h): tree and edge ids */
    uint32_t sample;              /* execute-latency sampling counter */
    const struct gale_tuple *sample_in; /* the sampled input not acked yet (its process latency is due), or NULL */
    uint64_t sample_start_ns;           /* when its execute began */
    uint64_t tick_ns;             /* bolts: the interval of tick tuples (component tick_s); 0: none */
    uint64_t next_tick_ns;
    uint32_t marker;              /* spouts: latency-marker sampling counter */
    /* Built-in components with work of their own (shell.c): `service` runs on the executor thread in the loop turn
       after gale__task_want_service() was called, from any thread; returns how much it did (0: nothing, which
       does not count as activity for the drain rule). */
    size_t (*service)(struct gale_task *t);
    atomic_bool service_wanted;
    char who[96];                 /* "component#task" for log lines */
    /* A seqlock over m.last_error, odd while it is written: the control thread reads it while the task runs. */
    atomic_uint error_seq;
    gale_task_metrics_t m;
    /* The plugin's own metrics (plugin_metrics.h): NULL until it registers one, then published with release. */
    struct gale_metric_set *metrics;
    gale_kvstate_t kv; /* the task's key-value state (kvstate.h) */
    gale_align_t align;
    struct gale_window_run *win;    /* windowed bolts: the window (window.h); NULL: none */
    const gale_window_t *firing;    /* while execute_window runs: the window, whose tuples its emits hang off */
    uint64_t win_due_ns;            /* processing time: when its next window is due; UINT64_MAX: none */
    bool win_clock;                 /* its window is one of processing time */
    struct gale_watermarks *wm_out; /* tasks feeding an event-time window: their watermarks (watermark.h) */
    gale_buf_t json;                /* from_json's last value (from_json.h) */
    uint64_t bad_data; /* records rejected and inputs failed with a reason (emit.c): the log's rate limit */
} gale_task_t;

static inline gale_task_t *gale__task(gale_ctx_t *ctx) { return (gale_task_t *)ctx; }

/* An input acked: when it is the sampled one, its process latency (execute's start to the ack). One compare when
   it is not. */
static inline void gale__task_acked(gale_task_t *t, const struct gale_tuple *in)
{
    if (in != t->sample_in) return;
    gale_hist_add(&t->m.process, gale_now_ns() - t->sample_start_ns);
    t->sample_in = NULL;
}

/* Logs an error against the task, rate-limited so that a bolt failing every tuple cannot flood the log. */
void gale__task_error(gale_task_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* On t's executor: runs t->desc's open (a spout) or prepare (a bolt) in the open phase; 0 (t opened and in the run
   phase) or its code (t closed). What else a start or a swap does around it is theirs. */
int gale__task_open_plugin(gale_task_t *t);
/* On t's executor: deactivates opened task t (an active spout), then runs close or cleanup in the closed phase. */
void gale__task_close_plugin(gale_task_t *t);
/* Hot swap, on t's executor between two tuples. Closes opened task t: a bolt fails the inputs it kept (their trees
   replay) and runs cleanup; a spout is deactivated (when active) and closed, and its open trees stay with the task
   (their acks and fails go to the next plugin, their replays are the runtime's). */
void gale__task_close_for_swap(gale_task_t *t);
/* Opens closed task t on `desc` (borrowed: it must outlive the task), with a fresh state: prepare, or open (a spout
   that calls gale_replayable resumes where the last plugin stopped emitting) and activate when the task is active.
   0, or the open's code (the task stays closed). */
int gale__task_open_for_swap(gale_task_t *t, const gale_plugin_t *desc);

/* Asks for t->service to run on t's executor soon; callable from any thread, cheap when repeated. */
void gale__task_want_service(gale_task_t *t);

int gale__u64vec_push(gale_u64vec_t *v, uint64_t x);

/* A consistent copy of t's last error, from any thread. */
void gale__task_last_error(const gale_task_t *t, gale_last_error_t *out);

#endif
