/* A descriptor smaller than ABI 2.0's (only its version words and size): gale must refuse it, naming the file
   and both versions, without reading past its size. */
#include "gale.h"

typedef struct {
    uint32_t abi_major, abi_minor, size;
} short_descriptor_t;

__attribute__((visibility("default"))) const short_descriptor_t gale_plugin = {
    .abi_major = GALE_ABI_MAJOR, .abi_minor = 0, .size = sizeof(short_descriptor_t)};
