/*
 * The Redis stream spout and the Redis sink through the gale binary, against a real redis-server (Debian's) on
 * 127.0.0.1 at a port of the test's own: the shipped redis_wordcount.cfg counts every entry exactly once and leaves
 * nothing pending, so that a second run reads nothing; a worker SIGKILLed mid-run loses no entry (its task's next
 * life reads its consumer's pending entries); entries pending on a consumer that went away are claimed; Redis
 * killed and started again mid-run loses nothing; oversize entries and entries without the field are counted and
 * acknowledged; the sink writes counts through a command template and XADD, and fails inputs Redis refuses; an
 * unreachable server and bad settings are errors that name them.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "testlib.h"

TestSuite(redis_stream, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 180);

#define LINES 3000

typedef struct {
    char *dir, *input;
    tl_redis_t redis;
    long counts[10];
} rs_t;

static redisContext *connect_to(const rs_t *k)
{
    redisContext *c = redisConnect("127.0.0.1", k->redis.port);
    cr_assert(c && !c->err, "cannot connect to the test's Redis");
    return c;
}

/* The lines of k->input as entries of `stream` ({"line": text}), pipelined. */
static void fill(const rs_t *k, const char *stream)
{
    redisContext *c = connect_to(k);
    char *text = tl_read_file(k->input, NULL);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), n++)
        redisAppendCommand(c, "XADD %s * line %s", stream, line);
    for (int i = 0; i < n; i++) {
        redisReply *r;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING, "XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
    }
    cr_assert_eq(n, LINES);
    free(text);
    redisFree(c);
}

