/*
 * The web page at / of `gale run --http`, loaded in headless Chromium (Debian's chromium, which `make test-deps`
 * installs): against a running topology it draws every component and its stream with rates that move between two
 * loads; a screenshot of it against wordcount.cfg (GALE_UI_SCREENSHOT=PATH keeps a copy, as docs/ui.png is
 * made); it is served as text/html and names no other host; and a request that fails says so on the page.
 *
 * With --virtual-time-budget the page's timers run on Chromium's virtual clock, which does not move while a
 * request is out: each load polls a few times within a second or so of real time. Its rates are then counters'
 * differences over virtual seconds, smaller than the real ones; the tests only compare them with each other.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "testlib.h"

TestSuite(ui, .init = tl_use_test_plugins, .fini = tl_kill_remembered, .timeout = 180);

static int browsers; /* Chromium runs so far in this test, each in its own folder */

/* The processes whose command line names `folder` (a Chromium run's own, so no other process can match); with
   `sig`, each is sent it. */
static int processes_naming(const char *folder, int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid()) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        size_t len;
        char *cmd = tl_read_file(path, &len);
        if (!cmd) continue;
        for (size_t i = 0; i + 1 < len; i++)
            if (!cmd[i]) cmd[i] = ' ';
        if (strstr(cmd, folder)) {
            n++;
            if (sig) kill(pid, sig);
        }
        free(cmd);
    }
    if (d) closedir(d);
    return n;
}

/* One headless Chromium load of `url` whose timers run for `budget_ms` of virtual time, then `what` (--dump-dom:
   the DOM on stdout; --screenshot=PATH), within `timeout_s`. Its profile, HOME and TMPDIR are in a folder of its own
   under the run's, so that nothing of it lands in the user's home or stays in /tmp; its helpers (zygotes, renderers, crashpad) end with
   it, and those still there 10 s after it (when tl_run had to kill it) are killed by pid. */
static void chromium(tl_http_run_t *r, const char *url, int budget_ms, const char *what, double timeout_s,
                     tl_result_t *res)
{
    char *folder = tl_path("%s/chrome-%d.d/", r->dir, ++browsers);
    char *home = tl_path("HOME=%shome", folder), *profile = tl_path("--user-data-dir=%sprofile", folder);
    char *tmp = tl_path("%stmp", folder), *tmpdir = tl_path("TMPDIR=%s", tmp);
    cr_assert(mkdir(folder, 0700) == 0 && mkdir(tmp, 0700) == 0, "cannot make %s", tmp);
    char *budget = tl_path("--virtual-time-budget=%d", budget_ms);
    const char *argv[] = {"/usr/bin/env",
                          home,
                          tmpdir,
                          "chromium",
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          profile,
                          budget,
                          "--no-first-run",
                          "--disable-extensions",
                          "--hide-scrollbars",
                          "--window-size=1280,900",
                          what,
                          url,
                          NULL};
    cr_assert_eq(tl_run(argv, NULL, timeout_s, res), 0, "cannot run chromium");
    cr_assert_neq(res->status, 127, "no chromium on PATH (make test-deps installs it): %s", res->err);
    for (int i = 0; i < 100 && processes_naming(folder, 0); i++) tl_sleep_ms(100);
    processes_naming(folder, SIGKILL);
    for (int i = 0; i < 50 && processes_naming(folder, 0); i++) tl_sleep_ms(100);
    cr_assert_eq(processes_naming(folder, 0), 0, "chromium left processes behind");
    free(folder), free(home), free(profile), free(tmp), free(tmpdir), free(budget);
}

/* The value of `attr` in the tag around the first `marker` of `dom` ("" when either is not there). */
static void tag_attr(const char *dom, const char *marker, const char *attr, char *out, size_t cap)
{
    out[0] = 0;
    const char *at = strstr(dom, marker);
    if (!at) return;
    const char *open = at, *close = strchr(at, '>');
    while (open > dom && *open != '<') open--;
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", attr);
    const char *v = strstr(open, pat);
    if (!v || !close || v > close) return;
    v += strlen(pat);
    const char *end = strchr(v, '"');
    size_t n = end && (size_t)(end - v) < cap ? (size_t)(end - v) : 0;
    memcpy(out, v, n);
    out[n] = 0;
}

/* A number attribute, -1 when it is not there or empty (the page leaves rates empty until its second poll). */
static double tag_number(const char *dom, const char *marker, const char *attr)
{
    char v[64];
    tag_attr(dom, marker, attr, v, sizeof v);
    return v[0] ? strtod(v, NULL) : -1;
}

typedef struct page {
    char *dom;         /* the markup before the page's script (whose text names the same attributes) */
    int polls;         /* #app's data-polls: polls answered */
    double throughput; /* #throughput's data-value */
    double rate;       /* the first edge label's data-rate */
} page_t;

/* Loads the page with a DOM dump until it has polled at least twice and shows the edge's rate and the throughput,
   each load in a new Chromium (a longer budget each time), giving up at `deadline`. */
