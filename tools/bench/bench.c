/*
 * gale-bench: throughput, latency, CPU and memory of gale's standard cases (after Apache Storm's storm-perf), each
 * run as a whole `gale run` process, against a hand-written C word count measured in the same run.
 *
 * For each case and acking off/on, in local mode and with two workers, runs alternating between the two modes: a
 * warm-up run each, then `runs` runs each at full speed (throughput = tuples per second through the last bolt,
 * median; and worker mode's throughput over local mode's, round by round), then `runs` runs each with the spout
 * paced at half its mode's peak, which give the latency (acking on: complete latency of the spout's trees; off:
 * end-to-end latency from the latency markers). Then the cost of being watched: the word count with acking on, plain
 * and with --http, a 1 s metrics interval and a scraper reading /metrics and the summary every second, in turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baseline.h"

/* A ratio for the JSON: a run too short to measure its plain side (0 tuples) gives 0, not inf (JSON has none). */
static double finite_or_0(double x) { return isfinite(x) ? x : 0; }

extern char **environ;

typedef struct bench_case {
    const char *name, *file, *spout, *sink;
    const char *pace_key; /* the spout setting that paces it, in tuples per second */
} bench_case_t;

static const bench_case_t CASES[] = {
    {"const_null", "tools/bench/topologies/const_null.cfg", "spout", "sink", "rate"},
    {"const_id_null", "tools/bench/topologies/const_id_null.cfg", "spout", "sink", "rate"},
    {"wordcount", "topologies/wordcount.cfg", "sentences", "count", "rate"},
    /* The same with its split bolt in Python over the multilang protocol: the price of a Storm user's own bolt. */
    {"wordcount_python", "tools/bench/topologies/wordcount_python.cfg", "sentences", "count", "rate"},
};

typedef struct opts {
    int runs, warmup;
    double duration;
    const char *json, *gale, *only;
    int max_pending;
} opts_t;

typedef struct sample {
    double throughput, spout_rate, cpu_s_per_million, rss_mb, p50, p99, p999;
    double checkpoints; /* completed in the run, when it took them */
    int ok;
} sample_t;

/* ---- running one `gale run` -------------------------------------------------------------------------------- */

static int run_gale(const opts_t *o, const bench_case_t *c, int acking, int workers, double pace, const char *stats,
                    double duration, int http_port, const char *const *extra, struct rusage *ru)
{
    char nworkers[16];
    snprintf(nworkers, sizeof nworkers, "%d", workers);
    char dur[32], ackers[64], pending[64], rate[128];
    snprintf(dur, sizeof dur, "%.3f", duration);
    snprintf(ackers, sizeof ackers, "config.ackers=%d", acking);
    snprintf(pending, sizeof pending, "config.max_spout_pending=%d", acking ? o->max_pending : 0);
    snprintf(rate, sizeof rate, "%s.%s=%.1f", c->spout, c->pace_key, pace);
    const char *argv[32] = {o->gale, "run",  "--quiet", "--duration", dur,         "--stats", stats,
                            "--set", ackers, "--set",   pending,      "--workers", nworkers};
    int n = 13;
    if (pace > 0) {
        argv[n++] = "--set";
        argv[n++] = rate;
    }
    char http[64];
    if (http_port) { /* observed: the endpoint, and the workers reporting every second */
        snprintf(http, sizeof http, "127.0.0.1:%d", http_port);
        argv[n++] = "--http";
        argv[n++] = http;
        argv[n++] = "--set";
        argv[n++] = "config.metrics_interval_s=1";
    }
    for (int i = 0; extra && extra[i] && n < 28; i++) argv[n++] = extra[i];
    argv[n++] = c->file;
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, o->gale, NULL, NULL, (char *const *)argv, environ);
    if (rc) {
        fprintf(stderr, "gale-bench: cannot start %s: %s\n", o->gale, strerror(rc));
        return -1;
    }
    int st;
    if (wait4(pid, &st, 0, ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "gale-bench: %s (acking %s) failed\n", c->name, acking ? "on" : "off");
        return -1;
    }
    return 0;
}

/* A number after `"key": ` in the object that starts at `from`. */
static double json_number(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(from, pat);
    if (!p || !strncmp(p + strlen(pat), "null", 4)) return -1; /* absent, or no sample (no latency markers) */
    return strtod(p + strlen(pat), NULL);
}

