/* The tuple codec: values encoded once with msgpack-c, read back as views; wire bytes validated on decode. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/theories.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpread.h"
#include "tuple.h"

static char *word_fields[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
static gale_stream_t stream = {.name = "default", .fields = word_fields, .n_fields = 8};
static gale_component_t comp = {.name = "src", .streams = &stream, .n_streams = 1};

static gale_tuple_data_t *encode(const gale_value_t *v, size_t n)
{
    int err = 0;
    gale_tuple_data_t *d = gale__tuple_new(&comp, 7, 0, v, n, 1, 0, &err);
    cr_assert_not_null(d, "encode failed: %s", gale_strerror(err));
    return d;
}

static gale_tuple_data_t *roundtrip(const gale_value_t *v, size_t n)
{
    gale_tuple_data_t *d = encode(v, n);
    int err = 0;
    gale_tuple_data_t *w = gale__tuple_decode(&comp, 7, 0, d->raw, d->raw_len, 1, 0, &err);
    cr_assert_not_null(w, "decode failed: %s", gale_strerror(err));
    cr_assert_eq(w->raw_len, d->raw_len);
    cr_assert_eq(memcmp(w->raw, d->raw, d->raw_len), 0, "decoded bytes differ");
    gale__tuple_discard(d);
    return w;
}

static void assert_same(const gale_value_t *a, const gale_value_t *b)
{
    cr_assert_eq(a->type, b->type, "type %d != %d", a->type, b->type);
    switch (a->type) {
    case GALE_NIL: break;
    case GALE_BOOL: cr_assert_eq(a->b, b->b); break;
    case GALE_INT: cr_assert_eq(a->i, b->i, "%lld != %lld", (long long)a->i, (long long)b->i); break;
    case GALE_UINT: cr_assert_eq(a->u, b->u); break;
    case GALE_DOUBLE:
        if (isnan(a->d)) cr_assert(isnan(b->d));
        else cr_assert_eq(a->d, b->d);
        break;
    case GALE_STR:
    case GALE_BYTES:
        cr_assert_eq(a->s.len, b->s.len);
        cr_assert_eq(memcmp(a->s.ptr, b->s.ptr, a->s.len), 0);
        break;
    case GALE_ARRAY:
    case GALE_MAP: {
        cr_assert_eq(a->n, b->n);
        size_t count = a->type == GALE_MAP ? 2 * (size_t)a->n : a->n;
        for (size_t i = 0; i < count; i++) {
            gale_value_t x, y;
            cr_assert_eq(gale_mp_item(a, i, &x), 0);
            cr_assert_eq(gale_mp_item(b, i, &y), 0);
            assert_same(&x, &y);
        }
        break;
    }
    }
}

TheoryDataPoints(codec, integers_round_trip) = {
    DataPoints(int64_t, 0, 1, -1, 31, 32, -32, -33, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
               65535, 65536, 2147483647LL, 2147483648LL, -2147483648LL, -2147483649LL, INT64_MAX, INT64_MIN),
};
Theory((int64_t x), codec, integers_round_trip)
{
    gale_value_t v = gale_int(x);
    gale_tuple_data_t *d = roundtrip(&v, 1);
    assert_same(&v, &d->vals[0]);
    gale__tuple_discard(d);
}

TheoryDataPoints(codec, doubles_round_trip) = {
    DataPoints(double, 0.0, -0.0, 1.5, -1e300, DBL_MIN, DBL_MAX, INFINITY, -INFINITY, NAN),
};
Theory((double x), codec, doubles_round_trip)
{
    gale_value_t v = gale_double(x);
    gale_tuple_data_t *d = roundtrip(&v, 1);
    assert_same(&v, &d->vals[0]);
    gale__tuple_discard(d);
}

Test(codec, uint_above_int64_max)
{
    gale_value_t v = {.type = GALE_UINT, .u = UINT64_MAX};
    gale_tuple_data_t *d = roundtrip(&v, 1);
    assert_same(&v, &d->vals[0]);
    gale__tuple_discard(d);
}

Test(codec, strings_of_every_header_size)
{
    size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 1 << 20};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        char *buf = malloc(lens[k] + 1);
        for (size_t i = 0; i < lens[k]; i++) buf[i] = (char)('a' + i % 26);
        gale_value_t v[2] = {gale_strn(buf, lens[k]), gale_bytes(buf, lens[k])};
        gale_tuple_data_t *d = roundtrip(v, 2);
        assert_same(&v[0], &d->vals[0]);
        assert_same(&v[1], &d->vals[1]);
        /* Views point into the tuple's own bytes, not the caller's buffer. */
        if (lens[k]) cr_assert(d->vals[0].s.ptr >= d->raw && d->vals[0].s.ptr < d->raw + d->raw_len);
        gale__tuple_discard(d);
        free(buf);
    }
}

