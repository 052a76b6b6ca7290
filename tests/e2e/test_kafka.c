/*
 * The Kafka spout through the gale binary, against librdkafka's mock cluster (Debian has no Kafka broker) hosted by
 * gale-kafka-mock in a process of its own, over TCP: the shipped kafka_wordcount.cfg counts every record exactly
 * once and commits every partition to its end, so that a second run reads nothing; tasks that are consumers of the
 * group count every record at least once; no offset is committed before its record's tree is acked, and a run killed
 * before the acks gives every record again to the next one; a worker SIGKILLed mid-run loses nothing (at least
 * once); unreachable brokers and bad settings are errors that name them. (A missing topic is not tested: the mock,
 * like a broker with auto.create.topics.enable, creates a topic a client asks for.)
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "counts_check.h"
#include "testlib.h"

TestSuite(kafka, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 180);

#define PARTITIONS 4

typedef struct {
    char *dir, *input, *bootstrap;
    pid_t mock;
    long counts[10];
} kf_t;

/* A mock cluster with topic "words" of PARTITIONS partitions holding tl_make_lines' 3000 lines, an empty topic
   "counts" of one partition for the sink, and (when `more` is not NULL) a topic of one partition holding the lines
   of a file, `more` being "TOPIC:FILE". */
static void kf_start_more(kf_t *k, const char *more)
{
    memset(k, 0, sizeof *k);
    k->dir = tl_tmpdir();
    k->input = tl_path("%s/input.txt", k->dir);
    tl_make_lines(k->input, k->counts);
    char *mock = tl_path("%s/bin/gale-kafka-mock", tl_build()), *topic = tl_path("words:%d", PARTITIONS),
         *produce = tl_path("words:%s", k->input), *mdir = tl_path("%s/mock", k->dir);
    mkdir(mdir, 0755);
    const char *argv[] = {
        mock, "--topic", topic, "--topic", "counts:1", "--produce", produce, more ? "--produce" : NULL, more, NULL};
    k->mock = tl_spawn(argv, mdir);
    cr_assert(k->mock > 0);
    tl_remember(k->mock);
    char *out = tl_path("%s/out.txt", mdir);
    for (double until = tl_now_s() + 60; tl_now_s() < until && tl_alive(k->mock); tl_sleep_ms(20)) {
        char *text = tl_read_file(out, NULL);
        char *nl = text ? strchr(text, '\n') : NULL;
        if (nl) {
            *nl = '\0';
            k->bootstrap = text;
            break;
        }
        free(text);
    }
    cr_assert_not_null(k->bootstrap, "gale-kafka-mock printed no bootstrap servers");
    free(mock), free(topic), free(produce), free(mdir), free(out);
}

static void kf_start(kf_t *k) { kf_start_more(k, NULL); }

static void kf_free(kf_t *k)
{
    if (k->mock > 0) {
        kill(k->mock, SIGTERM);
        bool late;
        tl_wait(k->mock, 10, &late);
    }
    tl_rmtree(k->dir);
    free(k->dir), free(k->input), free(k->bootstrap);
}

/* The offsets group `group` committed for the partitions of "words" (-1 where none). */
static void committed(const kf_t *k, const char *group, int64_t out[PARTITIONS])
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(c, "bootstrap.servers", k->bootstrap, err, sizeof err), RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(c, "group.id", group, err, sizeof err), RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(c, "log_level", "2", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++) rd_kafka_topic_partition_list_add(l, "words", p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 10000);
    cr_assert_eq(e, 0, "committed: %s", rd_kafka_err2str(e));
    for (int p = 0; p < PARTITIONS; p++) out[p] = l->elems[p].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

/* 3000 lines over PARTITIONS partitions, line i to partition i % PARTITIONS: each partition's end. */
static int64_t partition_end(int p) { return 3000 / PARTITIONS + (p < 3000 % PARTITIONS); }

/* kafka -> [chaos] -> split -> count -> sink, in k's folder as NAME.cfg: `spout` and `chaos` are settings (chaos
   NULL: no chaos bolt). */
