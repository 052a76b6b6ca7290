/*
 * json_parse.h: JSON text to MessagePack, for the messages that multilang child processes write
 * (`{"command":"emit","anchors":["123"],"tuple":["word"]}`), so that the rest of gale reads them with the same
 * bounds-checked MessagePack reader (mpread.h) as tuples from the wire.
 *
 * The parser is strict RFC 8259 and never reads outside the bytes it is given: the text need not be NUL-terminated,
 * and any input, however broken, gives an error rather than a crash.
 */
#ifndef GALE_JSON_PARSE_H
#define GALE_JSON_PARSE_H

#include <msgpack.h>
#include <stddef.h>

#include "gale.h"

/* Arrays and objects nested deeper than this are refused with GALE_ELIMIT (the outermost container is level 1). */
#define GALE_JSON_MAX_DEPTH 64

/*
 * Parses exactly one JSON document from text[0..len) and appends its MessagePack form to pk. Leading and trailing
 * JSON whitespace is allowed; anything else after the document is an error. The text is borrowed for the call only.
 *
 * Mapping: null -> nil, true/false -> bool, integers in int64 range -> int (msgpack-c writes the non-negative ones
 * in its unsigned formats; they read back as non-negative integers), integers in (INT64_MAX, UINT64_MAX] -> uint64,
 * every other number -> double (strtod, so out-of-range exponents give +-inf or 0), strings -> str with escapes
 * decoded (surrogate pairs to 4-byte UTF-8; other bytes, valid UTF-8 or not, are copied as they are),
 * arrays -> array, objects -> map with str keys (duplicate keys are kept, in order).
 *
 * Returns 0, or
 *   GALE_ESYNTAX  not JSON: *err_at gets the byte offset of the problem (len for an unexpected end of input; the
 *                 opening quote for an unterminated string) and *why a static message ("unterminated string");
 *   GALE_ELIMIT   nesting deeper than GALE_JSON_MAX_DEPTH (*err_at: the bracket that went too deep), or a string
 *                 or container longer than MessagePack can say (2^32 - 1);
 *   GALE_ENOMEM   an allocation, or a write to pk, failed.
 * *err_at and *why are set on every error and left alone on success; either may be NULL. On error, what was
 * appended to pk is unspecified: callers discard it.
 *
 * The text is read twice: once to check it and count the items of every container and the bytes of every string
 * (MessagePack puts them before the contents), then again to pack. Nothing is allocated unless the document has
 * more than 64 strings and containers together, or a non-integer number longer than 63 characters.
 */
int gale_json_parse(const char *text, size_t len, msgpack_packer *pk, size_t *err_at, const char **why);

#endif
