/* split_upper declaring fields word and n, and a stream lengths: a superset of split's streams, which a hot swap
   takes (the field and the stream that split has not are dropped until the topology is submitted again). */
#define SPLIT_NAME "split_wide"
#define SPLIT_WIDE 1
#include "split_upper.c"
