/*
 * shell.c: the built-in `shell` plugin: a spout or bolt whose work is done by a child process speaking Apache
 * Storm's multilang protocol (storm.py, storm.rb, storm.js and the libraries built on them run unmodified).
 *
 * The protocol, as Storm's ShellBolt and ShellSpout speak it and the client libraries depend on it:
 *   handshake  -> {"conf": {...}, "context": {"taskid", "componentid", "task->component", ...}, "pidDir": "..."}
 *              <- {"pid": N}
 *   bolt       -> {"id": "7", "comp": "lines", "stream": "default", "task": 3, "tuple": [...]}
 *                 heartbeats {"id": "h1", "comp": null, "stream": "__heartbeat", "task": -1, "tuple": []}, answered
 *                 by {"command": "sync"}; tick tuples {"comp": "__system", "stream": "__tick", "task": -1}
 *              <- emit (anchors, stream, task for direct, tuple, need_task_ids), ack, fail, log, error, metrics
 *                 (name, params: a number, into the component's own metric of that name)
 *   spout      -> {"command": "next" | "ack" | "fail" | "activate" | "deactivate", "id": ...}; the child answers each
 *                 with {"command": "sync"} after what it does (emits, with "id" for a tracked tuple)
 *   every non-direct emit is answered with the JSON array of the task ids it went to, unless the child said
 *   "need_task_ids": false.
 * Where Storm would kill the worker (an ack of an unknown id, an anchor to a settled tuple), the error is reported
 * against the component, what can be failed is failed, and the worker goes on. A child that exits, stops
 * answering, or writes what is not the protocol is reported with the end of its stderr, its open tuples fail (and
 * so replay), and it is started again after a backoff. gale's one addition: a spout child may send
 * {"command": "done"} when it has nothing more to emit, so that a finite topology ends (gale_done()).
 *
 * Messages from the child arrive as MessagePack (shell_proc.c turns JSON into it), so both serializers share all of
 * this; outgoing messages are built as MessagePack and written as the serializer says.
 */
#include <dirent.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "executor.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "mpread.h"
#include "plugin.h"
#include "runtime.h"
#include "shell.h"
#include "shell_proc.h"
#include "task.h"
#include "u64map.h"

#define HEARTBEAT_EVERY_NS 1000000000ull
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_VALUES 1024
#define MAX_KEYS 64
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct stored_id { /* spouts: the child's own id of a tracked tuple, as MessagePack */
    char *mp;
    size_t len;
} stored_id_t;

typedef struct shell {
    gale_task_t *t;
    gale_ctx_t *ctx;
    bool spout;
    char **argv;
    char label[96]; /* the command as people see it in the log */
    char *cwd;
    bool msgpack;
    double hb_timeout_s, tick_s;
    size_t max_message;
    gale_child_t *child;
    char pid_dir[64];
    gale_u64map_t pending; /* bolts: id -> const gale_tuple_t * (kept); spouts: msg id -> stored_id_t */
    uint64_t next_id, next_hb_ns, next_tick_ns, restart_at_ns;
    bool hb_owed;
    unsigned backoff_ms;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t *targets;
    gale_value_t *vals;
} shell_t;

/* ---- building messages --------------------------------------------------------------------------------------- */

static void pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
#define PK_LIT(pk, lit) pk_str((pk), (lit), sizeof(lit) - 1)
static void pk_cstr(msgpack_packer *pk, const char *s) { pk_str(pk, s, strlen(s)); }

/* Writes an encoded value as it is (MessagePack is self-delimiting). */
static void pk_raw(shell_t *sh, const char *raw, size_t len) { msgpack_sbuffer_write(&sh->sb, raw, len); }

static void pk_value(shell_t *sh, const gale_value_t *v) { gale__pack_value(&sh->pk, v); }

static void begin(shell_t *sh) { msgpack_sbuffer_clear(&sh->sb); }

static int send_msg(shell_t *sh)
{
    return sh->child ? gale_child_send(sh->child, sh->sb.data, sh->sb.size) : GALE_EIO;
}

static void id_string(char *buf, size_t cap, char prefix, uint64_t n)
{
    if (prefix) snprintf(buf, cap, "%c%llu", prefix, (unsigned long long)n);
    else snprintf(buf, cap, "%llu", (unsigned long long)n);
}

/* A tuple for a bolt: the input, or a heartbeat or tick made here (their ids start with a letter, so that the ack
   a client library sends for a tick is recognised as not ours to settle). */
static void pk_tuple(shell_t *sh, const char *id, const char *comp, const char *stream, int64_t task)
{
    msgpack_packer *pk = &sh->pk;
    msgpack_pack_map(pk, 5);
    PK_LIT(pk, "id");
    pk_cstr(pk, id);
    PK_LIT(pk, "comp");
    comp ? pk_cstr(pk, comp) : msgpack_pack_nil(pk);
    PK_LIT(pk, "stream");
    pk_cstr(pk, stream);
    PK_LIT(pk, "task");
    msgpack_pack_int64(pk, task);
    PK_LIT(pk, "tuple");
}

static void pk_command(shell_t *sh, const char *command, const stored_id_t *id)
{
    msgpack_pack_map(&sh->pk, id ? 2 : 1);
    PK_LIT(&sh->pk, "command");
    pk_cstr(&sh->pk, command);
    if (id) {
        PK_LIT(&sh->pk, "id");
        pk_raw(sh, id->mp, id->len);
    }
}

/* ---- the handshake ---------------------------------------------------------------------------------------------- */

