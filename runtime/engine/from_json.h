/*
 * from_json.h: the host's from_json (ABI 2.6), JSON text to a gale value for plugins (a Kafka spout's JSON values).
 * The one JSON parser is json_parse.h's (multilang's): the text becomes MessagePack in a buffer of the task's,
 * read back as a view with the MessagePack reader, so a plugin gets the same values a tuple's reader would.
 */
#ifndef GALE_FROM_JSON_H
#define GALE_FROM_JSON_H

#include <stddef.h>

#include "gale.h"

/* See gale_host_t.from_json. *out points into the task's buffer until its next call; the task owns the buffer. */
int gale__from_json(gale_ctx_t *ctx, const char *text, size_t len, gale_value_t *out, char *why, size_t why_cap);

#endif
