/*
 * `gale monitor URL|NAME`: a running topology's rates every interval, a line per component, as Storm's `storm
 * monitor` prints them. The figures come from a gale HTTP endpoint (`gale run --http`: Storm UI's REST document
 * /api/v1/topology/NAME) or from the cluster (`stats NAME json` to the leading nimbus: the document of `gale run
 * --stats`); either is read into the same per-component record (comp_t), and a rate is the difference of a counter
 * between two polls over the time between them on the monotonic clock, so the first line comes after one interval.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tls.h"
#include "http_get.h"
#include "json_parse.h"
#include "mpread.h"
#include "verbs.h"

#define CMD "monitor"
#define HTTP_TIMEOUT_MS 10000
#define NIMBUS_TIMEOUT_MS 10000
#define INTERVAL_MIN_S 0.1
#define INTERVAL_MAX_S 86400.0
#define FIRST_WAIT_S 60.0 /* see first_poll */

/* ---- the record both documents are read into ------------------------------------------------------------------ */

/* One component's figures at one poll. */
typedef struct comp {
    char *name; /* owned */
    bool spout;
    uint64_t emitted, transferred, executed, acked, failed;
    double latency_ms; /* mean execute latency (bolt) or complete latency (spout); NAN when the document has none */
    double capacity;   /* NAN when the document has none (the cluster's) */
} comp_t;

/* Every component of one poll, in the document's order; owns its components. */
typedef struct snap {
    comp_t *c;
    size_t n, cap;
    double at_s;     /* the monotonic clock when the poll was sent */
    int64_t wall_ms; /* the wall clock then, for the line's time */
} snap_t;

static void snap_free(snap_t *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->c[i].name);
    free(s->c);
    *s = (snap_t){0};
}

/* A new component named name[0..len) at the end of `s`, its figures zero: NULL when out of memory. */
static comp_t *snap_add(snap_t *s, const char *name, size_t len, bool spout)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        comp_t *c = realloc(s->c, cap * sizeof *c);
        if (!c) return NULL;
        s->c = c, s->cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy) return NULL;
    s->c[s->n] = (comp_t){.name = copy, .spout = spout, .latency_ms = NAN, .capacity = NAN};
    return &s->c[s->n++];
}

static const comp_t *snap_find(const snap_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->c[i].name, name)) return &s->c[i];
    return NULL;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading JSON (json_parse.h to MessagePack, read with mpread.h, as metrics_merge.c does) ----------------- */

/* A parsed document: `top` is a view into `sb`, which the holder destroys (msgpack_sbuffer_destroy). */
typedef struct doc {
    msgpack_sbuffer sb;
    gale_value_t top;
} doc_t;

/* Parses text[0..len) into `doc` (destroy doc->sb whatever the result). 0, or a negative code with why in `d`. */
static int doc_parse(const char *text, size_t len, doc_t *doc, gale_diag_t *d)
{
    msgpack_sbuffer_init(&doc->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &doc->sb, msgpack_sbuffer_write);
    size_t at = 0, used;
    const char *why = "";
    int rc = gale_json_parse(text, len, &pk, &at, &why);
    if (rc == GALE_ENOMEM) return gale__diag(d, rc, "out of memory");
    if (rc) return gale__diag(d, GALE_ESYNTAX, "the answer is not JSON (at byte %zu: %s)", at, why);
    rc = gale_mp_read(doc->sb.data, doc->sb.size, &doc->top, &used);
    if (rc || doc->top.type != GALE_MAP) return gale__diag(d, GALE_ECORRUPT, "the answer is not a JSON object");
    return 0;
}

static bool key_is(const gale_value_t *k, const char *s)
{
    return k->type == GALE_STR && k->s.len == strlen(s) && !memcmp(k->s.ptr, s, k->s.len);
}

