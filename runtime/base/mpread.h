/*
 * mpread.h: a small, bounds-checked MessagePack reader that never allocates.
 *
 * Tuples are encoded with msgpack-c's packer, but read back with this reader, for two reasons: reads go straight
 * from a known offset into a gale_value_t view (no unpacker zone, no copy), and bytes from outside (the wire, a
 * journal) are validated against explicit limits before anything trusts them. msgpack-c 4.0's unpacker reserves
 * memory for any element count a frame declares and crashes when called again after a parse error; this reader
 * checks each declared count against the bytes that are really there.
 */
#ifndef GALE_MPREAD_H
#define GALE_MPREAD_H

#include <stddef.h>

#include "gale.h"

#define GALE_MP_MAX_DEPTH 32

/*
 * Reads one value at `p` (at most `len` bytes). Scalars and strings are returned as views into `p`; an array or map
 * is validated whole (to GALE_MP_MAX_DEPTH levels) and returned with `c.raw` spanning its encoded bytes (header
 * included) and `c.items == NULL`. *used gets the bytes the value takes.
 * Returns 0, or GALE_ECORRUPT for truncated, malformed or too deeply nested input, GALE_ENOTSUP for ext types.
 */
int gale_mp_read(const char *p, size_t len, gale_value_t *out, size_t *used);

/* Reads an array or map header: *n gets the item count (pairs for a map), *hdr the header's size. */
int gale_mp_read_container(const char *p, size_t len, gale_type_t *type, uint32_t *n, size_t *hdr);

/* Item `index` of a container value read by gale_mp_read (the `item` host function). */
int gale_mp_item(const gale_value_t *container, size_t index, gale_value_t *out);

#endif
