#include "supd.h"

#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "gale.h"
#include "hmac.h"
#include "lines.h"
#include "log.h"
#include "supervisor.h"

#define LINE_MAX_BYTES 16384
#define MAX_CONNS 64
#define MAX_TOKENS 256
#define ID_MAX 64
#define KILL_WAIT_S 30.0
#define SIGNAL_WAIT_S 10.0
/* A connection must authenticate within this time, or idle ones would fill MAX_CONNS and lock out nimbus. */
#define AUTH_TIMEOUT_MS 10000
#define KILL_WAIT_MAX_S 86400.0
#define MAX_WORKERS 4096

typedef struct supd supd_t;

/* A topology assigned here: running while `sup` is set, then ended with its figures kept until forgotten. */
typedef struct topo_rec {
    struct topo_rec *next;
    supd_t *d;
    char id[ID_MAX];
    char **sets; /* owned copies: the topology and the workers are given them */
    size_t n_sets;
    int *slots, n_slots;
    gale_topology_t *topo;
    gale_sup_t *sup;
    bool failed;
    char *stats;
} topo_rec_t;

typedef struct conn {
    struct conn *next;
    supd_t *d;
    uv_tcp_t tcp;
    gale_lines_t lines;
    char buf[LINE_MAX_BYTES];
    unsigned char nonce[GALE_NONCE_LEN];
    bool authed, closing, hanging_up;
    uint64_t opened_ms;   /* uv_now when accepted */
    char waiting[ID_MAX]; /* a `wait` for this topology holds the connection */
} conn_t;

struct supd {
    const gale_supd_opts_t *o;
    uv_loop_t loop;
    uv_tcp_t server;
    uv_signal_t sigint, sigterm;
    uv_timer_t sweep;     /* refuses connections that do not authenticate in time */
    conn_t *conns;
    int n_conns;
    topo_rec_t *topos;
    int used_slots;
    int signals;
};

/* ---- writing ------------------------------------------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Sends `len` bytes plus a newline; a connection that is closing gets nothing. */
static void send_raw(conn_t *c, const char *text, size_t len)
{
    if (c->closing || c->hanging_up) return;
    uv_write_t *req = malloc(sizeof *req + len + 1);
    if (!req) return;
    char *copy = (char *)(req + 1);
    memcpy(copy, text, len);
    copy[len] = '\n';
    uv_buf_t b = uv_buf_init(copy, (unsigned)len + 1);
    if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) free(req);
}

static void sendf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(conn_t *c, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0) send_raw(c, text, (size_t)n);
    free(text);
}

static void event(supd_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(supd_t *d, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    for (conn_t *c = d->conns; n >= 0 && c; c = c->next)
        if (c->authed) sendf(c, "event %s", text);
    free(text);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    supd_t *d = c->d;
    for (conn_t **p = &d->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    d->n_conns--;
    free(c);
}

static void close_conn(conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_t *c = req->data;
    free(req);
    close_conn(c);
}

/* Says why and hangs up once that is sent (a close at once would cancel the write). */
static void refuse(conn_t *c, const char *why)
{
    if (c->closing || c->hanging_up) return;
    sendf(c, "error %s", why);
    c->hanging_up = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req) req->data = c;
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
        free(req);
        close_conn(c);
    }
}

/* ---- topologies ---------------------------------------------------------------------------------------------------- */

static topo_rec_t *find(supd_t *d, const char *id)
{
    for (topo_rec_t *r = d->topos; r; r = r->next)
        if (!strcmp(r->id, id)) return r;
    return NULL;
}

static void free_rec(topo_rec_t *r)
{
    for (size_t i = 0; i < r->n_sets; i++) free(r->sets[i]);
    free(r->sets), free(r->slots), free(r->stats);
    gale_topology_free(r->topo);
    free(r);
}

static bool any_running(const supd_t *d)
{
    for (const topo_rec_t *r = d->topos; r; r = r->next)
        if (r->sup) return true;
    return false;
}