/* The value of key `key` in map `m` (the first), or false. */
static bool map_get(const gale_value_t *m, const char *key, gale_value_t *out)
{
    gale_value_t k;
    for (uint32_t i = 0; m->type == GALE_MAP && i < m->n; i++)
        if (!gale_mp_item(m, 2 * i, &k) && key_is(&k, key) && !gale_mp_item(m, 2 * i + 1, out)) return true;
    return false;
}

static uint64_t count_of(const gale_value_t *v)
{
    return v->type == GALE_INT && v->i > 0 ? (uint64_t)v->i : v->type == GALE_UINT ? v->u : 0;
}

/* A number given as a number or, as Storm UI gives latencies and capacity, as a string ("0.123"); NAN otherwise. */
static double number_of(const gale_value_t *v)
{
    if (v->type == GALE_INT) return (double)v->i;
    if (v->type == GALE_UINT) return (double)v->u;
    if (v->type == GALE_DOUBLE) return v->d;
    if (v->type != GALE_STR || !v->s.len || v->s.len >= 64) return NAN;
    char buf[64], *end;
    memcpy(buf, v->s.ptr, v->s.len);
    buf[v->s.len] = 0;
    double x = strtod(buf, &end);
    return *end ? NAN : x;
}

/* The counters both documents name alike. */
static void read_counts(const gale_value_t *obj, comp_t *c)
{
    gale_value_t v;
    if (map_get(obj, "emitted", &v)) c->emitted = count_of(&v);
    if (map_get(obj, "transferred", &v)) c->transferred = count_of(&v);
    if (map_get(obj, "executed", &v)) c->executed = count_of(&v);
    if (map_get(obj, "acked", &v)) c->acked = count_of(&v);
    if (map_get(obj, "failed", &v)) c->failed = count_of(&v);
}

/* One entry of Storm UI's spouts[] or bolts[]: {"spoutId"|"boltId", counts, "completeLatency"|"executeLatency",
   "capacity"}; an entry without its id is skipped. */
static int read_rest_component(const gale_value_t *obj, bool spout, snap_t *s)
{
    gale_value_t id, v;
    if (!map_get(obj, spout ? "spoutId" : "boltId", &id) || id.type != GALE_STR) return 0;
    comp_t *c = snap_add(s, id.s.ptr, id.s.len, spout);
    if (!c) return GALE_ENOMEM;
    read_counts(obj, c);
    if (map_get(obj, spout ? "completeLatency" : "executeLatency", &v)) c->latency_ms = number_of(&v);
    if (!spout && map_get(obj, "capacity", &v)) c->capacity = number_of(&v);
    return 0;
}

/* Storm UI's /api/v1/topology/NAME: spouts[] then bolts[]. */
static int read_rest_doc(const gale_value_t *top, snap_t *s, gale_diag_t *d)
{
    gale_value_t list[2], obj;
    bool have[2] = {map_get(top, "spouts", &list[0]), map_get(top, "bolts", &list[1])};
    if (!have[0] || !have[1] || list[0].type != GALE_ARRAY || list[1].type != GALE_ARRAY)
        return gale__diag(d, GALE_ECORRUPT, "the answer has no spouts[] and bolts[]: not a topology's document");
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < list[k].n; i++) {
            if (gale_mp_item(&list[k], i, &obj) || obj.type != GALE_MAP) continue;
            if (read_rest_component(&obj, k == 0, s)) return gale__diag(d, GALE_ENOMEM, "out of memory");
        }
    return 0;
}

/* One entry of components[] of `gale run --stats`'s document: {"name", "kind", counts, "exec_mean_us",
   "complete_ms_p50"}. The document has no mean complete latency (its median stands in) and no capacity. System
   components (__acker) are left out, as Storm UI leaves them out. */
