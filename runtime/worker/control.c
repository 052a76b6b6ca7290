#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gale.h"

static int say_why(char *why, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say_why(char *why, size_t cap, int rc, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- formatting ------------------------------------------------------------------------------------------------ */

typedef struct out {
    char *p;
    size_t cap, len;
    bool over;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    if (o->over) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) o->over = true;
    else o->len += (size_t)n;
}

static void put_status(out_t *o, const gale_worker_status_t *s)
{
    put(o,
        "status idle=%d epochs=%" PRIu64 " pushed=%" PRIu64 " popped=%" PRIu64 " open=%" PRIu64 " retrying=%" PRIu64
        " kept=%" PRIu64 " replayable=%" PRIu64 " spouts_done=%u spout_tasks=%u sent=%" PRIu64 " recv=%" PRIu64
        " failed=%d finish_seq=%u finish_acked=%d rewinding=%" PRIu64,
        s->idle, s->epochs, s->pushed, s->popped, s->open_trees, s->retrying, s->kept, s->replayable, s->spouts_done,
        s->spout_tasks, s->sent, s->recv, s->failed, s->finish_seq, s->finish_acked, s->rewinding);
}

int gale_control_format(char *buf, size_t cap, const gale_control_msg_t *m)
{
    if (!cap) return GALE_ERANGE;
    out_t o = {.p = buf, .cap = cap};
    switch (m->kind) {
    case GALE_CTL_SECRET:
        if (!m->text || strchr(m->text, ' ') || strchr(m->text, '\n')) return GALE_EINVAL;
        put(&o, "secret %d %s", GALE_CONTROL_VERSION, m->text);
        break;
    case GALE_CTL_PEERS:
        put(&o, "peers");
        for (int i = 0; i < m->n_peers; i++) {
            const char *a = m->peers[i] && *m->peers[i] ? m->peers[i] : "-";
            if (strpbrk(a, " \n")) return GALE_EINVAL;
            put(&o, " %s", a);
        }
        break;
    case GALE_CTL_POSITIONS:
    case GALE_CTL_RESUME:
        put(&o, "%s", m->kind == GALE_CTL_RESUME ? "resume" : "positions");
        for (int i = 0; i < m->n_positions; i++) put(&o, " %" PRIu32 ":%" PRIu64, m->tasks[i], m->positions[i]);
        break;
    case GALE_CTL_START: put(&o, "start"); break;
    case GALE_CTL_DEACTIVATE: put(&o, "deactivate"); break;
    case GALE_CTL_FINISH: put(&o, "finish %d", m->number); break;
    case GALE_CTL_ACTIVE: put(&o, "active %d", m->number ? 1 : 0); break;
    case GALE_CTL_LEASE: put(&o, "lease %" PRIu64, m->until_ns); break;
    case GALE_CTL_SWAP:
        if (!m->text || !strchr(m->text, ' ') || strchr(m->text, '\n')) return GALE_EINVAL;
        put(&o, "swap %s", m->text);
        break;
    case GALE_CTL_SWAPPED:
        if (!m->text || !*m->text || strchr(m->text, '\n')) return GALE_EINVAL;
        put(&o, "swapped %d %s", m->number ? 1 : 0, m->text);
        break;
    case GALE_CTL_STOP: put(&o, "stop"); break;
    case GALE_CTL_CHECKPOINT: put(&o, "checkpoint %" PRIu64, m->id); break;
    case GALE_CTL_COMMIT: put(&o, "commit %" PRIu64, m->id); break;
    case GALE_CTL_ABORT: put(&o, "abort %" PRIu64, m->id); break;
    case GALE_CTL_CHECKPOINTED:
        if (!m->id) return GALE_EINVAL;
        if (m->number) {
            put(&o, "checkpointed %" PRIu64 " 1 %" PRIu64, m->id, m->bytes);
        } else {
            const char *why = m->text && *m->text ? m->text : "unknown";
            if (strchr(why, '\n')) return GALE_EINVAL;
            put(&o, "checkpointed %" PRIu64 " 0 %s", m->id, why);
        }
        break;
    case GALE_CTL_PORT: put(&o, "port %d %d", GALE_CONTROL_VERSION, m->number); break;
    case GALE_CTL_STATUS: put_status(&o, &m->status); break;
    case GALE_CTL_STATS:
        if (!m->text || strchr(m->text, '\n')) return GALE_EINVAL;
        put(&o, "stats %s", m->text);
        break;
    case GALE_CTL_UNKNOWN: return GALE_EINVAL;
    }
    put(&o, "\n");
    return o.over ? GALE_ERANGE : (int)o.len;
}

/* ---- parsing --------------------------------------------------------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v < (uint64_t)lo || v > (uint64_t)hi) return false;
    *out = (int)v;
    return true;
}

/* A status line is a set of KEY=VALUE words; every key below must be there but the optional ones at the end (added
   later: a worker of before says nothing of them), others are ignored (a newer worker). */
static int parse_status(char *args, gale_worker_status_t *s, char *why, size_t cap)
{
    static const char *const KEYS[] = {"idle",       "epochs",       "pushed",      "popped",   "open", "retrying",
                                       "kept",       "spouts_done",  "spout_tasks", "sent",     "recv", "failed",
                                       "finish_seq", "finish_acked", "replayable",  "rewinding"};
    enum { N = sizeof KEYS / sizeof *KEYS, REQUIRED = N - 1 };
    uint64_t v[N] = {0};
    bool seen[N] = {false};
    char *save = NULL;
    for (char *w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        if (!eq) return say_why(why, cap, GALE_ESYNTAX, "status: '%.32s' is not KEY=VALUE", w);
        *eq = '\0';
        for (size_t k = 0; k < N; k++) {
            if (strcmp(KEYS[k], w)) continue;
            if (!parse_u64(eq + 1, &v[k])) return say_why(why, cap, GALE_ESYNTAX, "status: bad %s", w);
            seen[k] = true;
        }
    }
    for (size_t k = 0; k < REQUIRED; k++)
        if (!seen[k]) return say_why(why, cap, GALE_ESYNTAX, "status: no %s", KEYS[k]);
    *s = (gale_worker_status_t){.idle = v[0] != 0,
                                .epochs = v[1],
                                .pushed = v[2],
                                .popped = v[3],
                                .open_trees = v[4],
                                .retrying = v[5],
                                .kept = v[6],
                                .spouts_done = (unsigned)v[7],
                                .spout_tasks = (unsigned)v[8],
                                .sent = v[9],
                                .recv = v[10],
                                .failed = v[11] != 0,
                                .finish_seq = (unsigned)v[12],
                                .finish_acked = v[13] != 0,
                                .replayable = v[14],
                                .rewinding = v[15]};
    return 0;
}

/* "VERSION REST": the version must be ours. */
static int parse_versioned(const char *cmd, char *args, gale_control_msg_t *out, char **rest, char *why, size_t cap)
{
    char *sp = args ? strchr(args, ' ') : NULL;
    if (!sp) return say_why(why, cap, GALE_ESYNTAX, "%s: expected '%s VERSION ...'", cmd, cmd);
    *sp = '\0';
    if (!parse_int(args, 0, 1000000, &out->version))
        return say_why(why, cap, GALE_ESYNTAX, "%s: '%s' is not a protocol version", cmd, args);
    if (out->version != GALE_CONTROL_VERSION)
        return say_why(why, cap, GALE_EABI, "%s: the other side speaks control protocol %d, this gale speaks %d",
                       cmd, out->version, GALE_CONTROL_VERSION);
    *rest = sp + 1;
    return 0;
}

int gale_control_parse(char *line, gale_control_msg_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    char *args = strchr(line, ' ');
    if (args) *args++ = '\0';
    const char *cmd = line;
    char *rest = NULL;
    int rc;
    if (!strcmp(cmd, "secret")) {
        out->kind = GALE_CTL_SECRET;
        if ((rc = parse_versioned(cmd, args, out, &rest, why, cap))) return rc;
        if (!*rest || strchr(rest, ' ')) return say_why(why, cap, GALE_ESYNTAX, "secret: expected one hex word");
        out->text = rest;
        return 0;
    }
    if (!strcmp(cmd, "port")) {
        out->kind = GALE_CTL_PORT;
        if ((rc = parse_versioned(cmd, args, out, &rest, why, cap))) return rc;
        if (!parse_int(rest, 1, 65535, &out->number)) return say_why(why, cap, GALE_ESYNTAX, "port: bad port '%s'", rest);
        return 0;
    }
    if (!strcmp(cmd, "peers")) {
        out->kind = GALE_CTL_PEERS;
        out->text = args ? args : "";
        return 0;
    }
    if (!strcmp(cmd, "finish")) {
        out->kind = GALE_CTL_FINISH;
        if (!parse_int(args, 0, 1 << 20, &out->number))
            return say_why(why, cap, GALE_ESYNTAX, "finish: bad component '%s'", args ? args : "");
        return 0;
    }
    if (!strcmp(cmd, "active")) {
        out->kind = GALE_CTL_ACTIVE;
        if (!parse_int(args, 0, 1, &out->number))
            return say_why(why, cap, GALE_ESYNTAX, "active: expected 0 or 1, not '%s'", args ? args : "");
        return 0;
    }
    if (!strcmp(cmd, "swap")) {
        out->kind = GALE_CTL_SWAP;
        const char *sp = args ? strchr(args, ' ') : NULL;
        if (!sp || sp == args || !sp[1])
            return say_why(why, cap, GALE_ESYNTAX, "swap: expected COMPONENT PATH, not '%s'", args ? args : "");
        out->text = args;
        return 0;
    }
    if (!strcmp(cmd, "swapped")) {
        out->kind = GALE_CTL_SWAPPED;
        if (!args || (args[0] != '0' && args[0] != '1') || args[1] != ' ' || !args[2] || args[2] == ' ')
            return say_why(why, cap, GALE_ESYNTAX, "swapped: expected 0|1 COMPONENT [WHY], not '%s'", args ? args : "");
        out->number = args[0] == '1';
        out->text = args + 2;
        return 0;
    }
    if (!strcmp(cmd, "lease")) {
        out->kind = GALE_CTL_LEASE;
        if (!parse_u64(args, &out->until_ns) || !out->until_ns)
            return say_why(why, cap, GALE_ESYNTAX, "lease: expected nanoseconds, not '%s'", args ? args : "");
        return 0;
    }
    if (!strcmp(cmd, "positions") || !strcmp(cmd, "resume")) {
        out->kind = cmd[0] == 'r' ? GALE_CTL_RESUME : GALE_CTL_POSITIONS;
        out->text = args ? args : "";
        size_t pos = 0;
        uint32_t task;
        uint64_t position;
        while ((rc = gale_control_next_position(out->text, &pos, &task, &position)) > 0) out->n_positions++;
        if (rc < 0) return say_why(why, cap, GALE_ESYNTAX, "%s: expected TASK:POSITION words", cmd);
        return 0;
    }
    if (!strcmp(cmd, "checkpoint") || !strcmp(cmd, "commit") || !strcmp(cmd, "abort")) {
        out->kind = cmd[0] == 'a' ? GALE_CTL_ABORT : cmd[1] == 'h' ? GALE_CTL_CHECKPOINT : GALE_CTL_COMMIT;
        if (!parse_u64(args, &out->id) || !out->id)
            return say_why(why, cap, GALE_ESYNTAX, "%s: expected a checkpoint id, not '%.32s'", cmd, args ? args : "");
        return 0;
    }
    if (!strcmp(cmd, "checkpointed")) {
        out->kind = GALE_CTL_CHECKPOINTED;
        char *a = args ? strchr(args, ' ') : NULL;
        if (a) *a++ = '\0';
        if (!parse_u64(args, &out->id) || !out->id || !a || (a[0] != '0' && a[0] != '1') || a[1] != ' ' || !a[2])
            return say_why(why, cap, GALE_ESYNTAX, "checkpointed: expected ID 1 BYTES or ID 0 WHY");
        out->number = a[0] == '1';
        if (out->number && !parse_u64(a + 2, &out->bytes))
            return say_why(why, cap, GALE_ESYNTAX, "checkpointed: bad byte count '%.32s'", a + 2);
        if (!out->number) out->text = a + 2;
        return 0;
    }
    if (!strcmp(cmd, "status")) {
        out->kind = GALE_CTL_STATUS;
        return parse_status(args ? args : (char *)"", &out->status, why, cap);
    }
    if (!strcmp(cmd, "stats")) {
        out->kind = GALE_CTL_STATS;
        if (!args) return say_why(why, cap, GALE_ESYNTAX, "stats: no metrics");
        out->text = args;
        return 0;
    }
    static const struct {
        const char *word;
        gale_control_kind_t kind;
    } bare[] = {{"start", GALE_CTL_START}, {"deactivate", GALE_CTL_DEACTIVATE}, {"stop", GALE_CTL_STOP}};
    for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) {
        if (strcmp(cmd, bare[i].word)) continue;
        out->kind = bare[i].kind;
        if (args) return say_why(why, cap, GALE_ESYNTAX, "%s takes no argument", cmd);
        return 0;
    }
    return say_why(why, cap, GALE_ENOTSUP, "unknown control command '%.32s'", cmd);
}

