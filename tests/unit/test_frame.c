/* The transport's frames: round trips, refusals, and random and mutated bytes that must never crash a reader. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "acker.h"
#include "fail_reason.h"
#include "frame.h"
#include "topology_build.h"

static int noop_exec(gale_ctx_t *ctx, const gale_tuple_t *in) { return 0; }
static int noop_next(gale_ctx_t *ctx) { return 0; }
static const gale_plugin_t spout = {
    .abi_major = GALE_ABI_MAJOR,
    .size = sizeof(gale_plugin_t),
    .kind = GALE_SPOUT,
    .name = "s",
    .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"word", "n", NULL}, .direct = false}, {NULL}},
    .spout = {.next_tuple = noop_next}};
static const gale_plugin_t bolt = {.abi_major = GALE_ABI_MAJOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT,
                                   .name = "b", .bolt = {.execute = noop_exec}};

static gale_topology_t *topo(void)
{
    gale_topology_t *t = gale_topology_new("frames");
    t->config.ackers = 1;
    int s = gale_topology_add(t, "s", &spout, 1);  /* task 1 */
    int b = gale_topology_add(t, "b", &bolt, 2);   /* tasks 2, 3 */
    gale_topology_add_input(t, b, t->components[s].name, NULL, GALE_GROUPING_SHUFFLE, NULL, 0);
    gale_diag_t built;
    cr_assert_eq(gale_topology_build(t, &built), 0, "%s", built.msg);
    return t;
}

/* A delivery from task 1 to task 3 with two roots. */
static gale_tuple_t *sample(gale_topology_t *t)
{
    gale_value_t v[2] = {gale_str("gale"), gale_int(-7)};
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&t->components[0], 1, 0, v, 2, 1, 2, &err);
    d->n_roots = 2;
    d->roots[0] = 0x1111222233334444ull;
    d->roots[1] = 99;
    gale_tuple_t *dlv = gale__tuple_deliver(d, 3);
    dlv->ids[0] = 0xdeadbeefcafef00dull;
    dlv->ids[1] = 5;
    return dlv;
}

static gale_buf_t frame_of(const gale_tuple_t *dlv, int copies)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_TUPLES);
    for (int i = 0; i < copies; i++) gale_frame_put_tuple(&b, dlv, false);
    gale_frame_end(&b, start);
    return b;
}

Test(frame, tuples_round_trip_fed_one_byte_at_a_time)
{
    gale_topology_t *t = topo();
    gale_tuple_t *in = sample(t);
    gale_buf_t b = frame_of(in, 3);
    gale_frame_reader_t r;
    gale_frame_reader_init(&r, 0);
    gale_frame_t f;
    for (size_t i = 0; i + 1 < b.len; i++) {
        cr_assert_eq(gale_frame_feed(&r, b.p + i, 1), 0);
        cr_assert_eq(gale_frame_next(&r, &f), 0, "a frame before all its bytes came");
    }
    cr_assert_eq(gale_frame_feed(&r, b.p + b.len - 1, 1), 0);
    cr_assert_eq(gale_frame_next(&r, &f), 1);
    cr_assert_eq(f.type, GALE_FRAME_TUPLES);
    const char *p = f.payload;
    size_t left = f.len;
    for (int k = 0; k < 3; k++) {
        gale_tuple_t *out;
        cr_assert_eq(gale_frame_get_tuple(t, &p, &left, &out), 0);
        cr_assert_eq(out->task, 3);
        cr_assert_eq(out->data->src_task, 1);
        cr_assert_eq(out->data->n_roots, 2);
        cr_assert_eq(out->data->roots[0], 0x1111222233334444ull);
        cr_assert_eq(out->ids[0], 0xdeadbeefcafef00dull);
        cr_assert_eq(out->ids[1], 5);
        cr_assert_eq(out->data->vals[1].i, -7);
        cr_assert_eq(memcmp(out->data->vals[0].s.ptr, "gale", 4), 0);
        gale__tuple_release(out->data);
    }
    cr_assert_eq(left, 0);
    cr_assert_eq(gale_frame_next(&r, &f), 0);
    gale_frame_reader_destroy(&r);
    gale_buf_free(&b);
    gale__tuple_release(in->data);
    gale_topology_free(t);
}

