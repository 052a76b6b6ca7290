/*
 * baseline.h: the hand-written single-threaded word count every benchmark is compared with: no framework, no
 * threads, no encoding; split on spaces and count in an open-addressing hash table, over the same sentences the
 * random_sentence spout emits (Storm's five, drawn at random).
 */
#ifndef GALE_BENCH_BASELINE_H
#define GALE_BENCH_BASELINE_H

#include <stdint.h>

/* Counts the words of `n_sentences` random sentences; returns words per second. *checksum gets a digest of the
   counts so that the work cannot be optimised away. */
double gale_baseline_wordcount(uint64_t n_sentences, uint64_t seed, uint64_t *checksum);

#endif
