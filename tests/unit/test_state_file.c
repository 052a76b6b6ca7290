/* The file backend of checkpoints: snapshots and records written whole, the latest complete one found again, older
   ones pruned, what a crash left removed, and damage or a folder that cannot be written reported. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_store.h"
#include "testlib.h"

typedef struct done {
    int calls, rc;
    char why[512];
} done_t;

static void on_done(void *arg, int rc, const char *why)
{
    done_t *d = arg;
    d->calls++;
    d->rc = rc;
    snprintf(d->why, sizeof d->why, "%s", why ? why : "");
}

static void run_until(uv_loop_t *loop, done_t *d, int calls)
{
    for (int i = 0; i < 10000 && d->calls < calls; i++) uv_run(loop, UV_RUN_ONCE);
    cr_assert_eq(d->calls, calls);
}

static void put(gale_state_store_t *s, uint64_t id, const char *comp, uint32_t index, const char *text, done_t *d)
{
    gale_buf_t b = {0};
    gale_buf_puts(&b, text);
    int before = d->calls;
    s->ops->put(s, id, comp, index, &b, on_done, d);
    cr_assert_null(b.p, "put takes the buffer");
    run_until(s->loop, d, before + 1);
}

static void complete(gale_state_store_t *s, uint64_t id, done_t *d)
{
    struct gale_checkpoint_component comp[2] = {{"count", 2}, {"lines", 1}};
    gale_checkpoint_record_t r = {.id = id, .n = 2, .comp = comp};
    int before = d->calls;
    s->ops->complete(s, &r, on_done, d);
    run_until(s->loop, d, before + 1);
}

static bool exists(const char *fmt, const char *a, const char *b)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, a, b);
    struct stat st;
    return stat(p, &st) == 0;
}

/* A store over a fresh folder, for one test. */
typedef struct fixture {
    char *dir;
    uv_loop_t loop;
    gale_state_store_t *s;
    char why[512];
} fixture_t;

static void fx_open(fixture_t *fx, bool fsync_on)
{
    if (!fx->dir) {
        fx->dir = tl_tmpdir();
        uv_loop_init(&fx->loop);
    }
    cr_assert_eq(gale_state_file_open(&fx->loop, fx->dir, "wc", fsync_on, &fx->s, fx->why, sizeof fx->why), 0, "%s",
                 fx->why);
}

static void fx_close(fixture_t *fx, bool end)
{
    fx->s->ops->close(fx->s);
    if (!end) return;
    uv_loop_close(&fx->loop);
    tl_rmtree(fx->dir);
    free(fx->dir);
}