Test(codec, nil_bool_and_empty_tuple)
{
    gale_value_t v[3] = {gale_nil(), gale_bool(true), gale_bool(false)};
    gale_tuple_data_t *d = roundtrip(v, 3);
    for (int i = 0; i < 3; i++) assert_same(&v[i], &d->vals[i]);
    gale__tuple_discard(d);
    d = roundtrip(NULL, 0);
    cr_assert_eq(d->n_values, 0);
    gale__tuple_discard(d);
}

Test(codec, nested_arrays_and_maps)
{
    gale_value_t inner[3] = {gale_int(1), gale_str("two"), gale_double(3.0)};
    gale_value_t kv[4] = {gale_str("k"), gale_array(inner, 3), gale_int(5), gale_map(NULL, 0)};
    gale_value_t v[2] = {gale_map(kv, 2), gale_array(NULL, 0)};
    gale_tuple_data_t *d = roundtrip(v, 2);
    assert_same(&v[0], &d->vals[0]);
    assert_same(&v[1], &d->vals[1]);
    /* A container read from a tuple can be emitted again as it is: its bytes are copied. */
    gale_tuple_data_t *again = roundtrip(d->vals, 2);
    cr_assert_eq(again->raw_len, d->raw_len);
    cr_assert_eq(memcmp(again->raw, d->raw, d->raw_len), 0);
    gale__tuple_discard(again);
    gale__tuple_discard(d);
}

Test(codec, too_deep_nesting_is_refused)
{
    gale_value_t levels[GALE_MP_MAX_DEPTH + 2];
    levels[0] = gale_int(1);
    for (int i = 1; i < GALE_MP_MAX_DEPTH + 2; i++) levels[i] = gale_array(&levels[i - 1], 1);
    int err = 0;
    cr_assert_null(gale__tuple_new(&comp, 1, 0, &levels[GALE_MP_MAX_DEPTH + 1], 1, 1, 0, &err));
    cr_assert_eq(err, GALE_EINVAL);
}

Test(codec, container_without_items_or_bytes_is_refused)
{
    gale_value_t bad = {.type = GALE_ARRAY, .n = 2};
    int err = 0;
    cr_assert_null(gale__tuple_new(&comp, 1, 0, &bad, 1, 1, 0, &err));
    cr_assert_eq(err, GALE_EINVAL);
}

Test(codec, garbage_raw_container_is_refused)
{
    gale_value_t bad = {.type = GALE_ARRAY, .n = 3, .c = {NULL, "\x93\x01", 2}};
    int err = 0;
    cr_assert_null(gale__tuple_new(&comp, 1, 0, &bad, 1, 1, 0, &err));
    cr_assert_eq(err, GALE_ECORRUPT);
}

typedef struct corrupt_case {
    char name[40];
    unsigned char bytes[16];
    size_t len;
} corrupt_case_t;

