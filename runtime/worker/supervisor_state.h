/*
 * supervisor_state.h: what the parts of the supervisor share (supervisor.c: the workers' lives, the drain and the
 * control lines; supervisor_swap.c: hot swaps one worker at a time). Not for other files: supervisor.h is the
 * interface.
 */
#ifndef GALE_SUPERVISOR_STATE_H
#define GALE_SUPERVISOR_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "control.h"
#include "drain.h"
#include "hmac.h"
#include "lines.h"
#include "supervisor.h"

#define ADDR_MAX GALE_CONTROL_ADDR_MAX

typedef struct sworker {
    gale_sup_t *sup;
    int index; /* the slot: the worker's index in the whole topology */
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t restart;
    bool running, started, have_status;
    char *line; /* GALE_CONTROL_LINE_MAX bytes for the lines it sends */
    gale_lines_t lines;
    int port;
    gale_worker_status_t st; /* its last status */
    char *stats;
    unsigned backoff_ms;
    int restarts;
    int64_t exit_status;
    int term_signal;
    uint64_t started_ms, heard_ms; /* when this life began; when it last said anything */
    int quick_crashes;             /* deaths in a row that came soon after the start */
    bool hung;                     /* killed for its silence */
    /* The resume positions of its replayable spouts, as it last told them: they outlive the process, and its next
       life resumes from them. */
    uint32_t *pos_tasks;
    uint64_t *pos_values;
    int n_pos;
    uint64_t replay_owed; /* trees of the last life that its next one must emit again from the positions */
    bool swap_done;       /* it took the plugin of the swap under way */
    /* Checkpoints (supervisor_ckpt.c): the checkpoint whose part it stored or failed; killed for a restart of
       every worker from the latest checkpoint; done with a recovery run (it committed the final checkpoint). */
    uint64_t ckpt_part;
    bool ckpt_killed, ckpt_recovered;
    /* Cluster mode's checkpoints: this life's number (made at its spawn), and what the coordinator was told of
       this slot (in ckpt_said_epoch: UP for ckpt_said_life, STOPPED). */
    uint64_t life;
    uint64_t ckpt_said_epoch, ckpt_said_life, ckpt_said_ms;
    bool ckpt_said_stopped;
} sworker_t;

/* A component's plugin as swaps left it: what a worker that starts is told. */
typedef struct sup_swapped {
    char *component, *path; /* owned */
} sup_swapped_t;

/* The hot swap under way (gale_sup_swap): forward, worker by worker, then back over those done if one refused. */
typedef struct sup_swap {
    bool active, back;
    char component[256];
    char *path, *prev; /* owned: the new plugin, and the one the component had ("-": the topology's own) */
    int at;            /* the local worker asked, whose answer is awaited; -1: none */
    uint64_t asked_ms;
    char why[1024]; /* why it is rolled back */
    void (*done)(void *arg, const char *why);
    void *arg;
} sup_swap_t;

typedef struct sup_ckpt sup_ckpt_t;

/* S_ACTIVE: the drain rule (drain.h) decides from the workers' summed status; then stopping, then ended. */
typedef enum { S_ACTIVE, S_STOPPING, S_ENDED } sstate_t;

