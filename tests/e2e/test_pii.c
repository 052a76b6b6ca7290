/*
 * The pii bolt through the gale binary: file_lines -> pii -> file_sink (and its audit stream to a second sink).
 * Planted values of every kind are all found and protected, and counted; near misses (a 16-digit number that fails
 * Luhn, an IBAN with a wrong check, order ids, dates, times) are left alone, and the false-positive rate on text
 * without personal data (the licences Debian ships, gale's sample sentences) is measured and must stay under 0.5%;
 * pseudonyms are equal across runs and across two workers, and differ under another key; the audit stream says
 * where and what, never the value; a key file others can read, and every other bad setting, is refused by name.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "testlib.h"

TestSuite(pii, .init = tl_use_test_plugins, .timeout = 120);

typedef struct run {
    char *dir, *key;
} run_t;

static void run_init(run_t *r)
{
    r->dir = tl_tmpdir();
    r->key = tl_path("%s/pii.key", r->dir);
    cr_assert_eq(tl_write_file(r->key, "0123456789abcdef-a-test-key-only"), 0);
    chmod(r->key, 0600);
}

static void run_free(run_t *r)
{
    tl_rmtree(r->dir);
    free(r->dir), free(r->key);
}

/* file_lines(input) -> pii(settings, parallelism) -> sink, audit -> audit sink; `extra` are more gale run arguments
   (NULL-terminated, or NULL). *out gets the sink's lines, *audit the audit sink's (malloc'd; "" when none), *stats
   the --stats JSON. */
static void run_pii(run_t *r, const char *input, const char *settings, int parallelism, const char *const *extra,
                    char **out, char **audit, char **stats)
{
    char *in = tl_path("%s/in.txt", r->dir), *cfg = tl_path("%s/pii.cfg", r->dir);
    char *opath = tl_path("%s/out.jsonl", r->dir), *apath = tl_path("%s/audit.jsonl", r->dir);
    char *spath = tl_path("%s/stats.json", r->dir);
    unlink(opath), unlink(apath);
    cr_assert_eq(tl_write_file(in, input), 0);
    bool audited = strstr(settings, "audit = true") != NULL;
    char *audit_sink = audited
                           ? tl_path(",\n { name = \"audit\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
                                     " inputs = ( { from = \"pii\"; stream = \"pii_audit\"; } ); }",
                                     apath)
                           : strdup("");
    char *text = tl_path("name = \"pii\";\nconfig = { ackers = 1; };\n"
                         "spouts = ( { name = \"lines\"; plugin = \"file_lines\"; settings = { path = \"%s\"; }; } );\n"
                         "bolts = ( { name = \"pii\"; plugin = \"pii\"; parallelism = %d; settings = { %s };"
                         " inputs = ( { from = \"lines\"; grouping = \"shuffle\"; } ); },\n"
                         " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
                         " inputs = ( { from = \"pii\"; } ); }%s );\n",
                         in, parallelism, settings, opath, audit_sink);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[16] = {tl_gale(), "run", "--quiet", "--stats", spath};
    int n = 5;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n++] = cfg;
    tl_result_t res;
    cr_assert_eq(tl_run(argv, NULL, 90, &res), 0);
    cr_assert_eq(res.status, 0, "%s", res.err);
    tl_result_free(&res);
    *out = tl_read_file(opath, NULL);
    cr_assert_not_null(*out);
    *audit = audited ? tl_read_file(apath, NULL) : strdup("");
    if (!*audit) *audit = strdup("");
    *stats = tl_read_file(spath, NULL);
    free(in), free(cfg), free(opath), free(apath), free(spath), free(audit_sink), free(text);
}

static long metric(const char *stats, const char *name)
{
    char *needle = tl_path("\"name\": \"%s\"", name);
    long v = tl_json_number(strstr(stats, needle), "value");
    free(needle);
    return v;
}

