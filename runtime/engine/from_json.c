/* from_json.c: see from_json.h. */
#include "from_json.h"

#include <msgpack.h>
#include <stdio.h>

#include "json_parse.h"
#include "mpread.h"
#include "task.h"

static int buf_write(void *data, const char *p, size_t n)
{
    gale_buf_t *b = data;
    gale_buf_put(b, p, n);
    return b->failed ? -1 : 0;
}

/* The cause, as "byte AT: WHAT", for the caller's buffer (when it gave one). */
static void say(char *why, size_t cap, size_t at, const char *what)
{
    if (why && cap) snprintf(why, cap, "byte %zu: %s", at, what);
}

int gale__from_json(gale_ctx_t *ctx, const char *text, size_t len, gale_value_t *out, char *why, size_t why_cap)
{
    gale_task_t *t = gale__task(ctx);
    gale_buf_t *b = &t->json;
    b->len = 0;
    b->failed = 0; /* an earlier call's failed growth: this one may fit */
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write);
    size_t at = 0;
    const char *what = "";
    int rc = gale_json_parse(text ? text : "", text ? len : 0, &pk, &at, &what);
    if (!rc && b->failed) rc = GALE_ENOMEM;
    if (rc == GALE_ENOMEM) {
        if (why && why_cap) snprintf(why, why_cap, "out of memory");
        return rc;
    }
    if (rc) {
        say(why, why_cap, at, what);
        return rc;
    }
    size_t used;
    /* What the parser wrote is well-formed by construction; reading it back only makes the view. A document
       nested deeper than the reader's bound is refused, as a tuple with it would be. */
    if (gale_mp_read(b->p, b->len, out, &used) || used != b->len) {
        say(why, why_cap, 0, "nested deeper than a tuple's value may be (32 levels)");
        return GALE_ELIMIT;
    }
    return 0;
}