static char *write_cfg(const kf_t *k, const char *name, const char *config, const char *spout, const char *chaos)
{
    char *cfg = tl_path("%s/%s.cfg", k->dir, name);
    char *chaos_block = chaos ? tl_path("{ name = \"chaos\"; plugin = \"chaos\"; settings = { %s };"
                                        " inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); },",
                                        chaos)
                              : strdup("");
    char *text =
        tl_path("name = \"%s\";\nconfig = { ackers = 1; %s };\n"
                "spouts = ( { name = \"words\"; plugin = \"kafka\"; parallelism = 2;"
                " settings = { brokers = \"%s\"; topic = \"words\"; value = \"string\"; %s }; } );\n"
                "bolts = ( %s"
                " { name = \"split\"; plugin = \"split_sentence\"; parallelism = 2; settings = { field = \"value\"; };"
                " inputs = ( { from = \"%s\"; grouping = \"shuffle\"; } ); },"
                " { name = \"count\"; plugin = \"word_count\"; parallelism = 2; settings = { mode = \"final\"; };"
                " inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ \"word\" ]; } ); },"
                " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/%s.jsonl\"; };"
                " inputs = ( { from = \"count\"; grouping = \"shuffle\"; } ); } );\n",
                name, config, k->bootstrap, spout, chaos_block, chaos ? "chaos" : "words", k->dir, name);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text), free(chaos_block);
    return cfg;
}

/* The final counts a sink wrote ({"word": "w", "count": n} lines) are exactly k's. */
static void assert_counts(const kf_t *k, const char *name, bool at_least)
{
    char *path = tl_path("%s/%s.jsonl", k->dir, name), *text = tl_read_file(path, NULL);
    cr_assert_not_null(text, "%s was not written", path);
    char why[256];
    cr_assert_not(tl_word_counts_differ(text, k->counts, at_least, why, sizeof why), "%s", why);
    free(path), free(text);
}

static void assert_final_counts(const kf_t *k, const char *name) { assert_counts(k, name, false); }

