/*
 * split_sentence: splits a string on ASCII whitespace and emits each word (field "word"), Storm's SplitSentence.
 *
 *   field  (string)  the input field to split (default: the input's first value, whatever its name)
 *
 * A basic bolt (GALE_BOLT_BASIC): every word is anchored to its input, and the input is acked when execute
 * returns 0. Zero-copy: each word is a view into the input (valid until execute returns), and emit copies it, so
 * nothing is allocated per tuple. An input whose value is not a string is failed (execute returns GALE_ETYPE); the
 * first such input of a task is also logged as a warning, the rest are only counted by the runtime.
 *
 * With `field` set, `declare` checks that every input stream has that field, so `gale validate` reports a typo.
 */
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "gale.h"

typedef struct state {
    const char *field;             /* owned by the settings; NULL: index 0 */
    fields_seen_t seen;            /* the last input stream, and where `field` is in it */
    size_t index;
    bool warned;
} state_t;

static const char *const WORD[] = {"word", NULL};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int declare(gale_ctx_t *ctx)
{
    const char *field = gale_setting_str(ctx, "field", NULL);
    int rc = field ? inputs_have_field(ctx, field, "field") : 0;
    return rc ? rc : gale_declare_stream(ctx, "default", WORD, 1);
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->field = gale_setting_str(ctx, "field", NULL);
    ctx->state = s;
    return 0;
}

/* The index of `field` in the input's stream: looked up when the stream changes, not for every tuple. */
static size_t text_index(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in)
{
    if (!s->field) return 0;
    const char *const *names;
    size_t n;
    if (fields_changed(ctx, &s->seen, in, &names, &n)) s->index = field_index(names, n, s->field);
    return s->index; /* n when absent: tuple_get then fails */
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    gale_value_t text;
    if (gale_get(ctx, in, text_index(ctx, s, in), &text) || text.type != GALE_STR) {
        if (!s->warned) {
            gale_warn(ctx, "input from '%s' has no string to split: failing it (logged once per task)",
                      gale_tuple_component(ctx, in));
            s->warned = true;
        }
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

static void cleanup(gale_ctx_t *ctx) { free(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"field", GALE_SETTING_STRING, "input field to split (default: the first value)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "split_sentence", .description = "splits sentences into words",
            .flags = GALE_BOLT_BASIC, .declare = declare, .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