static void shut_down(supd_t *d)
{
    gale_logf(GALE_LOG_INFO, "supervisor", "every topology has ended: exiting");
    uv_close((uv_handle_t *)&d->server, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sweep, NULL);
    for (conn_t *c = d->conns; c; c = c->next) close_conn(c);
}

static void on_address(void *arg, gale_sup_t *s, int slot, const char *addr)
{
    topo_rec_t *r = arg;
    event(r->d, "address %s %d %s", r->id, slot, addr);
}

static void on_restarting(void *arg, gale_sup_t *s, int slot, int signal, int64_t status, unsigned backoff_ms)
{
    topo_rec_t *r = arg;
    if (signal) event(r->d, "restarting %s %d signal=%d backoff_ms=%u", r->id, slot, signal, backoff_ms);
    else event(r->d, "restarting %s %d status=%lld backoff_ms=%u", r->id, slot, (long long)status, backoff_ms);
}

static void on_ended(void *arg, gale_sup_t *s)
{
    topo_rec_t *r = arg;
    supd_t *d = r->d;
    size_t len = 0;
    FILE *f = open_memstream(&r->stats, &len);
    if (f) {
        gale_sup_stats_json(s, f);
        fclose(f);
        if (r->stats && len && r->stats[len - 1] == '\n') r->stats[len - 1] = '\0';
    }
    r->failed = gale_sup_failed(s);
    gale_sup_free(s);
    r->sup = NULL;
    d->used_slots -= r->n_slots;
    const char *status = r->failed ? "failed" : "ok";
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: ended (%s)", r->id, status);
    event(d, "ended %s status=%s", r->id, status);
    for (conn_t *c = d->conns; c; c = c->next) {
        if (c->closing || strcmp(c->waiting, r->id)) continue;
        c->waiting[0] = '\0';
        sendf(c, "ok ended %s status=%s", r->id, status);
    }
    if (d->signals && !any_running(d)) shut_down(d);
}

/* ---- commands ------------------------------------------------------------------------------------------------------ */

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", id[i])) return false;
    return true;
}

/* "0,2,5" into slots; false when malformed. */
static bool parse_slots(const char *text, int **slots, int *n)
{
    int cap = 1;
    for (const char *p = text; *p; p++) cap += *p == ',';
    *slots = calloc((size_t)cap, sizeof **slots);
    if (!*slots) return false;
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1 << 20 || (*end && *end != ',')) return false;
        (*slots)[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0;
}

