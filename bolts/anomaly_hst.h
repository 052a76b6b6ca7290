/*
 * anomaly_hst.h: streaming Half-Space Trees (Tan, Ting and Liu, "Fast Anomaly Detection for Streaming Data",
 * IJCAI 2011), for the anomaly bolt (anomaly.c); header-only, as a plugin's helpers are.
 *
 * A forest of `trees` complete binary trees of depth `depth`. Each internal node halves the work range of one
 * dimension, picked at random; the work ranges are random too, around the data's normalised [0, 1] (each
 * dimension's range from the first `window` points: the warm-up). Points are counted into each node on their
 * path: `l`, the latest window's mass, becomes `r`, the reference mass, every `window` points. A point's score is
 * the sum over the trees of r * 2^k at the first node on its path (depth k) whose reference mass is at most
 * size_limit (0.1 * window), or at its leaf: points in dense regions score high, points where the last window saw
 * little score low. Here it is turned around and normalised into [0, 1]: 1 - min(1, sum / (trees * window)),
 * so that 0 is usual and values near 1 are unlike the last window.
 *
 * Deterministic: the trees come from `seed` and the ranges, so a restored forest (its ranges, masses and counters,
 * hst_save) is the same forest.
 */
#ifndef GALE_ANOMALY_HST_H
#define GALE_ANOMALY_HST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HST_MAX_DIMS 16

typedef struct hst {
    size_t trees, depth, window, dims;
    uint64_t seed;
    size_t nodes;    /* per tree: 2^(depth+1) - 1 */
    uint8_t *dim;    /* [trees * nodes]: the split's dimension (internal nodes) */
    double *split;   /* [trees * nodes]: the split's value, in normalised units */
    uint32_t *r, *l; /* [trees * nodes]: reference and latest masses */
    /* Warm-up: the ranges seen so far; the trees are built when `seen` reaches the window. */
    double lo[HST_MAX_DIMS], hi[HST_MAX_DIMS];
    uint64_t seen; /* points so far */
    bool built, has_reference;
} hst_t;

static inline uint64_t hst_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline double hst_unit(uint64_t *s) { return (double)(hst_rand(s) >> 11) / 9007199254740992.0; }

static inline int hst_init(hst_t *h, size_t trees, size_t depth, size_t window, size_t dims, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    h->trees = trees, h->depth = depth, h->window = window, h->dims = dims, h->seed = seed ? seed : 1;
    h->nodes = ((size_t)1 << (depth + 1)) - 1;
    size_t n = trees * h->nodes;
    h->dim = calloc(n, 1);
    h->split = calloc(n, sizeof *h->split);
    h->r = calloc(n, sizeof *h->r);
    h->l = calloc(n, sizeof *h->l);
    for (size_t d = 0; d < dims; d++) h->lo[d] = INFINITY, h->hi[d] = -INFINITY;
    return h->dim && h->split && h->r && h->l ? 0 : -1;
}

static inline void hst_free(hst_t *h) { free(h->dim), free(h->split), free(h->r), free(h->l); }

static inline double hst_norm(const hst_t *h, size_t d, double x)
{
    double w = h->hi[d] - h->lo[d];
    return w > 0 ? (x - h->lo[d]) / w : 0.5;
}

/* The trees' splits, from the seed and the ranges (which only scale the data: the splits are normalised). */
static inline void hst_build(hst_t *h)
{
    uint64_t s = h->seed * 0x9e3779b97f4a7c15ull + 1;
    double mn[HST_MAX_DIMS], mx[HST_MAX_DIMS];
    double(*lo)[HST_MAX_DIMS] = malloc(h->nodes * sizeof *lo), (*hi)[HST_MAX_DIMS] = malloc(h->nodes * sizeof *hi);
    for (size_t t = 0; t < h->trees && lo && hi; t++) {
        for (size_t d = 0; d < h->dims; d++) {
            double q = hst_unit(&s), w = 2 * fmax(q, 1 - q);
            mn[d] = q - w, mx[d] = q + w;
        }
        memcpy(lo[0], mn, sizeof mn), memcpy(hi[0], mx, sizeof mx);
        size_t internal = ((size_t)1 << h->depth) - 1;
        for (size_t i = 0; i < internal; i++) { /* parents before children, as the layout is breadth first */
            size_t q = (size_t)(hst_rand(&s) % h->dims), at = t * h->nodes + i;
            double p = (lo[i][q] + hi[i][q]) / 2;
            h->dim[at] = (uint8_t)q, h->split[at] = p;
            memcpy(lo[2 * i + 1], lo[i], sizeof mn), memcpy(hi[2 * i + 1], hi[i], sizeof mx);
            memcpy(lo[2 * i + 2], lo[i], sizeof mn), memcpy(hi[2 * i + 2], hi[i], sizeof mx);
            hi[2 * i + 1][q] = p, lo[2 * i + 2][q] = p;
        }
    }
    free(lo), free(hi);
    h->built = true;
}

