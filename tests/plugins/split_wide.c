/* split_upper declaring fields word and n: a hot swap to it must be refused (split declares word only). */
#define SPLIT_NAME "split_wide"
#define SPLIT_WIDE 1
#include "split_upper.c"