static const char *json_component(const char *json, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "{\"name\": \"%s\"", name);
    return strstr(json, pat);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int measure_at(const opts_t *o, const bench_case_t *c, int acking, int workers, double pace, int http_port,
                      const char *const *extra, sample_t *s)
{
    char stats[] = "/tmp/gale-bench-XXXXXX";
    int fd = mkstemp(stats);
    if (fd < 0) return -1;
    close(fd);
    struct rusage ru;
    memset(s, 0, sizeof *s);
    int rc = run_gale(o, c, acking, workers, pace, stats, o->duration, http_port, extra, &ru);
    char *json = rc ? NULL : slurp(stats);
    unlink(stats);
    if (!json) return -1;
    double secs = json_number(json, "seconds");
    const char *sink = json_component(json, c->sink), *spout = json_component(json, c->spout);
    if (!sink || !spout || secs <= 0) return -1;
    double executed = json_number(sink, "executed");
    s->throughput = executed / secs;
    s->spout_rate = json_number(spout, "emitted") / secs;
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    s->cpu_s_per_million = executed > 0 ? cpu / (executed / 1e6) : 0;
    s->rss_mb = json_number(json, "peak_rss_kb") / 1024.0; /* not ru_maxrss: that one carries our own across exec */
    const char *lat = acking ? spout : sink;
    const char *key = acking ? "complete_ms" : "e2e_ms";
    char k50[32], k99[32], k999[32];
    snprintf(k50, sizeof k50, "%s_p50", key);
    snprintf(k99, sizeof k99, "%s_p99", key);
    snprintf(k999, sizeof k999, "%s_p999", key);
    s->p50 = json_number(lat, k50);
    s->p99 = json_number(lat, k99);
    s->p999 = json_number(lat, k999);
    const char *ck = strstr(json, "\"checkpoints\": {");
    s->checkpoints = ck ? json_number(ck, "completed") : 0;
    s->ok = 1;
    return 0;
}

static double median(double *v, int n);

static int measure(const opts_t *o, const bench_case_t *c, int acking, int workers, double pace, sample_t *s)
{
    return measure_at(o, c, acking, workers, pace, 0, NULL, s);
}

/* ---- the cost of being watched: a scraper of the HTTP endpoint --------------------------------------------- */

typedef struct scraper {
    int port;
    atomic_bool stop;
    int scrapes; /* answers read */
} scraper_t;

/* One GET of `path`, read to the end; whether an answer came. */
static bool scrape(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool got = false;
    if (fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof a)) {
        char req[256], buf[65536];
        int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
        if (write(fd, req, (size_t)len) == len)
            for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got = true;
    }
    if (fd >= 0) close(fd);
    return got;
}

/* As Prometheus and the web UI would: /metrics and the topology's document, every second. */
static void *scrape_loop(void *arg)
{
    scraper_t *s = arg;
    while (!atomic_load(&s->stop)) {
        bool got = scrape(s->port, "/metrics");
        if (got) s->scrapes++, scrape(s->port, "/api/v1/topology/summary");
        /* Until the run listens, again soon; then once a second. */
        for (int i = 0; i < (got ? 20 : 1) && !atomic_load(&s->stop); i++) usleep(50000);
    }
    return NULL;
}

/* A port nothing listens on now (the kernel's choice), for the endpoint. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len)
                   ? ntohs(a.sin_port)
                   : 0;
    if (fd >= 0) close(fd);
    return port;
}

/* A run with --http and a 1 s metrics interval, scraped every second while it runs. */
static int measure_observed(const opts_t *o, const bench_case_t *c, int acking, int workers, sample_t *s, int *scrapes)
{
    scraper_t sc = {.port = free_port()};
    pthread_t th;
    if (!sc.port || pthread_create(&th, NULL, scrape_loop, &sc)) return -1;
    int rc = measure_at(o, c, acking, workers, 0, sc.port, NULL, s);
    atomic_store(&sc.stop, true);
    pthread_join(th, NULL);
    *scrapes = sc.scrapes;
    return rc;
}

typedef struct observed {
    int workers, ok, scrapes;
    double plain, observed, ratio; /* medians; ratio: observed / plain, round by round */
} observed_t;

/* wordcount with acking on, plain and observed in turn (local, then 2 workers). */
static void bench_observed(const opts_t *o, const bench_case_t *c, observed_t out[2])
{
    for (int w = 0; w < 2; w++) {
        double plain[32], watched[32], ratio[32];
        int n = 0, scrapes = 0;
        sample_t a, b;
        for (int i = 0; i < o->runs; i++) {
            int got = 0;
            if (measure(o, c, 1, w + 1, 0, &a) || measure_observed(o, c, 1, w + 1, &b, &got)) continue;
            plain[n] = a.throughput, watched[n] = b.throughput, ratio[n] = b.throughput / a.throughput;
            scrapes += got;
            n++;
        }
        out[w] = (observed_t){.workers = w + 1, .ok = n > 0, .scrapes = scrapes};
        if (n) out[w].plain = median(plain, n), out[w].observed = median(watched, n), out[w].ratio = median(ratio, n);
    }
}