static void cmd_assign(conn_t *c, char **tok, int n)
{
    supd_t *d = c->d;
    if (n < 3) return sendf(c, "error usage: assign ID FILE workers=N [slots=I,J,..] [threads=T] [secret=HEX] [set=C.K=V]...");
    if (!valid_id(tok[1])) return sendf(c, "error bad topology id '%s' (letters, digits, _ . -, under %d)", tok[1], ID_MAX);
    if (find(d, tok[1])) return sendf(c, "error topology '%s' exists (forget it first if it has ended)", tok[1]);
    topo_rec_t *r = calloc(1, sizeof *r);
    if (!r || !(r->sets = calloc((size_t)n, sizeof *r->sets))) {
        free(r);
        return sendf(c, "error out of memory");
    }
    r->d = d;
    snprintf(r->id, sizeof r->id, "%s", tok[1]);
    gale_assignment_t a = {.id = r->id, .exe = d->o->exe, .file = tok[2], .host = d->o->host};
    const char *bad = NULL;
    for (int i = 3; i < n && !bad; i++) {
        if (!strncmp(tok[i], "workers=", 8)) a.workers = atoi(tok[i] + 8);
        else if (!strncmp(tok[i], "threads=", 8)) a.threads = atoi(tok[i] + 8);
        else if (!strncmp(tok[i], "secret=", 7)) a.secret = tok[i] + 7;
        else if (!strncmp(tok[i], "slots=", 6)) bad = !r->slots && parse_slots(tok[i] + 6, &r->slots, &r->n_slots) ? NULL : tok[i];
        else if (!strncmp(tok[i], "set=", 4)) bad = (r->sets[r->n_sets++] = strdup(tok[i] + 4)) ? NULL : tok[i];
        else bad = tok[i];
    }
    if (bad) {
        sendf(c, "error bad argument '%s'", bad);
        return free_rec(r);
    }
    if (a.workers < 2 || a.workers > MAX_WORKERS) {
        sendf(c, "error workers=N must be from 2 (one worker: gale run) to %d", MAX_WORKERS);
        return free_rec(r);
    }
    if (!r->slots && a.workers > d->o->slots - d->used_slots) {
        sendf(c, "error not enough free slots: %d asked, %d free of %d", a.workers, d->o->slots - d->used_slots,
              d->o->slots);
        return free_rec(r);
    }
    /* libconfig would block the daemon's loop on a FIFO or a device. */
    struct stat st;
    if (stat(tok[2], &st) != 0 || !S_ISREG(st.st_mode)) {
        sendf(c, "error %s: not a regular file", tok[2]);
        return free_rec(r);
    }
    if (!r->slots) {
        r->n_slots = a.workers;
        r->slots = calloc((size_t)a.workers, sizeof *r->slots);
        for (int i = 0; r->slots && i < a.workers; i++) r->slots[i] = i;
    }
    if (!r->slots) {
        sendf(c, "error out of memory");
        return free_rec(r);
    }
    if (r->n_slots > d->o->slots - d->used_slots) {
        sendf(c, "error not enough free slots: %d asked, %d free of %d", r->n_slots, d->o->slots - d->used_slots,
              d->o->slots);
        return free_rec(r);
    }
    gale_override_t *ov = calloc(r->n_sets + 1, sizeof *ov);
    for (size_t i = 0; ov && i < r->n_sets; i++) ov[i].assignment = r->sets[i];
    gale_diag_t diag = {{0}};
    int rc = ov ? gale_topology_open(tok[2], ov, r->n_sets, &r->topo, &diag) : GALE_ENOMEM;
    free(ov);
    if (rc) {
        sendf(c, "error %s", diag.msg[0] ? diag.msg : gale_strerror(rc));
        return free_rec(r);
    }
    a.sets = (const char *const *)r->sets;
    a.n_sets = r->n_sets;
    a.slots = r->slots;
    a.n_slots = r->n_slots;
    gale_sup_events_t ev = {.arg = r, .address = on_address, .restarting = on_restarting, .ended = on_ended};
    rc = gale_sup_start(&d->loop, r->topo, &a, &ev, &r->sup);
    if (rc) {
        sendf(c, "error cannot start %s: %s", r->id,
              rc == GALE_EINVAL ? "bad slots, secret or workers" : gale_strerror(rc));
        return free_rec(r);
    }
    d->used_slots += r->n_slots;
    r->next = d->topos;
    d->topos = r;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: assigned %s, %d of %d slots", r->id, tok[2], r->n_slots, a.workers);
    sendf(c, "ok assigned %s", r->id);
}

static topo_rec_t *running(conn_t *c, char **tok, int n, const char *usage)
{
    if (n < 2) {
        sendf(c, "error usage: %s", usage);
        return NULL;
    }
    topo_rec_t *r = find(c->d, tok[1]);
    if (!r) sendf(c, "error no topology '%s'", tok[1]);
    else if (!r->sup) sendf(c, "error topology '%s' has ended", tok[1]);
    return r && r->sup ? r : NULL;
}

static void cmd_peers(conn_t *c, char **tok, int n)
{
    topo_rec_t *r = running(c, tok, n, "peers ID HOST:PORT...");
    if (!r) return;
    int rc = gale_sup_peers(r->sup, (const char *const *)tok + 2, n - 2);
    if (rc) return sendf(c, "error peers: one HOST:PORT per slot of the topology, in slot order");
    sendf(c, "ok");
}

