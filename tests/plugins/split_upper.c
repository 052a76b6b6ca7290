/*
 * split_upper: split_sentence's streams, fields and setting, but each word emitted in upper case: what a hot swap
 * puts in split's place, so that a test sees from which tuple on the new plugin ran. Built three times more:
 * split_broken.c (its prepare fails: a swap that must roll back), split_wide.c (a second field after word, and a
 * second stream: a superset, which a swap takes) and split_other.c (the field is named token: a swap that must be
 * refused).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#ifndef SPLIT_NAME
#define SPLIT_NAME "split_upper"
#endif
#if defined SPLIT_WIDE
static const char *const WORD[] = {"word", "n", NULL};
static const char *const LENGTH[] = {"len", NULL};
#elif defined SPLIT_OTHER
static const char *const WORD[] = {"token", NULL};
#else
static const char *const WORD[] = {"word", NULL};
#endif

static int declare(gale_ctx_t *ctx)
{
    int rc = gale_declare_stream(ctx, "default", WORD, sizeof WORD / sizeof *WORD - 1);
#ifdef SPLIT_WIDE
    if (!rc) rc = gale_declare_stream(ctx, "lengths", LENGTH, 1);
#endif
    return rc;
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
#ifdef SPLIT_WIDE
        gale_value_t v[2] = {gale_strn(word, n), gale_int((int64_t)n)};
        int rc = gale_emit(ctx, v, 2);
        if (!rc) rc = gale_emit_stream(ctx, "lengths", &v[1], 1);
#else
        gale_value_t v = gale_strn(word, n);
        int rc = gale_emit(ctx, &v, 1);
#endif
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
