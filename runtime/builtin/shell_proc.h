/*
 * shell_proc.h: the child process of a shell component (shell.c), and the framing of the multilang protocol on its
 * pipes.
 *
 * The child's stdin is written by the task's executor thread only, buffered and flushed once per loop turn. A
 * reader thread of our own reads its stdout and stderr: it cuts stdout into messages (JSON documents each followed
 * by a line "end", as Storm frames them; or, with the MessagePack serializer, a 4-byte big-endian length and one
 * MessagePack map), turns each into MessagePack, queues it for the executor and wakes it. stderr is kept as a tail
 * for error reports. The same thread is the watchdog: a child that owes an answer and has written nothing for the
 * heartbeat timeout is killed.
 *
 * What bounds memory: one message is at most `max_message` bytes (a longer one, or an endless line, is malformed
 * output and kills the child); the queue holds at most GALE_CHILD_QUEUE_MAX bytes, after which the reader stops
 * reading until the executor catches up (the child then blocks on its own writes, and the watchdog judges it).
 */
#ifndef GALE_SHELL_PROC_H
#define GALE_SHELL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GALE_CHILD_QUEUE_MAX (64u << 20)

typedef struct gale_child gale_child_t;

/* One message from the child, as a MessagePack map. Owned by whoever took it; free with free(). */
typedef struct gale_child_msg {
    struct gale_child_msg *next;
    size_t len;
    char mp[];
} gale_child_msg_t;

typedef struct gale_child_opts {
    const char *const *argv;    /* NULL-terminated; argv[0] is looked up in PATH */
    const char *cwd;            /* NULL: ours */
    bool msgpack;               /* the MessagePack framing instead of JSON + "end" */
    size_t max_message;         /* bytes */
    double heartbeat_timeout_s;
    void (*wake)(void *arg);    /* called from the reader thread: a message came, the child ended, or time passed */
    void *wake_arg;
} gale_child_opts_t;

/* Starts the child. 0 and *out, or a negative code with the reason in `why`. */
int gale_child_start(const gale_child_opts_t *o, gale_child_t **out, char *why, size_t why_cap);

/* Queues one message (a MessagePack map, or with `raw` any MessagePack value such as the array of task ids) for the
   child, as the serializer frames it. GALE_EIO once the child has ended. */
int gale_child_send(gale_child_t *c, const char *mp, size_t len);
/* Writes what is queued. Blocks while the child does not read (the watchdog ends that). 0 or GALE_EIO. */
int gale_child_flush(gale_child_t *c);

/* The messages that have come, oldest first (NULL: none). Never blocks. */
gale_child_msg_t *gale_child_take(gale_child_t *c);
/* Waits until a message comes or the child ends, at most `timeout_ns`. Then as gale_child_take. */
gale_child_msg_t *gale_child_wait(gale_child_t *c, uint64_t timeout_ns);

/* The child owes an answer (a heartbeat, a spout command) from now on, or no longer. The watchdog kills a child
   that owes one and has written nothing for the heartbeat timeout. */
void gale_child_expect(gale_child_t *c, bool owed);
/* How long a child that has said nothing yet may take to answer what it owes (the handshake): at least this, or
   the heartbeat timeout when that is longer. */
#define GALE_CHILD_START_NS 20000000000ull

/* Whether the child has ended; `why` gets how ("exited with status 1", "killed by signal 9", "no answer for 5 s",
   "malformed output: ...") and what its stderr last said. */
bool gale_child_ended(gale_child_t *c, char *why, size_t cap);
/* Says why the child is being given up on (shown by gale_child_ended) and kills it. */
void gale_child_abandon(gale_child_t *c, const char *why);

/* Closes its stdin, gives it a moment to exit, kills it, joins the reader, frees everything. NULL is a no-op. */
void gale_child_stop(gale_child_t *c);

#endif