static void cmd_kill(conn_t *c, char **tok, int n)
{
    topo_rec_t *r = running(c, tok, n, "kill ID [wait=S]");
    if (!r) return;
    double wait_s = KILL_WAIT_S;
    if (n > 2) {
        char *end;
        wait_s = strncmp(tok[2], "wait=", 5) ? -1 : strtod(tok[2] + 5, &end);
        if (!(wait_s >= 0 && wait_s <= KILL_WAIT_MAX_S) || *end) /* also NaN */
            return sendf(c, "error bad argument '%s' (wait=SECONDS, at most %.0f)", tok[2], KILL_WAIT_MAX_S);
    }
    gale_sup_kill(r->sup, wait_s, "killed");
    sendf(c, "ok killing %s", r->id);
}

static void cmd_status(conn_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return sendf(c, "error out of memory");
    int count = 0;
    for (topo_rec_t *r = c->d->topos; r; r = r->next, count++) {
        fprintf(f, "topology %s state=%s status=%s slots=", r->id, r->sup ? "running" : "ended",
                r->failed ? "failed" : "ok");
        for (int i = 0; i < r->n_slots; i++) fprintf(f, "%s%d", i ? "," : "", r->slots[i]);
        fputc('\n', f);
        if (r->sup) gale_sup_health(r->sup, f);
    }
    fclose(f);
    if (len && text[len - 1] == '\n') len--;
    if (len) send_raw(c, text, len);
    free(text);
    sendf(c, "ok %d topologies", count);
}

static void cmd_stats(conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(c->d, tok[1]) : NULL;
    if (!r) return sendf(c, "error usage: stats ID (of a topology here)");
    if (r->sup || !r->stats) return sendf(c, "error topology '%s' has no figures until it has ended", r->id);
    send_raw(c, r->stats, strlen(r->stats));
    sendf(c, "ok");
}

static void cmd_forget(conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(c->d, tok[1]) : NULL;
    if (!r) return sendf(c, "error usage: forget ID (of a topology here)");
    if (r->sup) return sendf(c, "error topology '%s' is running: kill it first", r->id);
    for (topo_rec_t **p = &c->d->topos; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    free_rec(r);
    sendf(c, "ok");
}

static void cmd_wait(conn_t *c, char **tok, int n)
{
    topo_rec_t *r = n > 1 ? find(c->d, tok[1]) : NULL;
    if (!r) return sendf(c, "error usage: wait ID (of a topology here)");
    if (!r->sup) return sendf(c, "ok ended %s status=%s", r->id, r->failed ? "failed" : "ok");
    snprintf(c->waiting, sizeof c->waiting, "%s", r->id);
}

static void handle_line(void *arg, char *line)
{
    conn_t *c = arg;
    if (c->closing || c->hanging_up) return;
    if (c->waiting[0]) return refuse(c, "a command came while waiting: one at a time");
    char *tok[MAX_TOKENS], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, " \r", &save); t && n < MAX_TOKENS; t = strtok_r(NULL, " \r", &save)) tok[n++] = t;
    if (n == 0) return;
    if (!c->authed) {
        unsigned char proof[GALE_SHA256_LEN];
        if (n != 2 || strcmp(tok[0], "auth") || gale_hex_decode(tok[1], proof, sizeof proof) ||
            !gale_auth_check(c->d->o->secret, c->d->o->secret_len, c->nonce, 'C', 0, proof)) {
            gale_logf(GALE_LOG_WARN, "supervisor", "a control connection failed to authenticate: closed");
            return refuse(c, "authentication failed");
        }
        c->authed = true;
        return sendf(c, "ok authenticated");
    }
    if (!strcmp(tok[0], "slots")) sendf(c, "ok slots=%d free=%d", c->d->o->slots, c->d->o->slots - c->d->used_slots);
    else if (!strcmp(tok[0], "assign")) cmd_assign(c, tok, n);
    else if (!strcmp(tok[0], "peers")) cmd_peers(c, tok, n);
    else if (!strcmp(tok[0], "kill")) cmd_kill(c, tok, n);
    else if (!strcmp(tok[0], "wait")) cmd_wait(c, tok, n);
    else if (!strcmp(tok[0], "status")) cmd_status(c);
    else if (!strcmp(tok[0], "stats")) cmd_stats(c, tok, n);
    else if (!strcmp(tok[0], "forget")) cmd_forget(c, tok, n);
    else sendf(c, "error unknown command '%s' (slots, assign, peers, kill, wait, status, stats, forget)", tok[0]);
}