static void pk_conf(shell_t *sh)
{
    const gale_topology_t *topo = sh->t->rt->topo;
    gale_value_t user = {0};
    bool has_user = sh->ctx->host->setting(sh->ctx, "conf", &user) == 0 && user.type == GALE_MAP;
    msgpack_packer *pk = &sh->pk;
    msgpack_pack_map(pk, 5 + (has_user ? user.n : 0));
    PK_LIT(pk, "topology.name");
    pk_cstr(pk, topo->name);
    PK_LIT(pk, "topology.message.timeout.secs");
    msgpack_pack_int(pk, topo->config.message_timeout_s);
    PK_LIT(pk, "topology.max.spout.pending");
    topo->config.max_spout_pending ? msgpack_pack_int(pk, topo->config.max_spout_pending) : msgpack_pack_nil(pk);
    PK_LIT(pk, "topology.tick.tuple.freq.secs");
    sh->tick_s > 0 ? msgpack_pack_double(pk, sh->tick_s) : msgpack_pack_nil(pk);
    PK_LIT(pk, "topology.subprocess.timeout.secs");
    msgpack_pack_double(pk, sh->hb_timeout_s);
    for (uint32_t i = 0; has_user && i < 2 * user.n; i++) {
        gale_value_t item;
        sh->ctx->host->item(&user, i, &item);
        pk_value(sh, &item);
    }
}

static void pk_context(shell_t *sh)
{
    const gale_topology_t *topo = sh->t->rt->topo;
    const gale_component_t *me = sh->t->comp;
    msgpack_packer *pk = &sh->pk;
    msgpack_pack_map(pk, 5);
    PK_LIT(pk, "taskid");
    msgpack_pack_uint32(pk, sh->t->base.task_id);
    PK_LIT(pk, "componentid");
    pk_cstr(pk, me->name);
    PK_LIT(pk, "task->component");
    uint32_t n_tasks = 0;
    for (size_t i = 0; i < topo->n_components; i++) n_tasks += (uint32_t)topo->components[i].parallelism;
    msgpack_pack_map(pk, n_tasks);
    for (size_t i = 0; i < topo->n_components; i++) {
        const gale_component_t *c = &topo->components[i];
        for (int k = 0; k < c->parallelism; k++) {
            char id[16];
            id_string(id, sizeof id, 0, c->first_task + (uint32_t)k);
            pk_cstr(pk, id);
            pk_cstr(pk, c->name);
        }
    }
    PK_LIT(pk, "streams");
    msgpack_pack_array(pk, me->n_streams);
    for (size_t s = 0; s < me->n_streams; s++) pk_cstr(pk, me->streams[s].name);
    PK_LIT(pk, "stream->outputfields");
    msgpack_pack_map(pk, me->n_streams);
    for (size_t s = 0; s < me->n_streams; s++) {
        pk_cstr(pk, me->streams[s].name);
        msgpack_pack_array(pk, me->streams[s].n_fields);
        for (size_t f = 0; f < me->streams[s].n_fields; f++) pk_cstr(pk, me->streams[s].fields[f]);
    }
}

static void wake(void *arg) { gale__task_want_service(arg); }

static int handle(shell_t *sh, const char *mp, size_t len, bool *synced, bool *got_pid);

/* Frees messages not worth reading (a child being given up on). */
static void drop(gale_child_msg_t *m)
{
    for (gale_child_msg_t *next; m; m = next) {
        next = m->next;
        free(m);
    }
}

/* Starts the child and waits for its pid. 0, or an error after reporting it. */
static int start_child(shell_t *sh)
{
    char why[512];
    gale_child_opts_t o = {.argv = (const char *const *)sh->argv, .cwd = sh->cwd, .msgpack = sh->msgpack,
                           .max_message = sh->max_message, .heartbeat_timeout_s = sh->hb_timeout_s,
                           .wake = wake, .wake_arg = sh->t};
    int rc = gale_child_start(&o, &sh->child, why, sizeof why);
    if (rc) {
        gale__task_error(sh->t, "cannot start '%s': %s", sh->label, why);
        return rc;
    }
    begin(sh);
    msgpack_pack_map(&sh->pk, 3);
    PK_LIT(&sh->pk, "conf");
    pk_conf(sh);
    PK_LIT(&sh->pk, "context");
    pk_context(sh);
    PK_LIT(&sh->pk, "pidDir");
    pk_cstr(&sh->pk, sh->pid_dir);
    rc = send_msg(sh);
    if (!rc) rc = gale_child_flush(sh->child);
    gale_child_expect(sh->child, true);
    bool got_pid = false, synced = false;
    /* An interpreter starting on a busy host can take seconds before it says anything: the handshake is not held
       to a short heartbeat timeout, only to a bound that still ends a child that never answers. */
    uint64_t limit = (uint64_t)(sh->hb_timeout_s * 1e9);
    uint64_t deadline = gale_now_ns() + (limit > GALE_CHILD_START_NS ? limit : GALE_CHILD_START_NS);
    while (!rc && !got_pid && !gale_child_ended(sh->child, why, sizeof why) && gale_now_ns() < deadline) {
        gale_child_msg_t *m = gale_child_wait(sh->child, deadline - gale_now_ns());
        for (gale_child_msg_t *next; m; m = next) {
            next = m->next;
            if (!rc) rc = handle(sh, m->mp, m->len, &synced, &got_pid);
            free(m);
        }
    }
    gale_child_expect(sh->child, false);
    if (got_pid && !rc) return 0;
    /* A write that failed may mean it is exiting: give it a moment, so that the report says how it ended. */
    for (int i = 0; i < 10 && !gale_child_ended(sh->child, why, sizeof why); i++)
        drop(gale_child_wait(sh->child, 100000000u));
    if (!gale_child_ended(sh->child, why, sizeof why)) {
        gale_child_abandon(sh->child, "no pid in answer to the handshake");
        while (!gale_child_ended(sh->child, why, sizeof why)) drop(gale_child_wait(sh->child, 100000000u));
    }
    gale__task_error(sh->t, "'%s' did not complete the multilang handshake: %s", sh->label, why);
    gale_child_stop(sh->child);
    sh->child = NULL;
    return GALE_EPLUGIN;
}

