/*
 * The cluster's records in ZooKeeper (topo_record.h): a topology's node goes to text and back whole, its slots are
 * found per supervisor, and a node that is wrong is refused with the wrong line named, while keys of a later gale are
 * ignored; topology names; a supervisor's report to text and back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "topo_record.h"

#define SHA_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_B "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_C "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void full_record(gale_topo_record_t *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "word-count_2.0");
    r->status = GALE_TOPO_KILLING;
    r->version = 7;
    r->workers = 3;
    r->tasks = 12;
    snprintf(r->model, sizeof r->model, "%s", SHA_A);
    snprintf(r->secret, sizeof r->secret, "%s", SECRET);
    r->submitted_ms = 1700000000123ULL;
    r->kill_wait_s = 2.5;
    cr_assert_eq(gale_topo_record_add_file(&r->plugins, &r->n_plugins, "split", SHA_B), 0);
    cr_assert_eq(gale_topo_record_add_file(&r->plugins, &r->n_plugins, "count", SHA_C), 0);
    cr_assert_eq(gale_topo_record_add_file(&r->resources, &r->n_resources, "sentences", SHA_C), 0);
    r->slots = calloc(3, sizeof *r->slots);
    cr_assert_not_null(r->slots);
    r->slots[0] = strdup("host-a:6700");
    r->slots[1] = strdup("host-b:6700");
    r->slots[2] = strdup("host-a:6700");
}

Test(topo_record, a_full_record_goes_to_text_and_back_whole)
{
    gale_topo_record_t r, back;
    full_record(&r);
    char *text = gale_topo_record_format(&r);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "status=killing\n"), "%s", text);
    cr_assert(strstr(text, "plugin=split:" SHA_B "\nplugin=count:" SHA_C "\n"), "%s", text);
    cr_assert(strstr(text, "slot=host-a:6700\nslot=host-b:6700\nslot=host-a:6700\n"), "slots in order: %s", text);
    char why[256] = "";
    cr_assert_eq(gale_topo_record_parse(text, &back, why, sizeof why), 0, "%s\n%s", why, text);
    cr_assert_str_eq(back.name, "word-count_2.0");
    cr_assert_eq(back.status, GALE_TOPO_KILLING);
    cr_assert_eq(back.version, 7);
    cr_assert_eq(back.workers, 3);
    cr_assert_eq(back.tasks, 12);
    cr_assert_str_eq(back.model, SHA_A);
    cr_assert_str_eq(back.secret, SECRET);
    cr_assert_eq(back.submitted_ms, 1700000000123ULL);
    cr_assert_float_eq(back.kill_wait_s, 2.5, 1e-9);
    cr_assert_eq(back.n_plugins, 2);
    cr_assert_str_eq(back.plugins[0].component, "split");
    cr_assert_str_eq(back.plugins[0].sha, SHA_B);
    cr_assert_str_eq(back.plugins[1].component, "count");
    cr_assert_str_eq(back.plugins[1].sha, SHA_C);
    cr_assert_eq(back.n_resources, 1);
    cr_assert_str_eq(back.resources[0].component, "sentences");
    cr_assert_str_eq(back.resources[0].sha, SHA_C);
    cr_assert_not_null(back.slots);
    cr_assert_str_eq(back.slots[0], "host-a:6700");
    cr_assert_str_eq(back.slots[1], "host-b:6700");
    cr_assert_str_eq(back.slots[2], "host-a:6700");
    char *again = gale_topo_record_format(&back);
    cr_assert_str_eq(again, text, "the same text a second time");
    free(again);
    free(text);
    gale_topo_record_free(&r);
    gale_topo_record_free(&back);
    cr_assert_null(back.slots);
    cr_assert_eq(back.workers, 0);
}

Test(topo_record, every_status_goes_to_text_and_back)
{
    for (int s = GALE_TOPO_ACTIVE; s <= GALE_TOPO_REBALANCING; s++) {
        gale_topo_record_t r, back;
        full_record(&r);
        r.status = (gale_topo_status_t)s;
        r.next_workers = 4, r.next_tasks = 9, r.after = GALE_TOPO_INACTIVE; /* written only while rebalancing */
        snprintf(r.next_model, sizeof r.next_model, "%s", SHA_B);
        char *text = gale_topo_record_format(&r), why[256] = "";
        cr_assert_eq(gale_topo_record_parse(text, &back, why, sizeof why), 0, "%s", why);
        cr_assert_eq(back.status, (gale_topo_status_t)s, "%s", gale_topo_status_name((gale_topo_status_t)s));
        free(text);
        gale_topo_record_free(&r);
        gale_topo_record_free(&back);
    }
    cr_assert_str_eq(gale_topo_status_name(GALE_TOPO_ACTIVE), "active");
    cr_assert_str_eq(gale_topo_status_name(GALE_TOPO_INACTIVE), "inactive");
    cr_assert_str_eq(gale_topo_status_name(GALE_TOPO_KILLING), "killing");
    cr_assert_str_eq(gale_topo_status_name(GALE_TOPO_REBALANCING), "rebalancing");
    cr_assert_str_eq(gale_topo_status_name((gale_topo_status_t)4), "?");
}

