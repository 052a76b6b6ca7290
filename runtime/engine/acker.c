#include "acker.h"

#include <stdlib.h>

#include "gale.h"

int gale_acker_init(gale_acker_t *a) { return gale_u64map_init(&a->trees, sizeof(gale_acker_entry_t), 1024); }

void gale_acker_destroy(gale_acker_t *a) { gale_u64map_destroy(&a->trees); }

static int tell_spout(gale_acker_t *a, uint64_t root, const gale_acker_entry_t *e, gale_op_t *out)
{
    *out = (gale_op_t){.kind = e->failed ? GALE_OP_FAILED : GALE_OP_DONE,
                       .task = e->spout_task,
                       .root = root,
                       .from = e->fail_task,
                       .val = e->failed ? e->reason : 0};
    gale_u64map_del(&a->trees, root);
    return 1;
}

int gale_acker_apply(gale_acker_t *a, const gale_op_t *op, uint64_t now_ns, gale_op_t *out, uint32_t *dropped)
{
    *dropped = 0;
    if (op->kind == GALE_OP_RESET) {
        gale_acker_entry_t *e = gale_u64map_get(&a->trees, op->root);
        if (!e || !e->spout_task) return 0;
        *out = (gale_op_t){.kind = GALE_OP_TOUCH, .task = e->spout_task, .root = op->root};
        return 1;
    }
    int created;
    gale_acker_entry_t *e = gale_u64map_put(&a->trees, op->root, &created);
    if (!e) return GALE_ENOMEM;
    if (created) e->created_ns = now_ns;
    switch (op->kind) {
    case GALE_OP_INIT:
        e->xor ^= op->val;
        e->spout_task = op->from;
        break;
    case GALE_OP_ACK: e->xor ^= op->val; break;
    case GALE_OP_FAIL:
        if (!e->failed) e->fail_task = op->from, e->reason = (uint32_t)op->val;
        else *dropped = (uint32_t)op->val;
        e->failed = 1;
        break;
    default: return 0;
    }
    if (e->spout_task && (e->failed || e->xor == 0)) return tell_spout(a, op->root, e, out);
    return 0;
}

size_t gale_acker_expire(gale_acker_t *a, uint64_t before_ns)
{
    size_t pos = 0, n = 0;
    void *v;
    while (gale_u64map_next(&a->trees, &pos, &v)) {
        gale_acker_entry_t *e = v;
        if (e->created_ns < before_ns) {
            gale_u64map_del_at(&a->trees, &pos);
            n++;
        }
    }
    return n;
}

size_t gale_tree_roots_bound(const gale_tuple_t *const *anchors, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += anchors[i]->data->n_roots;
    return sum;
}

/* Up to this many roots a tuple's are kept in the order they came and searched one by one; past it (an emit
   anchored to a window of many trees) they are sorted, so that making and linking the tuple stays O(R log R)
   rather than O(R^2). */
#define FEW_ROOTS 16

static int root_index(const gale_tuple_data_t *d, uint64_t root)
{
    if (d->n_roots <= FEW_ROOTS) {
        for (uint32_t i = 0; i < d->n_roots; i++)
            if (d->roots[i] == root) return (int)i;
        return -1;
    }
    size_t lo = 0, hi = d->n_roots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->roots[mid] < root) lo = mid + 1;
        else hi = mid;
    }
    return lo < d->n_roots && d->roots[lo] == root ? (int)lo : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void gale_tree_set_roots(gale_tuple_data_t *d, const gale_tuple_t *const *anchors, size_t n)
{
    d->n_roots = 0;
    if (gale_tree_roots_bound(anchors, n) > FEW_ROOTS) { /* all of them, sorted, each once */
        for (size_t a = 0; a < n; a++) {
            const gale_tuple_data_t *ad = anchors[a]->data;
            for (uint32_t r = 0; r < ad->n_roots; r++) d->roots[d->n_roots++] = ad->roots[r];
        }
        qsort(d->roots, d->n_roots, sizeof *d->roots, cmp_u64);
        uint32_t k = 0;
        for (uint32_t i = 0; i < d->n_roots; i++)
            if (!k || d->roots[i] != d->roots[k - 1]) d->roots[k++] = d->roots[i];
        d->n_roots = k; /* when few are left, still sorted, which the linear search does not mind */
        return;
    }
    for (size_t a = 0; a < n; a++) {
        const gale_tuple_data_t *ad = anchors[a]->data;
        for (uint32_t r = 0; r < ad->n_roots; r++)
            if (root_index(d, ad->roots[r]) < 0) d->roots[d->n_roots++] = ad->roots[r];
    }
}

void gale_tree_link(gale_tuple_data_t *d, const gale_tuple_t *const *anchors, size_t n, uint64_t *rng)
{
    for (uint32_t i = 0; i < d->n_deliveries; i++) {
        gale_tuple_t *child = &d->dlv[i];
        for (size_t a = 0; a < n; a++) {
            gale_tuple_t *anchor = (gale_tuple_t *)anchors[a]; /* the runtime's own: the const is the plugin's view */
            const gale_tuple_data_t *ad = anchor->data;
            if (!ad->n_roots) continue;
            uint64_t edge = gale_rand64(rng);
            anchor->ack_val ^= edge;
            for (uint32_t r = 0; r < ad->n_roots; r++) child->ids[root_index(d, ad->roots[r])] ^= edge;
        }
    }
}

uint64_t gale_tree_start(gale_tuple_data_t *d, uint64_t root, uint64_t *rng)
{
    uint64_t x = 0;
    d->roots[0] = root;
    for (uint32_t i = 0; i < d->n_deliveries; i++) {
        uint64_t edge = gale_rand64(rng);
        d->dlv[i].ids[0] = edge;
        x ^= edge;
    }
    return x;
}