static bool load_page(tl_http_run_t *r, const char *url, double deadline, page_t *p)
{
    memset(p, 0, sizeof *p);
    for (int attempt = 0; tl_now_s() < deadline - 10; attempt++) {
        tl_result_t res;
        double left = deadline - tl_now_s();
        chromium(r, url, 7000 + 2000 * attempt, "--dump-dom", left < 90 ? left : 90, &res);
        free(p->dom);
        p->dom = res.out;
        res.out = NULL;
        char *script = strstr(p->dom, "<script");
        if (script) *script = 0;
        char polls[16];
        tag_attr(p->dom, "id=\"app\"", "data-polls", polls, sizeof polls);
        p->polls = atoi(polls);
        p->throughput = tag_number(p->dom, "id=\"throughput\"", "data-value");
        p->rate = tag_number(p->dom, "class=\"edge-label\"", "data-rate");
        bool done = p->polls >= 2 && p->throughput >= 0 && p->rate >= 0;
        if (!done) cr_log_info("load %d: %d polls, not yet the figures; stderr:\n%.2000s", attempt, p->polls, res.err);
        tl_result_free(&res);
        if (done) return true;
    }
    return false;
}

Test(ui, the_page_draws_a_running_topology_and_its_rates_move)
{
    tl_http_run_t r;
    const char *unbounded[] = {"--set", "numbers.count=0", NULL};
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", unbounded);
    char *url = tl_path("http://127.0.0.1:%d/", r.port);
    double deadline = tl_now_s() + 110;
    page_t first, second = {0};
    cr_assert(load_page(&r, url, deadline, &first), "the page never showed two polls' figures:\n%s", first.dom);
    const char *must[] = {"<h1 id=\"name\">held</h1>",
                          "data-component=\"numbers\" data-kind=\"spout\"",
                          "data-component=\"probe\" data-kind=\"bolt\"",
                          "class=\"edge-label\" data-from=\"numbers\" data-to=\"probe\" data-stream=\"default\"",
                          "data-state=\"ok\"",
                          "data-row=\"probe\"",
                          "data-supervisor=\"local\""};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        cr_assert_not_null(strstr(first.dom, must[i]), "no %s in\n%s", must[i], first.dom);
    cr_assert_geq(tag_number(first.dom, "data-component=\"probe\"", "data-capacity"), 0, "%s", first.dom);
    /* A second or two later, in another load: a live topology's figures have moved, so the rates are others. */
    bool moved = false;
    while (!moved && tl_now_s() < deadline - 15) {
        tl_sleep_ms(1500);
        free(second.dom);
        cr_assert(load_page(&r, url, deadline, &second), "no figures in the second load:\n%s", second.dom);
        moved = (second.throughput != first.throughput || second.rate != first.rate) && second.throughput > 0 &&
                second.rate > 0;
    }
    cr_assert(moved, "throughput %g then %g, edge rate %g then %g:\n%s", first.throughput, second.throughput,
              first.rate, second.rate, second.dom);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(first.dom), free(second.dom), free(url);
    tl_http_run_free(&r);
}

Test(ui, a_screenshot_of_the_page_against_wordcount)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "topologies/wordcount.cfg", NULL);
    /* The spout runs before the page is taken, so that its first polls already have figures to draw. */
    long emitted = 0;
    for (int i = 0; i < 100 && emitted <= 0; i++, tl_sleep_ms(100)) {
        int status;
        char *doc = tl_http(r.port, "GET", "/api/v1/topology/wordcount", NULL, NULL, &status);
        emitted = doc && status == 200 ? tl_json_number(strstr(doc, "\"sentences\""), "emitted") : 0;
        free(doc);
    }
    cr_assert_gt(emitted, 0, "wordcount emits nothing");
    char *url = tl_path("http://127.0.0.1:%d/", r.port), *png = tl_path("%s/ui.png", r.dir);
    char *what = tl_path("--screenshot=%s", png);
    /* 30 s of virtual time: 15 polls, so that the charts have a line. */
    double deadline = tl_now_s() + 60;
    size_t len = 0;
    char *shot = NULL;
    for (int attempt = 0; !shot && tl_now_s() < deadline - 10; attempt++) {
        tl_result_t res;
        double left = deadline - tl_now_s();
        chromium(&r, url, 30000, what, left < 90 ? left : 90, &res);
        shot = tl_read_file(png, &len);
        if (!shot || len < 8)
            cr_log_info("attempt %d: no screenshot; stderr:\n%.2000s", attempt, res.err), free(shot), shot = NULL;
        tl_result_free(&res);
    }
    cr_assert_not_null(shot, "chromium wrote no screenshot");
    cr_assert(len > 20000, "a screenshot of %zu bytes is too small to show the page", len);
    cr_assert_eq(memcmp(shot, "\x89PNG\r\n\x1a\n", 8), 0, "not a PNG");
    const unsigned char *ihdr = (const unsigned char *)shot + 16;
    unsigned width = (unsigned)ihdr[0] << 24 | ihdr[1] << 16 | ihdr[2] << 8 | ihdr[3];
    unsigned height = (unsigned)ihdr[4] << 24 | ihdr[5] << 16 | ihdr[6] << 8 | ihdr[7];
    cr_assert(width == 1280 && height == 900, "a %ux%u screenshot", width, height);
    const char *keep = getenv("GALE_UI_SCREENSHOT");
    if (keep && *keep) {
        FILE *f = fopen(keep, "wb");
        cr_assert_not_null(f, "cannot write %s", keep);
        cr_assert_eq(fwrite(shot, 1, len, f), len);
        cr_assert_eq(fclose(f), 0);
    }
    /* What it shows: the three components and the two streams. */
    page_t p;
    cr_assert(load_page(&r, url, tl_now_s() + 50, &p), "no figures:\n%s", p.dom);
    const char *must[] = {"data-component=\"sentences\" data-kind=\"spout\"",
                          "data-component=\"split\" data-kind=\"bolt\"", "data-component=\"count\" data-kind=\"bolt\"",
                          "data-from=\"sentences\" data-to=\"split\"", "data-from=\"split\" data-to=\"count\""};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++)
        cr_assert_not_null(strstr(p.dom, must[i]), "no %s in\n%s", must[i], p.dom);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(p.dom), free(shot), free(url), free(png), free(what);
    tl_http_run_free(&r);
}