Test(topo_record, a_rebalancing_record_carries_the_next_placement_and_the_status_after_it)
{
    gale_topo_record_t r, back;
    full_record(&r);
    r.status = GALE_TOPO_REBALANCING;
    r.next_workers = 4;
    r.next_tasks = 15;
    r.after = GALE_TOPO_INACTIVE;
    snprintf(r.next_model, sizeof r.next_model, "%s", SHA_C);
    char *text = gale_topo_record_format(&r), why[256] = "";
    cr_assert(strstr(text, "next_workers=4\nnext_tasks=15\nnext_model=" SHA_C "\nafter=inactive\n"), "%s", text);
    cr_assert_eq(gale_topo_record_parse(text, &back, why, sizeof why), 0, "%s", why);
    cr_assert_eq(back.next_workers, 4);
    cr_assert_eq(back.next_tasks, 15);
    cr_assert_str_eq(back.next_model, SHA_C);
    cr_assert_eq(back.after, GALE_TOPO_INACTIVE);
    gale_topo_record_free(&back);
    /* Without its next placement a rebalancing record is wrong; "after" is active or inactive only. */
    char *cut = strstr(text, "next_workers=");
    *cut = '\0';
    cr_assert_eq(gale_topo_record_parse(text, &back, why, sizeof why), GALE_ECORRUPT);
    cr_assert(strstr(why, "next_workers, next_tasks or next_model is missing"), "%s", why);
    gale_topo_record_free(&back);
    free(text);
    r.status = GALE_TOPO_ACTIVE;
    text = gale_topo_record_format(&r);
    cr_assert_null(strstr(text, "next_"), "only while rebalancing: %s", text);
    char *bad = NULL;
    cr_assert_gt(asprintf(&bad, "%safter=killing\n", text), 0);
    cr_assert_eq(gale_topo_record_parse(bad, &back, why, sizeof why), GALE_ECORRUPT);
    cr_assert(strstr(why, "after=killing"), "%s", why);
    gale_topo_record_free(&back);
    free(bad);
    free(text);
    gale_topo_record_free(&r);
}

Test(topo_record, the_slots_of_a_supervisor_are_found_in_slot_order)
{
    gale_topo_record_t r;
    full_record(&r);
    int slots[3] = {-1, -1, -1};
    cr_assert_eq(gale_topo_record_slots_of(&r, "host-a:6700", slots), 2);
    cr_assert_eq(slots[0], 0);
    cr_assert_eq(slots[1], 2);
    cr_assert_eq(gale_topo_record_slots_of(&r, "host-b:6700", slots), 1);
    cr_assert_eq(slots[0], 1);
    cr_assert_eq(gale_topo_record_slots_of(&r, "host-c:6700", slots), 0);
    cr_assert_eq(gale_topo_record_slots_of(&r, "host-a", slots), 0, "the whole HOST:PORT, not a prefix");
    free(r.slots[1]);
    r.slots[1] = NULL; /* a slot nobody runs yet */
    cr_assert_eq(gale_topo_record_slots_of(&r, "host-b:6700", slots), 0);
    gale_topo_record_free(&r);
}

