#include "metrics.h"

#include <time.h>

uint64_t gale_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bucket_of(uint64_t ns)
{
    if (ns < 4) return (int)ns;
    int e = 63 - __builtin_clzll(ns); /* 2^e <= ns < 2^(e+1) */
    int sub = (int)((ns >> (e - 2)) & 3);
    int b = e * 4 + sub - 4;
    return b >= GALE_HIST_BUCKETS ? GALE_HIST_BUCKETS - 1 : b;
}

static uint64_t bucket_upper(int b)
{
    if (b < 4) return (uint64_t)b;
    int e = (b + 4) / 4, sub = (b + 4) % 4;
    return ((uint64_t)(4 + sub + 1) << (e - 2)) - 1;
}

void gale_hist_add(gale_hist_t *h, uint64_t ns)
{
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns) h->max_ns = ns;
    h->buckets[bucket_of(ns)]++;
}

void gale_last_error_keep(gale_last_error_t *into, const gale_last_error_t *from)
{
    if (from->time_ms > into->time_ms) *into = *from;
}

void gale_hist_merge(gale_hist_t *into, const gale_hist_t *from)
{
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
    for (int i = 0; i < GALE_HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}

uint64_t gale_hist_count_le(const gale_hist_t *h, uint64_t ns)
{
    uint64_t n = 0;
    for (int i = 0; i < GALE_HIST_BUCKETS && bucket_upper(i) <= ns; i++) n += h->buckets[i];
    return n;
}

uint64_t gale_hist_quantile(const gale_hist_t *h, double q)
{
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count) rank = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < GALE_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t up = bucket_upper(i);
            return up > h->max_ns ? h->max_ns : up;
        }
    }
    return h->max_ns;
}
