/*
 * counts_check.h: the input of the exactly-once word count tests and the checks of its output: a file of lines of eight
 * words w0..w1999 (a fixed pseudo-random sequence) with each word's count, and the sink's {"word": "wN", "count": C}
 * lines judged against them; and what a checkpointed run's backend holds (the file backend's folder, or Redis).
 */
#ifndef GALE_TEST_COUNTS_CHECK_H
#define GALE_TEST_COUNTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_COUNTS_VOCAB 2000

/* `lines` lines into `path`, and each word's count into counts. Criterion asserts on failure. */
void tl_counts_make(const char *path, long lines, long counts[TL_COUNTS_VOCAB]);

/* Running counts (count.mode = running): the text holds every (word, k) for k = 1 .. the word's count, each exactly
   once, as a run never killed writes. 0, or -1 with the first fault in `fault`. `*lines` gets the lines read. */
int tl_counts_check_running(const char *text, const long counts[TL_COUNTS_VOCAB], long *lines, char *fault, size_t cap);

/* The latest complete checkpoint's id of topology `topo`, 0 when none: in the file backend's folder `state`, or in
   the Redis server at 127.0.0.1:`redis_port` when that is not 0. */
uint64_t tl_state_latest(const char *state, int redis_port, const char *topo);
/* Whether a checkpoint above the latest is being written (its snapshots are there, its record not yet). */
bool tl_state_writing(const char *state, int redis_port, const char *topo);

/* A checkpointed `gale run --quiet CFG` (run in `dir`, its file backend in `state`, topology `topo`) SIGKILLed
   twice, each time once two more checkpoints are complete, then run to its end; returns the latest checkpoint
   the last run started from. Asserts that each killed run was still running (the input must last long enough). */
uint64_t tl_run_killed_twice(const char *cfg, const char *dir, const char *state, const char *topo);

#endif
