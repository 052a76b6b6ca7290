/* split_upper whose prepare fails: a hot swap to it must roll back. */
#define SPLIT_NAME "split_broken"
#define SPLIT_BROKEN 1
#include "split_upper.c"
