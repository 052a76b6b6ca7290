/* JSON text to MessagePack: values read back with msgpack-c, error offsets, and inputs cut short or made up. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "testlib.h"

/* What the last parse() made; freed by the next call and at the end of each test. */
static msgpack_sbuffer out;
static msgpack_unpacked unpacked;

static void release(void)
{
    msgpack_sbuffer_destroy(&out);
    msgpack_unpacked_destroy(&unpacked);
    memset(&out, 0, sizeof out);
    msgpack_unpacked_init(&unpacked);
}

TestSuite(json_parse, .init = release, .fini = release);

/* Parses len bytes of `text` from an exactly sized heap copy with no terminator, so that AddressSanitizer sees
   any read past the end. */
static int parse(const char *text, size_t len, size_t *at, const char **why)
{
    release();
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    char *copy = malloc(len);
    cr_assert(copy || len == 0);
    if (len) memcpy(copy, text, len);
    int rc = gale_json_parse(copy, len, &pk, at, why);
    free(copy);
    return rc;
}

/* Parses `text`, which must be valid, and returns the one MessagePack object it became. */
static msgpack_object ok(const char *text)
{
    size_t at = 0;
    const char *why = NULL;
    int rc = parse(text, strlen(text), &at, &why);
    cr_assert_eq(rc, 0, "%s: %s at %zu", text, why ? why : "?", at);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&unpacked, out.data, out.size, &off), MSGPACK_UNPACK_SUCCESS, "%s", text);
    cr_assert_eq(off, out.size, "%s: one object, nothing after it", text);
    return unpacked.data;
}

static void expect_str(msgpack_object o, const char *want, size_t len)
{
    cr_assert_eq(o.type, MSGPACK_OBJECT_STR);
    cr_assert_eq(o.via.str.size, len, "length %u, want %zu", o.via.str.size, len);
    if (len) cr_assert_eq(memcmp(o.via.str.ptr, want, len), 0); /* an empty str may have a NULL ptr */
}

static void expect_uint(msgpack_object o, uint64_t want)
{
    cr_assert_eq(o.type, MSGPACK_OBJECT_POSITIVE_INTEGER, "type %d", o.type);
    cr_assert_eq(o.via.u64, want);
}

static void expect_int(msgpack_object o, int64_t want)
{
    cr_assert_eq(o.type, MSGPACK_OBJECT_NEGATIVE_INTEGER, "type %d", o.type);
    cr_assert_eq(o.via.i64, want);
}

static void expect_double(msgpack_object o, double want)
{
    cr_assert_eq(o.type, MSGPACK_OBJECT_FLOAT64, "type %d", o.type);
    cr_assert_eq(o.via.f64, want);
}

Test(json_parse, scalars)
{
    cr_assert_eq(ok("null").type, MSGPACK_OBJECT_NIL);
    msgpack_object o = ok("true");
    cr_assert(o.type == MSGPACK_OBJECT_BOOLEAN && o.via.boolean);
    o = ok("false");
    cr_assert(o.type == MSGPACK_OBJECT_BOOLEAN && !o.via.boolean);
    expect_uint(ok("0"), 0);
    expect_uint(ok("-0"), 0);
    expect_uint(ok("42"), 42);
    expect_int(ok("-1"), -1);
    expect_str(ok("\"word\""), "word", 4);
    expect_str(ok("\"\""), "", 0);
}

Test(json_parse, integers_at_the_edges)
{
    expect_uint(ok("9223372036854775807"), INT64_MAX);
    expect_uint(ok("9223372036854775808"), (uint64_t)INT64_MAX + 1);
    expect_uint(ok("18446744073709551615"), UINT64_MAX);
    expect_double(ok("18446744073709551616"), 18446744073709551616.0);
    expect_double(ok("123456789012345678901234567890"), 123456789012345678901234567890.0);
    expect_int(ok("-9223372036854775808"), INT64_MIN);
    expect_double(ok("-9223372036854775809"), -9223372036854775809.0);
    expect_double(ok("-18446744073709551616"), -18446744073709551616.0);
}

Test(json_parse, numbers_with_fraction_or_exponent_are_doubles)
{
    expect_double(ok("1.5e3"), 1500.0);
    expect_double(ok("-0.25"), -0.25);
    expect_double(ok("1E2"), 100.0);
    expect_double(ok("1e+2"), 100.0);
    expect_double(ok("25e-2"), 0.25);
    expect_double(ok("0.0"), 0.0);
    expect_double(ok("3.0"), 3.0);
    /* Longer than the parser's stack copy for strtod. */
    expect_double(ok("0.1000000000000000000000000000000000000000000000000000000000000000000000000000000000001"), 0.1);
    expect_double(ok("[1.5]").via.array.ptr[0], 1.5);
}

