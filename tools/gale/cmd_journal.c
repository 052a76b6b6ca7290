/* `gale journal ls|show JOURNAL`: what the failed-tuple journal holds, for people (ls, show) and tools (--json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "journal.h"
#include "json.h"
#include "mpread.h"

static int parse_time(const char *s, int64_t *out)
{
    char *end;
    long long ms = strtoll(s, &end, 10);
    if (*s && !*end) {
        *out = ms;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest || (*rest && strcmp(rest, "Z") != 0)) return -1;
    *out = (int64_t)timegm(&tm) * 1000;
    return 0;
}

int gale_cli_filter_option(int argc, char **argv, int *i, gale_journal_filter_t *f, const char *cmd)
{
    static const char *names[] = {"--spout", "--cause", "--since", "--until", "--key"};
    for (int k = 0; k < 5; k++) {
        if (strcmp(argv[*i], names[k]) != 0) continue;
        if (*i + 1 >= argc) return gale_cli_usage_error(cmd, "%s needs a value", names[k]);
        const char *v = argv[++*i];
        if (k == 0) f->spout = v;
        if (k == 1) {
            if (strcmp(v, "timeout") && strcmp(v, "fail") && strcmp(v, "stopped") && strcmp(v, "rejected"))
                return gale_cli_usage_error(cmd, "--cause is timeout, fail, stopped or rejected, not '%s'", v);
            f->cause = v;
        }
        if (k == 4) f->key_file = v;
        if ((k == 2 || k == 3) && parse_time(v, k == 2 ? &f->since_ms : &f->until_ms))
            return gale_cli_usage_error(cmd, "%s %s: expected milliseconds since the epoch or 2026-11-25T02:40:00Z",
                                        names[k], v);
        return 1;
    }
    return 0;
}

int gale_journal_filter_match(const gale_journal_filter_t *f, const gale_journal_record_t *r)
{
    if (f->spout && strcmp(f->spout, r->spout)) return 0;
    if (f->cause && strcmp(f->cause, r->cause)) return 0;
    if (f->since_ms && r->time_ms < f->since_ms) return 0;
    if (f->until_ms && r->time_ms > f->until_ms) return 0;
    return 1;
}

void gale_cli_journal_report(void *arg, const char *line) { fprintf(stderr, "gale: %s: %s\n", (const char *)arg, line); }

int gale_cli_journal_open(const gale_journal_filter_t *f, const char *path, gale_journal_reader_t *r,
                          gale_journal_key_t *key)
{
    gale_diag_t d = {{0}};
    if (f->key_file && gale_journal_key_load(f->key_file, key, &d)) {
        fprintf(stderr, "gale: --key: %s\n", d.msg);
        return GALE_EXIT_ERROR;
    }
    if (gale_journal_reader_open(r, path, f->key_file ? key : NULL, &d)) {
        fprintf(stderr, "gale: %s\n", d.msg);
        gale_journal_key_wipe(key);
        return GALE_EXIT_ERROR;
    }
    return 0;
}

void gale_cli_journal_summary(const gale_journal_reader_t *r, size_t n)
{
    fprintf(stderr, "%zu record%s", n, n == 1 ? "" : "s");
    if (r->skipped) fprintf(stderr, ", %zu corrupt part%s skipped", r->skipped, r->skipped == 1 ? "" : "s");
    if (r->refused)
        fprintf(stderr, ", %zu record%s not read (sealed, or not authenticated)", r->refused,
                r->refused == 1 ? "" : "s");
    fputc('\n', stderr);
}

void gale_cli_format_time(int64_t ms, char *buf, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

static void values_json(gale_buf_t *b, const gale_journal_record_t *r)
{
    gale_value_t v;
    size_t used;
    if (gale_mp_read(r->values, r->values_len, &v, &used) == 0) gale_json_value(b, &v);
    else gale_buf_puts(b, "null");
}

static void print_json(const gale_journal_record_t *r)
{
    char when[40];
    gale_cli_format_time(r->time_ms, when, sizeof when);
    gale_buf_t b = {0};
    gale_buf_puts(&b, "{\"time\": ");
    gale_json_string(&b, when, strlen(when));
    gale_buf_puts(&b, ", \"topology\": ");
    gale_json_string(&b, r->topology, strlen(r->topology));
    gale_buf_puts(&b, ", \"spout\": ");
    gale_json_string(&b, r->spout, strlen(r->spout));
    gale_buf_puts(&b, ", \"stream\": ");
    gale_json_string(&b, r->stream, strlen(r->stream));
    gale_buf_printf(&b, ", \"msg_id\": %llu, \"values\": ", (unsigned long long)r->msg_id);
    values_json(&b, r);
    gale_buf_puts(&b, ", \"cause\": ");
    gale_json_string(&b, r->cause, strlen(r->cause));
    gale_buf_puts(&b, ", \"component\": ");
    if (r->component) gale_json_string(&b, r->component, strlen(r->component));
    else gale_buf_puts(&b, "null");
    if (r->task) gale_buf_printf(&b, ", \"task\": %u", r->task);
    else gale_buf_puts(&b, ", \"task\": null");
    gale_buf_printf(&b, ", \"attempts\": %u, \"error\": ", r->attempts);
    if (r->error) gale_json_string(&b, r->error, strlen(r->error));
    else gale_buf_puts(&b, "null");
    gale_buf_puts(&b, "}\n");
    fputs(b.p, stdout);
    gale_buf_free(&b);
}

static void who(const gale_journal_record_t *r, char *buf, size_t cap)
{
    if (r->component) snprintf(buf, cap, "%s#%u", r->component, r->task);
    else snprintf(buf, cap, "-");
}

static void print_line(const gale_journal_record_t *r)
{
    char when[40], by[128];
    gale_cli_format_time(r->time_ms, when, sizeof when);
    who(r, by, sizeof by);
    printf("%-24s  %-16s %20llu  %-7s  %-16s %8u\n", when, r->spout, (unsigned long long)r->msg_id, r->cause, by,
           r->attempts);
}

static void print_record(const gale_journal_record_t *r, size_t n)
{
    char when[40], by[128];
    gale_cli_format_time(r->time_ms, when, sizeof when);
    who(r, by, sizeof by);
    gale_buf_t b = {0};
    values_json(&b, r);
    printf("record %zu at %s: topology %s, spout %s (stream %s), msg_id %llu\n"
           "  cause: %s, by %s, after %u attempt%s\n%s%s%s  values: %s\n",
           n, when, r->topology, r->spout, r->stream, (unsigned long long)r->msg_id, r->cause, by, r->attempts,
           r->attempts == 1 ? "" : "s", r->error ? "  error: " : "", r->error ? r->error : "", r->error ? "\n" : "",
           b.p ? b.p : "");
    gale_buf_free(&b);
}

int gale_cmd_journal(int argc, char **argv)
{
    /* --help anywhere, before or after ls|show, and before a usage error that a missing ls|show would be. */
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("journal");
    if (argc < 2) return gale_cli_usage_error("journal", "ls or show is needed");
    if (strcmp(argv[1], "ls") && strcmp(argv[1], "show")) {
        if (argv[1][0] == '-') return gale_cli_unknown_option("journal", argv[1]);
        return gale_cli_usage_error("journal", "ls or show is needed, not '%s'", argv[1]);
    }
    bool ls = !strcmp(argv[1], "ls"), json = false;
    const char *path = NULL;
    gale_journal_filter_t f = {0};
    for (int i = 2; i < argc; i++) {
        int rc = gale_cli_filter_option(argc, argv, &i, &f, "journal");
        if (rc == GALE_EXIT_USAGE) return rc;
        if (rc) continue;
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1]) return gale_cli_unknown_option("journal", argv[i]);
        else if (path) return gale_cli_usage_error("journal", "one journal only (got %s too)", argv[i]);
        else path = argv[i];
    }
    if (!path) return gale_cli_usage_error("journal", "no journal given");
    gale_journal_reader_t r;
    gale_journal_key_t key;
    if (gale_cli_journal_open(&f, path, &r, &key)) return GALE_EXIT_ERROR;
    if (ls && !json) printf("%-24s  %-16s %20s  %-7s  %-16s %8s\n", "TIME", "SPOUT", "MSG_ID", "CAUSE", "BY", "ATTEMPTS");
    gale_journal_record_t rec;
    size_t n = 0;
    while (gale_journal_reader_next(&r, &rec, gale_cli_journal_report, (void *)path) == 1) {
        if (!gale_journal_filter_match(&f, &rec)) continue;
        n++;
        if (json) print_json(&rec);
        else if (ls) print_line(&rec);
        else print_record(&rec, n);
    }
    if (!json) gale_cli_journal_summary(&r, n);
    size_t refused = r.refused;
    gale_journal_reader_free(&r);
    gale_journal_key_wipe(&key);
    /* Records that could not be read with the key given are an error: the key is wrong, or the journal was changed. */
    return refused ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}