/* ---- the cost of checkpoints ----------------------------------------------------------------------------------- */

typedef struct checkpointed {
    int ok;
    double plain, checkpointed, ratio; /* medians; ratio: checkpointed / plain, round by round */
    double checkpoints;                /* completed per checkpointed run, median */
} checkpointed_t;

/* wordcount, acking on, local mode: plain and with checkpoint_interval_ms 1000 (file backend, fsync on, in a
   fresh folder each run) in turn. */
static void bench_checkpointed(const opts_t *o, const bench_case_t *c, checkpointed_t *out)
{
    double plain[32], with[32], ratio[32], taken[32];
    int n = 0;
    char dir[] = "/tmp/gale-bench-state-XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[128];
    snprintf(path, sizeof path, "config.state_path=%s", dir);
    const char *extra[] = {"--fresh", "--set", "config.checkpoint_interval_ms=1000", "--set", path, NULL};
    for (int i = 0; i < o->runs && i < 32; i++) {
        sample_t a, b;
        if (measure(o, c, 1, 1, 0, &a) || measure_at(o, c, 1, 1, 0, 0, extra, &b)) continue;
        plain[n] = a.throughput, with[n] = b.throughput, ratio[n] = b.throughput / a.throughput;
        taken[n] = b.checkpoints;
        n++;
    }
    char rm[192];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm)) fprintf(stderr, "gale-bench: cannot remove %s\n", dir);
    *out = (checkpointed_t){.ok = n > 0};
    if (n)
        out->plain = median(plain, n), out->checkpointed = median(with, n), out->ratio = median(ratio, n),
        out->checkpoints = median(taken, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- one case: peak, then latency at half the peak, local and worker mode in turn ------------------------- */

typedef struct result {
    const bench_case_t *c;
    int acking, workers, ok;
    double throughput, cpu, rss, p50, p99, p999;
    double vs_local; /* worker mode: median over the rounds of its throughput / local mode's in the same round */
} result_t;

#define MODES 2 /* local (1 worker), then 2 workers */

/* Runs of the two modes alternate (local, workers, local, workers, ...) so that a change in the machine's speed,
   which on a shared VM can be 2x for minutes, falls on both alike; the worker/local ratio is taken round by round. */
static void bench_case(const opts_t *o, const bench_case_t *c, int acking, result_t out[MODES])
{
    sample_t s;
    double tp[MODES][32], spout[MODES][32], cpu[MODES][32], rss[MODES][32], l50[MODES][32], l99[MODES][32],
        l999[MODES][32], ratio[32];
    int n[MODES] = {0}, m[MODES] = {0}, nr = 0;
    for (int w = 0; w < MODES; w++) out[w] = (result_t){.c = c, .acking = acking, .workers = w + 1, .vs_local = -1};
    for (int i = 0; i < o->warmup; i++)
        for (int w = 0; w < MODES; w++) measure(o, c, acking, w + 1, 0, &s);
    for (int i = 0; i < o->runs; i++) {
        double round[MODES] = {0};
        for (int w = 0; w < MODES; w++) {
            if (measure(o, c, acking, w + 1, 0, &s)) continue;
            tp[w][n[w]] = s.throughput, spout[w][n[w]] = s.spout_rate, cpu[w][n[w]] = s.cpu_s_per_million;
            rss[w][n[w]] = s.rss_mb;
            n[w]++;
            round[w] = s.throughput;
        }
        if (round[0] > 0 && round[1] > 0) ratio[nr++] = round[1] / round[0];
    }
    double pace[MODES];
    for (int w = 0; w < MODES; w++) pace[w] = n[w] ? median(spout[w], n[w]) / 2 : 0;
    for (int i = 0; i < o->runs; i++)
        for (int w = 0; w < MODES; w++) {
            if (!n[w] || measure(o, c, acking, w + 1, pace[w], &s)) continue;
            l50[w][m[w]] = s.p50, l99[w][m[w]] = s.p99, l999[w][m[w]] = s.p999;
            m[w]++;
        }
    for (int w = 0; w < MODES; w++) {
        result_t *r = &out[w];
        if (!n[w]) continue;
        r->throughput = median(tp[w], n[w]);
        r->cpu = median(cpu[w], n[w]);
        r->rss = median(rss[w], n[w]);
        r->p50 = m[w] ? median(l50[w], m[w]) : -1;
        r->p99 = m[w] ? median(l99[w], m[w]) : -1;
        r->p999 = m[w] ? median(l999[w], m[w]) : -1;
        r->ok = 1;
    }
    if (nr) out[1].vs_local = median(ratio, nr);
}

/* ---- output ------------------------------------------------------------------------------------------------ */

static void machine(char *model, size_t cap, long *cores)
{
    *cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(model, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (v) snprintf(model, cap, "%s", v + 2);
        model[strcspn(model, "\n\"\\")] = '\0';
        break;
    }
    if (f) fclose(f);
}

/* Latencies are kept in milliseconds (as the JSON has them) and shown in microseconds: a chained hop is a call. */
static void print_us(FILE *f, double ms) { ms < 0 ? fprintf(f, "%9s", "-") : fprintf(f, "%9.1f", ms * 1000); }

static void write_json(const opts_t *o, const result_t *res, int n, double baseline, const char *model, long cores,
                       const observed_t obs[2], const checkpointed_t *ck)
{
    FILE *f = fopen(o->json, "w");
    if (!f) {
        fprintf(stderr, "gale-bench: cannot write %s: %s\n", o->json, strerror(errno));
        return;
    }
    fprintf(f, "{\"machine\": {\"cores\": %ld, \"model\": \"%s\"},\n \"baseline\": {\"words_per_s\": %.0f},\n \"cases\": [",
            cores, model, baseline);
    for (int i = 0; i < n; i++) {
        const result_t *r = &res[i];
        fprintf(f, "%s\n  {\"case\": \"%s\", \"mode\": \"%s\", \"acking\": %s, \"throughput\": %.0f, ", i ? "," : "",
                r->c->name, r->workers > 1 ? "workers2" : "local", r->acking ? "true" : "false", r->throughput);
        const double lat[3] = {r->p50, r->p99, r->p999};
        const char *names[3] = {"p50_ms", "p99_ms", "p999_ms"};
        for (int k = 0; k < 3; k++) lat[k] < 0 ? fprintf(f, "\"%s\": null, ", names[k]) : fprintf(f, "\"%s\": %.6f, ", names[k], lat[k]);
        fprintf(f, "\"cpu_s_per_million\": %.4f, \"rss_mb\": %.1f, \"ratio_to_baseline\": %.4f", r->cpu, r->rss,
                baseline > 0 ? r->throughput / baseline : 0);
        if (r->vs_local >= 0) fprintf(f, ", \"vs_local\": %.4f", r->vs_local);
        fputc('}', f);
    }
    fprintf(f, "\n],\n \"observed\": [");
    for (int w = 0, first = 1; w < 2; w++) {
        if (!obs[w].ok) continue;
        fprintf(f,
                "%s\n  {\"case\": \"wordcount\", \"mode\": \"%s\", \"acking\": true, \"plain\": %.0f, "
                "\"observed\": %.0f, \"ratio\": %.4f, \"scrapes\": %d}",
                first ? "" : ",", w ? "workers2" : "local", obs[w].plain, obs[w].observed, finite_or_0(obs[w].ratio),
                obs[w].scrapes);
        first = 0;
    }
    fprintf(f, "\n],\n \"checkpointed\": [");
    if (ck->ok)
        fprintf(f,
                "\n  {\"case\": \"wordcount\", \"mode\": \"local\", \"acking\": true, \"interval_ms\": 1000, "
                "\"plain\": %.0f, \"checkpointed\": %.0f, \"ratio\": %.4f, \"checkpoints\": %.0f}",
                ck->plain, ck->checkpointed, finite_or_0(ck->ratio), ck->checkpoints);
    fprintf(f, "\n]}\n");
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr, "usage: gale-bench [--quick] [--runs N] [--duration S] [--case NAME] [--json PATH] [--gale PATH]\n");
    exit(2);
}