Test(kafka, the_shipped_wordcount_counts_every_record_once_and_commits_every_partition_to_its_end)
{
    kf_t k;
    kf_start(&k);
    char *brokers = tl_path("sentences.brokers=%s", k.bootstrap), *out = tl_path("%s/counts.jsonl", k.dir),
         *sink = tl_path("sink.path=%s", out), *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--set", brokers, "--set", sink, "--set", "sentences.topic=words", "--stats", stats, NULL};
    tl_result_t r = tl_gale_run("topologies/kafka_wordcount.cfg", extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *moved = tl_path("%s/wc.jsonl", k.dir);
    cr_assert_eq(rename(out, moved), 0);
    assert_final_counts(&k, "wc");
    char *st = tl_read_file(stats, NULL);
    cr_assert_not_null(strstr(st, "\"acked\": 3000"), "%s", st);
    int64_t at[PARTITIONS];
    committed(&k, "wordcount", at);
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_eq(at[p], partition_end(p), "partition %d committed at %lld, not its end", p, (long long)at[p]);
    tl_result_free(&r);

    /* Again: the group has read everything, so nothing is counted. */
    r = tl_gale_run("topologies/kafka_wordcount.cfg", extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *again = tl_read_file(out, NULL);
    cr_assert(again && !*again, "a second run counted: %s", again);
    free(again), free(st), free(moved), free(brokers), free(out), free(sink), free(stats);
    tl_result_free(&r);
    kf_free(&k);
}

Test(kafka, tasks_that_are_consumers_of_the_group_count_every_record_at_least_once)
{
    kf_t k;
    kf_start(&k);
    char *cfg = write_cfg(&k, "group", "", "group = \"g\"; commit_interval_ms = 100;", NULL);
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "run", argv, &rundir);
    /* Unbounded: the group reads on. Once every partition is committed to its end, stop the run: its final counts
       then have every record at least once. Not exactly once: a rebalance in mid-run (a slow join under ASan) gives
       the new owner of a partition its records after the committed offset, some of them counted already. */
    bool all = false;
    int64_t at[PARTITIONS];
    for (double until = tl_now_s() + 90; !all && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(200)) {
        committed(&k, "g", at);
        all = true;
        for (int p = 0; p < PARTITIONS; p++) all = all && at[p] == partition_end(p);
    }
    cr_assert(all, "the group did not commit every partition to its end");
    kill(pid, SIGTERM);
    bool late;
    cr_assert_eq(tl_wait(pid, 60, &late), 0);
    assert_counts(&k, "group", true);
    char *err_path = tl_path("%s/err.txt", rundir), *err = tl_read_file(err_path, NULL);
    cr_assert_not_null(strstr(err, "assigned"), "no task was assigned partitions by the group:\n%s", err);
    free(err_path), free(err), free(rundir), free(cfg);
    kf_free(&k);
}

Test(kafka, no_offset_is_committed_before_its_tree_is_acked_and_a_killed_run_gives_every_record_again)
{
    kf_t k;
    kf_start(&k);
    /* chaos drops every tuple: no tree completes (nor times out, in 120 s). */
    char *held = write_cfg(&k, "held", "message_timeout_s = 120; max_spout_pending = 5000;",
                           "group = \"h\"; bounded = true; commit_interval_ms = 50;", "drop_ratio = 1.0;");
    const char *argv[] = {tl_gale(), "run", "--quiet", held, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "held", argv, &rundir);
    /* Every record is read and held; commits have had many rounds to go out. */
    char *err_path = tl_path("%s/err.txt", rundir);
    bool read_all = false;
    for (double until = tl_now_s() + 60; !read_all && tl_now_s() < until; tl_sleep_ms(100)) {
        char *err = tl_read_file(err_path, NULL);
        const char *p = err;
        int ends = 0;
        while (p && (p = strstr(p, "every partition read to its end"))) ends++, p++;
        read_all = ends == 2;
        free(err);
    }
    cr_assert(read_all, "the spout tasks did not read their partitions");
    tl_sleep_ms(500);
    int64_t at[PARTITIONS];
    committed(&k, "h", at);
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_lt(at[p], 0, "partition %d committed at %lld with no tree acked", p, (long long)at[p]);
    kill(pid, SIGKILL);
    bool late;
    tl_wait(pid, 30, &late);

    /* The same group without chaos: every record comes again, and is counted once. */
    char *cfg = write_cfg(&k, "again", "", "group = \"h\"; bounded = true;", NULL);
    tl_result_t r = tl_gale_run(cfg, NULL, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_final_counts(&k, "again");
    committed(&k, "h", at);
    for (int p = 0; p < PARTITIONS; p++) cr_assert_eq(at[p], partition_end(p));
    tl_result_free(&r);
    free(err_path), free(rundir), free(held), free(cfg);
    kf_free(&k);
}

Test(kafka, a_worker_killed_mid_run_loses_no_record)
{
    kf_t k;
    kf_start(&k);
    /* Split's words straight to a sink: what a killed worker's counts held is not lost with it, and each word must
       be there at least as often as in the input. chaos slows the run so that the kill lands in its middle. The
       trees the other worker's spout had in the dead one time out (5 s, not 30) and replay. */
    char *cfg = tl_path("%s/alo.cfg", k.dir), *out = tl_path("%s/words.jsonl", k.dir);
    char *text = tl_path(
        "name = \"alo\";\nconfig = { ackers = 1; max_spout_pending = 200; message_timeout_s = 5; };\n"
        "spouts = ( { name = \"words\"; plugin = \"kafka\"; parallelism = 2;"
        " settings = { brokers = \"%s\"; topic = \"words\"; value = \"string\"; group = \"alo\"; bounded = true;"
        " commit_interval_ms = 50; }; } );\n"
        "bolts = ( { name = \"slow\"; plugin = \"chaos\"; parallelism = 2; settings = { delay_ms = 1; };"
        " inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); },"
        " { name = \"split\"; plugin = \"split_sentence\"; parallelism = 2; settings = { field = \"value\"; };"
        " inputs = ( { from = \"slow\"; grouping = \"shuffle\"; } ); },"
        " { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\"; };"
        " inputs = ( { from = \"split\"; grouping = \"shuffle\"; } ); } );\n",
        k.bootstrap, out);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    const char *argv[] = {tl_gale(), "run", "--quiet", "--workers", "2", cfg, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "run", argv, &rundir);
    /* Kill worker 0 once its spout task committed something, and before the end. */
    int64_t at[PARTITIONS];
    bool some = false;
    for (double until = tl_now_s() + 60; !some && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(20)) {
        committed(&k, "alo", at);
        for (int p = 0; p < PARTITIONS; p++) some = some || at[p] > 0;
    }
    cr_assert(some, "nothing was committed");
    pid_t w0 = tl_worker_pid(pid, 0);
    cr_assert(w0 > 0);
    kill(w0, SIGKILL);
    bool late;
    int st = tl_wait(pid, 150, &late);
    char *err_path = tl_path("%s/err.txt", rundir), *err = tl_read_file(err_path, NULL);
    cr_assert_eq(st, 0, "the run failed (%d):\n%s", st, err);
    long seen;
    char *words = tl_read_file(out, NULL);
    int short_word = tl_words_short(words, k.counts, &seen);
    free(words);
    cr_assert_eq(short_word, -1, "%s is in the output %ld times, fewer than its %ld",
                 short_word >= 0 ? TL_VOCAB[short_word] : "", seen, short_word >= 0 ? k.counts[short_word] : 0);
    committed(&k, "alo", at);
    for (int p = 0; p < PARTITIONS; p++) cr_assert_eq(at[p], partition_end(p));
    free(err_path), free(err), free(rundir), free(cfg), free(out), free(text);
    kf_free(&k);
}

Test(kafka, with_checkpoints_the_stateful_word_count_is_exact_after_a_sigkill)
{
    kf_t k;
    kf_start(&k);
    /* chaos slows the run so that the kill lands after a checkpoint and before the end. The counts are the state
       of word_count; the spout's positions are in the checkpoints. */
    char *state = tl_path("%s/state", k.dir);
    char *config = tl_path("checkpoint_interval_ms = 50; max_spout_pending = 100; state_path = \"%s\";", state);
    char *cfg = write_cfg(&k, "ckpt", config, "group = \"c\"; bounded = true;", "delay_ms = 1;");
    const char *argv[] = {tl_gale(), "run", "--quiet", cfg, NULL};
    char *rundir;
    pid_t pid = tl_spawn_in(k.dir, "run1", argv, &rundir);
    uint64_t id = 0;
    for (double until = tl_now_s() + 60; id < 3 && tl_now_s() < until && tl_alive(pid); tl_sleep_ms(5))
        id = tl_state_latest(state, 0, "ckpt");
    cr_assert_geq(id, 3, "no third checkpoint before the end");
    kill(pid, SIGKILL);
    bool late;
    tl_wait(pid, 30, &late);
    /* The group's offsets are a complete checkpoint's positions: committed, and not at the end yet. */
    int64_t at[PARTITIONS];
    committed(&k, "c", at);
    bool some = false, all_end = true;
    for (int p = 0; p < PARTITIONS; p++) some = some || at[p] > 0, all_end = all_end && at[p] == partition_end(p);
    cr_assert(some && !all_end,
              "the checkpoints' offsets were not committed, or the run had read everything: "
              "%lld %lld %lld %lld after checkpoint %llu",
              (long long)at[0], (long long)at[1], (long long)at[2], (long long)at[3], (unsigned long long)id);
    /* The second run in a group with no offsets: a task that did not restore its positions from the checkpoint
       would read everything again, and count it twice. */
    const char *group2[] = {"--set", "words.group=c2", NULL};
    tl_result_t r = tl_gale_run(cfg, group2, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_final_counts(&k, "ckpt");
    tl_result_free(&r);
    free(state), free(config), free(cfg), free(rundir);
    kf_free(&k);
}

/* The records of topic "counts" (key: a word, value: its count as JSON text), summed per word into seen. */
static void read_counts(const kf_t *k, long seen[10])
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *conf[][2] = {{"bootstrap.servers", k->bootstrap},
                             {"group.id", "reader"},
                             {"log_level", "2"},
                             {"enable.partition.eof", "true"}};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(rd_kafka_conf_set(c, conf[i][0], conf[i][1], err, sizeof err), RD_KAFKA_CONF_OK, "%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "counts", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    bool end = false;
    for (double until = tl_now_s() + 30; !end && tl_now_s() < until;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) end = true;
        else if (!m->err) {
            int w = 0;
            while (w < 10 && (strlen(TL_VOCAB[w]) != m->key_len || memcmp(TL_VOCAB[w], m->key, m->key_len))) w++;
            cr_assert_lt(w, 10, "a record with key %.*s", (int)m->key_len, (const char *)m->key);
            char num[32];
            snprintf(num, sizeof num, "%.*s", (int)m->len, (const char *)m->payload);
            seen[w] += atol(num);
        }
        rd_kafka_message_destroy(m);
    }
    cr_assert(end, "topic counts was not read to its end");
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* kafka -> split -> count -> kafka_sink NAME.cfg in k's folder, the sink's settings `sink`; `direct`: kafka ->
   kafka_sink, each record's value, so that the sink's acks and fails are the spout trees'. */
static char *write_sink_cfg(const kf_t *k, const char *name, const char *config, const char *sink, bool direct)
{
    char *cfg = tl_path("%s/%s.cfg", k->dir, name);
    char *text =
        tl_path("name = \"%s\";\nconfig = { ackers = 1; %s };\n"
                "spouts = ( { name = \"words\"; plugin = \"kafka\"; parallelism = 2;"
                " settings = { brokers = \"%s\"; topic = \"words\"; value = \"string\"; bounded = true; group = "
                "\"%s\"; }; } );\n"
                "bolts = ( { name = \"split\"; plugin = \"split_sentence\"; settings = { field = \"value\"; };"
                " inputs = ( { from = \"words\"; grouping = \"shuffle\"; } ); },"
                " { name = \"count\"; plugin = \"word_count\"; parallelism = 2; settings = { mode = \"final\"; };"
                " inputs = ( { from = \"split\"; grouping = \"fields\"; fields = [ \"word\" ]; } ); },"
                " { name = \"sink\"; plugin = \"kafka_sink\"; parallelism = 2; settings = { %s };"
                " inputs = ( { from = \"%s\"; grouping = \"shuffle\"; } ); } );\n",
                name, config, k->bootstrap, name, sink, direct ? "words" : "count");
    cr_assert_eq(tl_write_file(cfg, text), 0);
    free(text);
    return cfg;
}

Test(kafka, the_sink_writes_every_final_count_and_acks_on_delivery)
{
    kf_t k;
    kf_start(&k);
    char *sink = tl_path("brokers = \"%s\"; topic = \"counts\"; key = \"word\"; value = \"count\";", k.bootstrap);
    char *cfg = write_sink_cfg(&k, "sunk", "", sink, false), *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--stats", stats, NULL};
    tl_result_t r = tl_gale_run(cfg, extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long seen[10] = {0};
    read_counts(&k, seen);
    for (int w = 0; w < 10; w++)
        cr_assert_eq(seen[w], k.counts[w], "%s: %ld in Kafka, not %ld", TL_VOCAB[w], seen[w], k.counts[w]);
    char *st = tl_read_file(stats, NULL);
    cr_assert_not_null(strstr(st, "\"failed\": 0"), "%s", st);
    free(st), free(sink), free(cfg), free(stats);
    tl_result_free(&r);
    kf_free(&k);
}

Test(kafka, records_the_sink_cannot_deliver_fail_their_trees_into_the_journal_and_the_offsets_go_on)
{
    kf_t k;
    kf_start(&k);
    /* Nothing listens on port 1: every record times out in librdkafka after 300 ms, its input fails, its tree
       is journaled (no retries), and the spout counts it as done. */
    char *journal = tl_path("%s/failed.journal", k.dir);
    char *config = tl_path("max_retries = 0; journal = \"%s\";", journal);
    char *cfg = write_sink_cfg(&k, "lost", config,
                               "brokers = \"127.0.0.1:1\"; topic = \"counts\"; retry = true; open_timeout_ms = 200;"
                               " value = \"value\"; properties = [ \"message.timeout.ms=300\" ];",
                               true);
    tl_result_t r = tl_gale_run(cfg, NULL, 120);
    cr_assert_not_null(strstr(r.err, "was not delivered (its input fails)"), "%s", r.err);
    tl_result_free(&r);
    const char *ls[] = {tl_gale(), "journal", "ls", journal, NULL};
    cr_assert_eq(tl_run(ls, NULL, 30, &r), 0);
    long records = -1; /* the first line is the header */
    for (const char *p = r.out; (p = strchr(p, '\n')); p++) records++;
    cr_assert_eq(records, 3000, "%ld journal records:\n%.2000s", records, r.out);
    cr_assert_not_null(strstr(r.out, " fail "), "no tree failed by the sink:\n%.2000s", r.out);
    cr_assert_not_null(strstr(r.out, " sink#"), "no tree failed by the sink:\n%.2000s", r.out);
    cr_assert_null(strstr(r.out, " timeout "), "trees timed out before the sink failed them:\n%.2000s", r.out);
    int64_t at[PARTITIONS];
    committed(&k, "lost", at);
    for (int p = 0; p < PARTITIONS; p++) cr_assert_eq(at[p], partition_end(p));
    tl_result_free(&r);
    free(journal), free(config), free(cfg);
    kf_free(&k);
}

Test(kafka, json_values_are_parsed_and_malformed_or_oversize_ones_are_journaled_with_their_cause)
{
    /* Record i: {"n": i, "word": "wi"}, but every tenth from 3 on lacks its comma (byte 8 of the text is where
       the parser stops in record 3: after `{"n": 3` it wants ',' or '}'), and record 50 is 1999 bytes long. */
    kf_t k;
    char *dir = tl_tmpdir(), *input = tl_path("%s/json.txt", dir), *more = tl_path("json:%s", input);
    gale_buf_t text = {0};
    for (int i = 0; i < 100; i++) {
        if (i == 50) {
            char pad[2001];
            memset(pad, 'p', 2000);
            pad[2000] = '\0';
            memcpy(pad, "{\"pad\": \"", 9);
            memcpy(pad + 1997, "\"}\n", 3);
            gale_buf_put(&text, pad, 2000);
        } else if (i % 10 == 3) gale_buf_printf(&text, "{\"n\": %d \"word\": \"w%d\"}\n", i, i);
        else gale_buf_printf(&text, "{\"n\": %d, \"word\": \"w%d\"}\n", i, i);
    }
    cr_assert_eq(tl_write_file(input, text.p), 0);
    gale_buf_free(&text);
    kf_start_more(&k, more);
    char *journal = tl_path("%s/rejected.journal", k.dir), *out = tl_path("%s/parsed.jsonl", k.dir);
    char *cfg = tl_path("%s/json.cfg", k.dir);
    char *topo =
        tl_path("name = \"json\";\nconfig = { ackers = 1; journal = \"%s\"; };\n"
                "spouts = ( { name = \"in\"; plugin = \"kafka\"; settings = { brokers = \"%s\";"
                " topic = \"json\"; value = \"json\"; bounded = true; max_record_kb = 1; }; } );\n"
                "bolts = ( { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s\";"
                " fields = [ \"offset\", \"value\" ]; }; inputs = ( { from = \"in\"; grouping = \"shuffle\"; } );"
                " } );\n",
                journal, k.bootstrap, out);
    cr_assert_eq(tl_write_file(cfg, topo), 0);
    char *stats = tl_path("%s/stats.json", k.dir);
    const char *extra[] = {"--stats", stats, NULL};
    tl_result_t r = tl_gale_run(cfg, extra, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* The 89 good records arrive parsed: their value is an object, not a string. */
    char *lines = tl_read_file(out, NULL);
    cr_assert_not_null(lines, "%s", r.err);
    long emitted = 0;
    for (const char *p = lines; (p = strchr(p, '\n')); p++) emitted++;
    cr_assert_eq(emitted, 89, "%s", lines);
    cr_assert_not_null(strstr(lines, "{\"offset\": 0, \"value\": {\"n\": 0, \"word\": \"w0\"}}\n"), "%s", lines);
    cr_assert_not_null(strstr(lines, "{\"offset\": 99, \"value\": {\"n\": 99, \"word\": \"w99\"}}\n"), "%s", lines);
    cr_assert_null(strstr(lines, "\"n\": 13,"), "%s", lines);
    char *st = tl_read_file(stats, NULL);
    cr_assert_eq(tl_json_number(strstr(st, "\"name\": \"in\""), "failed"), 11, "%s", st);
    cr_assert_eq(tl_json_number(strstr(st, "\"name\": \"records_not_json\""), "value"), 10, "%s", st);
    cr_assert_eq(tl_json_number(strstr(st, "\"name\": \"records_too_large\""), "value"), 1, "%s", st);
    /* The 11 others are in the journal, each with its cause; a malformed one keeps its text, as bytes. */
    long n;
    char *recs = tl_journal_json(journal, "rejected", &n);
    cr_assert_eq(n, 11, "%s", recs);
    cr_assert_not_null(
        strstr(recs, "\"error\": \"json [0] offset 3: the value is not JSON: byte 8: expected ',' or '}'\""), "%s",
        recs);
    cr_assert_not_null(
        strstr(recs, "\"error\": \"json [0] offset 50: a value of 1999 bytes is over max_record_kb (1)\""), "%s", recs);
    cr_assert_not_null(strstr(recs, "[\"json\", 0, 50, null, null, "), "the oversize value is not nil:\n%s", recs);
    const char *again_argv[] = {tl_gale(), "journal", "show", journal, NULL};
    tl_result_t shown;
    cr_assert_eq(tl_run(again_argv, NULL, 30, &shown), 0);
    cr_assert_not_null(
        strstr(shown.out, "  error: json [0] offset 93: the value is not JSON: byte 9: expected ',' or '}'\n"), "%s",
        shown.out);
    tl_result_free(&shown);
    tl_result_free(&r);
    /* Rejected records are done: the group committed past them, so a second run has nothing to read. */
    r = tl_gale_run(cfg, NULL, 120);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    free(lines);
    lines = tl_read_file(out, NULL);
    emitted = 0;
    for (const char *p = lines; (p = strchr(p, '\n')); p++) emitted++;
    cr_assert_eq(emitted, 89, "the second run emitted again:\n%s", lines);
    free(recs);
    recs = tl_journal_json(journal, NULL, &n);
    cr_assert_eq(n, 11, "the second run rejected again:\n%s", recs);
    free(recs);
    free(lines), free(st), free(stats), free(topo), free(cfg), free(out), free(journal);
    kf_free(&k);
    tl_rmtree(dir);
    free(dir), free(input), free(more);
}

/* A run of kafka -> sink whose open fails: stderr holds `says`. */
static void refused(const char *spout_settings, const char *says)
{
    char *dir = tl_tmpdir(), *cfg = tl_path("%s/bad.cfg", dir);
    char *text = tl_path("name = \"bad\";\nconfig = { ackers = 1; };\n"
                         "spouts = ( { name = \"in\"; plugin = \"kafka\"; settings = { %s }; } );\n"
                         "bolts = ( { name = \"sink\"; plugin = \"file_sink\"; settings = { path = \"%s/o\"; };"
                         " inputs = ( { from = \"in\"; grouping = \"shuffle\"; } ); } );\n",
                         spout_settings, dir);
    cr_assert_eq(tl_write_file(cfg, text), 0);
    double t0 = tl_now_s();
    tl_result_t r = tl_gale_run(cfg, NULL, 60);
    cr_assert_neq(r.status, 0, "the run succeeded:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, says), "'%s' not in:\n%s", says, r.err);
    cr_assert_lt(tl_now_s() - t0, 30, "the refusal took %.1f s", tl_now_s() - t0);
    tl_result_free(&r);
    tl_rmtree(dir);
    free(dir), free(cfg), free(text);
}

Test(kafka, unreachable_brokers_and_bad_settings_are_errors_that_name_them)
{
    /* A port nothing listens on: the open gives up after open_timeout_ms, naming the brokers. */
    refused("brokers = \"127.0.0.1:1\"; topic = \"words\"; open_timeout_ms = 1500;",
            "cannot reach the brokers 127.0.0.1:1 in 1500 ms (settings.brokers)");
    refused("topic = \"words\";", "settings.brokers: required");
    refused("brokers = \"127.0.0.1:1\"; topic = \"words\"; properties = [ \"fetch.min.bytes\" ];",
            "settings.properties: want a list of \"name=value\" strings");
    refused("brokers = \"127.0.0.1:1\"; topic = \"words\"; start = \"middle\";",
            "settings.start: \"committed\", \"earliest\" or \"latest\", not \"middle\"");
    refused("brokers = \"127.0.0.1:1\"; topic = \"words\"; properties = [ \"no.such.property=1\" ];",
            "settings.properties: no.such.property: No such configuration property");
}
