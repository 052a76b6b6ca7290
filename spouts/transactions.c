/*
 * transactions: generated card transactions with planted fraud, seeded, in event-time order: the input of the
 * fraud detection example and of the training of its model (the same generator, other seeds).
 *
 *   seed         (1)        the same seed, the same transactions
 *   count        (100000)   how many, then done
 *   cards        (2000)     how many cards
 *   fraud        (0.01)     about this share of the transactions is fraud
 *   start_ms     (1767225600000, 2026-01-01)   the first transaction's time
 *   mean_gap_ms  (250)      the mean time between two transactions (exponential)
 *
 * Output fields: id, time (ms), card (16 digits, Luhn-valid), email, amount (2 decimals), category (0-9), foreign
 * (1 when abroad), label (1 for a planted fraud). Each card has a home: a usual amount, usual categories (0-5),
 * and a little travel (2% of its transactions abroad) and a few big purchases (1% at 3-6 times its usual amount), so
 * that the frauds are not simply the big or the foreign ones. The planted patterns, each a run of transactions on
 * one card, all labelled:
 *   card testing   6 to 9 small amounts (0.50-2.00) in category 8 (online), 5 to 20 s apart
 *   takeover       3 to 4 purchases of 4-10 times the usual amount, abroad, in category 9, 20 to 60 s apart
 *   big abroad     one purchase of 8-20 times the usual amount, abroad
 *
 * Only task 0 generates (other tasks are done at once). With acking, message ids are the transactions' numbers and
 * failed trees are replayed by the runtime (GALE_SPOUT_REPLAY).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#define MAX_PENDING 64

typedef struct card {
    char number[17];
    char email[48];
    double usual; /* usual amount */
} card_t;

typedef struct txn {
    int64_t time;
    uint32_t card;
    double amount;
    int category, foreign, label;
} txn_t;

typedef struct state {
    uint64_t rng;
    int64_t count, emitted, start, now;
    double fraud, mean_gap;
    card_t *cards;
    uint32_t n_cards;
    txn_t pending[MAX_PENDING]; /* planted runs' transactions still to come, any order */
    size_t n_pending;
    bool next_ready;
    txn_t next; /* the next ordinary transaction */
} state_t;