/* A card number of 16 digits passing Luhn, from `seed`. */
static void make_card(unsigned seed, char out[17])
{
    int d[16];
    for (int i = 0; i < 15; i++) d[i] = (int)((seed * 2654435761u >> (i % 24)) + (unsigned)i * 7) % 10;
    d[0] = 4;
    int sum = 0;
    for (int i = 0; i < 15; i++) { /* from the right, skipping the check digit: positions 1, 3, ... double */
        int x = d[14 - i];
        if (i % 2 == 0) x = x * 2 > 9 ? x * 2 - 9 : x * 2;
        sum += x;
    }
    d[15] = (10 - sum % 10) % 10;
    for (int i = 0; i < 16; i++) out[i] = (char)('0' + d[i]);
    out[16] = '\0';
}

/* A German IBAN with a right check, of 18 BBAN digits from `seed`. */
static void make_iban(unsigned seed, char out[23])
{
    char bban[19];
    for (int i = 0; i < 18; i++) bban[i] = (char)('0' + (int)((seed * 40503u + (unsigned)i * 31u) >> (i % 8)) % 10);
    bban[18] = '\0';
    /* mod 97 of BBAN + "DE00" with letters as numbers (D = 13, E = 14) */
    char num[40];
    snprintf(num, sizeof num, "%s131400", bban);
    unsigned rem = 0;
    for (const char *p = num; *p; p++) rem = (rem * 10 + (unsigned)(*p - '0')) % 97;
    snprintf(out, 23, "DE%02u%s", 98 - rem, bban);
}

#define PLANTED 210 /* 30 of each of 7 kinds */

static const char *const KINDS[] = {"EMAIL", "PHONE", "CARD", "IBAN", "IPV4", "IPV6", "EMPLOYEE"};

static void planted(int i, char *value, size_t cap)
{
    char card[17], iban[23];
    switch (i % 7) {
    case 0: snprintf(value, cap, "user%d.name@example%d.com", i, i % 5); break;
    case 1:
        if (i % 3 == 0) snprintf(value, cap, "+44 20 7946 %04d", i);
        else if (i % 3 == 1) snprintf(value, cap, "(555) 123-%04d", i);
        else snprintf(value, cap, "+1415555%04d", i);
        break;
    case 2:
        make_card((unsigned)i, card);
        if (i % 2) snprintf(value, cap, "%.4s %.4s %.4s %.4s", card, card + 4, card + 8, card + 12);
        else snprintf(value, cap, "%s", card);
        break;
    case 3:
        make_iban((unsigned)i, iban);
        if (i % 2)
            snprintf(value, cap, "%.4s %.4s %.4s %.4s %.4s %.2s", iban, iban + 4, iban + 8, iban + 12, iban + 16,
                     iban + 20);
        else snprintf(value, cap, "%s", iban);
        break;
    case 4: snprintf(value, cap, "10.%d.%d.7", i % 256, i / 7); break;
    case 5: snprintf(value, cap, "2001:db8::%x:1", i); break;
    default: snprintf(value, cap, "E-%06d", i * 37); break;
    }
}

Test(pii, planted_values_of_every_kind_are_all_found_protected_and_counted)
{
    run_t r;
    run_init(&r);
    gale_buf_t in = {0};
    char value[64];
    for (int i = 0; i < PLANTED; i++) {
        planted(i, value, sizeof value);
        gale_buf_printf(&in, "note %d: write to %s please.\n", i, value);
    }
    char *out, *audit, *stats;
    run_pii(&r, in.p, "patterns = { employee = \"E-[0-9]{6}\"; };", 1, NULL, &out, &audit, &stats);
    for (int i = 0; i < PLANTED; i++) {
        planted(i, value, sizeof value);
        char want[128];
        snprintf(want, sizeof want, "{\"line\": \"note %d: write to [%s] please.\"}\n", i, KINDS[i % 7]);
        cr_assert_not_null(strstr(out, want), "%s not found: no\n%s", value, want);
        cr_assert_null(strstr(out, value), "%s is still in the output", value);
    }
    const char *metrics[] = {"pii_email", "pii_phone", "pii_card", "pii_iban", "pii_ipv4", "pii_ipv6", "pii_employee"};
    for (int k = 0; k < 7; k++) cr_assert_eq(metric(stats, metrics[k]), PLANTED / 7, "%s: %s", metrics[k], stats);
    gale_buf_free(&in);
    free(out), free(audit), free(stats);
    run_free(&r);
}

