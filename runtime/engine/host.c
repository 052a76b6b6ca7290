/*
 * host.c: the host function table every task's plugin receives. Functions live in the files that own their subject
 * (emit.c, tuple.c, service.c; the model's in declare.c); this file only assembles the table.
 */
#include "host.h"

#include "declare.h"
#include "emit.h"
#include "from_json.h"
#include "kvstate.h"
#include "plugin_metrics.h"
#include "service.h"
#include "spout.h"
#include "tuple.h"

const gale_host_t gale__host = {
    GALE__MODEL_HOST_ENTRIES,
    .emit = gale__emit,
    .ack = gale__ack,
    .fail = gale__fail,
    .keep = gale__keep,
    .done = gale__done,
    .reset_timeout = gale__reset_timeout,
    .wake = gale__wake,
    .replayable = gale__replayable,
    .metric = gale__metric,
    .counter_add = gale__counter_add,
    .gauge_set = gale__gauge_set,
    .histogram_record = gale__histogram_record,
    .state_get = gale__state_get,
    .state_put = gale__state_put,
    .state_delete = gale__state_delete,
    .state_next = gale__state_next,
    .state_count = gale__state_count,
    .state_restored = gale__state_restored,
    .from_json = gale__from_json,
    .reject = gale__reject,
    .fail_with = gale__fail_with,
    .tuple_size = gale__tuple_size,
    .tuple_get = gale__tuple_get,
    .tuple_field = gale__tuple_field,
    .tuple_stream = gale__tuple_stream,
    .tuple_component = gale__tuple_component,
    .tuple_task = gale__tuple_task,
    .tuple_fields = gale__tuple_fields,
};
