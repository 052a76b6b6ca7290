/*
 * proc.h: child processes that a command starts and stops by their pid (`gale dev-cluster`'s ZooKeeper, nimbus and
 * supervisors; the tests' ZooKeeper). Each child runs in a process group of its own, so that a terminal's Ctrl-C
 * reaches only the process that started it, which then stops its children in the order it chooses; and each is sent
 * a signal of the starter's choice when the starter ends, however it ends, so that none outlives it.
 */
#ifndef GALE_PROC_H
#define GALE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "diag.h"

typedef struct gale_proc_opts {
    const char *const *argv; /* NULL-terminated; argv[0] is a path (borrowed) */
    const char *const *env;  /* NULL, or NULL-terminated "NAME=VALUE" set and "NAME" unset in the child (borrowed) */
    const char *log;         /* the child's stdout and stderr are appended to this file; its stdin is /dev/null */
    int death_signal;        /* sent to the child when this process ends (PR_SET_PDEATHSIG); 0: none */
} gale_proc_opts_t;

/* Starts a child. 0 and *pid, or a negative code with nothing started (`log` cannot be opened: GALE_EIO, with the
   path and the reason in `d`). A program that cannot be executed is reported in the log, and the child exits 127.
   Call it from the thread that stays for the children's lifetime: the death signal follows the thread that forked. */
int gale_proc_spawn(const gale_proc_opts_t *o, pid_t *pid, gale_diag_t *d);

/* Whether `pid` (a child) has ended, reaping it: 1 with *status (as waitpid gives it), 0 when it runs, or a negative
   code (not a child of this process). */
int gale_proc_ended(pid_t pid, int *status);

/* Stops a child: SIGTERM, then SIGKILL when it has not ended within `timeout_ms`; waits for it. Returns its status
   (as waitpid gives it) and sets *killed when SIGKILL was needed (may be NULL); -1 when it was not a child. */
int gale_proc_stop(pid_t pid, int timeout_ms, bool *killed);

/* How a child ended, for people: "exited with status 1", "was killed by signal 9 (Killed)". */
void gale_proc_describe(int status, char *buf, size_t cap);

/* The last `lines` lines of the file `path` (at most `cap` - 1 bytes of them) into buf: "" when it cannot be read.
   For an error that points at a child's log. */
void gale_proc_log_tail(const char *path, int lines, char *buf, size_t cap);

/* A TCP port of 127.0.0.1 that nothing is bound to now (the kernel's choice), or 0. A server started on it may still
   lose a race for it. */
int gale_proc_free_port(void);
/* Whether 127.0.0.1:`port` can be bound now (nothing listens there). */
bool gale_proc_port_free(int port);

/* The milliseconds of the monotonic clock. */
long long gale_proc_now_ms(void);
/* Sleeps `ms` milliseconds, or less when a signal comes. */
void gale_proc_sleep_ms(long ms);

#endif