/*
 * Scores point x (dims values) against the reference window, then counts it into the latest one. *scored is false
 * during the warm-up (the first window sets the ranges, the second fills the first reference): the score is 0 then.
 */
static inline double hst_update(hst_t *h, const double *x, bool *scored)
{
    *scored = false;
    if (!h->built) {
        for (size_t d = 0; d < h->dims; d++) h->lo[d] = fmin(h->lo[d], x[d]), h->hi[d] = fmax(h->hi[d], x[d]);
        if (++h->seen >= h->window) hst_build(h);
        return 0;
    }
    double nx[HST_MAX_DIMS];
    for (size_t d = 0; d < h->dims; d++) nx[d] = hst_norm(h, d, x[d]);
    double sum = 0, limit = 0.1 * (double)h->window;
    size_t internal = ((size_t)1 << h->depth) - 1;
    for (size_t t = 0; t < h->trees; t++) {
        size_t i = 0, k = 0;
        bool counted = false;
        for (;;) {
            size_t at = t * h->nodes + i;
            if (!counted && (i >= internal || h->r[at] <= limit)) {
                sum += (double)h->r[at] * (double)((uint64_t)1 << k);
                counted = true;
            }
            h->l[at]++;
            if (i >= internal) break;
            i = nx[h->dim[at]] < h->split[at] ? 2 * i + 1 : 2 * i + 2;
            k++;
        }
    }
    double score = 0;
    if (h->has_reference) {
        double s = sum / ((double)h->trees * (double)h->window);
        score = 1 - (s < 1 ? s : 1);
        *scored = true;
    }
    if (++h->seen % h->window == 0) { /* the latest window becomes the reference */
        size_t n = h->trees * h->nodes;
        memcpy(h->r, h->l, n * sizeof *h->r);
        memset(h->l, 0, n * sizeof *h->l);
        h->has_reference = true;
    }
    return score;
}

/* The forest's state as bytes (for a checkpoint): its counters, ranges and masses. The caller frees *out. */
static inline int hst_save(const hst_t *h, char **out, size_t *len)
{
    size_t n = h->trees * h->nodes, head = 8 + 2 + 2 * HST_MAX_DIMS * sizeof(double);
    size_t total = head + 2 * n * sizeof(uint32_t);
    char *p = malloc(total);
    if (!p) return -1;
    memcpy(p, &h->seen, 8);
    p[8] = (char)h->built, p[9] = (char)h->has_reference;
    memcpy(p + 10, h->lo, sizeof h->lo);
    memcpy(p + 10 + sizeof h->lo, h->hi, sizeof h->hi);
    memcpy(p + head, h->r, n * sizeof *h->r);
    memcpy(p + head + n * sizeof *h->r, h->l, n * sizeof *h->l);
    *out = p, *len = total;
    return 0;
}

/* Back from hst_save's bytes, into a forest made with the same settings; -1 when they do not fit it. */
static inline int hst_restore(hst_t *h, const char *p, size_t len)
{
    size_t n = h->trees * h->nodes, head = 8 + 2 + 2 * HST_MAX_DIMS * sizeof(double);
    if (len != head + 2 * n * sizeof(uint32_t)) return -1;
    memcpy(&h->seen, p, 8);
    bool built = p[8], ref = p[9];
    memcpy(h->lo, p + 10, sizeof h->lo);
    memcpy(h->hi, p + 10 + sizeof h->lo, sizeof h->hi);
    memcpy(h->r, p + head, n * sizeof *h->r);
    memcpy(h->l, p + head + n * sizeof *h->r, n * sizeof *h->l);
    if (built) hst_build(h);
    h->has_reference = ref;
    return 0;
}

#endif