/* ---- connections --------------------------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn_t *c = h->data;
    buf->base = gale_lines_space(&c->lines, &buf->len);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    if (n < 0) return close_conn(c);
    if (gale_lines_took(&c->lines, (size_t)n, handle_line, c)) refuse(c, "line too long");
}

static void on_connection(uv_stream_t *server, int status)
{
    supd_t *d = server->data;
    if (status < 0) return;
    conn_t *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(&d->loop, &c->tcp)) {
        free(c);
        return;
    }
    c->d = d;
    c->tcp.data = c;
    c->lines = (gale_lines_t){.buf = c->buf, .cap = sizeof c->buf};
    c->next = d->conns;
    c->opened_ms = uv_now(&d->loop);
    d->conns = c;
    d->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) return close_conn(c);
    if (d->n_conns > MAX_CONNS) return refuse(c, "too many control connections");
    if (gale_auth_nonce(c->nonce)) return refuse(c, "no randomness for the challenge");
    char hex[2 * GALE_NONCE_LEN + 1];
    gale_hex_encode(c->nonce, sizeof c->nonce, hex);
    sendf(c, "gale-supervisor 1 challenge %s", hex);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_sweep(uv_timer_t *h)
{
    supd_t *d = h->data;
    uint64_t now = uv_now(&d->loop);
    for (conn_t *c = d->conns; c; c = c->next)
        if (!c->authed && now - c->opened_ms > AUTH_TIMEOUT_MS) refuse(c, "no authentication in time");
}

/* ---- the daemon ---------------------------------------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int sig)
{
    supd_t *d = h->data;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    if (d->signals++ == 0) gale_logf(GALE_LOG_INFO, "supervisor", "%s: killing every topology", name);
    for (topo_rec_t *r = d->topos; r; r = r->next)
        if (r->sup) gale_sup_kill(r->sup, SIGNAL_WAIT_S, name);
    if (d->signals == 1 && !any_running(d)) shut_down(d);
}

int gale_supd_run(const gale_supd_opts_t *o)
{
    supd_t d = {.o = o};
    const char *host = o->host ? o->host : "127.0.0.1";
    if (uv_loop_init(&d.loop)) return GALE_ENOMEM;
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, o->port, (struct sockaddr_in *)&addr);
    if (rc) rc = uv_ip6_addr(host, o->port, (struct sockaddr_in6 *)&addr);
    uv_tcp_init(&d.loop, &d.server);
    d.server.data = &d;
    if (!rc) rc = uv_tcp_bind(&d.server, (struct sockaddr *)&addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&d.server, 64, on_connection);
    if (rc) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "cannot listen on %s:%d: %s", host, o->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&d.server, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        uv_loop_close(&d.loop);
        return GALE_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&d.server, (struct sockaddr *)&bound, &len);
    int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    printf("listening %s:%d\n", host, port);
    fflush(stdout);
    gale_logf(GALE_LOG_INFO, "supervisor", "listening on %s:%d with %d slots", host, port, o->slots);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_init(&d.loop, &d.sweep);
    d.sweep.data = &d;
    uv_timer_start(&d.sweep, on_sweep, 1000, 1000);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    while (d.topos) {
        topo_rec_t *r = d.topos;
        d.topos = r->next;
        free_rec(r);
    }
    if (uv_loop_close(&d.loop)) gale_logf(GALE_LOG_WARN, "supervisor", "a handle was left open at exit");
    return 0;
}