/* A valid node, a line per entry; `key` names the line that edit() replaces. */
static const char *const BASE[] = {
    "name=wc",                   /* 1 */
    "status=active",             /* 2 */
    "version=3",                 /* 3 */
    "workers=2",                 /* 4 */
    "tasks=5",                   /* 5 */
    "model=" SHA_A,              /* 6 */
    "secret=" SECRET,            /* 7 */
    "submitted_ms=1000",         /* 8 */
    "kill_wait_s=30",            /* 9 */
    "plugin=split:" SHA_B,       /* 10 */
    "resource=sentences:" SHA_C, /* 11 */
    "slot=h1:6700",              /* 12 */
    "slot=h2:6700",              /* 13 */
};
#define N_BASE (sizeof BASE / sizeof *BASE)

/* BASE with line `at` (1-based) replaced by `line` (NULL: dropped), and `extra` appended when not NULL. */
static char *edit(int at, const char *line, const char *extra)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    for (size_t i = 0; i < N_BASE; i++) {
        const char *l = (int)i + 1 == at ? line : BASE[i];
        if (l) fprintf(f, "%s\n", l);
    }
    if (extra) fprintf(f, "%s\n", extra);
    fclose(f);
    return text;
}

/* `text` is refused, `why` holding `want`. */
static void refused(char *text, const char *want)
{
    gale_topo_record_t r;
    char why[512] = "";
    cr_assert_eq(gale_topo_record_parse(text, &r, why, sizeof why), GALE_ECORRUPT, "accepted:\n%s", text);
    cr_assert(strstr(why, want), "want \"%s\" in \"%s\"", want, why);
    gale_topo_record_free(&r); /* on failure too */
    free(text);
}