static long long integer(const rs_t *k, const char *fmt, const char *a, const char *b)
{
    redisContext *c = connect_to(k);
    redisReply *r = redisCommand(c, fmt, a, b);
    cr_assert_not_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_ARRAY && r->elements && r->element[0]->type == REDIS_REPLY_INTEGER
                      ? r->element[0]->integer
                      : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Entries pending in `group` of stream "words" (XPENDING's summary count). */
static long long pending(const rs_t *k, const char *group) { return integer(k, "XPENDING %s %s", "words", group); }

static void rs_start(rs_t *k)
{
    memset(k, 0, sizeof *k);
    k->dir = tl_tmpdir();
    k->input = tl_path("%s/input.txt", k->dir);
    tl_make_lines(k->input, k->counts);
    char *rdir = tl_path("%s/redis", k->dir);
    mkdir(rdir, 0755);
    tl_redis_start(&k->redis, rdir);
    free(rdir);
    fill(k, "words");
}

static void rs_free(rs_t *k)
{
    tl_redis_kill(&k->redis);
    tl_rmtree(k->dir);
    free(k->dir), free(k->input);
}

/* redis_stream -> [chaos] -> split -> count|sink, in k's folder as NAME.cfg; `final`: word_count's final counts to
   NAME.jsonl, else split's words straight to it. */
static char *write_cfg(const rs_t *k, const char *name, const char *config, const char *spout, const char *chaos,
                       bool final)
{
    char *cfg = tl_path("%s/%s.cfg", k->dir, name);
    char *chaos_block = chaos ? tl_path("{ name = \"chaos\"; plugin = \"chaos\"; parallelism = 2; settings = { %s };"
                                        " inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); },",
                                        chaos)
                              : strdup("");
    char *tail = final ? tl_path(" { name = \"count\"; plugin = \"word_count\"; parallelism = 2; settings = { mode = "
                                 "\"final\"; }; inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ "
                                 "\"word\" ]; } ); },"
                                 " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/%s.jsonl\"; };"
                                 " inputs = ( { from = \"count\"; grouping = \"shuffle\"; } ); } );\n",
                                 k->dir, name)
                       : tl_path(" { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/%s.jsonl\"; };"
                                 " inputs = ( { from = \"split\"; grouping = \"shuffle\"; } ); } );\n",
                                 k->dir, name);
    char *text =
        tl_path("name = \"%s\";\nconfig = { ackers = 1; %s };\n"
                "spouts = ( { name = \"words\"; plugin = \"redis_stream\"; parallelism = 2;"
                " settings = { port = %d; stream = \"words\"; field = \"line\"; %s }; } );\n"
                "bolts = ( %s"
                " { name = \"split\"; plugin = \"split_sentence\"; parallelism = 2; settings = { field = \"value\"; };"
                " inputs = ( { from = \"%s\"; grouping = \"shuffle\"; } ); },%s",
                name, config, k->redis.port, spout, chaos_block, chaos ? "chaos" : "words", tail);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text), free(chaos_block), free(tail);
    return cfg;
}

/* The final counts in `text` are exactly k's. */
static void assert_counts_text(const rs_t *k, const char *text)
{
    char why[256];
    cr_assert_not(tl_word_counts_differ(text, k->counts, false, why, sizeof why), "%s", why);
}

static void assert_final_counts(const rs_t *k, const char *name)
{
    char *path = tl_path("%s/%s.jsonl", k->dir, name), *text = tl_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    assert_counts_text(k, text);
    free(path), free(text);
}

/* Every word of the input at least as often in NAME.jsonl (split's words). */
static void assert_at_least_once(const rs_t *k, const char *name)
{
    char *path = tl_path("%s/%s.jsonl", k->dir, name), *words = tl_read_file(path, NULL);
    long seen;
    int short_word = tl_words_short(words, k->counts, &seen);
    cr_assert_eq(short_word, -1, "%s is in the output %ld times, fewer than its %ld",
                 short_word >= 0 ? TL_VOCAB[short_word] : "", seen, short_word >= 0 ? k->counts[short_word] : 0);
    free(path), free(words);
}

/* A plugin metric's value in a --stats document: the first component's that has it. */
static long metric(const char *stats, const char *name)
{
    char needle[96];
    snprintf(needle, sizeof needle, "\"name\": \"%s\"", name);
    return tl_json_number(strstr(stats, needle), "value");
}

/* Until `pid` wrote 20,000 bytes to `out` (well under way, far from the end), up to 60 s. */
static void wait_for_output(const char *out, pid_t pid)
{
    long size = 0;
    for (double until = tl_now_s() + 60; size < 20000 && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(20)) {
        char *text = tl_read_file(out, NULL);
        size = text ? (long)strlen(text) : 0;
        free(text);
    }
    cr_assert_geq(size, 20000, "the run wrote little or nothing");
}

Test(redis_stream, the_shipped_wordcount_counts_every_entry_once_and_leaves_nothing_pending)
{
    rs_t k;
    rs_start(&k);
    char *port = tl_path("sentences.port=%d", k.redis.port), *out = tl_path("%s/counts.jsonl", k.dir),
         *sink = tl_path("sink.path=%s", out), *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--set", port, "--set", sink, "--set", "sentences.stream=words", "--stats", stats, NULL};
    tl_result_t r = tl_gale_run("topologies/redis_wordcount.cfg", extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = tl_read_file(out, NULL);
    assert_counts_text(&k, text);
    free(text);
    cr_assert_eq(unlink(out), 0);
    char *st = tl_read_file(stats, NULL);
    cr_assert_not_null(strstr(st, "\"acked\": 3000"), "%s", st);
    cr_assert_eq(pending(&k, "wordcount"), 0);
    tl_result_free(&r);

    /* Again: the group has every entry acknowledged, so nothing is counted. */
    r = tl_gale_run("topologies/redis_wordcount.cfg", extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *again = tl_read_file(out, NULL);
    cr_assert(!again || !*again, "a second run counted: %s", again);
    free(again), free(st), free(port), free(out), free(sink), free(stats);
    tl_result_free(&r);
    rs_free(&k);
}

Test(redis_stream, a_worker_killed_mid_run_loses_no_entry_and_leaves_none_pending)
{
    rs_t k;
    rs_start(&k);
    /* chaos slows the run so that the kill lands in its middle; the trees the other worker's spout had in the dead
       one time out (5 s) and replay; the dead worker's spout task reads its consumer's pending entries again. */
    char *cfg = write_cfg(&k, "alo", "max_spout_pending = 200; message_timeout_s = 5;",
                          "group = \"alo\"; bounded = true;", "delay_ms = 1;", false);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--workers", "2", cfg, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "run", argv, &rundir);
    char *out = tl_path("%s/alo.jsonl", k.dir);
    wait_for_output(out, pid);
    pid_t w0 = tl_worker_pid(pid, 0);
    cr_assert(w0 > 0);
    kill(w0, SIGKILL);
    bool late;
    int st = tl_wait(pid, 150, &late);
    char *err_path = tl_path("%s/err.txt", rundir), *err = tl_read_file(err_path, NULL);
    cr_assert_eq(st, 0, "the run failed (%d):\n%s", st, err);
    assert_at_least_once(&k, "alo");
    cr_assert_eq(pending(&k, "alo"), 0);
    free(err_path), free(err), free(rundir), free(cfg), free(out);
    rs_free(&k);
}

Test(redis_stream, entries_pending_on_a_consumer_that_went_away_are_claimed)
{
    rs_t k;
    rs_start(&k);
    /* Consumer "gone" of group "g" read the first 1000 entries and never acknowledged them. */
    redisContext *c = connect_to(&k);
    redisReply *r = redisCommand(c, "XGROUP CREATE words g 0");
    freeReplyObject(r);
    r = redisCommand(c, "XREADGROUP GROUP g gone COUNT 1000 STREAMS words >");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    redisFree(c);
    cr_assert_eq(pending(&k, "g"), 1000);
    tl_sleep_ms(1100);
    char *cfg = write_cfg(&k, "claim", "", "group = \"g\"; bounded = true; claim_idle_ms = 1000;", NULL, true);
    char *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--stats", stats, NULL};
    tl_result_t res = tl_gale_run(cfg, extra, 120);
    cr_assert_eq(res.status, 0, "%s", res.err);
    assert_final_counts(&k, "claim");
    char *st = tl_read_file(stats, NULL);
    cr_assert_eq(metric(st, "entries_claimed"), 1000, "%s", st);
    cr_assert_eq(pending(&k, "g"), 0);
    free(st), free(stats), free(cfg);
    tl_result_free(&res);
    rs_free(&k);
}

Test(redis_stream, redis_killed_and_started_again_mid_run_loses_nothing)
{
    rs_t k;
    rs_start(&k);
    char *cfg =
        write_cfg(&k, "restart", "max_spout_pending = 100;", "group = \"r\"; bounded = true;", "delay_ms = 1;", false);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "run", argv, &rundir);
    /* Once the run is well under way, the server is SIGKILLed and, a second later, started again on the same port
       with what its append-only file (fsynced at every write) had. */
    char *out = tl_path("%s/restart.jsonl", k.dir);
    wait_for_output(out, pid);
    tl_redis_kill(&k.redis);
    tl_sleep_ms(1000);
    char *rdir = tl_path("%s/redis", k.dir);
    tl_redis_start(&k.redis, rdir);
    bool late;
    int st = tl_wait(pid, 150, &late);
    char *err_path = tl_path("%s/err.txt", rundir), *err = tl_read_file(err_path, NULL);
    cr_assert_eq(st, 0, "the run failed (%d):\n%s", st, err);
    cr_assert_not_null(strstr(err, "dropped"), "no word of the lost connection:\n%s", err);
    cr_assert_not_null(strstr(err, "connected to Redis at 127.0.0.1"), "no word of the new connection:\n%s", err);
    assert_at_least_once(&k, "restart");
    cr_assert_eq(pending(&k, "r"), 0);
    free(err_path), free(err), free(rundir), free(cfg), free(out), free(rdir);
    rs_free(&k);
}

Test(redis_stream, oversize_entries_and_entries_without_the_field_are_journaled_with_their_cause_and_acknowledged)
{
    rs_t k;
    rs_start(&k);
    redisContext *c = connect_to(&k);
    char *big = malloc(3000);
    memset(big, 'x', 2999);
    big[2999] = '\0';
    redisReply *big_id = redisCommand(c, "XADD words * line %s", big);
    redisReply *odd_id = redisCommand(c, "XADD words * other %s", "no line here");
    cr_assert(big_id && big_id->type == REDIS_REPLY_STRING && odd_id && odd_id->type == REDIS_REPLY_STRING);
    redisFree(c);
    free(big);
    char *journal = tl_path("%s/rejected.journal", k.dir), *config = tl_path("journal = \"%s\";", journal);
    char *cfg = write_cfg(&k, "odd", config, "group = \"o\"; bounded = true; max_record_kb = 2;", NULL, true);
    char *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--stats", stats, NULL};
    tl_result_t r = tl_gale_run(cfg, extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_final_counts(&k, "odd");
    char *st = tl_read_file(stats, NULL);
    cr_assert_eq(metric(st, "records_too_large"), 1, "%s", st);
    cr_assert_eq(metric(st, "records_without_field"), 1, "%s", st);
    cr_assert_eq(tl_json_number(strstr(st, "\"name\": \"words\""), "failed"), 2, "%s", st);
    cr_assert_not_null(strstr(r.err, "over max_record_kb (2)"), "%s", r.err);
    cr_assert_eq(pending(&k, "o"), 0);
    /* Both are in the journal, with what was wrong: the big one by its id and size (its value nil: it is still in
       the stream), the other with every field it has. */
    long n;
    char *lines = tl_journal_json(journal, "rejected", &n);
    cr_assert_eq(n, 2, "%s", lines);
    char *want = tl_path("\"values\": [\"%s\", null], \"cause\": \"rejected\", \"component\": \"words\"", big_id->str);
    cr_assert_not_null(strstr(lines, want), "'%s' not in:\n%s", want, lines);
    free(want);
    want = tl_path("\"error\": \"words entry %s: 3", big_id->str);
    cr_assert_not_null(strstr(lines, want), "'%s' not in:\n%s", want, lines);
    cr_assert_not_null(strstr(lines, " bytes of fields and values, over max_record_kb (2)\""), "%s", lines);
    free(want);
    want = tl_path("\"values\": [\"%s\", {\"other\": \"no line here\"}]", odd_id->str);
    cr_assert_not_null(strstr(lines, want), "'%s' not in:\n%s", want, lines);
    free(want);
    want = tl_path("\"error\": \"words entry %s: it has no field 'line' (settings.field)\"", odd_id->str);
    cr_assert_not_null(strstr(lines, want), "'%s' not in:\n%s", want, lines);
    free(want), free(lines);
    freeReplyObject(big_id), freeReplyObject(odd_id);
    free(st), free(stats), free(cfg), free(journal), free(config);
    tl_result_free(&r);
    rs_free(&k);
}

/* redis_stream -> split -> count -> redis_sink with `sink_settings`, as NAME.cfg. */
static char *write_sink_cfg(const rs_t *k, const char *name, const char *sink_settings)
{
    char *cfg = tl_path("%s/%s.cfg", k->dir, name);
    char *text =
        tl_path("name = \"%s\";\nconfig = { ackers = 1; max_retries = 0; };\n"
                "spouts = ( { name = \"words\"; plugin = \"redis_stream\"; parallelism = 2;"
                " settings = { port = %d; stream = \"words\"; group = \"%s\"; field = \"line\"; bounded = true; };"
                " } );\n"
                "bolts = ( { name = \"split\"; plugin = \"split_sentence\"; settings = { field = \"value\"; };"
                " inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); },"
                " { name = \"count\"; plugin = \"word_count\"; parallelism = 2; settings = { mode = \"final\"; };"
                " inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ \"word\" ]; } ); },"
                " { name = \"sink\"; plugin = \"redis_sink\"; settings = { port = %d; %s };"
                " inputs = ( { from = \"count\"; grouping = \"shuffle\"; } ); } );\n",
                name, k->redis.port, name, k->redis.port, sink_settings);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

Test(redis_stream, the_sink_writes_final_counts_through_a_template_and_through_xadd)
{
    rs_t k;
    rs_start(&k);
    char *cfg = write_sink_cfg(&k, "tmpl", "command = [ \"HSET\", \"counts\", \"w:{word}\", \"{count}\" ];");
    tl_result_t r = tl_gale_run(cfg, NULL, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    for (int w = 0; w < 10; w++) {
        char *field = tl_path("w:%s", TL_VOCAB[w]);
        const char *argv[] = {"HGET", "counts", field, NULL};
        char *v = tl_redis_call(k.redis.port, argv);
        cr_assert(v && atol(v) == k.counts[w], "%s: %s, not %ld", field, v ? v : "(none)", k.counts[w]);
        free(v), free(field);
    }
    free(cfg);

    /* XADD: one entry per word, its fields the tuple's. */
    cfg = write_sink_cfg(&k, "xadd", "stream = \"out\";");
    r = tl_gale_run(cfg, NULL, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    redisContext *c = connect_to(&k);
    redisReply *rep = redisCommand(c, "XRANGE out - +");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 10, "%zu entries", rep ? rep->elements : 0);
    char *text = calloc(1, 4096);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *f = rep->element[i]->element[1];
        cr_assert_eq(f->elements, 4);
        cr_assert_str_eq(f->element[0]->str, "word");
        cr_assert_str_eq(f->element[2]->str, "count");
        snprintf(text + strlen(text), 4096 - strlen(text), "{\"word\": \"%s\", \"count\": %s}\n", f->element[1]->str,
                 f->element[3]->str);
    }
    assert_counts_text(&k, text);
    free(text);
    freeReplyObject(rep);
    redisFree(c);
    free(cfg);
    rs_free(&k);
}

Test(redis_stream, the_sink_fails_what_redis_refuses_and_what_lacks_a_field)
{
    rs_t k;
    rs_start(&k);
    /* "counts" is a string: HINCRBY on it is refused (WRONGTYPE), and each of the 10 final counts fails. */
    const char *set[] = {"SET", "counts", "a string", NULL};
    free(tl_redis_call(k.redis.port, set));
    char *cfg = write_sink_cfg(&k, "refused", "command = [ \"HINCRBY\", \"counts\", \"{word}\", \"{count}\" ];");
    char *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--stats", stats, NULL};
    tl_result_t r = tl_gale_run(cfg, extra, 120);
    cr_assert_not_null(strstr(r.err, "WRONGTYPE"), "%s", r.err);
    char *st = tl_read_file(stats, NULL);
    cr_assert_eq(metric(st, "redis_errors"), 10, "%s", st);
    tl_result_free(&r);
    free(st), free(cfg);

    cfg = write_sink_cfg(&k, "nofield", "command = [ \"SET\", \"{nope}\", \"{count}\" ];");
    r = tl_gale_run(cfg, extra, 120);
    cr_assert_not_null(strstr(r.err, "has no field 'nope'"), "%s", r.err);
    st = tl_read_file(stats, NULL);
    cr_assert_not_null(strstr(st, "\"name\": \"sink\""), "%s", st);
    cr_assert_eq(tl_json_number(strstr(st, "\"name\": \"sink\""), "failed"), 10, "%s", st);
    tl_result_free(&r);
    free(st), free(cfg), free(stats);
    rs_free(&k);
}

Test(redis_stream, an_unreachable_server_and_bad_settings_are_errors_that_name_them)
{
    rs_t k;
    rs_start(&k);
    int dead = gale_proc_free_port();
    struct {
        const char *spout, *sink, *want;
    } cases[] = {
        {"port = %d; stream = \"words\";", NULL, "cannot reach Redis at 127.0.0.1:"},
        {"port = %d;", NULL, "settings.stream is required"},
        {"port = %d; stream = \"words\"; count = 0;", NULL, "count must be 1 to 100000"},
        {"port = %d; stream = \"words\"; bounded = true;", "port = %d;", "settings.stream (XADD each tuple) or"},
        {"port = %d; stream = \"words\"; bounded = true;", "port = %d; command = [ 1 ];",
         "settings.command[0] must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *spout = tl_path(cases[i].spout, i == 0 ? dead : k.redis.port);
        char *sink = cases[i].sink ? tl_path(cases[i].sink, k.redis.port) : NULL;
        char *cfg = tl_path("%s/bad%zu.cfg", k.dir, i);
        char *text = tl_path("name = \"bad\";\nspouts = ( { name = \"words\"; plugin = \"redis_stream\";"
                             " settings = { %s }; } );\nbolts = ( { name = \"sink\"; plugin = \"%s\";"
                             " settings = { %s }; inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); } );\n",
                             spout, sink ? "redis_sink" : "file_sink", sink ? sink : "path = \"-\";");
        cr_assert_eq(tl_write_file(cfg, text), 0);
        double t0 = tl_now_s();
        tl_result_t r = tl_gale_run(cfg, NULL, 60);
        cr_assert_neq(r.status, 0, "case %zu ran:\n%s", i, r.err);
        cr_assert_not_null(strstr(r.err, cases[i].want), "case %zu:\n%s", i, r.err);
        cr_assert_lt(tl_now_s() - t0, 30, "case %zu took %.1f s", i, tl_now_s() - t0);
        tl_result_free(&r);
        free(spout), free(sink), free(cfg), free(text);
    }
    rs_free(&k);
}