static double unit(state_t *s)
{
    s->rng ^= s->rng >> 12, s->rng ^= s->rng << 25, s->rng ^= s->rng >> 27;
    return (double)((s->rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static double gauss(state_t *s)
{
    double u = unit(s), v = unit(s);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static uint32_t pick(state_t *s, uint32_t n) { return (uint32_t)(unit(s) * n) % n; }

/* 16 digits from the card's index, the last one making the Luhn check pass. */
static void card_number(uint32_t i, uint64_t seed, char out[17])
{
    uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i * 0xbf58476d1ce4e5b9ull);
    int d[16] = {4};
    for (int k = 1; k < 15; k++) {
        x ^= x >> 31, x *= 0x94d049bb133111ebull;
        d[k] = (int)(x % 10);
    }
    int sum = 0;
    for (int k = 0; k < 15; k++) {
        int v = d[14 - k];
        if (k % 2 == 0) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    d[15] = (10 - sum % 10) % 10;
    for (int k = 0; k < 16; k++) out[k] = (char)('0' + d[k]);
    out[16] = '\0';
}

static double cents(double x) { return round(x * 100) / 100; }

/* Plants a run of fraud on a random card, starting at `at`. */
static void plant(state_t *s, int64_t at)
{
    uint32_t c = pick(s, s->n_cards);
    double usual = s->cards[c].usual, kind = unit(s);
    int n = kind < 0.5 ? 6 + (int)pick(s, 4) : kind < 0.8 ? 3 + (int)pick(s, 2) : 1;
    for (int i = 0; i < n && s->n_pending < MAX_PENDING; i++) {
        txn_t t = {.time = at, .card = c, .label = 1};
        if (kind < 0.5) t.amount = cents(0.5 + 1.5 * unit(s)), t.category = 8, at += 5000 + (int64_t)(15000 * unit(s));
        else if (kind < 0.8)
            t.amount = cents(usual * (4 + 6 * unit(s))), t.category = 9, t.foreign = 1,
            at += 20000 + (int64_t)(40000 * unit(s));
        else t.amount = cents(usual * (8 + 12 * unit(s))), t.category = (int)pick(s, 10), t.foreign = 1;
        s->pending[s->n_pending++] = t;
    }
}

/* The next ordinary transaction, after `now`; it may plant a run of fraud first. */
static void ordinary(state_t *s)
{
    s->now += (int64_t)(-s->mean_gap * log(1 - unit(s) + 1e-12)) + 1;
    /* Runs average about 4.4 transactions: plant one every so often to reach the share asked for. */
    if (unit(s) < s->fraud / 4.4) plant(s, s->now + 1);
    uint32_t c = pick(s, s->n_cards);
    double usual = s->cards[c].usual;
    txn_t t = {.time = s->now, .card = c, .category = (int)pick(s, 6)};
    t.amount = cents(fmax(0.5, usual * exp(0.35 * gauss(s))));
    if (unit(s) < 0.01) t.amount = cents(usual * (3 + 3 * unit(s))); /* a big purchase, a real one */
    if (unit(s) < 0.02) t.foreign = 1;                               /* travel */
    if (unit(s) < 0.05) t.category = 6 + (int)pick(s, 4);
    s->next = t;
    s->next_ready = true;
}

static int open_(gale_ctx_t *ctx)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    int64_t seed = gale_setting_int(ctx, "seed", 1), cards = gale_setting_int(ctx, "cards", 2000);
    s->count = gale_setting_int(ctx, "count", 100000);
    s->fraud = gale_setting_double(ctx, "fraud", 0.01);
    s->start = s->now = gale_setting_int(ctx, "start_ms", 1767225600000);
    s->mean_gap = gale_setting_double(ctx, "mean_gap_ms", 250);
    if (cards < 1 || cards > 10000000 || s->count < 0 || !(s->fraud >= 0 && s->fraud <= 0.5) || !(s->mean_gap > 0)) {
        gale_error(ctx, "settings: cards 1 to 10000000, count at least 0, fraud 0 to 0.5, mean_gap_ms above 0");
        free(s);
        return GALE_EINVAL;
    }
    s->rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 0x1234567;
    s->n_cards = (uint32_t)cards;
    if (info.task_index > 0) s->count = 0; /* one generator: the order of time is one */
    s->cards = calloc(s->n_cards, sizeof *s->cards);
    if (!s->cards) {
        free(s);
        return GALE_ENOMEM;
    }
    for (uint32_t i = 0; i < s->n_cards; i++) {
        card_number(i, (uint64_t)seed, s->cards[i].number);
        snprintf(s->cards[i].email, sizeof s->cards[i].email, "holder%u@mail%u.example", i, i % 7);
        s->cards[i].usual = cents(5 + 95 * unit(s) * unit(s));
    }
    ctx->state = s;
    return 0;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->emitted >= s->count) {
        gale_done(ctx);
        return 0;
    }
    if (!s->next_ready) ordinary(s);
    /* The earliest of the ordinary one and the planted ones due. */
    size_t best = s->n_pending;
    for (size_t i = 0; i < s->n_pending; i++)
        if (s->pending[i].time <= s->next.time && (best == s->n_pending || s->pending[i].time < s->pending[best].time))
            best = i;
    txn_t t;
    if (best < s->n_pending) {
        t = s->pending[best];
        s->pending[best] = s->pending[--s->n_pending];
    } else {
        t = s->next;
        s->next_ready = false;
    }
    const card_t *c = &s->cards[t.card];
    gale_value_t v[8] = {gale_int(s->emitted + 1), gale_int(t.time),     gale_str(c->number), gale_str(c->email),
                         gale_double(t.amount),    gale_int(t.category), gale_int(t.foreign), gale_int(t.label)};
    s->emitted++;
    return gale_emit_id(ctx, (uint64_t)s->emitted, v, 8);
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s) free(s->cards);
    free(s);
}

static const gale_setting_decl_t settings[] = {
    {"seed", GALE_SETTING_INT, "the same seed, the same transactions (1)"},
    {"count", GALE_SETTING_INT, "how many transactions (100000)"},
    {"cards", GALE_SETTING_INT, "how many cards (2000)"},
    {"fraud", GALE_SETTING_DOUBLE, "about this share is planted fraud (0.01)"},
    {"start_ms", GALE_SETTING_INT, "the first transaction's time (2026-01-01)"},
    {"mean_gap_ms", GALE_SETTING_DOUBLE, "the mean time between transactions (250)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "transactions",
            .description = "generated card transactions with planted fraud, seeded", .flags = GALE_SPOUT_REPLAY,
            .streams = (const gale_stream_decl_t[]){{"default",
                                                     (const char *const[]){"id", "time", "card", "email", "amount",
                                                                           "category", "foreign", "label", NULL}},
                                                    {NULL, NULL}},
            .settings = settings, .spout = {.open = open_, .next_tuple = next_tuple, .close = close_});
