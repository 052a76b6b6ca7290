/*
 * split_sentence: splits its input's first string on ASCII whitespace and emits each word (field "word"),
 * anchored to the input (a basic bolt: the input is acked when execute returns). The words are views into the
 * input; emit copies them, so nothing is allocated here.
 */
#include "gale.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t text;
    if (gale_get(ctx, in, 0, &text) || text.type != GALE_STR) {
        gale_warn(ctx, "input is not a string: failed");
        return GALE_ETYPE;
    }
    const char *p = text.s.ptr, *end = p + text.s.len;
    while (p < end) {
        while (p < end && is_space(*p)) p++;
        const char *w = p;
        while (p < end && !is_space(*p)) p++;
        if (p == w) continue;
        gale_value_t word = gale_strn(w, (size_t)(p - w));
        int rc = gale_emit(ctx, &word, 1);
        if (rc) return rc;
    }
    return 0;
}

GALE_PLUGIN(.kind = GALE_BOLT, .name = "split_sentence", .description = "splits sentences into words",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", NULL}}, {NULL, NULL}},
            .settings = (const gale_setting_decl_t[]){{NULL, 0, NULL}}, .bolt = {.execute = execute});