static const char NEAR_MISSES[] = "invoice 4111111111111112 is not a card (Luhn)\n"
                                  "order ORD-2024-000123 shipped in box 12345678\n"
                                  "on 2024-01-15 at 10:30:00, ticket 123456789012\n"
                                  "IBAN DE00 3704 0044 0532 0130 00 has a wrong check\n"
                                  "version 1.2.3 and 999.1.1.1 and 10.0.0\n"
                                  "write to user at example dot com\n"
                                  "amount 1,234,567.89 EUR, ratio 3.14 2.71\n"
                                  "call ext. 1234 or room 555-1234\n";

Test(pii, near_misses_are_left_alone_and_the_false_positive_rate_on_text_without_pii_is_low)
{
    run_t r;
    run_init(&r);
    char *out, *audit, *stats;
    run_pii(&r, NEAR_MISSES, "audit = true;", 1, NULL, &out, &audit, &stats);
    cr_assert_str_eq(audit, "", "a near miss was taken for personal data:\n%s", audit);
    cr_assert_null(strstr(out, "["), "%s", out);
    free(out), free(audit), free(stats);
    /* Text without personal data: Debian's licence texts (which every Debian machine has) and the sample
       sentences. Each line changed is a false positive. */
    gale_buf_t corpus = {0};
    const char *files[] = {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
                           "/usr/share/common-licenses/MPL-2.0", "topologies/data/sample.txt"};
    long lines = 0;
    for (size_t f = 0; f < 4; f++) {
        char *text = tl_read_file(files[f], NULL);
        cr_assert_not_null(text, "%s", files[f]);
        for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
            if (nl == p) continue;
            gale_buf_put(&corpus, p, (size_t)(nl - p) + 1);
            lines++;
        }
        free(text);
    }
    run_pii(&r, corpus.p, "audit = true;", 1, NULL, &out, &audit, &stats);
    long changed = 0;
    for (const char *p = audit; (p = strchr(p, '\n')); p++) changed++;
    double rate = (double)changed / (double)lines;
    fprintf(stderr, "pii: %ld matches in %ld lines of text without personal data: false-positive rate %.3f%%\n",
            changed, lines, 100 * rate);
    cr_assert_lt(rate, 0.005, "%ld false positives in %ld lines:\n%s", changed, lines, audit);
    gale_buf_free(&corpus);
    free(out), free(audit), free(stats);
    run_free(&r);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines of `text`, sorted, joined again (the order of a run with two tasks is not fixed). */
static char *sorted(const char *text)
{
    char *copy = strdup(text), *lines[1024];
    size_t n = 0;
    for (char *p = copy, *nl; n < 1024 && (nl = strchr(p, '\n')); p = nl + 1) *nl = '\0', lines[n++] = p;
    qsort(lines, n, sizeof *lines, cmp_str);
    gale_buf_t b = {0};
    for (size_t i = 0; i < n; i++) gale_buf_printf(&b, "%s\n", lines[i]);
    free(copy);
    return b.p ? b.p : strdup("");
}

