/* split_upper declaring field token where split has word: a hot swap to it must be refused. */
#define SPLIT_NAME "split_other"
#define SPLIT_OTHER 1
#include "split_upper.c"