/* ---- messages from the child ------------------------------------------------------------------------------------ */

enum {
    F_COMMAND,
    F_ID,
    F_ANCHORS,
    F_STREAM,
    F_TASK,
    F_TUPLE,
    F_NEED_TASK_IDS,
    F_MSG,
    F_LEVEL,
    F_PID,
    F_NAME,
    F_PARAMS,
    F_COUNT
};
static const char *const FIELD_NAMES[F_COUNT] = {"command",       "id",  "anchors", "stream", "task", "tuple",
                                                 "need_task_ids", "msg", "level",   "pid",    "name", "params"};

typedef struct msg {
    gale_value_t f[F_COUNT];
    bool has[F_COUNT];
} msg_t;

static bool str_is(const gale_value_t *v, const char *s)
{
    return v->type == GALE_STR && v->s.len == strlen(s) && !memcmp(v->s.ptr, s, v->s.len);
}

static uint64_t parse_id(const gale_value_t *v, bool *ok)
{
    char buf[24];
    *ok = false;
    if (v->type == GALE_INT && v->i > 0) {
        *ok = true;
        return (uint64_t)v->i;
    }
    if (v->type != GALE_STR || v->s.len == 0 || v->s.len >= sizeof buf) return 0;
    memcpy(buf, v->s.ptr, v->s.len);
    buf[v->s.len] = '\0';
    char *end;
    unsigned long long n = strtoull(buf, &end, 10);
    *ok = *end == '\0' && buf[0] >= '0' && buf[0] <= '9';
    return n;
}

static void show(const gale_value_t *v, char *buf, size_t cap) { gale__to_json(v, buf, cap); }

/* The ids of the heartbeat and tick tuples made here: a letter, then a number. The client libraries ack every
   tuple they process and anchor to it, ticks too; a tick belongs to no tree, so there is nothing to settle. */
static bool system_id(const gale_value_t *v)
{
    return v->type == GALE_STR && v->s.len > 1 && (v->s.ptr[0] == 't' || v->s.ptr[0] == 'h');
}

/* Bolts: the kept input of id `v`, or NULL after reporting what is wrong (nothing for a system id). */
static const gale_tuple_t *input_of(shell_t *sh, const gale_value_t *v, const char *what)
{
    bool ok;
    uint64_t id = parse_id(v, &ok);
    const gale_tuple_t **kept = ok ? gale_u64map_get(&sh->pending, id) : NULL;
    if (kept) return *kept;
    if (system_id(v)) return NULL;
    char text[64];
    show(v, text, sizeof text);
    gale__task_error(sh->t, "%s unknown tuple id %s (acked or failed already, or never sent)", what, text);
    return NULL;
}

static void settle(shell_t *sh, const gale_value_t *id, bool ack)
{
    const gale_tuple_t *in = input_of(sh, id, ack ? "ack of" : "fail of");
    if (!in) return;
    bool ok;
    gale_u64map_del(&sh->pending, parse_id(id, &ok));
    ack ? sh->ctx->host->ack(sh->ctx, in) : sh->ctx->host->fail(sh->ctx, in);
}

