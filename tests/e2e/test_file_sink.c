/* End to end: file_sink's JSON lines stay JSON (UTF-8, RFC 8259) whatever bytes the input lines hold. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "testlib.h"

TestSuite(file_sink, .timeout = 120);

#define R "\xef\xbf\xbd" /* U+FFFD */

/* Each input line (without its \n) and the exact line file_sink must write for it. */
static const struct {
    const char *in;
    size_t len;
    const char *out;
} corpus[] = {
#define L(in, out) {in, sizeof in - 1, "{\"line\": \"" out "\"}"}
    L("plain ascii", "plain ascii"),
    L("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
    L("latin-1 caf\xe9!", "latin-1 caf" R "!"),
    L("overlong \xc0\xaf slash \xe0\x80\xaf", "overlong " R R " slash " R R R),
    L("surrogates \xed\xa0\x80\xed\xbf\xbf", "surrogates " R R R R R R),
    L("above U+10FFFF \xf4\x90\x80\x80 \xf7\xbf\xbf\xbf", "above U+10FFFF " R R R R " " R R R R),
    L("stray \x80\xbf continuations", "stray " R R " continuations"),
    L("truncated at the end \xe2\x82", "truncated at the end " R),
    L("truncated \xf0\x9f\x98 inside", "truncated " R " inside"),
    L("controls \x01\x1b[31m\x7f \xc2\x9b.", "controls \\u0001\\u001b[31m\\u007f \\u009b."),
    L("quote \" backslash \\ tab \t cr \r mid", "quote \\\" backslash \\\\ tab \\t cr \\r mid"),
    L("nul \0 inside", "nul \\u0000 inside"),
    L("\xff\xfe", R R),
    L("", ""),
#undef L
};
#define N_CORPUS (sizeof corpus / sizeof *corpus)

Test(file_sink, hostile_bytes_give_exact_valid_json_lines)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/hostile.txt", dir);
    FILE *f = fopen(in, "wb");
    cr_assert_not_null(f);
    for (size_t i = 0; i < N_CORPUS; i++) {
        cr_assert_eq(fwrite(corpus[i].in, 1, corpus[i].len, f), corpus[i].len);
        fputs(i % 3 ? "\n" : "\r\n", f); /* file_lines takes either line end */
    }
    fclose(f);
    const char *argv[] = {tl_gale(), "run", "tests/topologies/e2e/file_sink_json.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, in, 100, &r), 0);
    cr_assert_not(r.timed_out, "gale did not finish:\n%s", r.err);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, r.err);
    size_t n = 0;
    for (char *line = r.out, *nl; *line; line = nl + 1, n++) {
        cr_assert_not_null(nl = strchr(line, '\n'), "an unterminated line: %s", line);
        *nl = '\0';
        cr_assert_lt(n, N_CORPUS, "more lines than input lines: %s", line);
        cr_assert_str_eq(line, corpus[n].out, "line %zu", n + 1);
        cr_assert(tl_utf8_valid(line, strlen(line)), "line %zu is not UTF-8: %s", n + 1, line);
        cr_assert(tl_json_valid(line), "line %zu is not JSON: %s", n + 1, line);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cr_assert_eq(gale_json_parse(line, strlen(line), &pk, NULL, NULL), 0, "line %zu: %s", n + 1, line);
        msgpack_sbuffer_destroy(&sb);
    }
    cr_assert_eq(n, N_CORPUS, "%zu lines for %zu inputs\n%s", n, N_CORPUS, r.out);
    tl_result_free(&r);
    free(in);
    tl_rmtree(dir);
    free(dir);
}
