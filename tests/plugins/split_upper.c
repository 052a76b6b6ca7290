/*
 * split_upper: split_sentence's streams, fields and setting, but each word emitted in upper case: what a hot swap
 * puts in split's place, so that a test sees from which tuple on the new plugin ran. Built twice more:
 * split_broken.c (its prepare fails: a swap that must roll back) and split_wide.c (a second field: a swap that
 * must be refused).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#ifndef SPLIT_NAME
#define SPLIT_NAME "split_upper"
#endif
#ifdef SPLIT_WIDE
static const char *const WORD[] = {"word", "n", NULL};
#else
static const char *const WORD[] = {"word", NULL};
#endif

static int declare(gale_ctx_t *ctx)
{
    return gale_declare_stream(ctx, "default", WORD, sizeof WORD / sizeof *WORD - 1);
}

#ifdef SPLIT_BROKEN
static int prepare(gale_ctx_t *ctx) { return GALE_EIO; }
#else
static int prepare(gale_ctx_t *ctx) { return 0; }
#endif

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t text;
    if (gale_get(ctx, in, 0, &text) || text.type != GALE_STR) return GALE_ETYPE;
    char word[256];
    const char *p = text.s.ptr, *end = p + text.s.len;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p)) p++;
        size_t n = 0;
        while (p < end && !isspace((unsigned char)*p)) {
            if (n < sizeof word) word[n++] = (char)toupper((unsigned char)*p);
            p++;
        }
        if (!n) continue;
        gale_value_t v = gale_strn(word, n);
        int rc = gale_emit(ctx, &v, 1);
        if (rc) return rc;
    }
    return 0;
}

static const gale_setting_decl_t settings[] = {
    {"field", GALE_SETTING_STRING, "as split_sentence's (only the first value is split)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = SPLIT_NAME, .description = "splits sentences into upper-case words",
            .flags = GALE_BOLT_BASIC, .declare = declare, .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute});