Test(pii, pseudonyms_are_equal_across_runs_and_workers_and_differ_under_another_key)
{
    run_t r;
    run_init(&r);
    const char *input = "a John.Doe@Example.com\nb john.doe@example.com\nc 4111 1111 1111 1111\nd 4111111111111111\n"
                        "e DE89 3704 0044 0532 0130 00\nf DE89370400440532013000\ng +44 20 7946 0958\n";
    char *settings = tl_path("actions = { default = \"hash\"; }; key_file = \"%s\";", r.key);
    char *a, *b, *c, *d, *audit, *stats;
    run_pii(&r, input, settings, 1, NULL, &a, &audit, &stats);
    free(audit), free(stats);
    run_pii(&r, input, settings, 1, NULL, &b, &audit, &stats);
    free(audit), free(stats);
    const char *workers[] = {"--workers", "2", NULL};
    run_pii(&r, input, settings, 2, workers, &c, &audit, &stats);
    free(audit), free(stats);
    char *sa = sorted(a), *sb = sorted(b), *sc = sorted(c);
    cr_assert_str_eq(sa, sb, "two runs gave different pseudonyms");
    cr_assert_str_eq(sa, sc, "two workers gave different pseudonyms than one process:\n%s\n%s", sa, sc);
    /* One pseudonym for one person, however the value was written. */
    char pseud[8][64];
    for (int i = 0; i < 7; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "\"%c ", 'a' + i);
        const char *p = strstr(a, tag);
        cr_assert_not_null(p, "%s", a);
        sscanf(p + 3, "%63[a-z0-9_]", pseud[i]);
    }
    cr_assert_str_eq(pseud[0], pseud[1]);
    cr_assert_str_eq(pseud[2], pseud[3]);
    cr_assert_str_eq(pseud[4], pseud[5]);
    cr_assert(!strncmp(pseud[0], "email_", 6) && strlen(pseud[0]) == 6 + 24, "%s", pseud[0]);
    cr_assert(!strncmp(pseud[2], "card_", 5) && !strncmp(pseud[4], "iban_", 5) && !strncmp(pseud[6], "phone_", 6));
    /* Another key: every pseudonym changes. */
    cr_assert_eq(tl_write_file(r.key, "another-key-of-at-least-sixteen-bytes"), 0);
    run_pii(&r, input, settings, 1, NULL, &d, &audit, &stats);
    for (int i = 0; i < 7; i++) cr_assert_null(strstr(d, pseud[i]), "%s survived a new key", pseud[i]);
    free(audit), free(stats);
    free(a), free(b), free(c), free(d), free(sa), free(sb), free(sc), free(settings);
    run_free(&r);
}

Test(pii, mask_drop_and_the_audit_stream_say_where_and_what_never_the_value)
{
    run_t r;
    run_init(&r);
    char *out, *audit, *stats;
    run_pii(&r, "pay 4111-1111-1111-1111 from jane@example.org\nip 10.1.2.3\n",
            "actions = { card = \"mask\"; ipv4 = \"drop\"; }; audit = true; audit_id = \"line\"; mask_keep = 4;", 1,
            NULL, &out, &audit, &stats);
    cr_assert_str_eq(out, "{\"line\": \"pay ****-****-****-1111 from [EMAIL]\"}\n{\"line\": null}\n");
    /* audit_id names the line itself here, so the id is the line as it came: what an id field would be */
    cr_assert_not_null(strstr(audit, "\"field\": \"line\", \"kind\": \"card\", \"start\": 4, \"length\": 19, "
                                     "\"action\": \"mask\"}"),
                       "%s", audit);
    cr_assert_not_null(strstr(audit, "\"kind\": \"email\", \"start\": 29, \"length\": 16, \"action\": \"redact\"}"),
                       "%s", audit);
    cr_assert_not_null(strstr(audit, "\"kind\": \"ipv4\", \"start\": 3, \"length\": 8, \"action\": \"drop\"}"), "%s",
                       audit);
    free(out), free(audit), free(stats);
    run_pii(&r, "pay 4111-1111-1111-1111 from jane@example.org\n", "audit = true;", 1, NULL, &out, &audit, &stats);
    cr_assert_null(strstr(audit, "4111"), "a value in the audit stream:\n%s", audit);
    cr_assert_null(strstr(audit, "jane"), "a value in the audit stream:\n%s", audit);
    cr_assert_not_null(strstr(audit, "{\"id\": null, \"field\": \"line\", \"kind\": \"email\""), "%s", audit);
    free(out), free(audit), free(stats);
    run_free(&r);
}

