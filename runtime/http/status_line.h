/*
 * status_line.h: `gale run`'s one live line on a terminal, drawn again every second on stderr:
 *
 *     held  12s  input 45%  in 1.23M/s  out 1.20M/s  acked 10.3M  failed 0  pending 1.02k  p99 3.15 ms
 *
 * the uptime; tuples per second in (what the spouts emit) and out (what the bolts that no one subscribes to
 * execute) over the last figures; the spouts' trees acked and failed so far, those open now, and their complete
 * latency's p99 over the run; and, after the uptime, when the spouts say how much input there is (the gauges input_bytes and
 * input_read_bytes of their own metrics, as file_lines keeps them), the share of it read. A log line clears it
 * (log.h) and the next second draws it again. `gale run --quiet`, or a stderr that is not a terminal, has none.
 */
#ifndef GALE_STATUS_LINE_H
#define GALE_STATUS_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "endpoint.h"
#include "status.h"

/* What the line is made of, from one record. */
typedef struct gale_status_sums {
    double figures_s, uptime_s;
    uint64_t in, out, acked, failed, pending;
    uint64_t complete_p99_ns;       /* 0: none measured */
    double input_read, input_total; /* bytes; input_total 0: the spouts do not say */
} gale_status_sums_t;

void gale_status_sums_of(const gale_status_t *s, gale_status_sums_t *out);

/* The line's text, without control characters, into buf: `now` with the rates since `prev` (NULL, or one of the
   same figures time: no rates yet, "-"). */
void gale_status_line_text(const char *topology, const gale_status_sums_t *prev, const gale_status_sums_t *now,
                           char *buf, size_t cap);

typedef struct gale_status_line gale_status_line_t;

/* Draws the line every second on `loop` from `src`'s first record (borrowed: it must outlive the line). 0 and
   *out, or GALE_ENOMEM. */
int gale_status_line_start(uv_loop_t *loop, const gale_endpoint_source_t *src, gale_status_line_t **out);
/* Erases the line and stops; the memory goes once the loop has run. NULL is a no-op. */
void gale_status_line_stop(gale_status_line_t *l);

#endif