static int emit(shell_t *sh, const msg_t *m)
{
    const gale_host_t *h = sh->ctx->host;
    char stream[256] = "default";
    if (m->has[F_STREAM] && m->f[F_STREAM].type == GALE_STR && m->f[F_STREAM].s.len < sizeof stream) {
        memcpy(stream, m->f[F_STREAM].s.ptr, m->f[F_STREAM].s.len);
        stream[m->f[F_STREAM].s.len] = '\0';
    }
    bool direct = m->has[F_TASK] && m->f[F_TASK].type == GALE_INT;
    bool reply = !direct && !(m->has[F_NEED_TASK_IDS] && m->f[F_NEED_TASK_IDS].type == GALE_BOOL && !m->f[F_NEED_TASK_IDS].b);
    size_t n_targets = 0;
    const gale_tuple_t *anchors[64];
    uint64_t anchor_ids[64];
    size_t n_anchors = 0;
    bool bad = !m->has[F_TUPLE] || m->f[F_TUPLE].type != GALE_ARRAY || m->f[F_TUPLE].n > MAX_VALUES;
    if (bad) gale__task_error(sh->t, "emit without a \"tuple\" list of at most %d values", MAX_VALUES);
    /* Anchors: all known, or the emit is refused and the known ones fail, so that their trees replay. */
    if (!bad && !sh->spout && m->has[F_ANCHORS] && m->f[F_ANCHORS].type == GALE_ARRAY) {
        for (uint32_t i = 0; i < m->f[F_ANCHORS].n && i < 64; i++) {
            gale_value_t a;
            h->item(&m->f[F_ANCHORS], i, &a);
            if (system_id(&a)) continue; /* anchored to a tick: unanchored, as in Storm */
            const gale_tuple_t *in = input_of(sh, &a, "anchor to");
            bool ok, seen = false;
            /* The same id twice anchors once: failing it twice (below) would use it after its release. */
            for (size_t k = 0; in && k < n_anchors; k++) seen = seen || anchors[k] == in;
            if (in && !seen) anchor_ids[n_anchors] = parse_id(&a, &ok), anchors[n_anchors++] = in;
            else if (!in) bad = true;
        }
        for (size_t i = 0; bad && i < n_anchors; i++) {
            gale_u64map_del(&sh->pending, anchor_ids[i]);
            h->fail(sh->ctx, anchors[i]);
        }
    }
    if (!bad) {
        for (uint32_t i = 0; i < m->f[F_TUPLE].n; i++) h->item(&m->f[F_TUPLE], i, &sh->vals[i]);
        gale_emit_t e = {.size = sizeof e, .stream = stream, .values = sh->vals, .n_values = m->f[F_TUPLE].n, .anchors = anchors,
                         .n_anchors = n_anchors, .tasks = sh->targets, .tasks_cap = sh->t->rt->topo->n_tasks + 1,
                         .n_tasks = &n_targets};
        if (direct) {
            e.direct = true;
            e.direct_task = (uint32_t)m->f[F_TASK].i;
        }
        if (sh->spout && m->has[F_ID] && m->f[F_ID].type != GALE_NIL) { /* a tracked tuple: keep the child's id */
            msgpack_sbuffer_clear(&sh->sb);
            pk_value(sh, &m->f[F_ID]);
            stored_id_t sid = {malloc(sh->sb.size), sh->sb.size};
            int created;
            stored_id_t *slot = sid.mp ? gale_u64map_put(&sh->pending, ++sh->next_id, &created) : NULL;
            if (slot) {
                memcpy(sid.mp, sh->sb.data, sid.len);
                *slot = sid;
                e.has_msg_id = true;
                e.msg_id = sh->next_id;
            } else {
                free(sid.mp);
            }
        }
        int rc = h->emit(sh->ctx, &e);
        if (rc) {
            gale__task_error(sh->t, "emit on stream '%s' refused: %s", stream, h->strerror(rc));
            n_targets = 0;
            if (e.has_msg_id) {
                stored_id_t *sid = gale_u64map_get(&sh->pending, e.msg_id);
                if (sid) free(sid->mp);
                gale_u64map_del(&sh->pending, e.msg_id);
            }
        }
    }
    if (!reply) return 0;
    begin(sh);
    if (n_targets > sh->t->rt->topo->n_tasks + 1) n_targets = sh->t->rt->topo->n_tasks + 1;
    msgpack_pack_array(&sh->pk, n_targets);
    for (size_t i = 0; i < n_targets; i++) msgpack_pack_uint32(&sh->pk, sh->targets[i]);
    return send_msg(sh);
}

static gale_log_level_t storm_level(const msg_t *m)
{
    /* Storm's levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error. */
    int64_t l = m->has[F_LEVEL] && m->f[F_LEVEL].type == GALE_INT ? m->f[F_LEVEL].i : 2;
    return l <= 1 ? GALE_LOG_DEBUG : l == 2 ? GALE_LOG_INFO : l == 3 ? GALE_LOG_WARN : GALE_LOG_ERROR;
}

/* Storm's `metrics` message ({"name", "params"}, storm.py's rpcMetrics): in Storm it goes to a metric the topology
   registered in Java by that name. Here it is the component's own metric: an integer adds to counter NAME (Storm's
   CountShellMetric), a float sets gauge NAME. The name is made a metric's (lower case, [a-z0-9_]: "my-metric" is
   my_metric); anything else is an error against the task. */
static void shell_metric(shell_t *sh, const msg_t *m)
{
    const gale_value_t *name = &m->f[F_NAME], *p = &m->f[F_PARAMS];
    char metric[GALE_METRIC_NAME_MAX + 1];
    size_t n = 0;
    if (name->type == GALE_STR && name->s.len && name->s.len <= GALE_METRIC_NAME_MAX) {
        for (size_t i = 0; i < name->s.len; i++) {
            char c = name->s.ptr[i];
            metric[n++] = c >= 'A' && c <= 'Z'                               ? (char)(c - 'A' + 'a')
                          : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c
                                                                             : '_';
        }
    }
    metric[n] = 0;
    bool counter = (p->type == GALE_INT && p->i >= 0) || p->type == GALE_UINT, gauge = p->type == GALE_DOUBLE;
    if (!n || !(metric[0] >= 'a' && metric[0] <= 'z') || (!counter && !gauge)) {
        char text[80];
        show(name, text, sizeof text);
        gale__task_error(sh->t, "a metrics message needs a name (a letter first) and a number as params, not %s", text);
        return;
    }
    gale_metric_t *g = sh->ctx->host->metric(sh->ctx, metric, counter ? GALE_METRIC_COUNTER : GALE_METRIC_GAUGE);
    if (g && counter) sh->ctx->host->counter_add(g, p->type == GALE_UINT ? p->u : (uint64_t)p->i);
    else if (g) sh->ctx->host->gauge_set(g, p->d);
}