Test(topo_record, the_valid_node_of_these_tests_parses)
{
    gale_topo_record_t r;
    char why[256] = "", *text = edit(0, NULL, NULL);
    cr_assert_eq(gale_topo_record_parse(text, &r, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(r.name, "wc");
    cr_assert_eq(r.workers, 2);
    cr_assert_str_eq(r.slots[1], "h2:6700");
    gale_topo_record_free(&r);
    free(text);
}

Test(topo_record, a_bad_value_is_refused_with_its_line_named)
{
    refused(edit(2, "status=dying", NULL), "line 2: status=dying");
    refused(edit(3, "version=0", NULL), "line 3: version=0");
    refused(edit(3, "version=-4", NULL), "line 3: version=-4");
    refused(edit(3, "version=3x", NULL), "line 3: version=3x");
    refused(edit(4, "workers=0", NULL), "line 4: workers=0");
    refused(edit(4, "workers=5000", NULL), "line 4: workers=5000");
    refused(edit(5, "tasks=0", NULL), "line 5: tasks=0");
    refused(edit(6, "model=" SHA_A "0", NULL), "line 6: model=");
    refused(edit(6, "model=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", NULL), "line 6: model=");
    refused(edit(7, "secret=s3cret", NULL), "line 7: secret=s3cret");
    refused(edit(9, "kill_wait_s=-1", NULL), "line 9: kill_wait_s=-1");
    refused(edit(10, "plugin=split" SHA_B, NULL), "line 10: plugin=split");
    refused(edit(10, "plugin=:" SHA_B, NULL), "line 10: plugin=:");
    refused(edit(11, "resource=sentences:abc", NULL), "line 11: resource=sentences:abc");
    refused(edit(1, "name=a/b", NULL), "line 1: name=a/b");
    refused(edit(1, "just some words", NULL), "line 1: just some words");
    refused(edit(12, "slot=", NULL), "line 12: slot=");
}

Test(topo_record, slot_lines_must_be_one_per_worker)
{
    refused(edit(13, NULL, NULL), "one slot per worker");
    refused(edit(0, NULL, "slot=h3:6700"), "line 14: slot=h3:6700");
    refused(edit(4, "workers=3", NULL), "one slot per worker");
    refused(edit(4, "workers=1", NULL), "line 13: slot=h2:6700");
}

Test(topo_record, a_missing_required_key_is_refused)
{
    const int required[] = {1, 3, 4, 6, 7}; /* name, version, workers, model, secret */
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        int at = required[i];
        if (at == 4) {
            /* without workers= the slot lines have nowhere to go */
            refused(edit(at, NULL, NULL), "line 11: slot=h1:6700");
            continue;
        }
        refused(edit(at, NULL, NULL), "a key is missing");
    }
}

Test(topo_record, keys_of_a_later_gale_are_ignored)
{
    gale_topo_record_t r;
    char why[256] = "";
    char *text = edit(5, "tasks=5\nplacement_hint=spread\nzone=eu-west=1", "labels=a,b\n\nnewer_flag=");
    cr_assert_eq(gale_topo_record_parse(text, &r, why, sizeof why), 0, "%s\n%s", why, text);
    cr_assert_str_eq(r.name, "wc");
    cr_assert_eq(r.tasks, 5);
    cr_assert_eq(r.version, 3);
    cr_assert_eq(r.workers, 2);
    cr_assert_str_eq(r.slots[0], "h1:6700");
    cr_assert_str_eq(r.slots[1], "h2:6700");
    cr_assert_eq(r.n_plugins, 1);
    cr_assert_eq(r.n_resources, 1);
    gale_topo_record_free(&r);
    free(text);
}

Test(topo_record, a_topology_name_is_short_and_of_safe_characters)
{
    cr_assert(gale_topo_name_ok("wc"));
    cr_assert(gale_topo_name_ok("Word-Count_2.0"));
    char name[GALE_TOPO_NAME_MAX + 1];
    memset(name, 'a', GALE_TOPO_NAME_MAX - 1);
    name[GALE_TOPO_NAME_MAX - 1] = '\0';
    cr_assert(gale_topo_name_ok(name), "%d characters", GALE_TOPO_NAME_MAX - 1);
    name[GALE_TOPO_NAME_MAX - 1] = 'a';
    name[GALE_TOPO_NAME_MAX] = '\0';
    cr_assert_not(gale_topo_name_ok(name), "%d characters", GALE_TOPO_NAME_MAX);
    cr_assert_not(gale_topo_name_ok(""));
    cr_assert_not(gale_topo_name_ok("a b"));
    cr_assert_not(gale_topo_name_ok("a/b"));
    cr_assert_not(gale_topo_name_ok("a:b"));
    cr_assert_not(gale_topo_name_ok("a\nb"));
    cr_assert_not(gale_topo_name_ok("caf\xc3\xa9"));
}

static void report_round_trip(const gale_topo_report_t *r, const char *want_text)
{
    char buf[1024];
    gale_topo_report_format(r, buf, sizeof buf);
    cr_assert_str_eq(buf, want_text);
    gale_topo_report_t back;
    cr_assert_eq(gale_topo_report_parse(buf, &back), 0, "%s", buf);
    cr_assert_eq(back.version, r->version);
    cr_assert_eq(back.state, r->state);
    cr_assert_str_eq(back.swap, r->swap);
    cr_assert_str_eq(back.error, r->error);
}

Test(topo_record, a_report_goes_to_text_and_back)
{
    gale_topo_report_t r = {.version = 5, .state = GALE_TOPO_RUNNING};
    report_round_trip(&r, "version=5 state=running");
    r = (gale_topo_report_t){.version = 9, .state = GALE_TOPO_STARTING};
    report_round_trip(&r, "version=9 state=starting");
    r = (gale_topo_report_t){.version = 9, .state = GALE_TOPO_ENDED};
    report_round_trip(&r, "version=9 state=ended");
    r = (gale_topo_report_t){.version = 12, .state = GALE_TOPO_REFUSED};
    snprintf(r.error, sizeof r.error, "plugin split: bad ABI = 1.0 (want 2)");
    report_round_trip(&r, "version=12 state=refused error=plugin split: bad ABI = 1.0 (want 2)");
    r = (gale_topo_report_t){.version = 3, .state = GALE_TOPO_RUNNING};
    snprintf(r.swap, sizeof r.swap, "split:" SHA_C ":refused");
    snprintf(r.error, sizeof r.error, "worker 0: plugin x.so declares stream 'default' with fields [word, n]");
    report_round_trip(&r, "version=3 state=running swap=split:" SHA_C
                          ":refused error=worker 0: plugin x.so declares stream 'default' with fields [word, n]");
    r = (gale_topo_report_t){.version = 3, .state = GALE_TOPO_RUNNING};
    snprintf(r.swap, sizeof r.swap, "split:-:done");
    report_round_trip(&r, "version=3 state=running swap=split:-:done");
}

/* A hot swap under way: the plugin asked of every part, a digest or "-" (gale's own), kept across a round trip. */
Test(topo_record, a_swap_under_way_goes_to_text_and_back)
{
    gale_topo_record_t r, back;
    full_record(&r);
    char why[256] = "";
    const char *const shas[] = {SHA_C, "-"};
    for (int i = 0; i < 2; i++) {
        snprintf(r.swap_component, sizeof r.swap_component, "split");
        snprintf(r.swap_sha, sizeof r.swap_sha, "%s", shas[i]);
        char *text = gale_topo_record_format(&r), *line = NULL;
        cr_assert_gt(asprintf(&line, "swap=split:%s\n", shas[i]), 0);
        cr_assert(strstr(text, line), "%s", text);
        cr_assert_eq(gale_topo_record_parse(text, &back, why, sizeof why), 0, "%s", why);
        cr_assert_str_eq(back.swap_component, "split");
        cr_assert_str_eq(back.swap_sha, shas[i]);
        cr_assert_str_eq(back.swap_on, "", "no part's turn yet");
        gale_topo_record_free(&back);
        free(line), free(text);
    }
    snprintf(r.swap_on, sizeof r.swap_on, "127.0.0.1:6700");
    char *turn = gale_topo_record_format(&r);
    cr_assert(strstr(turn, "swap_on=127.0.0.1:6700\n"), "%s", turn);
    cr_assert_eq(gale_topo_record_parse(turn, &back, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(back.swap_on, "127.0.0.1:6700");
    gale_topo_record_free(&back);
    free(turn);
    r.swap_component[0] = '\0';
    char *text = gale_topo_record_format(&r);
    cr_assert_null(strstr(text, "swap"), "only while a swap runs: %s", text);
    free(text);
    gale_topo_record_free(&r);
    refused(edit(0, NULL, "swap=split:nothex"), "swap=split:nothex");
    refused(edit(0, NULL, "swap=" SHA_C), "swap=");
}

Test(topo_record, a_newline_in_a_reports_error_becomes_a_space)
{
    gale_topo_report_t r = {.version = 3, .state = GALE_TOPO_REFUSED}, back;
    snprintf(r.error, sizeof r.error, "first line\nsecond line\n");
    char buf[1024];
    gale_topo_report_format(&r, buf, sizeof buf);
    cr_assert_str_eq(buf, "version=3 state=refused error=first line second line ");
    cr_assert_eq(gale_topo_report_parse(buf, &back), 0);
    cr_assert_str_eq(back.error, "first line second line ");
    cr_assert_eq(back.state, GALE_TOPO_REFUSED);
}

Test(topo_record, a_report_that_is_wrong_is_refused)
{
    gale_topo_report_t back;
    const char *bad[] = {
        "version=5 state=dead",
        "version=0 state=running",
        "version=-1 state=running",
        "version=x state=running",
        "state=running version=5",
        "version=5",
        "",
        "version=5 status=running",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(gale_topo_report_parse(bad[i], &back), GALE_ECORRUPT, "accepted \"%s\"", bad[i]);
    cr_assert_str_eq(gale_topo_state_name((gale_topo_state_t)4), "?");
}