struct gale_sup {
    const gale_topology_t *topo;
    gale_sup_events_t ev;
    uv_loop_t *loop;
    uv_timer_t tick;
    char *id, *exe, *file, *host, **sets;
    char *tls; /* DIR/NAME, or NULL: the workers' TLS (gale_assignment_t) */
    size_t n_sets;
    int threads;
    bool model;   /* `file` is a resolved model */
    sworker_t *w; /* the local slots */
    int n_local;
    int n;                  /* slots of the whole topology */
    bool complete;          /* every slot is here: this supervisor judges the end of the topology */
    char (*addr)[ADDR_MAX]; /* every slot's address; "" while unknown */
    int *slot_restarts;     /* [n]: the local slots' restarts, as the figures attribute them (metrics_merge.h) */
    bool have_peers;
    int open_handles;
    char secret[2 * GALE_NONCE_LEN + 1];
    sstate_t state;
    gale_drain_t drain;
    int *finish_order;      /* the bolt components in topological order */
    unsigned finish_target; /* the finish_seq each worker must reach */
    bool deactivated;       /* a stop was asked for: a restarted worker's spouts stay inactive */
    bool inactive;          /* the user deactivated the topology (gale_sup_set_active): until activated again */
    bool leased;            /* cluster mode: the workers take tuples until lease_ns only (control.h, lease) */
    uint64_t placement;     /* cluster mode: the placement its slots run under, told to peers; 0 */
    uint64_t lease_ns;      /* the last lease, CLOCK_MONOTONIC ns: what a worker that starts is told */
    uint64_t deadline_ms;   /* stopping: when what still runs is killed */
    uint64_t worker_timeout_ms;
    bool failed, incomplete;
    uint64_t stats_seq;     /* STATS lines heard: whoever publishes the figures sees that they changed */
    uint64_t lost_trees;    /* trees open in the spouts of workers that died */
    uint64_t resumed_trees; /* of those open when workers died, the ones their replayable spouts emit again */
    int spout_tasks;        /* of the whole topology: the most positions a worker can tell */
    sup_swap_t swap;
    sup_swapped_t *swapped;
    size_t n_swapped;
    sup_ckpt_t *ckpt;   /* the checkpoint coordinator (supervisor_ckpt.c); NULL: no checkpoints */
    bool final_pending; /* the drain said stop: first the final checkpoint */
    gale_drain_cmd_t final_stop;
};

/* Sends one control message (control.h) to a running worker. */
void gale__sup_say(sworker_t *w, const gale_control_msg_t *m);

/* supervisor_swap.c */
/* A worker answered a swap (SWAPPED), or died or hung while one waited for it (`why` then says so). */
void gale__sup_swap_answer(gale_sup_t *s, sworker_t *w, bool done, const char *why);
/* Every tick: a worker that does not answer in time counts as a refusal. */
void gale__sup_swap_tick(gale_sup_t *s);
/* Before a worker starts: the swaps done so far, so that a restarted worker runs what the others run. */
void gale__sup_swap_replay(gale_sup_t *s, sworker_t *w);
/* The topology stops: a swap under way answers `why` now. */
void gale__sup_swap_abort(gale_sup_t *s, const char *why);
void gale__sup_swap_free(gale_sup_t *s);

/* supervisor_ckpt.c */
/* With config.checkpoint_interval_ms: the backend opened (wiped when `fresh`), the latest record read. 0 (also
   without checkpoints), or a code with `why` (a backend that cannot be opened or read; a supervisor without
   every slot). */
int gale__sup_ckpt_open(gale_sup_t *s, bool fresh, const gale_sup_ckpt_link_t *link, char *why, size_t cap);
/* Every tick while active: timeouts, and a checkpoint started when one is due and every worker runs. */
void gale__sup_ckpt_tick(gale_sup_t *s, bool all_running, bool spouts_done);
/* A CHECKPOINTED line. */
void gale__sup_ckpt_part(gale_sup_t *s, sworker_t *w, const gale_control_msg_t *m);
/* A record is being written, or (cluster mode) the topology is restarting and not every worker has stopped yet:
   spawns wait, so that every worker restores the same checkpoint. */
bool gale__sup_ckpt_busy(const gale_sup_t *s);
/* A worker died while active (not one killed for a restart): with checkpoints, the one in flight is abandoned and
   every other worker killed, so that all start again from the latest complete checkpoint. True with checkpoints
   (the dead worker's open trees are then replayed by the restore, not owed). */
bool gale__sup_ckpt_died(gale_sup_t *s, sworker_t *dead);
/* A recovery run: worker w exited; true when that was its clean end (it committed its part: not restarted). */
bool gale__sup_ckpt_recovered(gale_sup_t *s, sworker_t *w, int64_t status, int signal);
bool gale__sup_ckpt_all_recovered(const gale_sup_t *s);
/* The drain said stop after the input ended: the final checkpoint. True while it is under way. */
bool gale__sup_ckpt_final(gale_sup_t *s);
/* Every worker has exited: the state wiped when the input was done and all ended cleanly; the backend stopped. */
void gale__sup_ckpt_end(gale_sup_t *s);
void gale__sup_ckpt_free(gale_sup_t *s);

#endif
