/*
 * windows.h: Storm UI's windows over a running topology's figures: the last 10 minutes, 3 hours and 1 day, beside
 * all time. Each window keeps a ring of snapshots of every task's counts, one per sixtieth of the window (10 s,
 * 3 min, 24 min), so that the figures over a window are those of now minus the oldest snapshot still inside it: a
 * window's figures cover between 59/60 of it and all of it (all of the run while the run is shorter). The latency
 * histograms are kept as count and sum, enough for the means Storm UI shows per window; quantiles stay all-time.
 * Memory: about 15 KB per task. Everything runs on the owner's loop.
 */
#ifndef GALE_WINDOWS_H
#define GALE_WINDOWS_H

#include <stdint.h>

#include "status.h"

enum { GALE_WINDOW_10M, GALE_WINDOW_3H, GALE_WINDOW_1D, GALE_WINDOWS };

/* Storm's names of the windows: "600", "10800", "86400" (and ":all-time", not one of these), and how Storm UI
   writes them ("10m 0s", "3h 0m 0s", "1d 0h 0m 0s"). */
extern const char *const GALE_WINDOW_ID[GALE_WINDOWS];
extern const char *const GALE_WINDOW_PRETTY[GALE_WINDOWS];
extern const uint64_t GALE_WINDOW_MS[GALE_WINDOWS];

typedef struct gale_windows gale_windows_t;

/* Windows for a status record of `n_tasks` tasks (every component's, in the record's order). NULL when out of
   memory; free with gale_windows_free. */
gale_windows_t *gale_windows_new(size_t n_tasks);
void gale_windows_free(gale_windows_t *w);

/* Takes the figures of `s` (taken at `now_ms`, a monotonic clock in milliseconds) into each window whose step has
   passed since its last snapshot; the first call starts every window. A record of another shape is ignored. */
void gale_windows_record(gale_windows_t *w, const gale_status_t *s, uint64_t now_ms);

/* `now` (taken at now_ms) over window `window`: into `out` (a copy of `now`'s shape, freed with gale_status_free)
   whose counts, and latency counts and sums, are those of the window; *secs the time it covers. 0, GALE_ENOMEM,
   or GALE_EINVAL for a record of another shape or before any snapshot. */
int gale_windows_over(const gale_windows_t *w, int window, const gale_status_t *now, uint64_t now_ms,
                      gale_status_t *out, double *secs);

/* The records one request is answered from: the figures over each window and over all time, and the one its
   ?window= asks for, every capacity over the last 10 minutes. */
typedef struct gale_status_views {
    gale_status_t win[GALE_WINDOWS];
    const gale_status_t *stats[GALE_WINDOWS + 1]; /* the windows, then all time (`now`, borrowed) */
    size_t n_stats;
    const gale_status_t *shown;
} gale_status_views_t;

/* Storm's ?window= values: "600", "10800", "86400" as GALE_WINDOW_*, ":all-time" (or none: NULL or "") as -1.
   GALE_EINVAL for any other. */
int gale_window_parse(const char *value, int *window);

/* The views of `now` (taken at now_ms; borrowed, and changed: its capacities are the 10 minutes') for a request
   that asks for `window` (gale_window_parse's). 0 or GALE_ENOMEM; free with gale_status_views_free either way. */
int gale_status_views(const gale_windows_t *w, gale_status_t *now, uint64_t now_ms, int window,
                      gale_status_views_t *out);
void gale_status_views_free(gale_status_views_t *v);

#endif