int gale_control_next_peer(const char *peers, size_t *pos, char *host, size_t host_cap, int *port, uint64_t *placement)
{
    const char *p = peers + *pos;
    while (*p == ' ') p++;
    if (!*p) return 0;
    size_t len = strcspn(p, " ");
    *pos = (size_t)(p - peers) + len;
    *placement = 0;
    if (len == 1 && *p == '-') {
        if (host_cap) host[0] = '\0';
        *port = 0;
        return 1;
    }
    const char *at = memchr(p, '@', len), *end = at ? at : p + len;
    if (at) {
        char num[24];
        size_t vlen = (size_t)(p + len - at - 1);
        if (vlen == 0 || vlen >= sizeof num) return GALE_ESYNTAX;
        memcpy(num, at + 1, vlen);
        num[vlen] = '\0';
        if (!parse_u64(num, placement)) return GALE_ESYNTAX;
    }
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':') colon = q;
    if (!colon || colon == p || (size_t)(colon - p) >= host_cap) return GALE_ESYNTAX;
    char num[8];
    size_t nlen = (size_t)(end - colon - 1);
    if (nlen == 0 || nlen >= sizeof num) return GALE_ESYNTAX;
    memcpy(num, colon + 1, nlen);
    num[nlen] = '\0';
    if (!parse_int(num, 1, 65535, port)) return GALE_ESYNTAX;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    return 1;
}

