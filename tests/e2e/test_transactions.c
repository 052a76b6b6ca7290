/*
 * The transactions spout through the gale binary: the same seed gives the same transactions, another seed others;
 * they come in time order, every card number passes Luhn (the pii bolt finds each one), and about the share of
 * fraud asked for is planted, each run of it on one card (card testing: small amounts close together, which the
 * rolling bolt's per-card count sees).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

TestSuite(transactions, .init = tl_use_test_plugins, .timeout = 120);

/* transactions(settings) -> [bolts] -> sink, in `dir`; the sink's text (malloc'd) and the --stats JSON in *stats. */
static char *generate(const char *dir, const char *settings, const char *bolts, const char *from, char **stats)
{
    char *cfg = tl_path("%s/tx.cfg", dir), *out = tl_path("%s/tx.jsonl", dir), *spath = tl_path("%s/stats.json", dir);
    unlink(out);
    char *text = tl_path("name = \"tx\";\nconfig = { ackers = 1; };\n"
                         "spouts = ( { name = \"tx\"; plugin = \"transactions\"; settings = { %s }; } );\n"
                         "bolts = ( %s { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
                         " inputs = ( { from = \"%s\"; } ); } );\n",
                         settings, bolts, out, from);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--stats", spath, cfg, NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    char *lines = tl_read_file(out, NULL);
    cr_assert_not_null(lines);
    if (stats) *stats = tl_read_file(spath, NULL);
    free(cfg), free(out), free(spath), free(text);
    return lines;
}

Test(transactions, a_seed_gives_the_same_transactions_in_time_order_and_another_seed_others)
{
    char *dir = tl_tmpdir();
    char *a = generate(dir, "seed = 7; count = 5000;", "", "tx", NULL);
    char *b = generate(dir, "seed = 7; count = 5000;", "", "tx", NULL);
    char *c = generate(dir, "seed = 8; count = 5000;", "", "tx", NULL);
    cr_assert_str_eq(a, b, "the same seed gave other transactions");
    cr_assert_str_neq(a, c, "another seed gave the same transactions");
    long n = 0, frauds = 0, last_time = 0;
    for (const char *p = a; *p; n++) {
        long id, time, category, foreign, label;
        char card[20], email[64];
        double amount;
        cr_assert_eq(
            sscanf(p,
                   "{\"id\": %ld, \"time\": %ld, \"card\": \"%16[0-9]\", \"email\": \"%63[^\"]\", \"amount\": %lf, "
                   "\"category\": %ld, \"foreign\": %ld, \"label\": %ld}",
                   &id, &time, card, email, &amount, &category, &foreign, &label),
            8, "%.160s", p);
        cr_assert_eq(id, n + 1);
        cr_assert_geq(time, last_time, "transaction %ld goes back in time", id);
        cr_assert(category >= 0 && category <= 9 && (foreign == 0 || foreign == 1) && amount >= 0.5);
        last_time = time, frauds += label;
        p = strchr(p, '\n') + 1;
    }
    cr_assert_eq(n, 5000);
    cr_assert(frauds >= 20 && frauds <= 80, "%ld frauds in 5000 for a share of 1%%", frauds);
    free(a), free(b), free(c);
    tl_rmtree(dir);
    free(dir);
}

Test(transactions, every_card_passes_luhn_and_card_testing_runs_are_close_together_on_one_card)
{
    char *dir = tl_tmpdir(), *stats;
    const char *bolts =
        "{ name = \"find\"; plugin = \"pii\"; settings = { fields = [ \"card\", \"email\" ]; detect = [ \"card\", "
        "\"email\" ]; };"
        "  inputs = ( { from = \"tx\"; } ); },"
        " { name = \"roll\"; plugin = \"rolling\"; settings = { key = \"email\"; time = \"time\"; span_ms = 120000; };"
        "  inputs = ( { from = \"tx\"; grouping = \"fields\"; fields = [ \"email\" ]; } ); },";
    char *out = generate(dir, "seed = 3; count = 20000;", bolts, "roll", &stats);
    long pii_cards = tl_json_number(strstr(stats, "\"name\": \"pii_card\""), "value");
    long pii_emails = tl_json_number(strstr(stats, "\"name\": \"pii_email\""), "value");
    cr_assert_eq(pii_cards, 20000, "%ld of 20000 card numbers passed Luhn:\n%s", pii_cards, stats);
    cr_assert_eq(pii_emails, 20000, "%s", stats);
    /* Card testing: small online amounts, labelled, and most of them with others of their card in 2 minutes. */
    long testing = 0, close_together = 0;
    for (const char *p = out; (p = strstr(p, "\"category\": 8, \"foreign\": 0, \"label\": 1, \"window_count\": "));
         p++) {
        long count = strtol(p + strlen("\"category\": 8, \"foreign\": 0, \"label\": 1, \"window_count\": "), NULL, 10);
        testing++, close_together += count >= 3;
    }
    cr_assert_gt(testing, 30, "too few card testing transactions: %ld", testing);
    cr_assert_geq(close_together * 10, testing * 6, "%ld of %ld card tests had 2 others in 2 minutes", close_together,
                  testing);
    free(out), free(stats);
    tl_rmtree(dir);
    free(dir);
}