/* One record through a frame and back. */
static gale_tuple_t *round_trip(gale_topology_t *t, const gale_tuple_t *in, bool with_origin)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_TUPLES);
    gale_frame_put_tuple(&b, in, with_origin);
    gale_frame_end(&b, start);
    const char *p = b.p + 5;
    size_t left = b.len - 5;
    gale_tuple_t *out = NULL;
    cr_assert_eq(gale_frame_get_tuple(t, &p, &left, &out), 0);
    cr_assert_eq(left, 0);
    gale_buf_free(&b);
    return out;
}

Test(frame, a_latency_marker_travels_when_asked_and_ops_round_trip)
{
    gale_topology_t *t = topo();
    gale_tuple_t *in = sample(t);
    in->data->origin_ns = 0x0123456789abcdefull;
    gale_tuple_t *with = round_trip(t, in, true), *without = round_trip(t, in, false);
    cr_assert_eq(with->data->origin_ns, 0x0123456789abcdefull);
    cr_assert_eq(with->data->n_roots, 2);
    cr_assert_eq(with->ids[1], 5);
    cr_assert_eq(with->data->vals[1].i, -7);
    cr_assert_eq(without->data->origin_ns, 0, "the marker went to another host");
    cr_assert_eq(without->data->roots[0], 0x1111222233334444ull);
    gale__tuple_release(with->data);
    gale__tuple_release(without->data);
    gale__tuple_release(in->data);

    gale_op_t op = {.kind = GALE_OP_FAILED, .task = 0xfffffff0u, .root = 0x8000000000000001ull, .val = ~0ull,
                    .from = 77}, back;
    gale_buf_t b = {0};
    gale_frame_put_op(&b, &op);
    cr_assert_eq(b.len, GALE_FRAME_OP_RECORD);
    gale_frame_get_op(b.p, &back);
    cr_assert(back.kind == op.kind && back.task == op.task && back.root == op.root && back.val == op.val &&
              back.from == op.from);
    gale_buf_free(&b);
    gale_topology_free(t);
}

Test(frame, oversized_empty_and_unknown_frames_poison_the_reader)
{
    gale_frame_reader_t r;
    gale_frame_t f;
    const unsigned char big[] = {0x01, 0x00, 0x10, 0x00, GALE_FRAME_TUPLES}; /* 1 MiB, over a 64 KiB limit */
    gale_frame_reader_init(&r, 65536);
    gale_frame_feed(&r, big, sizeof big);
    cr_assert_eq(gale_frame_next(&r, &f), GALE_ELIMIT, "refused only once the bytes came");
    cr_assert_eq(gale_frame_feed(&r, "x", 1), GALE_ELIMIT, "a poisoned reader took more bytes");
    gale_frame_reader_destroy(&r);
    const unsigned char empty[] = {0, 0, 0, 0}, unknown[] = {1, 0, 0, 0, 77};
    gale_frame_reader_init(&r, 0);
    gale_frame_feed(&r, empty, 4);
    cr_assert_eq(gale_frame_next(&r, &f), GALE_ECORRUPT);
    gale_frame_reader_destroy(&r);
    gale_frame_reader_init(&r, 0);
    gale_frame_feed(&r, unknown, 5);
    cr_assert_eq(gale_frame_next(&r, &f), GALE_ECORRUPT);
    gale_frame_reader_destroy(&r);
}

/* Overwrites bytes of one record and expects it refused. */
static void expect_refused(gale_topology_t *t, size_t at, const void *bytes, size_t n, const char *what)
{
    gale_tuple_t *in = sample(t);
    gale_buf_t b = frame_of(in, 1);
    memcpy(b.p + 5 + at, bytes, n);
    const char *p = b.p + 5;
    size_t left = b.len - 5;
    gale_tuple_t *out = NULL;
    cr_assert_eq(gale_frame_get_tuple(t, &p, &left, &out), GALE_ECORRUPT, "%s accepted", what);
    gale_buf_free(&b);
    gale__tuple_release(in->data);
}

