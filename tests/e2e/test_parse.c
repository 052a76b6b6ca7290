/*
 * The parse bolt through the gale binary: file_lines -> parse -> file_sink, with a journal and no retries. CSV
 * (quotes, "" escapes, types, a header, missing columns, too many) and JSON (dotted paths, types, whole values,
 * malformed text, a non-object) come out as exactly the expected fields; every line that does not parse is failed
 * with its cause, and its tree is journaled saying why. Bad settings are errors that name them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

TestSuite(parse, .init = tl_use_test_plugins, .timeout = 120);

/* Runs file_lines(input) -> parse(settings) -> file_sink in a new folder; *out the sink's lines, *journal the
   journal's records as JSON lines (both malloc'd), *n_journal their count. Returns the run's stderr (malloc'd). */
static char *run_parse(const char *input, const char *settings, char **out, char **journal, long *n_journal)
{
    char *dir = tl_tmpdir(), *in = tl_path("%s/in.txt", dir), *cfg = tl_path("%s/parse.cfg", dir);
    char *jpath = tl_path("%s/failed.journal", dir), *opath = tl_path("%s/out.jsonl", dir);
    cr_assert_eq(tl_write_file(in, input), 0);
    char *text = tl_path("name = \"parse\";\nconfig = { ackers = 1; max_retries = 0; journal = \"%s\"; };\n"
                         "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                         "bolts = ( { name = \"parse\"; plugin = \"parse\"; settings = { %s };"
                         " inputs = ( { from = \"lines\"; } ); },\n"
                         " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
                         " inputs = ( { from = \"parse\"; } ); } );\n",
                         jpath, in, settings, opath);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    *out = tl_read_file(opath, NULL);
    if (!*out) *out = strdup("");
    *journal = tl_journal_json(jpath, NULL, n_journal);
    char *err = r.err;
    r.err = NULL;
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(in), free(cfg), free(jpath), free(opath), free(text);
    return err;
}

/* `want` is one of the lines of `text`, whole. */
static void assert_line(const char *text, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = text; (p = strstr(p, want)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return;
    cr_assert_fail("no line\n%s\nin\n%s", want, text);
}

static long count_lines(const char *text)
{
    long n = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++) n++;
    return n;
}

/* The journal has a record of `line` (its values) saying `error`. */
static void assert_journaled(const char *journal, const char *line_json, const char *error)
{
    char *want = tl_path("\"values\": [%s], \"cause\": \"fail\", \"component\": \"parse\"", line_json);
    const char *rec = strstr(journal, want);
    cr_assert_not_null(rec, "no record of %s in\n%s", line_json, journal);
    const char *end = strchr(rec, '\n');
    char *err = tl_path("\"error\": \"%s\"}", error);
    const char *at = strstr(rec, err);
    cr_assert(at && at < end, "the record of %s does not say %s:\n%.*s", line_json, err, (int)(end - rec), rec);
    free(want), free(err);
}

Test(parse, csv_lines_become_typed_fields_and_those_that_do_not_parse_are_journaled_with_the_cause)
{
    const char *input = "id,amount,card,note\n"
                        "1,12.5,4111,\"hello, world\"\n"
                        "2,7,4222,\"say \"\"hi\"\"\"\n"
                        "3,abc,4333,x\n"
                        "4,1.5,4444,\"open\n"
                        "5,2.5\n"
                        "6,1,2,3,4\n"
                        "7,-3e2,,\"\"\r\n";
    char *out, *journal;
    long n;
    char *err = run_parse(input,
                          "fields = [ \"id\", \"amount\", \"card\", \"note\" ]; header = true; keep = [ \"line\" ];"
                          " types = { amount = \"double\"; card = \"string\"; };",
                          &out, &journal, &n);
    cr_assert_eq(count_lines(out), 4, "%s\n%s", out, err);
    assert_line(out, "{\"line\": \"1,12.5,4111,\\\"hello, world\\\"\", \"id\": 1, \"amount\": 12.5, \"card\": \"4111\","
                     " \"note\": \"hello, world\"}");
    assert_line(out,
                "{\"line\": \"2,7,4222,\\\"say \\\"\\\"hi\\\"\\\"\\\"\", \"id\": 2, \"amount\": 7, \"card\": \"4222\","
                " \"note\": \"say \\\"hi\\\"\"}");
    assert_line(out, "{\"line\": \"5,2.5\", \"id\": 5, \"amount\": 2.5, \"card\": null, \"note\": null}");
    /* An empty string column is "", an empty column of another type nil; the \r of a CRLF line is not data. */
    assert_line(out, "{\"line\": \"7,-3e2,,\\\"\\\"\", \"id\": 7, \"amount\": -300, \"card\": \"\", \"note\": null}");
    cr_assert_eq(n, 3, "%s", journal);
    assert_journaled(journal, "\"3,abc,4333,x\"", "column 2 (amount): 'abc' is not a number");
    assert_journaled(journal, "\"4,1.5,4444,\\\"open\"", "CSV: column 4: the quote at byte 12 is never closed");
    assert_journaled(journal, "\"6,1,2,3,4\"", "CSV: more than 4 columns (one per field)");
    cr_assert_not_null(strstr(err, "failed: column 2 (amount): 'abc' is not a number"), "%s", err);
    free(out), free(journal), free(err);
}

Test(parse, json_objects_become_fields_by_path_and_type_and_bad_ones_are_journaled_with_the_cause)
{
    const char *input =
        "{\"id\": 1, \"card\": {\"number\": \"4111\", \"cvv\": 1}, \"amount\": 3.5, \"tags\": [\"a\"]}\n"
        "{\"id\": 2, \"card\": {\"number\": \"4222\"}, \"amount\": 4}\n"
        "{\"id\": 3, \"amount\": \"x\"}\n"
        "{\"id\": 4 \"amount\": 1}\n"
        "[1, 2]\n"
        "{\"id\": {\"deep\": 1}}\n"
        "{\"id\": 5, \"tags\": {\"x\": 1}}\n";
    char *out, *journal;
    long n;
    char *err = run_parse(input,
                          "format = \"json\"; fields = [ \"id\", \"card.number\", \"amount\", \"tags\" ];"
                          " types = { amount = \"double\"; tags = \"json\"; };",
                          &out, &journal, &n);
    cr_assert_eq(count_lines(out), 3, "%s\n%s", out, err);
    assert_line(out, "{\"id\": 1, \"number\": \"4111\", \"amount\": 3.5, \"tags\": [\"a\"]}");
    assert_line(out, "{\"id\": 2, \"number\": \"4222\", \"amount\": 4, \"tags\": null}");
    assert_line(out, "{\"id\": 5, \"number\": null, \"amount\": null, \"tags\": {\"x\": 1}}");
    cr_assert_eq(n, 4, "%s", journal);
    assert_journaled(journal, "\"{\\\"id\\\": 3, \\\"amount\\\": \\\"x\\\"}\"",
                     "JSON: amount is a string, not of type double");
    assert_journaled(journal, "\"{\\\"id\\\": 4 \\\"amount\\\": 1}\"", "not JSON: byte 9: expected ',' or '}'");
    assert_journaled(journal, "\"[1, 2]\"", "JSON: not an object");
    assert_journaled(journal, "\"{\\\"id\\\": {\\\"deep\\\": 1}}\"",
                     "JSON: id is an object (give it type \\\"json\\\" to keep it whole)");
    free(out), free(journal), free(err);
}

Test(parse, missing_fail_fails_short_lines_and_absent_keys)
{
    char *out, *journal;
    long n;
    char *err = run_parse("1,2\n1\n", "fields = [ \"a\", \"b\" ]; missing = \"fail\";", &out, &journal, &n);
    cr_assert_eq(count_lines(out), 1, "%s", out);
    assert_line(out, "{\"a\": 1, \"b\": 2}");
    assert_journaled(journal, "\"1\"", "CSV: 1 columns, 2 fields (settings.missing = \\\"fail\\\")");
    free(out), free(journal), free(err);
    err = run_parse("{\"a\": {\"b\": 1}}\n{\"a\": 2}\n", "format = \"json\"; fields = [ \"a.b\" ]; missing = \"fail\";",
                    &out, &journal, &n);
    assert_line(out, "{\"b\": 1}");
    assert_journaled(journal, "\"{\\\"a\\\": 2}\"", "JSON: no a.b (settings.missing = \\\"fail\\\")");
    free(out), free(journal), free(err);
}

static void refused(const char *settings, const char *says) { tl_validate_refuses("parse", settings, says); }

Test(parse, bad_settings_are_errors_that_name_them)
{
    refused("format = \"xml\"; fields = [ \"a\" ];", "settings.format: \"csv\" or \"json\", not \"xml\"");
    refused("format = \"csv\";", "settings.fields: required");
    refused("fields = [ \"a\" ]; types = { b = \"int\"; };", "settings.types: 'b' is not one of settings.fields");
    refused("fields = [ \"a\" ]; types = { a = \"float\"; };", "settings.types.a: auto, string, int, double, bool");
    refused("fields = [ \"a\" ]; types = { a = \"json\"; };", "settings.types.a: auto, string, int, double, bool");
    refused("fields = [ \"a\" ]; delimiter = \";;\";", "settings.delimiter: one character");
    refused("fields = [ \"a\", \"a\" ];", "'a' is emitted twice");
    refused("fields = [ \"a\" ]; keep = [ \"offset\" ];", "settings.keep: input 1 has no field 'offset'");
    refused("fields = [ \"a\" ]; field = \"text\";", "settings.field: input 1 has no field 'text'");
    refused("format = \"json\"; fields = [ \"a..b\" ];", "settings.fields: 'a..b' is not a path");
}

Test(parse, the_shipped_example_prints_the_good_payments_and_journals_the_two_bad_ones)
{
    char *dir = tl_tmpdir(), *journal = tl_path("%s/j", dir), *set = tl_path("config.journal=\"%s\"", journal);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", set, "topologies/parse_csv.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(
        r.out,
        "{\"id\": 1, \"card\": \"4111111111111111\", \"amount\": 12.5, \"currency\": \"EUR\", \"note\": \"coffee\"}\n"
        "{\"id\": 2, \"card\": \"4222222222222\", \"amount\": 7, \"currency\": \"USD\", \"note\": \"books, used\"}\n"
        "{\"id\": 4, \"card\": \"4444444444444448\", \"amount\": 1999.99, \"currency\": \"GBP\", \"note\": \"a "
        "\\\"quoted\\\" note\"}\n"
        "{\"id\": 6, \"card\": \"4666666666666666\", \"amount\": 42, \"currency\": \"CHF\", \"note\": null}\n");
    long n;
    char *recs = tl_journal_json(journal, "fail", &n);
    cr_assert_eq(n, 2, "%s", recs);
    cr_assert_not_null(strstr(recs, "\"error\": \"column 3 (amount): 'abc' is not a number\""), "%s", recs);
    cr_assert_not_null(strstr(recs, "\"error\": \"CSV: column 5: the quote at byte 29 is never closed\""), "%s", recs);
    tl_result_free(&r);
    free(recs);
    tl_rmtree(dir);
    free(dir), free(journal), free(set);
}
