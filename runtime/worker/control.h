/*
 * control.h: the protocol between a supervisor and its `gale worker` processes, formatted and parsed here only.
 *
 * A worker is started as
 *     gale worker --index I --workers N --listen HOST [--placement V] [--threads T] [--set C.K=V]... FILE
 * (--placement: cluster mode's, the version of the placement under which its slot was placed here).
 * with a pipe on file descriptor GALE_CONTROL_FD (3). Over it, one line per message, each a command word and its
 * arguments separated by single spaces:
 *   supervisor -> worker
 *     secret VERSION HEX     always first; the worker reads it byte by byte before anything else
 *     peers ADDR...          every worker's HOST:PORT[@PLACEMENT] by index ("" while unknown is sent as
 *                            "-"); PLACEMENT, in cluster mode, is the version of the placement its slot runs
 *                            under: the worker refuses that peer's connections of earlier ones (transport.h)
 *     resume TASK:POS...     before start, to a worker started again: where its replayable spouts resume
 *     active 0|1             the user's deactivation and activation (`gale deactivate`): the spouts stop being
 *                            called and start again; before start too, to a worker started while inactive
 *     lease NS               cluster mode's fence: the worker takes tuples until NS on CLOCK_MONOTONIC (the
 *                            same host's clock) and no longer, unless renewed; before start too. Never sent
 *                            outside cluster mode: a worker without a lease is not fenced
 *     swap COMPONENT PATH    hot swap: COMPONENT's tasks reopened on the plugin at PATH ("-": the
 *                            topology's own), checked first (same kind, same streams and fields or a superset); before start too
 *     checkpoint ID          checkpoints (checkpoint.h): the spouts here start checkpoint ID (barriers, snapshots)
 *     commit ID | abort ID   checkpoint ID is complete everywhere (the commit hooks run) or was given up
 *     start | deactivate | finish COMPONENT | stop
 *                            deactivate is the stop's, for good: the drain before the bolts finish
 *   worker -> supervisor
 *     port VERSION P         first, once it listens
 *     status KEY=VALUE...    every few milliseconds (see gale_worker_status_t; unknown keys are ignored)
 *     positions TASK:POS...  the resume positions of its replayable spouts (gale_replayable), when they moved
 *     swapped 1 COMPONENT | swapped 0 COMPONENT WHY
 *                            the answer to a swap: done, or refused (nothing changed) and why
 *     checkpointed ID 1 BYTES | checkpointed ID 0 WHY
 *                            its part of checkpoint ID: every task here stored its snapshot (BYTES together), or
 *                            one failed and why
 *     stats JSON             its metrics as `gale run --stats` writes them, on one line: every
 *                            config.metrics_interval_s while it runs, and once more at the end
 * VERSION is GALE_CONTROL_VERSION: a peer that speaks another one is refused with both versions in the message, so
 * that a supervisor and a worker from different builds never misread each other.
 */
#ifndef GALE_CONTROL_H
#define GALE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_CONTROL_VERSION 6
#define GALE_CONTROL_FD 3
/* The longest line either side accepts; the metrics of a large topology are the longest. */
#define GALE_CONTROL_LINE_MAX (1u << 20)
/* The longest HOST:PORT@PLACEMENT of a worker (a peers line carries one per worker). */
#define GALE_CONTROL_ADDR_MAX 104

/* What a worker tells its supervisor about its run, every few milliseconds. */
typedef struct gale_worker_status {
    bool idle;           /* its executors and I/O lane are idle with nothing queued */
    bool failed;         /* a task failed to open */
    bool finish_acked;   /* every executor ran the last finish */
    uint64_t epochs;     /* loop turns that did something */
    uint64_t pushed, popped; /* ring entries */
    uint64_t open_trees, retrying, kept;
    uint64_t replayable; /* of open_trees, those in spouts with a resume position */
    uint64_t rewinding;  /* of open_trees, those in spouts whose source rewinds by itself (GALE_SPOUT_REWINDS) */
    uint64_t sent, recv; /* records to and from other workers */
    unsigned spouts_done, spout_tasks, finish_seq;
} gale_worker_status_t;

typedef enum gale_control_kind {
    GALE_CTL_UNKNOWN = 0,
    GALE_CTL_SECRET,
    GALE_CTL_PEERS,
    GALE_CTL_START,
    GALE_CTL_DEACTIVATE,
    GALE_CTL_FINISH,
    GALE_CTL_STOP,
    GALE_CTL_PORT,
    GALE_CTL_STATUS,
    GALE_CTL_STATS,
    GALE_CTL_POSITIONS,
    GALE_CTL_RESUME,
    GALE_CTL_ACTIVE,
    GALE_CTL_LEASE,
    GALE_CTL_SWAP,
    GALE_CTL_SWAPPED,
    GALE_CTL_CHECKPOINT,
    GALE_CTL_COMMIT,
    GALE_CTL_ABORT,
    GALE_CTL_CHECKPOINTED,
} gale_control_kind_t;