/* One message. 0, or an error when the child does not speak the protocol (the caller gives up on it). */
static int handle(shell_t *sh, const char *mp, size_t len, bool *synced, bool *got_pid)
{
    gale_value_t map;
    size_t used;
    msg_t m = {0};
    if (gale_mp_read(mp, len, &map, &used) || map.type != GALE_MAP) return GALE_ECORRUPT;
    /* Reading item i walks items 0..i again: a map of millions of keys would hold the executor for hours. No
       message of the protocol has more than a handful. */
    if (map.n > MAX_KEYS) {
        gale_child_abandon(sh->child, "malformed output: a message with more than " STR(MAX_KEYS) " keys");
        return GALE_ECORRUPT;
    }
    for (uint32_t i = 0; i < map.n; i++) {
        gale_value_t k, v;
        if (gale_mp_item(&map, 2 * i, &k) || gale_mp_item(&map, 2 * i + 1, &v)) return GALE_ECORRUPT;
        for (int f = 0; f < F_COUNT; f++)
            if (str_is(&k, FIELD_NAMES[f])) m.f[f] = v, m.has[f] = true;
    }
    const gale_value_t *cmd = &m.f[F_COMMAND];
    if (!m.has[F_COMMAND]) {
        if (m.has[F_PID] && got_pid) {
            *got_pid = true;
            return 0;
        }
        gale_child_abandon(sh->child, "malformed output: a message without \"command\"");
        return GALE_ECORRUPT;
    }
    if (str_is(cmd, "sync")) {
        *synced = true;
    } else if (str_is(cmd, "emit")) {
        return emit(sh, &m);
    } else if (!sh->spout && (str_is(cmd, "ack") || str_is(cmd, "fail"))) {
        if (m.has[F_ID]) settle(sh, &m.f[F_ID], str_is(cmd, "ack"));
        else gale__task_error(sh->t, "%.*s without an id", (int)cmd->s.len, cmd->s.ptr);
    } else if (str_is(cmd, "log")) {
        const gale_value_t *t = &m.f[F_MSG];
        if (t->type == GALE_STR) sh->ctx->host->log(sh->ctx, storm_level(&m), "%.*s", (int)t->s.len, t->s.ptr);
    } else if (str_is(cmd, "error")) {
        const gale_value_t *t = &m.f[F_MSG];
        gale__task_error(sh->t, "reported: %.*s", t->type == GALE_STR ? (int)t->s.len : 0, t->s.ptr);
    } else if (str_is(cmd, "metrics")) {
        shell_metric(sh, &m);
    } else if (sh->spout && str_is(cmd, "done")) {
        sh->ctx->host->done(sh->ctx);
    } else {
        char text[80], why[160];
        show(cmd, text, sizeof text);
        snprintf(why, sizeof why, "malformed output: unknown command %s", text);
        gale_child_abandon(sh->child, why);
        return GALE_ECORRUPT;
    }
    return 0;
}

/* Takes what has come; true when a sync was among it. */
static bool drain(shell_t *sh, gale_child_msg_t *m, size_t *work)
{
    bool synced = false;
    for (gale_child_msg_t *next; m; m = next) {
        next = m->next;
        /* What a child wrote before it died still counts: its acks and emits are real. */
        if (sh->child && handle(sh, m->mp, m->len, &synced, NULL) == GALE_ECORRUPT)
            gale_child_abandon(sh->child, "malformed output: not a multilang message");
        free(m);
        if (work) ++*work;
    }
    return synced;
}

/* ---- the child's death and rebirth ----------------------------------------------------------------------------------- */

static void forget_pending(shell_t *sh)
{
    size_t pos = 0;
    void *v;
    while (gale_u64map_next(&sh->pending, &pos, &v)) {
        if (sh->spout) free(((stored_id_t *)v)->mp);
        else sh->ctx->host->fail(sh->ctx, *(const gale_tuple_t **)v); /* they replay */
        gale_u64map_del_at(&sh->pending, &pos);
    }
}

/* When the child has ended: report it, fail what it held, plan the restart. true when it had. */
static bool check_death(shell_t *sh)
{
    char why[3072];
    if (!sh->child || !gale_child_ended(sh->child, why, sizeof why)) return false;
    drain(sh, gale_child_take(sh->child), NULL);
    gale__task_error(sh->t, "'%s' %s: restarting it in %u ms", sh->label, why, sh->backoff_ms);
    gale_child_stop(sh->child);
    sh->child = NULL;
    forget_pending(sh);
    sh->restart_at_ns = gale_now_ns() + (uint64_t)sh->backoff_ms * 1000000u;
    sh->backoff_ms = sh->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : sh->backoff_ms * 2;
    sh->hb_owed = false;
    return true;
}

static void maybe_restart(shell_t *sh, uint64_t now)
{
    if (sh->child || now < sh->restart_at_ns) return;
    if (start_child(sh)) {
        sh->restart_at_ns = now + (uint64_t)sh->backoff_ms * 1000000u;
        sh->backoff_ms = sh->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : sh->backoff_ms * 2;
        return;
    }
    gale_logf(GALE_LOG_INFO, sh->t->who, "'%s' started again", sh->label);
    sh->next_hb_ns = now + HEARTBEAT_EVERY_NS;
}

static void flush(shell_t *sh)
{
    if (sh->child && gale_child_flush(sh->child)) check_death(sh);
}

/* ---- settings ---------------------------------------------------------------------------------------------------------- */