/* An output anchored to a window of many trees: 300 roots, past what the header byte counts. */
Test(frame, a_tuple_of_many_roots_round_trips_with_and_without_a_marker)
{
    gale_topology_t *t = topo();
    gale_value_t v[2] = {gale_str("w"), gale_int(3)};
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&t->components[0], 1, 0, v, 2, 1, 300, &err);
    cr_assert_not_null(d);
    d->n_roots = 300;
    for (uint32_t r = 0; r < 300; r++) d->roots[r] = 1000 + r;
    gale_tuple_t *in = gale__tuple_deliver(d, 3);
    for (uint32_t r = 0; r < 300; r++) in->ids[r] = 7 * r + 1;
    in->data->origin_ns = 42;
    for (int marker = 0; marker < 2; marker++) {
        gale_tuple_t *out = round_trip(t, in, marker);
        cr_assert_eq(out->data->n_roots, 300);
        cr_assert_eq(out->data->origin_ns, marker ? 42u : 0u);
        for (uint32_t r = 0; r < 300; r++) {
            cr_assert_eq(out->data->roots[r], 1000 + r);
            cr_assert_eq(out->ids[r], 7 * r + 1);
        }
        cr_assert_eq(out->data->vals[1].i, 3);
        gale__tuple_release(out->data);
    }
    /* The long count for a number the header byte holds is refused: each count has one way to be written. */
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_TUPLES);
    gale_frame_put_tuple(&b, in, false);
    gale_frame_end(&b, start);
    char *p0 = b.p + 5;
    p0[11] = 5, p0[12] = p0[13] = p0[14] = 0;
    const char *p = p0;
    size_t left = b.len - 5;
    gale_tuple_t *out = NULL;
    cr_assert_eq(gale_frame_get_tuple(t, &p, &left, &out), GALE_ECORRUPT);
    gale_buf_free(&b);
    gale__tuple_release(in->data);
    gale_topology_free(t);
}

Test(frame, watermarks_are_control_records_and_their_id_may_be_zero)
{
    gale_buf_t b = {0};
    gale_control_t w = {.kind = GALE_CONTROL_WATERMARK, .from = 1, .to = 3, .id = 0}, back;
    gale_frame_put_control(&b, &w);
    cr_assert_eq(b.len, GALE_FRAME_CONTROL_RECORD);
    cr_assert_eq(gale_frame_get_control(4, b.p, &back), 0);
    cr_assert_eq(back.kind, GALE_CONTROL_WATERMARK);
    cr_assert_eq(back.id, 0);
    gale_control_t barrier = {.kind = GALE_CONTROL_BARRIER, .from = 1, .to = 3, .id = 0};
    b.len = 0;
    gale_frame_put_control(&b, &barrier);
    cr_assert_eq(gale_frame_get_control(4, b.p, &back), GALE_ECORRUPT, "a barrier of checkpoint 0");
    gale_buf_free(&b);
}

Test(frame, records_the_topology_does_not_allow_are_refused)
{
    gale_topology_t *t = topo();
    uint32_t spout_task = 1, no_task = 40;
    uint16_t no_stream = 3;
    uint8_t many_roots = 200;
    uint32_t huge = 0x7fffffff;
    expect_refused(t, 0, &spout_task, 4, "a record for a spout");
    expect_refused(t, 0, &no_task, 4, "a record for a task that does not exist");
    expect_refused(t, 4, &no_task, 4, "a record from a task that does not exist");
    expect_refused(t, 8, &no_stream, 2, "an undeclared stream");
    expect_refused(t, 10, &many_roots, 1, "too many roots");
    expect_refused(t, 11 + 32, &huge, 4, "values longer than the frame");
    const unsigned char one_value[] = {0x91}; /* an array of 1 where the stream declares 2 fields */
    expect_refused(t, 11 + 32 + 4, one_value, 1, "the wrong number of values");
    const unsigned char ext32[] = {0x92, 0xc9, 0xff, 0xff, 0xff, 0xff}; /* msgpack-c 4.0's crashing input */
    expect_refused(t, 11 + 32 + 4, ext32, sizeof ext32, "an ext32 of length 2^32-1");
    gale_topology_free(t);
}