static int read_stats_component(const gale_value_t *obj, snap_t *s)
{
    gale_value_t name, kind, v;
    if (!map_get(obj, "name", &name) || name.type != GALE_STR || !map_get(obj, "kind", &kind)) return 0;
    if (name.s.len >= 2 && !memcmp(name.s.ptr, "__", 2)) return 0;
    bool spout = key_is(&kind, "spout");
    comp_t *c = snap_add(s, name.s.ptr, name.s.len, spout);
    if (!c) return GALE_ENOMEM;
    read_counts(obj, c);
    if (spout && map_get(obj, "complete_ms_p50", &v)) c->latency_ms = number_of(&v);
    if (!spout && map_get(obj, "exec_mean_us", &v)) c->latency_ms = number_of(&v) / 1000;
    return 0;
}

static int read_stats_doc(const gale_value_t *top, snap_t *s, gale_diag_t *d)
{
    gale_value_t list, obj;
    if (!map_get(top, "components", &list) || list.type != GALE_ARRAY)
        return gale__diag(d, GALE_ECORRUPT, "the answer has no components[]: not a topology's figures");
    for (uint32_t i = 0; i < list.n; i++) {
        if (gale_mp_item(&list, i, &obj) || obj.type != GALE_MAP) continue;
        if (read_stats_component(&obj, s)) return gale__diag(d, GALE_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- where the figures come from ------------------------------------------------------------------------------ */

typedef struct source {
    bool cluster;
    const char *url; /* at a URL: "http://HOST:PORT" as given */
    char host[256], port[8];
    char path[1024]; /* /api/v1/topology/NAME, NAME escaped */
    char topology[256];
    verb_opts_t v;                /* in the cluster */
    gale_daemon_client_t *nimbus; /* owned; NULL until connected */
} source_t;

/* GET `path` from the source's endpoint: 0 with *a filled (a 200), or a negative code, `d` saying why:
   GALE_EIO / GALE_ETIMEDOUT (the endpoint does not answer), GALE_ENOENT (a 404), another for anything else. */
static int http_get_ok(const source_t *src, const char *path, gale_http_answer_t *a, gale_diag_t *d)
{
    gale_diag_t why = {{0}};
    int rc = gale_http_get(src->host, src->port, path, HTTP_TIMEOUT_MS, GALE_HTTP_GET_MAX, a, &why);
    if (rc) return gale__diag(d, rc, "%s: %s", src->url, why.msg);
    if (a->status == 200) return 0;
    /* The endpoint's errors are {"error", "errorMessage"}: say its message when it has one. */
    doc_t doc;
    gale_value_t msg = {0};
    bool said =
        !doc_parse(a->body, a->body_len, &doc, &why) && map_get(&doc.top, "errorMessage", &msg) && msg.type == GALE_STR;
    rc = gale__diag(d, a->status == 404 ? GALE_ENOENT : GALE_EINVAL, "%s: GET %s: HTTP %d%s%.*s", src->url, path,
                    a->status, said ? ": " : "", said ? (int)(msg.s.len > 300 ? 300 : msg.s.len) : 0,
                    said ? msg.s.ptr : "");
    msgpack_sbuffer_destroy(&doc.sb);
    gale_http_answer_free(a);
    return rc;
}

/* GET `path` and parse its JSON into `doc` (the caller destroys doc->sb whatever the result, `doc` zeroed before);
   the codes of http_get_ok, or a parse error's. */
static int http_get_doc(const source_t *src, const char *path, doc_t *doc, gale_diag_t *d)
{
    gale_http_answer_t a;
    gale_diag_t why = {{0}};
    int rc = http_get_ok(src, path, &a, d);
    if (rc) return rc;
    if ((rc = doc_parse(a.body, a.body_len, doc, &why))) gale__diag(d, rc, "%s: GET %s: %s", src->url, path, why.msg);
    gale_http_answer_free(&a);
    return rc;
}

/* `name` %-escaped into a path segment (everything but RFC 3986's unreserved characters). */
static int escape_segment(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    if (!cap) return GALE_ELIMIT;
    buf[0] = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        bool plain =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p);
        if (n + 4 > cap) return GALE_ELIMIT;
        n += (size_t)(plain ? snprintf(buf + n, cap - n, "%c", *p) : snprintf(buf + n, cap - n, "%%%02X", *p));
    }
    return 0;
}

/* What /api/v1/topology/summary lists: how many topologies, their names comma-separated (for the errors), the
   first one's, and whether `want` is one. */
typedef struct listed {
    int n; /* -1: the document has no topologies[] */
    bool has_want;
    char names[2048], first[256];
} listed_t;

static void read_summary(const gale_value_t *top, const char *want, listed_t *l)
{
    gale_value_t list, obj, name;
    size_t len = 0;
    *l = (listed_t){.n = -1};
    if (!map_get(top, "topologies", &list) || list.type != GALE_ARRAY) return;
    l->n = 0;
    for (uint32_t i = 0; i < list.n; i++) {
        if (gale_mp_item(&list, i, &obj) || !map_get(&obj, "name", &name) || name.type != GALE_STR) continue;
        if (!l->n++) snprintf(l->first, sizeof l->first, "%.*s", (int)name.s.len, name.s.ptr);
        if (want && key_is(&name, want)) l->has_want = true;
        int m = snprintf(l->names + len, sizeof l->names - len, "%s%.*s", len ? ", " : "", (int)name.s.len, name.s.ptr);
        if (m > 0) len = len + (size_t)m < sizeof l->names ? len + (size_t)m : sizeof l->names - 1;
    }
}

/* The topology to watch: `want`, or the only one listed. 0, or GALE_EXIT_ERROR after printing why. */
static int pick_topology(source_t *src, const listed_t *l, const char *want)
{
    const char *at = src->url;
    if (l->n < 0) fprintf(stderr, "gale " CMD ": %s: the answer has no topologies[]: not a gale HTTP endpoint\n", at);
    else if (want && !l->has_want)
        fprintf(stderr, "gale " CMD ": %s: no topology named '%s' there; there: %s\n", at, want,
                l->n ? l->names : "none");
    else if (!want && !l->n) fprintf(stderr, "gale " CMD ": %s: no topology runs there\n", at);
    else if (!want && l->n > 1)
        fprintf(stderr, "gale " CMD ": %s: %d topologies run there (%s): choose one with --topology NAME\n", at, l->n,
                l->names);
    else {
        snprintf(src->topology, sizeof src->topology, "%s", want ? want : l->first);
        return 0;
    }
    return GALE_EXIT_ERROR;
}

/* Finds the topology at the endpoint (the only one, or `want`) and sets src->path. 0, or GALE_EXIT_ERROR after
   printing why. */
static int http_open(source_t *src, const char *want)
{
    gale_diag_t d = {{0}};
    if (gale_http_parse_url(src->url, src->host, sizeof src->host, src->port, sizeof src->port, &d)) {
        bool bare = !strstr(src->url, "://");
        fprintf(stderr, "gale " CMD ": %s%s\n", d.msg, bare ? " (a topology's NAME goes with --zk or --nimbus)" : "");
        return GALE_EXIT_ERROR;
    }
    if (want && strlen(want) >= sizeof src->topology) {
        fprintf(stderr, "gale " CMD ": too long a topology name '%s'\n", want);
        return GALE_EXIT_ERROR;
    }
    doc_t doc = {0};
    listed_t l;
    int rc = http_get_doc(src, "/api/v1/topology/summary", &doc, &d);
    if (!rc) read_summary(&doc.top, want, &l);
    msgpack_sbuffer_destroy(&doc.sb);
    if (rc) {
        fprintf(stderr, "gale " CMD ": %s\n", d.msg);
        return GALE_EXIT_ERROR;
    }
    if (pick_topology(src, &l, want)) return GALE_EXIT_ERROR;
    char escaped[sizeof src->path - 32];
    if (escape_segment(src->topology, escaped, sizeof escaped)) {
        fprintf(stderr, "gale " CMD ": too long a topology name '%s'\n", src->topology);
        return GALE_EXIT_ERROR;
    }
    snprintf(src->path, sizeof src->path, "/api/v1/topology/%s", escaped);
    return 0;
}

static int http_poll(source_t *src, snap_t *s, gale_diag_t *d)
{
    doc_t doc = {0};
    gale_diag_t why = {{0}};
    int rc = http_get_doc(src, src->path, &doc, d);
    if (rc == GALE_ENOENT) gale__diag(d, rc, "%s: topology %s is gone", src->url, src->topology);
    if (!rc && (rc = read_rest_doc(&doc.top, s, &why)))
        gale__diag(d, rc, "%s: GET %s: %s", src->url, src->path, why.msg);
    msgpack_sbuffer_destroy(&doc.sb);
    return rc;
}

/* The data lines of a reply, joined (`stats NAME json` answers its document as one line); owns `text`. */
typedef struct lines {
    char *text;
    size_t len;
    bool failed;
} lines_t;

static void keep_line(void *arg, gale_daemon_line_kind_t kind, const char *line)
{
    lines_t *l = arg;
    if (kind != GALE_DAEMON_DATA || l->failed) return;
    size_t n = strlen(line);
    char *p = realloc(l->text, l->len + n + 2);
    if (!p) {
        l->failed = true;
        return;
    }
    memcpy(p + l->len, line, n);
    l->len += n;
    p[l->len++] = '\n';
    p[l->len] = 0;
    l->text = p;
}

/* `stats NAME json` on the open connection into `l`: 0, or the client's code (GALE_EINVAL: nimbus said "error"). */
static int nimbus_stats(source_t *src, lines_t *l, gale_diag_t *d)
{
    char command[512];
    snprintf(command, sizeof command, "stats %s json", src->topology);
    int rc = gale_daemon_client_call(src->nimbus, command, NIMBUS_TIMEOUT_MS, keep_line, l, NULL, d);
    if (!rc && l->failed) rc = gale__diag(d, GALE_ENOMEM, "out of memory");
    return rc;
}

/* The cluster's figures; a connection that fails is dialled again once (a nimbus that restarted, a new leader).
   GALE_EIO: nimbus does not answer; GALE_ENOENT: the topology is gone; GALE_EAGAIN: nimbus has no figures now
   (none reported yet, or a rebalance started them again); another code: a document that does not read. */
static int nimbus_poll(source_t *src, snap_t *s, gale_diag_t *d)
{
    lines_t l = {0};
    gale_diag_t why = {{0}};
    int rc = src->nimbus ? nimbus_stats(src, &l, &why) : GALE_EIO;
    if (rc && rc != GALE_EINVAL) {
        gale_daemon_client_free(src->nimbus);
        src->nimbus = NULL, free(l.text), l = (lines_t){0};
        rc = gale_nimbus_connect(&src->v.target, &src->nimbus, &why);
        if (!rc) rc = nimbus_stats(src, &l, &why);
        if (rc && rc != GALE_EINVAL) rc = GALE_EIO;
    }
    /* nimbus's words (nimbus_topos.c): the one way its answer tells a topology that is gone. */
    if (rc == GALE_EINVAL) rc = strstr(why.msg, "no topology named") ? GALE_ENOENT : GALE_EAGAIN;
    doc_t doc = {0};
    if (!rc && !(rc = doc_parse(l.text ? l.text : "", l.len, &doc, &why))) rc = read_stats_doc(&doc.top, s, &why);
    msgpack_sbuffer_destroy(&doc.sb);
    free(l.text);
    return rc ? gale__diag(d, rc, "nimbus: stats %s: %s", src->topology, why.msg) : 0;
}

/* A poll of either source into `s` (empty), stamped with the clocks of when it was sent. */
static int source_poll(source_t *src, snap_t *s, gale_diag_t *d)
{
    s->at_s = mono_s(), s->wall_ms = wall_ms();
    return src->cluster ? nimbus_poll(src, s, d) : http_poll(src, s, d);
}

/* ---- printing ----------------------------------------------------------------------------------------------- */

typedef struct printer {
    const char *only; /* --component, or NULL */
    int name_w;
} printer_t;

static void print_header(printer_t *p, const snap_t *s)
{
    p->name_w = 9;
    for (size_t i = 0; i < s->n; i++) {
        int w = (int)strlen(s->c[i].name);
        if ((!p->only || !strcmp(p->only, s->c[i].name)) && w > p->name_w) p->name_w = w;
    }
    printf("%-24s %-*s %-5s %12s %13s %12s %12s %10s %10s %8s\n", "time", p->name_w, "component", "kind", "emitted/s",
           "transferred/s", "executed/s", "acked/s", "failed/s", "latency_ms", "capacity");
}

/* The increase of a counter between two polls; a counter that went down started again (a worker restarted, the
   cluster's figures after a rebalance), and all it holds is new. */
static double grew(uint64_t before, uint64_t now) { return (double)(now >= before ? now - before : now); }

/* "%.3f" of x into buf, or "-" when x is not a figure. */
static const char *fmt_figure(char *buf, size_t cap, double x)
{
    if (isnan(x)) return "-";
    snprintf(buf, cap, "%.3f", x);
    return buf;
}

static void print_line(const printer_t *p, const char *when, const comp_t *b, const comp_t *c, double dt)
{
    char exec[32] = "-", lat[32], cap[32];
    if (!c->spout) snprintf(exec, sizeof exec, "%.1f", grew(b->executed, c->executed) / dt);
    printf("%-24s %-*s %-5s %12.1f %13.1f %12s %12.1f %10.1f %10s %8s\n", when, p->name_w, c->name,
           c->spout ? "spout" : "bolt", grew(b->emitted, c->emitted) / dt, grew(b->transferred, c->transferred) / dt,
           exec, grew(b->acked, c->acked) / dt, grew(b->failed, c->failed) / dt,
           fmt_figure(lat, sizeof lat, c->latency_ms), fmt_figure(cap, sizeof cap, c->spout ? NAN : c->capacity));
}

/* The lines of one interval: each component of `now` that `before` has too. 0, or GALE_EIO when stdout fails. */
static int print_interval(const printer_t *p, const snap_t *before, const snap_t *now)
{
    char when[40];
    double dt = now->at_s - before->at_s;
    gale_cli_format_time(now->wall_ms, when, sizeof when);
    for (size_t i = 0; i < now->n; i++) {
        const comp_t *b = snap_find(before, now->c[i].name);
        if (b && (!p->only || !strcmp(p->only, now->c[i].name))) print_line(p, when, b, &now->c[i], dt > 0 ? dt : 1e-9);
    }
    /* Line by line to a pipe or a file too: someone reads it as it comes. */
    return fflush(stdout) ? GALE_EIO : 0;
}

/* ---- options ------------------------------------------------------------------------------------------------ */

typedef struct monitor_opts {
    const char *operand, *topology, *component;
    double interval_s;
    int count; /* 0: until the topology is gone */
} monitor_opts_t;

static int parse_interval(const char *val, double *out)
{
    char *end;
    errno = 0;
    double s = strtod(val, &end);
    if (!*val || *end || errno || !(s >= INTERVAL_MIN_S && s <= INTERVAL_MAX_S))
        return gale_cli_usage_error(CMD, "--interval needs seconds, from %.1f to %.0f, not '%s'", INTERVAL_MIN_S,
                                    INTERVAL_MAX_S, val);
    *out = s;
    return 0;
}

/* Takes monitor's own option at argv[*i]: 1 when it was one, 0 when not, or a usage error's code. */
static int own_option(int argc, char **argv, int *i, monitor_opts_t *o)
{
    const char *val;
    if ((val = gale_cli_option_value(argc, argv, i, "--topology"))) o->topology = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--component"))) o->component = val;
    else if ((val = gale_cli_option_value(argc, argv, i, "--interval"))) {
        if (parse_interval(val, &o->interval_s)) return GALE_EXIT_USAGE;
    } else if ((val = gale_cli_option_value(argc, argv, i, "--count"))) {
        if (gale_cli_parse_int(val, 1, INT_MAX, &o->count))
            return gale_cli_usage_error(CMD, "--count needs a whole number of intervals, 1 or more, not '%s'", val);
    } else {
        const char *const valued[] = {"--topology", "--component", "--interval", "--count"};
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (!strcmp(argv[*i], valued[k])) return gale_cli_usage_error(CMD, "%s needs a value", argv[*i]);
        return 0;
    }
    return 1;
}

/* The checks between options, once all are read. */
static int check_options(const monitor_opts_t *o, const verb_opts_t *v)
{
    bool cluster = v->zk || v->nimbus;
    if (!o->operand)
        return gale_cli_usage_error(CMD,
                                    "a URL (http://HOST:PORT) is needed, or a topology's NAME with --zk or --nimbus");
    if (cluster && !strncmp(o->operand, "http://", 7))
        return gale_cli_usage_error(CMD, "a URL or --zk/--nimbus with a topology's NAME, not both");
    if (cluster && o->topology)
        return gale_cli_usage_error(CMD, "--topology goes with a URL: in the cluster, NAME is the topology");
    if (cluster && strpbrk(o->operand, " \n")) return gale_cli_usage_error(CMD, "a topology's name has no spaces");
    if (!cluster && (v->secret_file || v->root))
        return gale_cli_usage_error(CMD, "--secret-file and --root go with --zk or --nimbus");
    return 0;
}

static int parse_options(int argc, char **argv, monitor_opts_t *o, verb_opts_t *v)
{
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        /* gale submit's --timeout is not monitor's: each of its waits has its own bound. */
        if (gale_cli_is_option(argv[i], "--timeout")) rc = gale_cli_unknown_option(CMD, argv[i]);
        else if ((rc = own_option(argc, argv, &i, o)) == 1) rc = 0;
        else if (rc) break;
        else if ((rc = gale_verb_option(CMD, argc, argv, &i, v)) == 1) rc = 0;
        else if (rc) break;
        else if (argv[i][0] == '-' && argv[i][1]) rc = gale_cli_unknown_option(CMD, argv[i]);
        else if (o->operand) rc = gale_cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        else o->operand = argv[i];
    }
    return rc ? rc : check_options(o, v);
}