static int read_settings(shell_t *sh)
{
    gale_ctx_t *ctx = sh->ctx;
    gale_value_t cmd;
    if (ctx->host->setting(ctx, "command", &cmd) || cmd.type != GALE_ARRAY || cmd.n == 0) {
        gale_error(ctx, "setting 'command' is required: the program and its arguments, as [ \"python3\", \"split.py\" ]");
        return GALE_EINVAL;
    }
    sh->argv = calloc(cmd.n + 1, sizeof *sh->argv);
    for (uint32_t i = 0; sh->argv && i < cmd.n; i++) {
        gale_value_t a;
        ctx->host->item(&cmd, i, &a);
        if (a.type != GALE_STR) {
            gale_error(ctx, "setting 'command': item %u is not a string", i);
            return GALE_EINVAL;
        }
        if (!(sh->argv[i] = strndup(a.s.ptr, a.s.len))) return GALE_ENOMEM;
    }
    if (!sh->argv) return GALE_ENOMEM;
    for (size_t i = 0; sh->argv[i]; i++) {
        size_t used = strlen(sh->label);
        snprintf(sh->label + used, sizeof sh->label - used, "%s%s", i ? " " : "", sh->argv[i]);
    }
    const char *dir = sh->t->rt->topo->dir, *cwd = gale_setting_str(ctx, "cwd", ".");
    if (cwd[0] == '/') sh->cwd = strdup(cwd);
    else if (asprintf(&sh->cwd, "%s/%s", dir && dir[0] ? dir : ".", cwd) < 0) sh->cwd = NULL;
    const char *ser = gale_setting_str(ctx, "serializer", "json");
    if (strcmp(ser, "json") && strcmp(ser, "msgpack")) {
        gale_error(ctx, "setting 'serializer' is \"%s\": \"json\" or \"msgpack\"", ser);
        return GALE_EINVAL;
    }
    sh->msgpack = !strcmp(ser, "msgpack");
    sh->hb_timeout_s = gale_setting_double(ctx, "heartbeat_timeout_s", 30);
    sh->tick_s = gale_setting_double(ctx, "tick_s", 0);
    sh->max_message = (size_t)gale_setting_int(ctx, "max_message_bytes", 16 << 20);
    if (sh->hb_timeout_s <= 0 || sh->tick_s < 0 || sh->max_message < 1024) {
        gale_error(ctx, "heartbeat_timeout_s must be above 0, tick_s 0 or more, max_message_bytes 1024 or more");
        return GALE_EINVAL;
    }
    return sh->cwd ? 0 : GALE_ENOMEM;
}

/* Whether `direct_streams` (a list of stream names, checked by declare) names `stream`. */
static bool listed_direct(gale_ctx_t *ctx, const char *stream)
{
    gale_value_t list, name;
    if (ctx->host->setting(ctx, "direct_streams", &list) || list.type != GALE_ARRAY) return false;
    for (uint32_t i = 0; i < list.n; i++)
        if (ctx->host->item(&list, i, &name) == 0 && name.type == GALE_STR && !strcmp(name.s.ptr, stream)) return true;
    return false;
}

/* Declares `stream` with the field names in the list `list`, direct when `direct_streams` names it. */
static int declare_list(gale_ctx_t *ctx, const char *stream, const gale_value_t *list)
{
    const char *names[256];
    if (list->type != GALE_ARRAY || list->n > 256) return GALE_ETYPE;
    for (uint32_t i = 0; i < list->n; i++) {
        gale_value_t f;
        ctx->host->item(list, i, &f);
        if (f.type != GALE_STR) return GALE_ETYPE;
        names[i] = f.s.ptr;
    }
    if (listed_direct(ctx, stream)) return ctx->host->declare_direct_stream(ctx, stream, names, list->n);
    return ctx->host->declare_stream(ctx, stream, names, list->n);
}

/* Whether the settings declare `stream`: "default" by `fields`, the others by `streams`. */
static bool declares(gale_ctx_t *ctx, const char *stream)
{
    gale_value_t v, name;
    if (!strcmp(stream, "default")) return ctx->host->setting(ctx, "fields", &v) == 0;
    if (ctx->host->setting(ctx, "streams", &v) || v.type != GALE_MAP) return false;
    for (uint32_t s = 0; s < v.n; s++)
        if (ctx->host->item(&v, 2 * s, &name) == 0 && name.type == GALE_STR && !strcmp(name.s.ptr, stream)) return true;
    return false;
}

/* `direct_streams = [ "name", ... ]`: each one a stream the settings declare. */
static int check_direct_streams(gale_ctx_t *ctx)
{
    gale_value_t list, name;
    if (ctx->host->setting(ctx, "direct_streams", &list)) return 0;
    if (list.type != GALE_ARRAY) return GALE_ETYPE; /* validation said so already, by the settings table */
    for (uint32_t i = 0; i < list.n; i++) {
        ctx->host->item(&list, i, &name);
        if (name.type != GALE_STR) {
            gale_error(ctx, "setting 'direct_streams': item %u is not a stream name", i);
            return GALE_ETYPE;
        }
        if (!declares(ctx, name.s.ptr)) {
            gale_error(ctx,
                       "setting 'direct_streams': '%s' is not one of its streams (\"default\" by `fields`, others "
                       "by `streams`)",
                       name.s.ptr);
            return GALE_EINVAL;
        }
    }
    return 0;
}

/* Streams from the settings: `fields` for "default", `streams = { name = [ fields ]; ... }` for the others, direct
   those that `direct_streams` names. */