typedef struct gale_control_msg {
    gale_control_kind_t kind;
    int version;              /* SECRET, PORT: the sender's protocol version */
    int number;               /* PORT: the port; FINISH: the component index; ACTIVE: 1 active, 0 inactive;
                                 SWAPPED, CHECKPOINTED: 1 done, 0 refused or failed */
    const char *text;         /* SECRET: the hex secret; STATS: the JSON; SWAP: "COMPONENT PATH"; SWAPPED:
                                 "COMPONENT" or "COMPONENT WHY"; CHECKPOINTED 0: why; PEERS, POSITIONS, RESUME, parsed: the arguments;
                                 borrowed (from the caller, or the line) */
    const char *const *peers; /* PEERS: n_peers addresses (formatting only; parsing uses gale_control_next_peer) */
    int n_peers;
    /* POSITIONS, RESUME: n_positions task ids and their positions (formatting only; parsing checks every pair and
       gale_control_next_position reads them) */
    const uint32_t *tasks;
    const uint64_t *positions;
    int n_positions;
    uint64_t until_ns;           /* LEASE */
    uint64_t id;                 /* CHECKPOINT, COMMIT, ABORT, CHECKPOINTED: the checkpoint */
    uint64_t bytes;              /* CHECKPOINTED 1: what the worker's snapshots came to */
    gale_worker_status_t status; /* STATUS */
} gale_control_msg_t;

/* Formats `m` as one line, '\n' included, into buf (cap bytes, NUL-terminated). Its length, or GALE_ERANGE when it
   does not fit (nothing useful is in buf then), GALE_EINVAL for a message that cannot be said (a peer address with
   a space). */
int gale_control_format(char *buf, size_t cap, const gale_control_msg_t *m);

/*
 * Parses one line (without its '\n'), in place: `line` is modified and out->text points into it. 0 and *out;
 * GALE_ESYNTAX for a malformed line (a missing or bad argument, a status without one of its keys), GALE_EABI for
 * SECRET or PORT of another version (out->version says which), GALE_ENOTSUP for an unknown command word. `why`
 * (may be NULL) gets a sentence for the log.
 */
int gale_control_parse(char *line, gale_control_msg_t *out, char *why, size_t why_cap);

/* PEERS: the next "HOST:PORT[@PLACEMENT]" of a parsed line, split at its last colon (host written NUL-terminated
   into `host`, port 0 for "-", placement 0 when not given), from *pos on. 1 and the values, 0 at the end,
   GALE_ESYNTAX for a malformed address. */
int gale_control_next_peer(const char *peers, size_t *pos, char *host, size_t host_cap, int *port, uint64_t *placement);

/* POSITIONS, RESUME: the next "TASK:POS" of a parsed line's text from *pos on. 1 and the values, 0 at the end,
   GALE_ESYNTAX for a malformed pair (gale_control_parse has checked them all, so that only a text that was not
   parsed meets it). */
int gale_control_next_position(const char *text, size_t *pos, uint32_t *task, uint64_t *position);

/* The `gale worker` command line. */
typedef struct gale_worker_args {
    int index, workers;
    const char *listen;  /* the address to listen on */
    int threads;         /* 0: not given */
    uint64_t placement;  /* 0: not given (outside cluster mode) */
    bool model;          /* FILE is a resolved model (topology_codec.h), as cluster mode ships it, not a file to read */
    const char *tls;     /* --tls DIR/NAME: TLS between the workers (tls.h); NULL: in clear */
} gale_worker_args_t;

/* Fills argv (cap entries) with exe "worker" and the options, then --set SETS[i]..., then FILE, then NULL. The
   strings are borrowed, except the numbers, written into `numbers`. The count, or GALE_ERANGE. */
int gale_control_worker_argv(const char *exe, const gale_worker_args_t *a, const char *const *sets, size_t n_sets,
                             const char *file, char numbers[4][24], const char **argv, size_t cap);

/* Takes the worker's own options (--index, --workers, --listen, --placement, --model, --tls) out of argv[1..argc): they go into *out, the rest
   (argv[0] first) into `rest` (argc + 1 entries, NULL-terminated). 0, or GALE_EINVAL with `why` filled when an
   option is missing, repeated or out of range. */
int gale_control_worker_args_parse(int argc, char **argv, gale_worker_args_t *out, char **rest, int *n_rest,
                                   char *why, size_t why_cap);

/* The worker's side of the first line: reads "secret VERSION HEX" from `fd` byte by byte, so that nothing after it
   is taken from the pipe. 0 and the secret in out (cap bytes); GALE_EIO when the pipe ends, GALE_ESYNTAX or
   GALE_EABI as gale_control_parse, with `why`. */
int gale_control_read_secret(int fd, char *out, size_t cap, char *why, size_t why_cap);

#endif