Test(state_file, checkpoints_round_trip_and_older_ones_are_pruned)
{
    fixture_t fx = {0};
    fx_open(&fx, true);
    gale_state_store_t *s = fx.s;
    char *why = fx.why, *dir = fx.dir;
    gale_checkpoint_record_t r = {0};
    cr_assert_eq(s->ops->latest(s, &r, why, sizeof fx.why), GALE_ENOENT);
    done_t d = {0};
    put(s, 1, "count", 0, "one-0", &d);
    cr_assert_eq(d.rc, 0, "%s", d.why);
    put(s, 1, "count", 1, "one-1", &d);
    complete(s, 1, &d);
    cr_assert_eq(d.rc, 0, "%s", d.why);
    put(s, 2, "count", 0, "two-0", &d);
    /* 2 is not complete: the latest is still 1. */
    cr_assert_eq(s->ops->latest(s, &r, why, sizeof fx.why), 0, "%s", why);
    cr_assert_eq(r.id, 1);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(gale_checkpoint_record_parallelism(&r, "count"), 2);
    cr_assert_eq(gale_checkpoint_record_parallelism(&r, "split"), 0);
    gale_checkpoint_record_free(&r);
    gale_buf_t b = {0};
    cr_assert_eq(s->ops->get(s, 1, "count", 1, &b, why, sizeof fx.why), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_eq(memcmp(b.p, "one-1", 5), 0);
    gale_buf_free(&b);
    cr_assert_eq(s->ops->get(s, 1, "lines", 0, &b, why, sizeof fx.why), GALE_ENOENT, "a task without state");
    complete(s, 2, &d);
    cr_assert_eq(s->ops->latest(s, &r, why, sizeof fx.why), 0);
    cr_assert_eq(r.id, 2);
    gale_checkpoint_record_free(&r);
    cr_assert(!exists("%s/%s/chk-1", dir, "wc"), "checkpoint 1 is pruned once 2 is complete");
    cr_assert(exists("%s/%s/chk-2/count.0", dir, "wc"));
    cr_assert(!exists("%s/%s/chk-2/count.0.tmp", dir, "wc"));
    fx_close(&fx, true);
}

Test(state_file, what_a_crash_left_above_the_latest_is_removed_at_open)
{
    fixture_t fx = {0};
    fx_open(&fx, false);
    gale_state_store_t *s = fx.s;
    char *why = fx.why, *dir = fx.dir;
    done_t d = {0};
    put(s, 4, "count", 0, "four", &d);
    complete(s, 4, &d);
    put(s, 5, "count", 0, "five", &d); /* the crash came before 5 completed */
    fx_close(&fx, false);
    cr_assert(exists("%s/%s/chk-5/count.0", dir, "wc"));
    fx_open(&fx, false);
    s = fx.s;
    cr_assert(!exists("%s/%s/chk-5", dir, "wc"));
    cr_assert(exists("%s/%s/chk-4/count.0", dir, "wc"));
    cr_assert_eq(s->ops->wipe(s, why, sizeof fx.why), 0);
    gale_checkpoint_record_t r = {0};
    cr_assert_eq(s->ops->latest(s, &r, why, sizeof fx.why), GALE_ENOENT);
    cr_assert(!exists("%s/%s/chk-4", dir, "wc"));
    fx_close(&fx, true);
}

Test(state_file, a_damaged_record_is_an_error_that_names_the_file)
{
    fixture_t fx = {0};
    fx_open(&fx, false);
    gale_state_store_t *s = fx.s;
    char *why = fx.why, *dir = fx.dir;
    char *latest = tl_path("%s/wc/latest", dir);
    const char *bad[] = {"",
                         "gale-checkpoint 1\n",
                         "gale-checkpoint 2\nid 3\n",
                         "gale-checkpoint 1\nid 3\nxx\n",
                         "gale-checkpoint 1\nid 3\ncomponent c 0\n",
                         "gale-checkpoint 1\nid 3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(tl_write_file(latest, bad[i]), 0);
        gale_checkpoint_record_t r = {0};
        cr_assert_eq(s->ops->latest(s, &r, why, sizeof fx.why), GALE_ECORRUPT, "case %zu", i);
        cr_assert(strstr(why, latest), "case %zu: %s", i, why);
        gale_checkpoint_record_free(&r);
    }
    free(latest);
    fx_close(&fx, true);
}

Test(state_file, a_folder_that_cannot_be_written_fails_the_put_with_a_reason)
{
    /* A file where the checkpoint's folder should be: a failure that permissions cannot hide from root. */
    fixture_t fx = {0};
    fx_open(&fx, false);
    gale_state_store_t *s = fx.s;
    char *dir = fx.dir;
    char *blocker = tl_path("%s/wc/chk-9", dir);
    cr_assert_eq(tl_write_file(blocker, "not a folder"), 0);
    done_t d = {0};
    put(s, 9, "count", 0, "nine", &d);
    cr_assert_neq(d.rc, 0);
    cr_assert(strstr(d.why, "chk-9"), "%s", d.why);
    free(blocker);
    fx_close(&fx, true);
}

Test(state_file, a_final_record_says_so_and_reads_back)
{
    struct gale_checkpoint_component comp[1] = {{"count", 3}};
    gale_checkpoint_record_t r = {.id = 12, .final = true, .n = 1, .comp = comp}, back = {0};
    gale_buf_t b = {0};
    gale_checkpoint_record_format(&r, &b);
    cr_assert(strstr(b.p, "\nfinal\n"), "%s", b.p);
    char why[256];
    cr_assert_eq(gale_checkpoint_record_parse(b.p, b.len, &back, why, sizeof why), 0, "%s", why);
    cr_assert(back.final);
    cr_assert_eq(back.id, 12);
    cr_assert_eq(gale_checkpoint_record_parallelism(&back, "count"), 3);
    gale_checkpoint_record_free(&back);
    r.final = false;
    b.len = 0;
    gale_checkpoint_record_format(&r, &b);
    gale_checkpoint_record_t plain = {0};
    cr_assert_eq(gale_checkpoint_record_parse(b.p, b.len, &plain, why, sizeof why), 0);
    cr_assert_not(plain.final);
    gale_checkpoint_record_free(&plain);
    gale_buf_free(&b);
}