int gale_control_next_position(const char *text, size_t *pos, uint32_t *task, uint64_t *position)
{
    const char *p = text + *pos;
    while (*p == ' ') p++;
    if (!*p) return 0;
    size_t len = strcspn(p, " ");
    *pos = (size_t)(p - text) + len;
    char word[48];
    if (len >= sizeof word) return GALE_ESYNTAX;
    memcpy(word, p, len);
    word[len] = '\0';
    char *colon = strchr(word, ':');
    if (!colon) return GALE_ESYNTAX;
    *colon = '\0';
    uint64_t t;
    if (!parse_u64(word, &t) || t == 0 || t > UINT32_MAX || !parse_u64(colon + 1, position)) return GALE_ESYNTAX;
    *task = (uint32_t)t;
    return 1;
}

/* ---- the command line ------------------------------------------------------------------------------------------ */

int gale_control_worker_argv(const char *exe, const gale_worker_args_t *a, const char *const *sets, size_t n_sets,
                             const char *file, char numbers[4][24], const char **argv, size_t cap)
{
    if (cap < 17 + 2 * n_sets) return GALE_ERANGE;
    snprintf(numbers[0], 24, "%d", a->index);
    snprintf(numbers[1], 24, "%d", a->workers);
    snprintf(numbers[2], 24, "%d", a->threads);
    snprintf(numbers[3], 24, "%llu", (unsigned long long)a->placement);
    size_t n = 0;
    argv[n++] = exe;
    argv[n++] = "worker";
    argv[n++] = "--index";
    argv[n++] = numbers[0];
    argv[n++] = "--workers";
    argv[n++] = numbers[1];
    argv[n++] = "--listen";
    argv[n++] = a->listen;
    if (a->placement) {
        argv[n++] = "--placement";
        argv[n++] = numbers[3];
    }
    if (a->threads > 0) {
        argv[n++] = "--threads";
        argv[n++] = numbers[2];
    }
    if (a->model) argv[n++] = "--model";
    if (a->tls) {
        argv[n++] = "--tls";
        argv[n++] = a->tls;
    }
    for (size_t i = 0; i < n_sets; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n++] = file;
    argv[n] = NULL;
    return (int)n;
}

