/*
 * daemon.h: the supervisor daemon (`gale supervisor`) as a test fixture: started on a free port in a temporary
 * folder of its own (which it may serve files from, with --allow-path), driven with `gale ctl`, stopped by SIGTERM
 * with a check that every worker it started is gone. Criterion asserts on failure.
 */
#ifndef GALE_TEST_DAEMON_H
#define GALE_TEST_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#include "testlib.h"

typedef struct tl_daemon {
    char *dir, *secret; /* its folder (out.txt, err.txt) and secret file, malloc'd */
    pid_t pid;
    int port;
    char addr[32];      /* 127.0.0.1:PORT */
    const char *ctl_tls; /* set by the test for a daemon started with --tls: the DIR/NAME its gale ctl uses */
} tl_daemon_t;

/* A secret file in `dir` holding `text`, with `mode`; malloc'd path. */
char *tl_daemon_secret(const char *dir, const char *text, int mode);
/* Starts a daemon with `slots` slots that may also serve files from `allow` (NULL: only its cwd and its own
   folder), and waits for its "listening" line. */
void tl_daemon_start(tl_daemon_t *d, const char *secret_text, int slots, const char *allow);
/* The same, with more options (`extra`, NULL-terminated; NULL: none), such as --zk. */
void tl_daemon_start_with(tl_daemon_t *d, const char *secret_text, int slots, const char *allow,
                          const char *const *extra);
/* SIGTERM, then its exit status; every worker it started must be gone too. */
int tl_daemon_stop(tl_daemon_t *d);
/* Its stderr so far, malloc'd (never NULL). */
char *tl_daemon_log(const tl_daemon_t *d);
/* Its stderr once it holds `what`, waited for up to `seconds` (malloc'd; the log as it is then if it never came). */
char *tl_daemon_log_with(const tl_daemon_t *d, const char *what, double seconds);
void tl_daemon_free(tl_daemon_t *d);
/* `gale ctl` with `secret` (a file); `args` ends with NULL. The run is bounded; a timeout fails the test. */
tl_result_t tl_ctl_with(const tl_daemon_t *d, const char *secret, const char *const *args);
#define TL_CTL(d, ...) tl_ctl_with((d), (d)->secret, (const char *const[]){__VA_ARGS__, NULL})
/* The HOST:PORT of each slot of topology `id` that `status` lists as listening, into addr[slot] (left as it is for
   a slot without one). */
void tl_daemon_addresses(const tl_daemon_t *d, const char *id, char addr[][32], int n);
/* Waits up to `seconds` until the sink output `out` has every word of `counts` at least as often: -1 then, else
   the first word short (tl_words_short), with *seen its count. */
int tl_words_arrive(const char *out, const long counts[10], double seconds, long *seen);
/* Hot swap's tests (split_upper emits the words in upper case): how many {"word": W} lines of `text` have a word of
   TL_VOCAB as it is (lower case), or in upper case. */
long tl_vocab_words(const char *text, bool upper_case);
/* tl_words_arrive, counting each word in either case. */
int tl_words_arrive_any_case(const char *out, const long counts[10], double seconds, long *seen);
/* Asserts that `r` succeeded (showing the daemon's log if not) and frees it. */
void tl_ctl_ok(const tl_daemon_t *d, tl_result_t r);

#endif
