/*
 * trace.h: one bolt alone on this thread, fed journaled tuples, with every emit, ack, fail and log line it makes
 * printed for each input: how to see why a bolt broke a tuple (`gale replay --component BOLT --trace`).
 */
#ifndef GALE_TRACE_H
#define GALE_TRACE_H

#include <stdbool.h>
#include <stdio.h>

#include "replay.h"

/*
 * Feeds every item of `s` to bolt `component` alone, as if it came from the input fed by the item's spout (or
 * the bolt's first input). With `trace`, prints each input and what the bolt did with it to `out`. Returns 0 when
 * every input was acked, GALE_EPLUGIN when some were failed or left unsettled, or an error from prepare.
 */
int gale_trace_bolt(gale_topology_t *topo, int component, gale_replay_set_t *s, bool trace, FILE *out);

#endif
