/*
 * json.h: values as JSON text, for people and tools: `gale journal --json`, replay traces, and file_sink (through
 * the `to_json` host function, so that every JSON gale writes is written by this one piece of code).
 *
 * Strings are always valid UTF-8 JSON (RFC 8259): ", \ and control characters (U+0000..U+001F, DEL, U+0080..U+009F)
 * escaped, each ill-formed UTF-8 sequence (overlong, surrogate, above U+10FFFF, truncated, stray byte) replaced by
 * U+FFFD, one per maximal subpart; well-formed UTF-8 passes through. Bytes become a base64 string; non-finite doubles
 * become null; map keys that are not strings are written as their JSON text inside a string.
 */
#ifndef GALE_JSON_H
#define GALE_JSON_H

#include <stddef.h>

#include "buf.h"
#include "gale.h"

/* Appends `v` as JSON. */
void gale_json_value(gale_buf_t *b, const gale_value_t *v);
/* Appends a JSON string of `s` (len bytes, any bytes: see above for what becomes of those that are not UTF-8). */
void gale_json_string(gale_buf_t *b, const char *s, size_t len);

/* The `to_json` host function: writes at most cap bytes (NUL-terminated when cap > 0) and returns the length the
   whole text needs, like snprintf. Allocates nothing (unless a map has keys that are not strings), so a sink can
   call it for every tuple. */
size_t gale__to_json(const gale_value_t *v, char *buf, size_t cap);

/* A finite double as the shortest of %.15g, %.16g and %.17g that reads back as the same double: 0.1 is "0.1",
   not "0.10000000000000001", and nothing is lost. */
void gale_json_double(gale_buf_t *b, double d);

#endif