static void refused(const char *settings, const char *says) { tl_validate_refuses("pii", settings, says); }

Test(pii, a_key_file_others_can_read_and_other_bad_settings_are_refused_by_name)
{
    run_t r;
    run_init(&r);
    chmod(r.key, 0644);
    char *s = tl_path("actions = { card = \"hash\"; }; key_file = \"%s\";", r.key),
         *says = tl_path("%s: readable by others (mode 0644): chmod 600 %s", r.key, r.key);
    refused(s, says);
    free(s), free(says);
    chmod(r.key, 0600);
    cr_assert_eq(tl_write_file(r.key, "short"), 0);
    s = tl_path("actions = { card = \"hash\"; }; key_file = \"%s\";", r.key);
    refused(s, "the key is 5 bytes; it must be 16 to 4095 bytes");
    free(s);
    refused("actions = { card = \"hash\"; };", "settings.key_file: required by the \"hash\" action");
    refused("detect = [ \"email\", \"ssn\" ];", "settings.detect: 'ssn' is not email, phone, card, iban, ipv4 or ipv6");
    refused("patterns = { broken = \"E-[0-9\"; };",
            "settings.patterns.broken: not a PCRE2 pattern at offset 6: missing terminating ] for character class");
    refused("patterns = { Bad = \"x\"; };", "settings.patterns: 'Bad' is not 1 to 24 of a-z, 0-9, _");
    refused("actions = { card = \"shred\"; };", "settings.actions.card: mask, redact, hash or drop");
    refused("actions = { ssn = \"mask\"; };", "settings.actions: 'ssn' is not a kind this bolt looks for");
    refused("fields = [ \"text\" ];", "settings.fields: input 1 has no field 'text'");
    run_free(&r);
}

Test(pii, the_shipped_example_protects_the_tickets_and_leaves_the_order_alone)
{
    char *dir = tl_tmpdir(), *audit = tl_path("%s/audit.jsonl", dir), *set = tl_path("audit.path=%s", audit);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--set", set, "topologies/pii_tickets.cfg", NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
                     "{\"line\": \"Ticket 1: Jane Roe ([EMAIL]) says card **** **** **** 1111 was charged twice.\"}\n"
                     "{\"line\": \"Ticket 2: refund to [IBAN], call back on [PHONE].\"}\n"
                     "{\"line\": \"Ticket 3: login failures from [IPV4] and [IPV6] since 10:30:00.\"}\n"
                     "{\"line\": \"Ticket 4: order ORD-2024-000123 of 2024-01-15, reference 4111111111111112, nothing "
                     "personal.\"}\n");
    char *text = tl_read_file(audit, NULL);
    long n = 0;
    for (const char *p = text; p && (p = strchr(p, '\n')); p++) n++;
    cr_assert_eq(n, 6, "%s", text);
    tl_result_free(&r);
    free(text);
    tl_rmtree(dir);
    free(dir), free(audit), free(set);
}

Test(pii, key_create_makes_a_private_key_once_and_keeps_using_it)
{
    run_t r;
    run_init(&r);
    char *key = tl_path("%s/made.key", r.dir);
    char *settings = tl_path("actions = { default = \"hash\"; }; key_file = \"%s\"; key_create = true;", key);
    char *a, *b, *audit, *stats;
    run_pii(&r, "card 4111111111111111\n", settings, 2, NULL, &a, &audit, &stats);
    free(audit), free(stats);
    struct stat st;
    cr_assert_eq(stat(key, &st), 0, "no key was made");
    cr_assert_eq(st.st_mode & 0777, 0600, "the key's mode is %o", (unsigned)(st.st_mode & 0777));
    cr_assert_eq(st.st_size, 32);
    run_pii(&r, "card 4111111111111111\n", settings, 2, NULL, &b, &audit, &stats);
    cr_assert_str_eq(a, b, "the second run made another key");
    cr_assert_not_null(strstr(a, "card card_"), "%s", a);
    free(audit), free(stats), free(a), free(b), free(key), free(settings);
    run_free(&r);
}