/* The head of the answer to GET `path` (tl_http gives the body only). */
static char *response_head(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while (len < cap - 1 && (got = read(fd, buf + len, cap - 1 - len)) > 0) len += (size_t)got;
    close(fd);
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(end, "no head in %s", buf);
    end[2] = 0;
    return buf;
}

/* Whether a URL at `v` (after its opening quote or parenthesis) names a host: `//host/...` or `scheme://...`. */
static bool names_a_host(const char *v)
{
    while (*v == ' ' || *v == '"' || *v == '\'' || *v == '`') v++;
    if (!strncmp(v, "//", 2)) return true;
    size_t n = strcspn(v, "\"'` )>\n");
    const char *sep = strstr(v, "://");
    return sep && (size_t)(sep - v) < n;
}

Test(ui, the_page_is_html_and_names_no_other_host)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", NULL);
    int status;
    char *page = tl_http(r.port, "GET", "/", NULL, NULL, &status);
    cr_assert_not_null(page);
    cr_assert_eq(status, 200, "%s", page);
    char *same = tl_http(r.port, "GET", "/index.html", NULL, NULL, &status);
    cr_assert(same && status == 200 && !strcmp(same, page), "/index.html is another page");
    char *file = tl_read_file("runtime/http/ui/index.html", NULL);
    cr_assert(file && !strcmp(file, page), "the page served is not runtime/http/ui/index.html as it is now");
    char *head = response_head(r.port, "/");
    cr_assert_not_null(strcasestr(head, "\r\nContent-Type: text/html"), "%s", head);
    cr_assert_not_null(strcasestr(page, "<!doctype html>"), "%.300s", page);
    cr_assert_not_null(strstr(page, "</html>"));
    /* Self-contained: no script or style of its own file, no URL with a host, not even an XML namespace's. */
    const char *never[] = {"http://", "https://", "<script src", "rel=\"stylesheet\"", "@import"};
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        cr_assert_null(strcasestr(page, never[i]), "the page has %s", never[i]);
    const char *refs[] = {"src=", "href=", "action=", "fetch(", "url(", "import("};
    int seen = 0;
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
        for (const char *at = page; (at = strcasestr(at, refs[i])); at += strlen(refs[i]), seen++)
            cr_assert_not(names_a_host(at + strlen(refs[i])), "another host: %.80s", at);
    cr_assert_gt(seen, 2, "the page's links and fetches were not found");
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(page), free(same), free(file), free(head);
    tl_http_run_free(&r);
}

/* The page's requests fail (it is opened from a file, with no API behind it, as when the run has stopped): it says
   so rather than staying blank. */
Test(ui, a_request_that_fails_is_shown_not_a_blank_page)
{
    tl_http_run_t r;
    tl_http_run_start(&r, "tests/topologies/e2e/held.cfg", NULL);
    int status;
    char *page = tl_http(r.port, "GET", "/", NULL, NULL, &status);
    cr_assert(page && status == 200);
    char *file = tl_path("%s/index.html", r.dir), *url = tl_path("file://%s", file);
    cr_assert_eq(tl_write_file(file, page), 0);
    tl_result_t res;
    chromium(&r, url, 5000, "--dump-dom", 90, &res);
    cr_assert_not_null(strstr(res.out, "data-state=\"error\""), "%s", res.out);
    char *alert = strstr(res.out, "<div id=\"alert\"");
    cr_assert_not_null(alert, "%s", res.out);
    alert[strcspn(alert, ">")] = 0;
    cr_assert_null(strstr(alert, "hidden"), "the message is hidden: %s", alert);
    alert += strlen(alert) + 1;
    cr_assert_not_null(strstr(alert, "the run has probably stopped"), "%.500s", alert);
    tl_result_free(&res);
    cr_assert_eq(tl_http_run_stop(&r), 0);
    free(page), free(file), free(url);
    tl_http_run_free(&r);
}