Test(json_parse, escapes)
{
    expect_str(ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "\"\\/\b\f\n\r\t", 8);
    expect_str(ok("\"\\u0041\\u00e9\\u00E9\\u20ac\""), "A\xc3\xa9\xc3\xa9\xe2\x82\xac", 8);
    expect_str(ok("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80", 4);
    expect_str(ok("\"a\\uDBFF\\uDFFFb\""), "a\xf4\x8f\xbf\xbf" "b", 6);
    expect_str(ok("\"\\u0000\""), "\0", 1);
    expect_str(ok("\"x\\u07ffy\""), "x\xdf\xbfy", 4);
    expect_str(ok("\"\\uffff\""), "\xef\xbf\xbf", 3);
}

Test(json_parse, other_bytes_pass_through)
{
    expect_str(ok("\"caf\xc3\xa9 \xf0\x9f\x98\x80\""), "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);
    expect_str(ok("\"\xff\xfe\x80\""), "\xff\xfe\x80", 3); /* not UTF-8, copied as it is */
    expect_str(ok("\"\x7f\""), "\x7f", 1);
}

Test(json_parse, multilang_message)
{
    msgpack_object o = ok("{\"command\":\"emit\",\"anchors\":[\"123\"],\"tuple\":[\"word\", 1]}");
    cr_assert_eq(o.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(o.via.map.size, 3);
    msgpack_object_kv *kv = o.via.map.ptr;
    expect_str(kv[0].key, "command", 7);
    expect_str(kv[0].val, "emit", 4);
    expect_str(kv[1].key, "anchors", 7);
    cr_assert_eq(kv[1].val.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(kv[1].val.via.array.size, 1);
    expect_str(kv[1].val.via.array.ptr[0], "123", 3);
    expect_str(kv[2].key, "tuple", 5);
    cr_assert_eq(kv[2].val.via.array.size, 2);
    expect_str(kv[2].val.via.array.ptr[0], "word", 4);
    expect_uint(kv[2].val.via.array.ptr[1], 1);
}

Test(json_parse, nested_and_empty_containers)
{
    msgpack_object o = ok("[]");
    cr_assert(o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 0);
    o = ok("{}");
    cr_assert(o.type == MSGPACK_OBJECT_MAP && o.via.map.size == 0);
    o = ok("[[], {}, [[1, 2], {\"a\": [null]}], \"z\"]");
    cr_assert_eq(o.via.array.size, 4);
    msgpack_object *it = o.via.array.ptr;
    cr_assert(it[0].type == MSGPACK_OBJECT_ARRAY && it[0].via.array.size == 0);
    cr_assert(it[1].type == MSGPACK_OBJECT_MAP && it[1].via.map.size == 0);
    cr_assert_eq(it[2].via.array.size, 2);
    msgpack_object *pair = it[2].via.array.ptr[0].via.array.ptr;
    expect_uint(pair[0], 1);
    expect_uint(pair[1], 2);
    msgpack_object_map m = it[2].via.array.ptr[1].via.map;
    cr_assert_eq(m.size, 1);
    expect_str(m.ptr[0].key, "a", 1);
    cr_assert_eq(m.ptr[0].val.via.array.size, 1);
    cr_assert_eq(m.ptr[0].val.via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
    expect_str(it[3], "z", 1);
}

Test(json_parse, duplicate_keys_are_kept_in_order)
{
    msgpack_object o = ok("{\"k\":1,\"k\":2,\"j\":3}");
    cr_assert_eq(o.via.map.size, 3);
    expect_str(o.via.map.ptr[0].key, "k", 1);
    expect_uint(o.via.map.ptr[0].val, 1);
    expect_str(o.via.map.ptr[1].key, "k", 1);
    expect_uint(o.via.map.ptr[1].val, 2);
    expect_str(o.via.map.ptr[2].key, "j", 1);
}

Test(json_parse, whitespace_around_and_between)
{
    msgpack_object o = ok(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\" : { } }\r\n ");
    cr_assert_eq(o.via.map.size, 2);
    cr_assert_eq(o.via.map.ptr[0].val.via.array.size, 2);
    expect_uint(ok("  7  "), 7);
    expect_str(ok("\n\"s\"\n"), "s", 1);
}

/* More strings and containers than the parser keeps sizes for without allocating. */
Test(json_parse, large_documents)
{
    enum { N = 5000 };
    char *text = malloc(N * 12 + 16), *p = text;
    p += sprintf(p, "[");
    for (int i = 0; i < N; i++) p += sprintf(p, "%s[\"%d\"]", i ? "," : "", i);
    sprintf(p, "]");
    msgpack_object o = ok(text);
    free(text);
    cr_assert_eq(o.via.array.size, N);
    for (int i = 0; i < N; i += 997) {
        char want[16];
        int n = sprintf(want, "%d", i);
        cr_assert_eq(o.via.array.ptr[i].via.array.size, 1);
        expect_str(o.via.array.ptr[i].via.array.ptr[0], want, (size_t)n);
    }
}

/* `depth` times open, then inner, then `depth` times close, NUL-terminated. */
static char *nested(int depth, const char *open, const char *inner, const char *close)
{
    size_t no = strlen(open), ni = strlen(inner), nc = strlen(close);
    char *s = malloc((size_t)depth * (no + nc) + ni + 1), *p = s;
    for (int i = 0; i < depth; i++, p += no) memcpy(p, open, no);
    memcpy(p, inner, ni);
    p += ni;
    for (int i = 0; i < depth; i++, p += nc) memcpy(p, close, nc);
    *p = '\0';
    return s;
}

Test(json_parse, nesting_limit)
{
    /* msgpack-c's unpacker stops at 32 levels, so the bytes are checked instead: 64 arrays of one, then 1. */
    size_t at = 0;
    const char *why = NULL;
    char *deep = nested(GALE_JSON_MAX_DEPTH, "[", "1", "]");
    cr_assert_eq(parse(deep, strlen(deep), &at, &why), 0, "%s at %zu", why, at);
    free(deep);
    cr_assert_eq(out.size, GALE_JSON_MAX_DEPTH + 1);
    for (int i = 0; i < GALE_JSON_MAX_DEPTH; i++) cr_assert_eq((unsigned char)out.data[i], 0x91);
    cr_assert_eq(out.data[GALE_JSON_MAX_DEPTH], 0x01);

    char *too_deep = nested(GALE_JSON_MAX_DEPTH + 1, "[", "", "]");
    cr_assert_eq(parse(too_deep, strlen(too_deep), &at, &why), GALE_ELIMIT);
    cr_assert_eq(at, GALE_JSON_MAX_DEPTH, "the bracket that went too deep, got %zu", at);
    cr_assert_not_null(why);
    free(too_deep);

    too_deep = nested(GALE_JSON_MAX_DEPTH + 1, "{\"k\":", "0", "}");
    cr_assert_eq(parse(too_deep, strlen(too_deep), &at, &why), GALE_ELIMIT);
    cr_assert_eq(at, GALE_JSON_MAX_DEPTH * 5);
    free(too_deep);

    /* Far deeper than the limit: refused without recursing further. */
    too_deep = nested(100000, "[", "", "]");
    cr_assert_eq(parse(too_deep, strlen(too_deep), NULL, NULL), GALE_ELIMIT);
    free(too_deep);
}

typedef struct bad_case {
    char text[32];
    int rc;
    size_t at;
    char why[48];
} bad_case_t;

ParameterizedTestParameters(json_parse, errors)
{
    static bad_case_t cases[] = {
        {"", GALE_ESYNTAX, 0, "unexpected end of input"},
        {"   ", GALE_ESYNTAX, 3, "unexpected end of input"},
        {"[1] x", GALE_ESYNTAX, 4, "trailing characters after the document"},
        {"{} {}", GALE_ESYNTAX, 3, "trailing characters after the document"},
        {"[1]]", GALE_ESYNTAX, 3, "trailing characters after the document"},
        {"1 2", GALE_ESYNTAX, 2, "trailing characters after the document"},
        {"\"abc", GALE_ESYNTAX, 0, "unterminated string"},
        {"[\"abc", GALE_ESYNTAX, 1, "unterminated string"},
        {"\"\\", GALE_ESYNTAX, 0, "unterminated string"},
        {"\"\\u00", GALE_ESYNTAX, 0, "unterminated string"},
        {"\"a\\x\"", GALE_ESYNTAX, 2, "invalid escape"},
        {"\"\\U0041\"", GALE_ESYNTAX, 1, "invalid escape"},
        {"\"\\u12G4\"", GALE_ESYNTAX, 1, "invalid \\u escape"},
        {"\"\\ud83d\"", GALE_ESYNTAX, 1, "lone surrogate in \\u escape"},
        {"\"\\ude00\"", GALE_ESYNTAX, 1, "lone surrogate in \\u escape"},
        {"\"x\\ud83dx\"", GALE_ESYNTAX, 2, "lone surrogate in \\u escape"},
        {"\"\\ud83d\\u0041\"", GALE_ESYNTAX, 1, "lone surrogate in \\u escape"},
        {"\"\\ud83d\\ud83d\"", GALE_ESYNTAX, 1, "lone surrogate in \\u escape"},
        {"\"a\tb\"", GALE_ESYNTAX, 2, "control character in string"},
        {"[\"a\nb\"]", GALE_ESYNTAX, 3, "control character in string"},
        {"{\"a\" 1}", GALE_ESYNTAX, 5, "expected ':'"},
        {"{\"a\":1 \"b\":2}", GALE_ESYNTAX, 7, "expected ',' or '}'"},
        {"[1 2]", GALE_ESYNTAX, 3, "expected ',' or ']'"},
        {"[1,]", GALE_ESYNTAX, 3, "trailing comma"},
        {"[1, ]", GALE_ESYNTAX, 4, "trailing comma"},
        {"{\"a\":1,}", GALE_ESYNTAX, 7, "trailing comma"},
        {"[,1]", GALE_ESYNTAX, 1, "expected a value"},
        {"{1:2}", GALE_ESYNTAX, 1, "expected a string key"},
        {"{\"a\":}", GALE_ESYNTAX, 5, "expected a value"},
        {"01", GALE_ESYNTAX, 1, "leading zero in number"},
        {"[-01]", GALE_ESYNTAX, 3, "leading zero in number"},
        {"-", GALE_ESYNTAX, 1, "unexpected end of input"},
        {"-a", GALE_ESYNTAX, 1, "expected a digit"},
        {"1.e5", GALE_ESYNTAX, 2, "expected a digit after '.'"},
        {"1.", GALE_ESYNTAX, 2, "unexpected end of input"},
        {"1ex", GALE_ESYNTAX, 2, "expected a digit in the exponent"},
        {"1e+", GALE_ESYNTAX, 3, "unexpected end of input"},
        {".5", GALE_ESYNTAX, 0, "expected a value"},
        {"+1", GALE_ESYNTAX, 0, "expected a value"},
        {"NaN", GALE_ESYNTAX, 0, "expected a value"},
        {"tru", GALE_ESYNTAX, 0, "invalid literal"},
        {"[nul]", GALE_ESYNTAX, 1, "invalid literal"},
        {"True", GALE_ESYNTAX, 0, "expected a value"},
        {"[", GALE_ESYNTAX, 1, "unexpected end of input"},
        {"{\"a\":[1,{", GALE_ESYNTAX, 9, "unexpected end of input"},
        {"\xef\xbb\xbf{}", GALE_ESYNTAX, 0, "expected a value"}, /* a byte order mark is not allowed */
    };
    return cr_make_param_array(bad_case_t, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(bad_case_t *c, json_parse, errors)
{
    size_t at = 12345;
    const char *why = NULL;
    int rc = parse(c->text, strlen(c->text), &at, &why);
    cr_assert_eq(rc, c->rc, "%s: rc %d, want %d", c->text, rc, c->rc);
    cr_assert_eq(at, c->at, "%s: at %zu, want %zu (%s)", c->text, at, c->at, why);
    cr_assert_str_eq(why, c->why, "%s", c->text);
}

Test(json_parse, error_details_are_optional)
{
    cr_assert_eq(parse("[1,]", 4, NULL, NULL), GALE_ESYNTAX);
    cr_assert_eq(gale_json_parse(NULL, 0, NULL, NULL, NULL), GALE_ESYNTAX);
    /* A NUL byte is just a byte: not whitespace, not the end. */
    size_t at = 0;
    cr_assert_eq(parse("[1]\0", 4, &at, NULL), GALE_ESYNTAX);
    cr_assert_eq(at, 3);
    expect_str(ok("\"a\""), "a", 1);
}

/* A packer whose writes fail after `budget` bytes, as an sbuffer's do when memory runs out. */
static size_t budget;
static int limited_write(void *data, const char *buf, size_t len)
{
    if (len > budget) return -1;
    budget -= len;
    return msgpack_sbuffer_write(data, buf, len);
}

Test(json_parse, failed_writes_are_enomem)
{
    const char *text = "{\"command\":\"emit\",\"tuple\":[\"word\",1.5,-3,true,null]}";
    for (size_t b = 0;; b++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, limited_write);
        budget = b;
        const char *why = NULL;
        int rc = gale_json_parse(text, strlen(text), &pk, NULL, &why);
        msgpack_sbuffer_destroy(&sb);
        if (rc == 0) break;
        cr_assert_eq(rc, GALE_ENOMEM, "budget %zu: rc %d", b, rc);
        cr_assert_str_eq(why, "out of memory");
        cr_assert_lt(b, 1000);
    }
}

/* Every proper prefix of a document that ends in a bracket is incomplete, so each must be refused cleanly. */
Test(json_parse, every_truncation_is_an_error)
{
    const char *doc = "{\"command\":\"emit\",\"id\":\"-61\",\"anchors\":[\"123\",\"456\"],"
                      "\"stream\":\"s\\u00e9\\ud83d\\ude00\",\"task\":9,"
                      "\"tuple\":[\"word\",-12,3.5e-2,18446744073709551615,true,false,null,{},[],{\"a\":[{}]}]}";
    size_t len = strlen(doc);
    ok(doc);
    for (size_t n = 0; n < len; n++) {
        size_t at = SIZE_MAX;
        const char *why = NULL;
        int rc = parse(doc, n, &at, &why);
        cr_assert_eq(rc, GALE_ESYNTAX, "prefix of %zu bytes: rc %d", n, rc);
        cr_assert_leq(at, n, "prefix of %zu bytes: error at %zu", n, at);
        cr_assert_not_null(why);
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/*
 * Mutated documents and random bytes. Besides not crashing (and not reading past the end, under ASan), the result
 * must agree with the independent checker in tests/lib: what we accept it calls JSON, and what it calls JSON we
 * accept, unless a \u escape is involved (it does not check surrogates) or nesting is at its different limit.
 */
Test(json_parse, fuzz)
{
    static const char *seeds[] = {
        "{\"command\":\"emit\",\"anchors\":[\"123\"],\"tuple\":[\"word\"]}",
        "[1,-2,3.5e10,0,-0.0,1E-5,18446744073709551616,\"\\ud83d\\ude00\",\"a\\\"b\\\\\\/\\n\",[[[]]],{}]",
        "{\"a\":{\"b\":{\"c\":[true,false,null]}},\"\":\"\xc3\xa9\"}",
        " [ \"x\" , { \"y\" : 2 } ] ",
        "\"\\u0041\\uD834\\uDD1E\"",
    };
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefABCDEF-+.eE tnrl \t\n\x01\x7f\xc3\xa9\xff";
    char buf[256], text[257];
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len;
        if (iter % 4 == 0) {
            len = next_rand() % 40;
            for (size_t i = 0; i < len; i++) {
                uint32_t r = next_rand();
                buf[i] = r & 0x100 ? (char)r : alphabet[r % (sizeof alphabet - 1)];
            }
        } else {
            const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
            len = strlen(seed);
            memcpy(buf, seed, len);
            for (int m = 1 + next_rand() % 3; m > 0 && len > 0; m--) {
                size_t pos = next_rand() % len;
                char c = alphabet[next_rand() % (sizeof alphabet - 1)];
                switch (next_rand() % 4) {
                case 0: buf[pos] = c; break;
                case 1: /* delete */
                    memmove(buf + pos, buf + pos + 1, len - pos - 1);
                    len--;
                    break;
                case 2: /* insert */
                    if (len < sizeof buf) {
                        memmove(buf + pos + 1, buf + pos, len - pos);
                        buf[pos] = c;
                        len++;
                    }
                    break;
                default: len = pos; /* truncate */
                }
            }
        }
        size_t at = SIZE_MAX;
        const char *why = NULL;
        int rc = parse(buf, len, &at, &why);
        if (rc == 0) {
            accepted++;
            size_t off = 0;
            cr_assert_eq(msgpack_unpack_next(&unpacked, out.data, out.size, &off), MSGPACK_UNPACK_SUCCESS);
            cr_assert_eq(off, out.size);
        } else {
            cr_assert(rc == GALE_ESYNTAX || rc == GALE_ELIMIT, "rc %d", rc);
            cr_assert_leq(at, len);
            cr_assert_not_null(why);
        }
        if (memchr(buf, '\0', len)) continue;
        memcpy(text, buf, len);
        text[len] = '\0';
        bool valid = tl_json_valid(text);
        if (rc == 0) cr_assert(valid, "accepted what the checker refuses: %s", text);
        else if (valid && !strstr(text, "\\u"))
            cr_assert_eq(rc, GALE_ELIMIT, "refused valid JSON (%s at %zu): %s", why, at, text);
    }
    cr_assert_gt(accepted, 1000, "the mutations should leave many documents valid (%d)", accepted);
}