/* Reads whatever frames and records random bytes make; nothing may crash or leak (ASan), errors are fine. */
static void chew(gale_topology_t *t, const char *bytes, size_t n, size_t max)
{
    gale_frame_reader_t r;
    gale_frame_reader_init(&r, max);
    gale_frame_feed(&r, bytes, n);
    gale_frame_t f;
    while (gale_frame_next(&r, &f) == 1) {
        if (f.type != GALE_FRAME_TUPLES) continue;
        const char *p = f.payload;
        size_t left = f.len;
        gale_tuple_t *out;
        while (left && gale_frame_get_tuple(t, &p, &left, &out) == 0) gale__tuple_release(out->data);
    }
    gale_frame_reader_destroy(&r);
}

Test(frame, random_and_mutated_bytes_never_crash, .timeout = 60)
{
    gale_topology_t *t = topo();
    uint64_t rng = 12345;
    char junk[512];
    for (int i = 0; i < 20000; i++) {
        size_t n = gale_rand64(&rng) % sizeof junk;
        for (size_t k = 0; k < n; k++) junk[k] = (char)gale_rand64(&rng);
        if (n > 5 && i % 2) { /* a plausible header, so that the records inside get read too */
            uint32_t len = (uint32_t)(n - 4);
            memcpy(junk, &len, 4);
            junk[4] = GALE_FRAME_TUPLES;
        }
        chew(t, junk, n, 4096);
    }
    gale_tuple_t *in = sample(t);
    gale_buf_t b = frame_of(in, 4);
    for (int i = 0; i < 20000; i++) {
        char *copy = malloc(b.len);
        memcpy(copy, b.p, b.len);
        int flips = 1 + (int)(gale_rand64(&rng) % 4);
        for (int k = 0; k < flips; k++) copy[gale_rand64(&rng) % b.len] ^= (char)(1u << (gale_rand64(&rng) % 8));
        chew(t, copy, gale_rand64(&rng) % (b.len + 1), 1 << 20); /* mutated, and cut anywhere */
        free(copy);
    }
    gale_buf_free(&b);
    gale__tuple_release(in->data);
    gale_topology_free(t);
}

/* What a sender checks against the frame limit is what put_tuple writes, with and without a marker's origin. */
Test(frame, a_records_size_is_known_before_it_is_written)
{
    gale_topology_t *t = topo();
    gale_tuple_t *in = sample(t);
    for (int origin = 0; origin < 2; origin++) {
        in->data->origin_ns = origin ? 42 : 0;
        for (int with = 0; with < 2; with++) {
            gale_buf_t b = {0};
            gale_frame_put_tuple(&b, in, with);
            cr_assert_eq(b.len, gale_frame_tuple_size(in, with), "origin %d, with_origin %d", origin, with);
            gale_buf_free(&b);
        }
    }
    gale__tuple_release(in->data);
    gale_topology_free(t);
}

/* A reader raised to a larger limit reads larger frames; one that grew for a big frame gives its buffer back once
   the frame is handled, and keeps it while part of a frame waits. */
Test(frame, a_reader_takes_a_new_limit_and_gives_back_a_grown_buffer)
{
    gale_frame_reader_t r;
    gale_frame_reader_init(&r, 40);
    size_t n = 100000;
    char *big = calloc(1, 5 + n);
    gale_le_put(big, 1 + n, 4);
    big[4] = GALE_FRAME_TUPLES;
    gale_frame_reader_limit(&r, 1 << 20);
    cr_assert_eq(gale_frame_feed(&r, big, 5 + n - 1), 0);
    gale_frame_t f;
    cr_assert_eq(gale_frame_next(&r, &f), 0);
    gale_frame_reader_trim(&r, 4096);
    cr_assert_not_null(r.buf, "a partial frame was thrown away");
    cr_assert_eq(gale_frame_feed(&r, big + 5 + n - 1, 1), 0);
    cr_assert_eq(gale_frame_next(&r, &f), 1);
    cr_assert_eq(f.len, n);
    gale_frame_reader_trim(&r, 4096);
    cr_assert_null(r.buf, "the buffer of a handled big frame was kept");
    cr_assert_eq(gale_frame_feed(&r, big, 5 + n), 0, "a trimmed reader must go on reading");
    cr_assert_eq(gale_frame_next(&r, &f), 1);
    gale_frame_reader_limit(&r, 40);
    cr_assert_eq(gale_frame_feed(&r, big, 5), 0);
    cr_assert_eq(gale_frame_next(&r, &f), GALE_ELIMIT);
    gale_frame_reader_destroy(&r);
    free(big);
}

