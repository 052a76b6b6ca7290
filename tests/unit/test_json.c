/* JSON text of values: escapes, numbers, bytes, nesting. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>

#include "json.h"
#include "json_parse.h"
#include "testlib.h"

static void expect(const gale_value_t *v, const char *want)
{
    gale_buf_t b = {0};
    gale_json_value(&b, v);
    cr_assert_str_eq(b.p, want);
    char small[8];
    size_t need = gale__to_json(v, small, sizeof small);
    cr_assert_eq(need, strlen(want), "to_json reports the whole length");
    cr_assert_eq(strncmp(small, want, 7), 0, "to_json truncates like snprintf");
    gale_buf_free(&b);
}

Test(json, scalars)
{
    expect(&(gale_value_t){.type = GALE_NIL}, "null");
    expect(&(gale_value_t){.type = GALE_BOOL, .b = true}, "true");
    expect(&(gale_value_t){.type = GALE_INT, .i = -42}, "-42");
    expect(&(gale_value_t){.type = GALE_UINT, .u = UINT64_MAX}, "18446744073709551615");
    expect(&(gale_value_t){.type = GALE_DOUBLE, .d = 0.5}, "0.5");
    expect(&(gale_value_t){.type = GALE_DOUBLE, .d = NAN}, "null");
}

Test(json, strings_are_escaped)
{
    gale_value_t v = gale_strn("a\"b\\c\n\t\x01\xc3\xa9", 10);
    expect(&v, "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
}

Test(json, bytes_are_base64)
{
    gale_value_t v = gale_bytes("hello", 5);
    expect(&v, "\"aGVsbG8=\"");
}

Test(json, nested_containers_and_non_string_keys)
{
    gale_value_t inner[2] = {gale_int(1), gale_str("x")};
    gale_value_t kv[4] = {gale_str("k"), gale_array(inner, 2), gale_int(7), gale_nil()};
    gale_value_t v = gale_map(kv, 2);
    expect(&v, "{\"k\": [1, \"x\"], \"7\": null}");
}

/* ---- UTF-8: JSON text must be UTF-8 (RFC 8259), whatever bytes a string holds ------------------------------ */

typedef struct utf8_case { /* arrays, not pointers: Criterion runs each case in a new process */
    char in[24];
    size_t len;
    char want[64]; /* the JSON text, quotes included */
} utf8_case_t;

#define U(in, want) {in, sizeof in - 1, "\"" want "\""}
#define R "\xef\xbf\xbd" /* U+FFFD */

ParameterizedTestParameters(json, ill_formed_utf8_becomes_u_fffd_per_maximal_subpart)
{
    static utf8_case_t cases[] = {
        U("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"), /* well-formed */
        U("\xc2\xa0\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xc2\xa0\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf"),
        U("a\x80" "b\xbf", "a" R "b" R),                                 /* stray continuation bytes */
        U("\xc0\x80", R R),                                          /* overlong NUL */
        U("\xc1\xbf", R R),                                          /* overlong U+007F */
        U("\xe0\x80\x80\xe0\x9f\xbf", R R R R R R),                    /* overlong 3-byte forms */
        U("\xf0\x80\x80\x80\xf0\x8f\xbf\xbf", R R R R R R R R),          /* overlong 4-byte forms */
        U("\xed\xa0\x80\xed\xbf\xbf", R R R R R R),                    /* surrogates U+D800, U+DFFF */
        U("\xf4\x90\x80\x80", R R R R),                                /* U+110000 */
        U("\xf5\x80\x80\x80\xf8\xfe\xff", R R R R R R R),             /* leads that never start anything */
        U("\xe2\x82", R),                                            /* truncated at the end: one subpart */
        U("x\xf0\x9d\x84", "x" R),
        U("\xc3", R),
        U("\xe2\x82" "A\xf0\x9d" "B", R "A" R "B"),                          /* truncated inside */
        U("a\xf1\x80\x80\xe1\x80\xc2" "b\x80" "c\x80\xbf" "d", "a" R R R "b" R "c" R R "d"), /* Unicode 15, table 3-8 */
        U("\x00\x1f\x7f\xc2\x80\xc2\x9f", "\\u0000\\u001f\\u007f\\u0080\\u009f"),   /* control characters */
        U("\b\f\n\r\t\"\\", "\\u0008\\u000c\\n\\r\\t\\\"\\\\"),
    };
    return cr_make_param_array(utf8_case_t, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(utf8_case_t *c, json, ill_formed_utf8_becomes_u_fffd_per_maximal_subpart)
{
    gale_value_t v = gale_strn(c->in, c->len);
    expect(&v, c->want);
}

/* Random bytes, biased towards the ones UTF-8 is made of: the text is always JSON and UTF-8, and a string that
   was well-formed UTF-8 reads back as it was. */
Test(json, any_bytes_give_valid_utf8_json)
{
    static const unsigned char alphabet[] = {0x00, 0x0a, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
                                             0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef,
                                             0xf0, 0xf1, 0xf4, 0xf5, 0xff};
    uint32_t x = 2463534242u;
    int well_formed = 0;
    for (int round = 0; round < 20000; round++) {
        char in[12];
        size_t n = round % sizeof in;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            in[i] = (char)alphabet[x % sizeof alphabet];
        }
        gale_buf_t b = {0};
        gale_json_string(&b, in, n);
        cr_assert(tl_utf8_valid(b.p, b.len), "round %d: not UTF-8: %s", round, b.p);
        cr_assert(tl_json_valid(b.p), "round %d: not JSON: %s", round, b.p);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cr_assert_eq(gale_json_parse(b.p, b.len, &pk, NULL, NULL), 0, "round %d: %s", round, b.p);
        if (tl_utf8_valid(in, n)) {
            well_formed++;
            cr_assert(sb.size >= n && !memcmp(sb.data + sb.size - n, in, n), "round %d: changed: %s", round, b.p);
        }
        msgpack_sbuffer_destroy(&sb);
        gale_buf_free(&b);
    }
    cr_assert_gt(well_formed, 1000, "too few well-formed strings to test the round trip (%d)", well_formed);
}

/* Doubles: the shortest text that reads back the same (0.1 stays 0.1), and every finite double round-trips. */
Test(json, doubles_are_written_short_and_read_back_exactly)
{
    const struct {
        double d;
        const char *text;
    } cases[] = {{0.1, "0.1"},
                 {12.5, "12.5"},
                 {31.89, "31.89"},
                 {-300, "-300"},
                 {1e300, "1e+300"},
                 {1.0 / 3, "0.3333333333333333"},
                 {0.1 + 0.2, "0.30000000000000004"},
                 {-0.0, "-0"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gale_buf_t b = {0};
        gale_json_double(&b, cases[i].d);
        cr_assert_str_eq(b.p, cases[i].text);
        gale_buf_free(&b);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        gale_buf_t b = {0};
        gale_json_double(&b, d);
        cr_assert_eq(strtod(b.p, NULL), d, "%s does not read back as %a", b.p, d);
        gale_buf_free(&b);
    }
}
