#include "baseline.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const SENTENCES[] = {"the cow jumped over the moon", "an apple a day keeps the doctor away",
                                        "four score and seven years ago", "snow white and the seven dwarfs",
                                        "i am at two with nature"};

typedef struct slot {
    uint64_t hash;
    const char *word;
    uint32_t len;
    uint64_t count;
} slot_t;

#define TABLE 1024 /* a power of two, far above the vocabulary: probes stay short */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void count_word(slot_t *table, const char *w, uint32_t len, uint64_t h)
{
    for (size_t i = h & (TABLE - 1);; i = (i + 1) & (TABLE - 1)) {
        slot_t *s = &table[i];
        if (s->hash == h && s->len == len && memcmp(s->word, w, len) == 0) {
            s->count++;
            return;
        }
        if (!s->word) {
            *s = (slot_t){h, w, len, 1};
            return;
        }
    }
}

double gale_baseline_wordcount(uint64_t n_sentences, uint64_t seed, uint64_t *checksum)
{
    /* The sentences are chosen before the clock starts, as the spout's choice is not the baseline's work. */
    const char **input = malloc(n_sentences * sizeof *input);
    uint64_t x = seed | 1;
    for (uint64_t i = 0; i < n_sentences; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        input[i] = SENTENCES[x % 5];
    }
    slot_t *table = calloc(TABLE, sizeof *table);
    uint64_t words = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < n_sentences; i++) {
        const char *p = input[i];
        while (*p) {
            while (*p == ' ') p++;
            const char *start = p;
            uint64_t h = 1469598103934665603ull; /* FNV-1a, computed while scanning the word */
            while (*p && *p != ' ') h = (h ^ (unsigned char)*p++) * 1099511628211ull;
            if (p > start) {
                count_word(table, start, (uint32_t)(p - start), h);
                words++;
            }
        }
    }
    double secs = now_s() - t0;
    uint64_t sum = 0;
    for (int i = 0; i < TABLE; i++) sum = sum * 31 + table[i].count;
    *checksum = sum;
    free(table);
    free(input);
    return (double)words / secs;
}