int gale_control_worker_args_parse(int argc, char **argv, gale_worker_args_t *out, char **rest, int *n_rest,
                                   char *why, size_t cap)
{
    *out = (gale_worker_args_t){.index = -1, .workers = 0, .listen = NULL};
    int n = 0, rc = 0;
    rest[n++] = argv[0];
    /* Everything that is not ours goes on to `rest` even after an error, so that the caller can report an unknown
       option first, as for every other command. */
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--model")) {
            if (out->model && !rc) rc = say_why(why, cap, GALE_EINVAL, "--model given twice");
            out->model = true;
            continue;
        }
        bool ours = !strcmp(o, "--index") || !strcmp(o, "--workers") || !strcmp(o, "--listen") ||
                    !strcmp(o, "--placement") || !strcmp(o, "--tls");
        if (!ours) {
            rest[n++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            if (!rc) rc = say_why(why, cap, GALE_EINVAL, "%s needs a value", o);
            continue;
        }
        const char *v = argv[++i];
        if (rc) continue;
        if (!strcmp(o, "--listen")) {
            if (out->listen) rc = say_why(why, cap, GALE_EINVAL, "--listen given twice");
            else out->listen = v;
        } else if (!strcmp(o, "--tls")) {
            if (out->tls) rc = say_why(why, cap, GALE_EINVAL, "--tls given twice");
            else out->tls = v;
        } else if (!strcmp(o, "--placement")) {
            if (out->placement) rc = say_why(why, cap, GALE_EINVAL, "--placement given twice");
            else if (!parse_u64(v, &out->placement) || !out->placement)
                rc = say_why(why, cap, GALE_EINVAL, "--placement: bad version '%s'", v);
        } else {
            int *dst = !strcmp(o, "--index") ? &out->index : &out->workers;
            if (*dst != (dst == &out->index ? -1 : 0)) rc = say_why(why, cap, GALE_EINVAL, "%s given twice", o);
            else if (!parse_int(v, 0, 4096, dst)) rc = say_why(why, cap, GALE_EINVAL, "%s: bad number '%s'", o, v);
        }
    }
    rest[n] = NULL;
    *n_rest = n;
    if (rc) return rc;
    if (out->workers < 1) return say_why(why, cap, GALE_EINVAL, "--workers must be at least 1");
    if (out->index < 0 || out->index >= out->workers)
        return say_why(why, cap, GALE_EINVAL, "--index must be below --workers");
    if (!out->listen) out->listen = "127.0.0.1";
    return 0;
}

int gale_control_read_secret(int fd, char *out, size_t cap, char *why, size_t why_cap)
{
    char line[512];
    size_t n = 0;
    for (;;) {
        if (n == sizeof line - 1) return say_why(why, why_cap, GALE_ESYNTAX, "the first control line is too long");
        ssize_t r = read(fd, line + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return say_why(why, why_cap, GALE_EIO, "no secret from the supervisor");
        if (line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    gale_control_msg_t m;
    int rc = gale_control_parse(line, &m, why, why_cap);
    if (rc) return rc;
    if (m.kind != GALE_CTL_SECRET) return say_why(why, why_cap, GALE_ESYNTAX, "the first control line is not the secret");
    if (strlen(m.text) >= cap) return say_why(why, why_cap, GALE_ESYNTAX, "the secret is too long");
    strcpy(out, m.text);
    return 0;
}