Test(frame, a_barrier_round_trips_and_bad_control_records_are_refused)
{
    gale_control_t c = {.kind = GALE_CONTROL_BARRIER, .from = 3, .to = 0x10000, .id = 0x0102030405060708ull}, back;
    gale_buf_t b = {0};
    gale_frame_put_control(&b, &c);
    cr_assert_eq(b.len, GALE_FRAME_CONTROL_RECORD);
    cr_assert_eq(gale_frame_get_control(0x10000, b.p, &back), 0);
    cr_assert(back.kind == c.kind && back.from == 3 && back.to == 0x10000 && back.id == c.id);
    cr_assert_eq(gale_frame_get_control(0xffff, b.p, &back), GALE_ECORRUPT, "a target past the run's tasks");
    const gale_control_t bad[] = {{.kind = 3, .from = 1, .to = 2, .id = 1},
                                  {.kind = GALE_CONTROL_BARRIER, .from = 0, .to = 2, .id = 1},
                                  {.kind = GALE_CONTROL_BARRIER, .from = 1, .to = 0, .id = 1},
                                  {.kind = GALE_CONTROL_BARRIER, .from = 1, .to = 2, .id = 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b.len = 0;
        gale_frame_put_control(&b, &bad[i]);
        cr_assert_eq(gale_frame_get_control(100, b.p, &back), GALE_ECORRUPT, "bad record %zu accepted", i);
    }
    gale_buf_free(&b);
    gale_frame_reader_t r;
    gale_frame_t f;
    const unsigned char frame[] = {1, 0, 0, 0, GALE_FRAME_CONTROL, 1, 0, 0, 0, GALE_FRAME_REASON + 1};
    gale_frame_reader_init(&r, 0);
    gale_frame_feed(&r, frame, sizeof frame);
    cr_assert_eq(gale_frame_next(&r, &f), 1);
    cr_assert_eq(f.type, GALE_FRAME_CONTROL);
    cr_assert_eq(gale_frame_next(&r, &f), GALE_ECORRUPT, "a type past REASON is unknown");
    gale_frame_reader_destroy(&r);
}

Test(frame, a_reason_frame_round_trips_and_a_malformed_one_is_refused)
{
    gale_buf_t b = {0};
    gale_frame_put_reason(&b, 0x00300007u, "field 'amount': not a number");
    gale_frame_reader_t r;
    gale_frame_t f;
    gale_frame_reader_init(&r, 0);
    gale_frame_feed(&r, b.p, b.len);
    cr_assert_eq(gale_frame_next(&r, &f), 1);
    cr_assert_eq(f.type, GALE_FRAME_REASON);
    uint32_t id;
    const char *text;
    size_t len;
    cr_assert_eq(gale_frame_get_reason(f.payload, f.len, &id, &text, &len), 0);
    cr_assert_eq(id, 0x00300007u);
    cr_assert_eq(len, strlen("field 'amount': not a number"));
    cr_assert_eq(memcmp(text, "field 'amount': not a number", len), 0);
    gale_frame_reader_destroy(&r);
    /* A text over the limit is cut by the writer and refused by the reader; a payload without an id is refused. */
    char big[GALE_REASON_MAX_LEN + 100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    b.len = 0;
    gale_frame_put_reason(&b, 1, big);
    cr_assert_eq(b.len, 5 + 4 + GALE_REASON_MAX_LEN);
    cr_assert_eq(gale_frame_get_reason(b.p + 5, b.len - 5, &id, &text, &len), 0);
    cr_assert_eq(len, GALE_REASON_MAX_LEN);
    cr_assert_eq(gale_frame_get_reason(big, GALE_REASON_MAX_LEN + 5, &id, &text, &len), GALE_ECORRUPT);
    cr_assert_eq(gale_frame_get_reason(big, 3, &id, &text, &len), GALE_ECORRUPT);
    gale_buf_free(&b);
}