static void parse(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--quick")) o->runs = 1, o->warmup = 0, o->duration = 0.5;
        else if (!strcmp(a, "--runs") && more) o->runs = atoi(argv[++i]);
        else if (!strcmp(a, "--duration") && more) o->duration = atof(argv[++i]);
        else if (!strcmp(a, "--json") && more) o->json = argv[++i];
        else if (!strcmp(a, "--gale") && more) o->gale = argv[++i];
        else if (!strcmp(a, "--case") && more) o->only = argv[++i];
        else usage();
    }
    if (o->runs < 1 || o->runs > 32 || o->duration <= 0) usage();
}

int main(int argc, char **argv)
{
    static char gale[4096];
    /* The gale binary beside this one (build/bin/gale-bench -> build/bin/gale). */
    ssize_t n = readlink("/proc/self/exe", gale, sizeof gale - 16);
    if (n > 0) {
        gale[n] = '\0';
        char *slash = strrchr(gale, '/');
        strcpy(slash + 1, "gale");
    }
    opts_t o = {.runs = 5, .warmup = 1, .duration = 3.0, .json = "build/bench.json", .gale = gale, .max_pending = 5000};
    parse(argc, argv, &o);
    char model[256];
    long cores;
    machine(model, sizeof model, &cores);
    printf("gale-bench: %ld cores (%s), %d run%s of %.1f s per figure, median\n", cores, model, o.runs,
           o.runs == 1 ? "" : "s", o.duration);
    double base[32];
    uint64_t checksum = 0;
    for (int i = 0; i < o.runs; i++) base[i] = gale_baseline_wordcount(o.duration < 1 ? 2000000 : 10000000, 42 + (uint64_t)i, &checksum);
    double baseline = median(base, o.runs);
    printf("baseline: hand-written single-threaded C word count: %.1f M words/s (checksum %llx)\n\n", baseline / 1e6,
           (unsigned long long)checksum);
    printf("%-16s %-9s %-6s %14s %8s %9s %9s %9s %10s %8s %9s\n", "case", "mode", "acking", "tuples/s", "ratio",
           "p50_us", "p99_us", "p999_us", "cpu_s/M", "rss_mb", "vs_local");
    result_t res[MODES * 2 * sizeof CASES / sizeof *CASES];
    int nr = 0, failures = 0;
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        if (o.only && strcmp(o.only, CASES[c].name)) continue;
        for (int acking = 0; acking <= 1; acking++) {
            result_t pair[MODES];
            bench_case(&o, &CASES[c], acking, pair);
            for (int w = 0; w < MODES; w++) {
                const result_t *r = &pair[w];
                if (!r->ok) {
                    failures++;
                    continue;
                }
                res[nr++] = *r;
                printf("%-16s %-9s %-6s %14.0f %8.3f ", r->c->name, r->workers > 1 ? "workers2" : "local",
                       acking ? "on" : "off", r->throughput, r->throughput / baseline);
                print_us(stdout, r->p50), putchar(' '), print_us(stdout, r->p99), putchar(' '), print_us(stdout, r->p999);
                printf(" %10.3f %8.1f", r->cpu, r->rss);
                if (r->vs_local >= 0) printf(" %9.2f", r->vs_local);
                putchar('\n');
                fflush(stdout);
            }
        }
    }
    observed_t obs[2] = {{0}};
    const bench_case_t *wc = &CASES[2];
    if (!o.only || !strcmp(o.only, wc->name)) {
        bench_observed(&o, wc, obs);
        printf("\nthe cost of being watched: %s, acking on, plain vs --http with config.metrics_interval_s=1 and\n"
               "/metrics and /api/v1/topology/summary read every second, in turn:\n",
               wc->name);
        for (int w = 0; w < 2; w++)
            if (obs[w].ok)
                printf("  %-9s plain %12.0f tuples/s   observed %12.0f tuples/s   observed/plain %.3f   (%d scrapes)\n",
                       w ? "workers2" : "local", obs[w].plain, obs[w].observed, obs[w].ratio, obs[w].scrapes);
            else failures++;
    }
    checkpointed_t ck = {0};
    if (!o.only || !strcmp(o.only, wc->name)) {
        bench_checkpointed(&o, wc, &ck);
        printf("\nthe cost of checkpoints: %s, acking on, local, plain vs config.checkpoint_interval_ms=1000 (file\n"
               "backend, fsync on), in turn:\n",
               wc->name);
        if (ck.ok)
            printf("  %-9s plain %12.0f tuples/s   checkpointed %12.0f tuples/s   checkpointed/plain %.3f   (%.0f "
                   "checkpoints a run)\n",
                   "local", ck.plain, ck.checkpointed, ck.ratio, ck.checkpoints);
        else failures++;
    }
    printf("\n(latency at half the peak rate: acking on = complete latency, off = end-to-end from latency markers;\n"
           " ratio = throughput / baseline words per second; vs_local = worker mode's throughput / local mode's,\n"
           " median over rounds in which the two ran back to back)\n");
    write_json(&o, res, nr, baseline, model, cores, obs, &ck);
    printf("wrote %s\n", o.json);
    return failures ? 1 : 0;
}
