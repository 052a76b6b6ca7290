/* JSON text of values: escapes, numbers, bytes, nesting. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "json.h"

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