/* ---- the loop ------------------------------------------------------------------------------------------------ */

/* Sleeps until `at` on the monotonic clock. */
static void sleep_until(double at)
{
    struct timespec ts = {.tv_sec = (time_t)at, .tv_nsec = (long)((at - floor(at)) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

/* The components' names, comma-separated, for an error that names them. */
static void component_names(const snap_t *s, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < s->n && len + 1 < cap; i++) {
        int m = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", s->c[i].name);
        if (m > 0) len = len + (size_t)m < cap ? len + (size_t)m : cap - 1;
    }
}

/* The first poll: the figures the first interval starts from, and the check of --component against them. A
   cluster's topology has no figures until its workers first report (every config.metrics_interval_s, 5 s by
   default), so that nimbus's "no figures yet" is waited out, every interval, for FIRST_WAIT_S at most (or one
   interval when that is longer). */
static int first_poll(source_t *src, const monitor_opts_t *o, snap_t *s)
{
    gale_diag_t d = {{0}};
    double give_up = mono_s() + (o->interval_s > FIRST_WAIT_S ? o->interval_s : FIRST_WAIT_S);
    int rc;
    while ((rc = source_poll(src, s, &d)) == GALE_EAGAIN && s->at_s + o->interval_s <= give_up) {
        fprintf(stderr, "gale " CMD ": %s (waiting)\n", d.msg);
        double again = s->at_s + o->interval_s;
        snap_free(s);
        sleep_until(again);
    }
    if (rc) {
        fprintf(stderr, "gale " CMD ": %s\n", d.msg);
        return GALE_EXIT_ERROR;
    }
    if (o->component && !snap_find(s, o->component)) {
        char names[2048];
        component_names(s, names, sizeof names);
        fprintf(stderr, "gale " CMD ": topology %s has no component '%s'; its components: %s\n", src->topology,
                o->component, s->n ? names : "none");
        return GALE_EXIT_ERROR;
    }
    return 0;
}

/* Polls every interval and prints each interval's lines, until --count intervals or the topology is gone. */
static int monitor_loop(source_t *src, const monitor_opts_t *o)
{
    snap_t before = {0}, now = {0};
    printer_t p = {.only = o->component};
    int rc = first_poll(src, o, &before), printed = 0;
    if (rc) goto out;
    print_header(&p, &before);
    double next = before.at_s;
    while (!rc && (!o->count || printed < o->count)) {
        /* On a schedule, not after each poll, so that a slow answer does not make the lines drift; after one
           slower than the interval, the schedule starts again from now. */
        next += o->interval_s;
        if (next < mono_s()) next = mono_s();
        sleep_until(next);
        gale_diag_t d = {{0}};
        int got = source_poll(src, &now, &d);
        if (got == GALE_EAGAIN) {
            fprintf(stderr, "gale " CMD ": %s (trying again)\n", d.msg);
        } else if (got == GALE_EIO || got == GALE_ETIMEDOUT || got == GALE_ENOENT) {
            fprintf(stderr, "gale " CMD ": %s%s\n", d.msg,
                    got == GALE_ENOENT ? ""
                    : src->cluster     ? ": nimbus stopped answering"
                                       : ": the endpoint stopped answering (the run ended)");
            rc = printed ? GALE_EXIT_OK : GALE_EXIT_ERROR;
            break;
        } else if (got) {
            fprintf(stderr, "gale " CMD ": %s\n", d.msg);
            rc = GALE_EXIT_ERROR;
        } else if (print_interval(&p, &before, &now)) {
            rc = GALE_EXIT_ERROR; /* stdout is gone (a closed pipe): nobody to tell */
        } else {
            printed++;
            snap_t t = before;
            before = now, now = t;
        }
        snap_free(&now);
    }
out:
    snap_free(&before), snap_free(&now);
    return rc;
}

int gale_cmd_monitor(int argc, char **argv)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help(CMD);
    monitor_opts_t o = {.interval_s = 5};
    source_t src = {.v = {.timeout_s = NIMBUS_TIMEOUT_MS / 1000.0}};
    int rc = parse_options(argc, argv, &o, &src.v);
    if (rc) return rc;
    src.cluster = src.v.zk || src.v.nimbus;
    if (src.cluster) {
        if (strlen(o.operand) >= sizeof src.topology) return gale_cli_usage_error(CMD, "too long a topology name");
        snprintf(src.topology, sizeof src.topology, "%s", o.operand);
        if ((rc = gale_verb_finish_options(CMD, &src.v))) return rc;
        if (!(src.nimbus = gale_verb_connect(CMD, &src.v))) return GALE_EXIT_ERROR;
    } else {
        src.url = o.operand;
        bool https = !strncmp(src.url, "https://", 8);
        if (https && !src.v.tls)
            return gale_cli_usage_error(CMD,
                                        "%s: https needs --tls DIR/NAME (its DIR/ca.crt is what the server is "
                                        "checked against)",
                                        src.url);
        static gale_tls_ctx_t *tls; /* for the whole run */
        if (https && gale_cli_tls_open(src.v.tls, &tls)) return GALE_EXIT_ERROR;
        gale_http_get_use_tls(https ? tls : NULL);
        if ((rc = http_open(&src, o.topology))) return rc;
    }
    rc = monitor_loop(&src, &o);
    gale_daemon_client_free(src.nimbus);
    return rc;
}