static int declare(gale_ctx_t *ctx)
{
    const gale_host_t *h = ctx->host;
    gale_value_t v;
    int rc = check_direct_streams(ctx);
    if (!rc && h->setting(ctx, "fields", &v) == 0) rc = declare_list(ctx, "default", &v);
    if (!rc && h->setting(ctx, "streams", &v) == 0) {
        if (v.type != GALE_MAP) return GALE_ETYPE;
        for (uint32_t s = 0; !rc && s < v.n; s++) {
            gale_value_t name, list;
            h->item(&v, 2 * s, &name);
            h->item(&v, 2 * s + 1, &list);
            rc = name.type == GALE_STR ? declare_list(ctx, name.s.ptr, &list) : GALE_ETYPE;
        }
    }
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------------------- */

static size_t service(gale_task_t *t);

static void close_shell(gale_ctx_t *ctx);
static int open_shell_state(gale_ctx_t *ctx, bool spout);

/* Everything or nothing: a failed open/prepare gets no close/cleanup from the runtime, so it frees what it made. */
static int open_shell(gale_ctx_t *ctx, bool spout)
{
    int rc = open_shell_state(ctx, spout);
    if (rc) close_shell(ctx);
    return rc;
}

static int open_shell_state(gale_ctx_t *ctx, bool spout)
{
    shell_t *sh = calloc(1, sizeof *sh);
    if (!sh) return GALE_ENOMEM;
    ctx->state = sh;
    sh->ctx = ctx;
    sh->t = gale__task(ctx);
    sh->spout = spout;
    sh->backoff_ms = BACKOFF_MIN_MS;
    msgpack_sbuffer_init(&sh->sb);
    msgpack_packer_init(&sh->pk, &sh->sb, msgpack_sbuffer_write);
    int rc = read_settings(sh);
    if (rc) return rc;
    sh->targets = calloc(sh->t->rt->topo->n_tasks + 1, sizeof *sh->targets);
    sh->vals = calloc(MAX_VALUES, sizeof *sh->vals);
    if (!sh->targets || !sh->vals ||
        gale_u64map_init(&sh->pending, spout ? sizeof(stored_id_t) : sizeof(const gale_tuple_t *), 64))
        return GALE_ENOMEM;
    snprintf(sh->pid_dir, sizeof sh->pid_dir, "/tmp/gale-shell-XXXXXX");
    if (!mkdtemp(sh->pid_dir)) {
        gale_error(ctx, "cannot make a pidDir under /tmp");
        return GALE_EIO;
    }
    if ((rc = start_child(sh))) return rc;
    sh->next_hb_ns = gale_now_ns() + HEARTBEAT_EVERY_NS;
    sh->next_tick_ns = sh->tick_s > 0 ? gale_now_ns() + (uint64_t)(sh->tick_s * 1e9) : UINT64_MAX;
    sh->t->service = service;
    return 0;
}

static void close_shell(gale_ctx_t *ctx)
{
    shell_t *sh = ctx->state;
    if (!sh) return;
    sh->t->service = NULL;
    gale_child_stop(sh->child);
    if (sh->pending.slots) {
        size_t pos = 0;
        void *v;
        while (sh->spout && gale_u64map_next(&sh->pending, &pos, &v)) free(((stored_id_t *)v)->mp);
        gale_u64map_destroy(&sh->pending);
    }
    if (sh->pid_dir[0] == '/') { /* the pid files the children wrote, then the folder */
        DIR *d = opendir(sh->pid_dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", sh->pid_dir, e->d_name);
            unlink(path);
        }
        if (d) closedir(d);
        rmdir(sh->pid_dir);
    }
    for (size_t i = 0; sh->argv && sh->argv[i]; i++) free(sh->argv[i]);
    free(sh->argv), free(sh->cwd), free(sh->targets), free(sh->vals);
    msgpack_sbuffer_destroy(&sh->sb);
    free(sh);
    ctx->state = NULL;
}

/* ---- the bolt ------------------------------------------------------------------------------------------------------------ */

static int bolt_prepare(gale_ctx_t *ctx) { return open_shell(ctx, false); }

static int bolt_execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    shell_t *sh = ctx->state;
    maybe_restart(sh, gale_now_ns()); /* a dead child's reader wakes no one: the next input brings it back */
    if (!sh->child) return ctx->host->fail(ctx, in); /* down until its backoff has passed: the tuple replays */
    const gale_tuple_t *kept = ctx->host->keep(ctx, in);
    int created;
    const gale_tuple_t **slot = kept ? gale_u64map_put(&sh->pending, ++sh->next_id, &created) : NULL;
    if (!slot) return kept ? ctx->host->fail(ctx, kept) : GALE_ENOMEM;
    *slot = kept;
    char id[24];
    id_string(id, sizeof id, 0, sh->next_id);
    begin(sh);
    pk_tuple(sh, id, ctx->host->tuple_component(kept), ctx->host->tuple_stream(kept), ctx->host->tuple_task(kept));
    pk_raw(sh, kept->data->raw, kept->data->raw_len);
    send_msg(sh);
    gale__task_want_service(sh->t); /* written to the child at the end of the loop turn, with the others */
    return 0;
}

static void bolt_timers(shell_t *sh, uint64_t now)
{
    char id[24];
    if (!sh->hb_owed && now >= sh->next_hb_ns) {
        id_string(id, sizeof id, 'h', ++sh->next_id);
        begin(sh);
        pk_tuple(sh, id, NULL, "__heartbeat", -1);
        msgpack_pack_array(&sh->pk, 0);
        if (!send_msg(sh)) {
            sh->hb_owed = true;
            gale_child_expect(sh->child, true);
        }
        sh->next_hb_ns = now + HEARTBEAT_EVERY_NS;
    }
    if (now >= sh->next_tick_ns) {
        id_string(id, sizeof id, 't', ++sh->next_id);
        begin(sh);
        pk_tuple(sh, id, "__system", "__tick", -1);
        msgpack_pack_array(&sh->pk, 1);
        msgpack_pack_double(&sh->pk, sh->tick_s);
        send_msg(sh);
        sh->next_tick_ns += (uint64_t)(sh->tick_s * 1e9);
        if (sh->next_tick_ns < now) sh->next_tick_ns = now + (uint64_t)(sh->tick_s * 1e9);
    }
}

static size_t service(gale_task_t *t)
{
    shell_t *sh = t->base.pub.state;
    size_t work = 0;
    uint64_t now = gale_now_ns();
    maybe_restart(sh, now);
    if (!sh->child) return 0;
    if (!sh->spout) {
        bolt_timers(sh, now);
        flush(sh);
        if (sh->child && drain(sh, gale_child_take(sh->child), &work)) {
            sh->hb_owed = false;
            sh->backoff_ms = BACKOFF_MIN_MS; /* it answers: its next death starts the backoff afresh */
            gale_child_expect(sh->child, false);
        }
        flush(sh); /* the task ids its emits asked for */
    }
    if (check_death(sh)) work++;
    return work;
}

