/* The replay set and the built-in replay spout. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "tuple.h"

int gale_replay_add(gale_replay_set_t *s, const gale_topology_t *topo, const gale_journal_record_t *r,
                    gale_diag_t *diag)
{
    int c = gale_topology_find(topo, r->spout);
    if (c < 0 || topo->components[c].kind != GALE_SPOUT)
        return gale__diag(diag, GALE_ENOENT, "journaled spout '%s' is not a spout of topology '%s'", r->spout,
                          topo->name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        gale_replay_item_t *items = realloc(s->items, cap * sizeof *items);
        if (!items) return gale__diag(diag, GALE_ENOMEM, "out of memory");
        s->items = items;
        s->cap = cap;
    }
    gale_replay_item_t *it = &s->items[s->n];
    it->component = c;
    it->msg_id = r->msg_id;
    it->values_len = r->values_len;
    it->stream = strdup(r->stream);
    it->values = malloc(r->values_len ? r->values_len : 1);
    if (!it->stream || !it->values) {
        free(it->stream);
        free(it->values);
        return gale__diag(diag, GALE_ENOMEM, "out of memory");
    }
    memcpy(it->values, r->values, r->values_len);
    s->n++;
    return 0;
}

void gale_replay_free(gale_replay_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].stream);
        free(s->items[i].values);
    }
    free(s->items);
    s->items = NULL;
    s->n = s->cap = 0;
}

/* ---- the replay spout: the first task of each spout emits that spout's items, the others are done at once ---- */

typedef struct replay_state {
    gale_replay_set_t *set;
    size_t next;
} replay_state_t;

static int replay_open(gale_ctx_t *ctx)
{
    gale_task_t *t = gale__task(ctx);
    replay_state_t *st = calloc(1, sizeof *st);
    if (!st) return GALE_ENOMEM;
    st->set = t->override_arg; /* tools/gale/cmd_replay.c runs us with the set as the override's argument */
    st->next = t->base.task_index == 0 ? 0 : st->set->n;
    ctx->state = st;
    return 0;
}

static int replay_next(gale_ctx_t *ctx)
{
    gale_task_t *t = gale__task(ctx);
    replay_state_t *st = ctx->state;
    while (st->next < st->set->n && st->set->items[st->next].component != t->base.component) st->next++;
    if (st->next >= st->set->n) {
        gale_done(ctx);
        return 0;
    }
    const gale_replay_item_t *it = &st->set->items[st->next++];
    int rc;
    gale_tuple_data_t *d = gale__tuple_decode(t->comp, t->base.task_id, 0, it->values, it->values_len, 0, 0, &rc);
    if (!d) {
        atomic_fetch_add(&st->set->rejected, 1);
        gale__task_error(t, "journaled values of message id %llu cannot be read: %s", (unsigned long long)it->msg_id,
                         gale_strerror(rc));
        return 0;
    }
    gale_emit_t e = {.size = sizeof e, .stream = it->stream, .values = d->vals, .n_values = d->n_values, .has_msg_id = true,
                     .msg_id = it->msg_id};
    rc = ctx->host->emit(ctx, &e);
    if (rc) atomic_fetch_add(&st->set->rejected, 1);
    gale__tuple_discard(d);
    return 0;
}

static void replay_ack(gale_ctx_t *ctx, uint64_t msg_id)
{
    atomic_fetch_add(&((replay_state_t *)ctx->state)->set->acked, 1);
}

static void replay_fail(gale_ctx_t *ctx, uint64_t msg_id)
{
    atomic_fetch_add(&((replay_state_t *)ctx->state)->set->failed, 1);
}

static void replay_close(gale_ctx_t *ctx) { free(ctx->state); }

const gale_plugin_t gale__replay_spout = {
    .abi_major = GALE_ABI_MAJOR,
    .abi_minor = GALE_ABI_MINOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "replay",
    .description = "emits journaled tuples again",
    .spout = {.open = replay_open, .next_tuple = replay_next, .ack = replay_ack, .fail = replay_fail,
              .close = replay_close},
};