ParameterizedTestParameters(codec, corrupt_wire_bytes)
{
    static corrupt_case_t cases[] = {
        {"empty", {0}, 0},
        {"not an array", {0x01}, 1},
        {"truncated array", {0x92, 0x01}, 2},
        {"huge declared array", {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, 6},
        {"huge declared string", {0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, 7},
        {"truncated int64", {0x91, 0xd3, 0x01, 0x02}, 4},
        {"reserved byte", {0x91, 0xc1}, 2},
        {"ext type", {0x91, 0xd4, 0x01, 0x02}, 4},
        {"ext32 of length 2^32-1", {0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, 7},
        {"trailing bytes", {0x91, 0x01, 0x02}, 3},
        {"huge map in array", {0x91, 0xdf, 0x7f, 0xff, 0xff, 0xff}, 6},
        {"truncated float", {0x91, 0xcb, 0, 0, 0}, 5},
    };
    return cr_make_param_array(corrupt_case_t, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(corrupt_case_t *c, codec, corrupt_wire_bytes)
{
    int err = 0;
    gale_tuple_data_t *d = gale__tuple_decode(&comp, 1, 0, (const char *)c->bytes, c->len, 1, 0, &err);
    cr_assert_null(d, "%s: decoded", c->name);
    cr_assert(err == GALE_ECORRUPT || err == GALE_ENOTSUP, "%s: err %d", c->name, err);
}

Test(codec, deeply_nested_wire_bytes_are_refused)
{
    char buf[200];
    buf[0] = (char)0x91;
    for (int i = 1; i < 100; i++) buf[i] = (char)0x91;
    buf[100] = 0x01;
    int err = 0;
    cr_assert_null(gale__tuple_decode(&comp, 1, 0, buf, 101, 1, 0, &err));
    cr_assert_eq(err, GALE_ECORRUPT);
}

Test(codec, fields_by_name_and_index)
{
    gale_value_t v[2] = {gale_str("x"), gale_int(2)};
    char *fields[] = {"word", "count"};
    gale_stream_t s = {.name = "default", .fields = fields, .n_fields = 2};
    gale_component_t c = {.name = "split", .streams = &s, .n_streams = 1};
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&c, 3, 0, v, 2, 1, 0, &err);
    gale_tuple_t *t = gale__tuple_deliver(d, 9);
    gale_value_t out;
    cr_assert_eq(gale__tuple_field(t, "count", &out), 0);
    cr_assert_eq(out.i, 2);
    cr_assert_eq(gale__tuple_field(t, "nope", &out), GALE_ENOENT);
    cr_assert_eq(gale__tuple_get(t, 2, &out), GALE_ERANGE);
    cr_assert_str_eq(gale__tuple_component(t), "split");
    cr_assert_str_eq(gale__tuple_stream(t), "default");
    cr_assert_eq(gale__tuple_task(t), 3);
    cr_assert_eq(gale__tuple_size(t), 2);
    gale__tuple_release(d);
}

Test(codec, field_hash_is_stable_and_value_sensitive)
{
    gale_value_t a = gale_str("hello"), b = gale_str("hello"), c = gale_str("hellp");
    gale_tuple_data_t *da = encode(&a, 1), *db = encode(&b, 1), *dc = encode(&c, 1);
    int idx = 0;
    uint64_t ha = gale__tuple_hash_fields(da, &idx, 1, 0);
    cr_assert_eq(ha, gale__tuple_hash_fields(db, &idx, 1, 0));
    cr_assert_neq(ha, gale__tuple_hash_fields(dc, &idx, 1, 0));
    /* A fixed value: the hash must not change between builds or machines, or fields grouping moves keys. */
    cr_assert_eq(ha, 0xb1788d83f67a2efdull, "hash of \"hello\" is %#llx", (unsigned long long)ha);
    gale__tuple_discard(da);
    gale__tuple_discard(db);
    gale__tuple_discard(dc);
}

Test(codec, deliveries_share_values_and_free_with_the_last)
{
    gale_value_t v = gale_str("shared");
    int err;
    gale_tuple_data_t *d = gale__tuple_new(&comp, 1, 0, &v, 1, 3, 2, &err);
    gale_tuple_t *a = gale__tuple_deliver(d, 1), *b = gale__tuple_deliver(d, 2), *c = gale__tuple_deliver(d, 3);
    cr_assert_not_null(c);
    cr_assert_null(gale__tuple_deliver(d, 4), "more deliveries than room");
    cr_assert_neq(a->ids, b->ids);
    cr_assert_eq(atomic_load(&d->refs), 3);
    gale__tuple_release(d);
    gale__tuple_release(d);
    gale__tuple_release(d); /* frees: ASan reports a leak or a double free if the count is wrong */
}