/* Called when the topology ends: the child settles what it holds, with heartbeats going on, for as long as it
   makes progress (a message at least every heartbeat timeout). */
static int bolt_finish(gale_ctx_t *ctx)
{
    shell_t *sh = ctx->state;
    uint64_t patience = (uint64_t)(sh->hb_timeout_s * 1e9), deadline = gale_now_ns() + patience;
    while (sh->child && sh->pending.count && gale_now_ns() < deadline) {
        if (service(sh->t)) deadline = gale_now_ns() + patience;
        if (!sh->child || !sh->pending.count) break;
        size_t work = 0;
        drain(sh, gale_child_wait(sh->child, 50000000u), &work);
        if (work) deadline = gale_now_ns() + patience;
    }
    return 0;
}

static void bolt_cleanup(gale_ctx_t *ctx) { close_shell(ctx); }

/* ---- the spout ------------------------------------------------------------------------------------------------------------ */

/* Sends a command and takes what comes until the child's sync; the heartbeat timeout bounds the wait. */
static void spout_command(shell_t *sh, const char *command, const stored_id_t *id)
{
    if (!sh->child) return;
    begin(sh);
    pk_command(sh, command, id);
    if (send_msg(sh)) return (void)check_death(sh);
    flush(sh);
    if (!sh->child) return;
    gale_child_expect(sh->child, true);
    bool synced = false;
    while (!synced && sh->child && !check_death(sh)) {
        synced = drain(sh, gale_child_wait(sh->child, 100000000u), NULL);
        flush(sh); /* task ids for its emits */
    }
    if (sh->child) gale_child_expect(sh->child, false);
}

static int spout_open(gale_ctx_t *ctx) { return open_shell(ctx, true); }

static int spout_next(gale_ctx_t *ctx)
{
    shell_t *sh = ctx->state;
    maybe_restart(sh, gale_now_ns());
    spout_command(sh, "next", NULL);
    return 0;
}

static void spout_settle(gale_ctx_t *ctx, uint64_t msg_id, const char *command)
{
    shell_t *sh = ctx->state;
    stored_id_t *sid = gale_u64map_get(&sh->pending, msg_id);
    if (!sid) return; /* emitted by a child that has died since: the new one never heard of it */
    stored_id_t id = *sid;
    gale_u64map_del(&sh->pending, msg_id);
    spout_command(sh, command, &id);
    free(id.mp);
}

static void spout_ack(gale_ctx_t *ctx, uint64_t msg_id) { spout_settle(ctx, msg_id, "ack"); }
static void spout_fail(gale_ctx_t *ctx, uint64_t msg_id) { spout_settle(ctx, msg_id, "fail"); }
static void spout_activate(gale_ctx_t *ctx) { spout_command(ctx->state, "activate", NULL); }
static void spout_deactivate(gale_ctx_t *ctx) { spout_command(ctx->state, "deactivate", NULL); }
static void spout_close(gale_ctx_t *ctx) { close_shell(ctx); }

/* ---- the descriptors ------------------------------------------------------------------------------------------------------- */

static const gale_setting_decl_t SETTINGS[] = {
    {"command", GALE_SETTING_LIST, "the program and its arguments: [ \"python3\", \"split.py\" ]"},
    {"cwd", GALE_SETTING_STRING, "its working folder, relative to the topology file's (default: that folder)"},
    {"fields", GALE_SETTING_LIST, "the fields of the default stream"},
    {"streams", GALE_SETTING_GROUP, "other streams: { name = [ \"field\", ... ]; ... }"},
    {"direct_streams", GALE_SETTING_LIST, "streams emitted with a task only, for the direct grouping: [ \"default\" ]"},
    {"serializer", GALE_SETTING_STRING, "\"json\" (Storm's, default) or \"msgpack\" (length-prefixed maps)"},
    {"heartbeat_timeout_s", GALE_SETTING_DOUBLE, "a child that owes an answer this long is restarted (default 30)"},
    {"tick_s", GALE_SETTING_DOUBLE, "bolts: a tick tuple every this many seconds (default 0: none)"},
    {"max_message_bytes", GALE_SETTING_INT, "the longest message the child may write (default 16 MiB)"},
    {"conf", GALE_SETTING_GROUP, "entries added to the conf the child gets in the handshake"},
    {NULL, 0, NULL},
};

static const gale_plugin_t shell_bolt = {
    .abi_major = GALE_ABI_MAJOR, .abi_minor = GALE_ABI_MINOR, .size = sizeof(gale_plugin_t), .kind = GALE_BOLT,
    .name = "shell", .description = "a bolt run by a child process over Storm's multilang protocol",
    .declare = declare, .settings = SETTINGS,
    .bolt = {.prepare = bolt_prepare, .execute = bolt_execute, .finish = bolt_finish, .cleanup = bolt_cleanup},
};

static const gale_plugin_t shell_spout = {
    .abi_major = GALE_ABI_MAJOR, .abi_minor = GALE_ABI_MINOR, .size = sizeof(gale_plugin_t), .kind = GALE_SPOUT,
    .name = "shell", .description = "a spout run by a child process over Storm's multilang protocol",
    .declare = declare, .settings = SETTINGS,
    .spout = {.open = spout_open, .next_tuple = spout_next, .ack = spout_ack, .fail = spout_fail,
              .activate = spout_activate, .deactivate = spout_deactivate, .close = spout_close},
};

static const gale_plugin_builtin_t shell_plugin = {.name = "shell", .spout = &shell_spout, .bolt = &shell_bolt};

int gale_shell_register(void) { return gale_plugin_register_builtin(&shell_plugin); }
