/*
 * redis_sink: writes each tuple to Redis, on hiredis, and acks it when Redis has answered.
 *
 *   host, port       ("127.0.0.1", 6379)  the server
 *   stream           (string)             XADD each tuple to this stream: one entry, the tuple's fields and values
 *   maxlen           (int)                with `stream`: XADD MAXLEN ~ this, so that the stream stays bounded
 *   command          (list of strings)    instead of `stream`: a command template, one string an argument, in which
 *                                         "{name}" stands for the tuple's field `name` as text: for instance
 *                                         [ "HINCRBY", "counts", "{word}", "{count}" ] or [ "SET", "last:{id}",
 *                                         "{value}" ]. A field that is not in the tuple fails it
 *   max_in_flight    (10000)              commands sent and not answered; past it, execute waits for answers (up to
 *                                         a second, then fails the input)
 *   finish_timeout_ms (10000)             at the end of the run, how long the answers are waited for
 *   open_timeout_ms  (5000)               how long prepare waits for the server
 *   retry            (false)              a server unreachable at prepare: go on and connect in the background
 *
 * Values as text: strings and bytes as they are, integers in decimal, doubles in %.17g, true/false, nil as "",
 * anything else (a list, a map) as JSON.
 *
 * Delivery. The input is kept until Redis answers its command: acked on an answer, failed on an error answer (the
 * error is logged) or when the connection drops before the answer came (Redis may or may not have applied it: the
 * spout's replay makes it at least once). While the connection is down, commands wait (up to max_in_flight) and go
 * out when it is made again (backoff 100 ms to 5 s, logged).
 *
 * Threads. A thread of the task's own runs hiredis on a libuv loop. The task formats each command (hiredis's
 * RESP encoding) and hands it over under a lock; the thread pipelines what it was handed and hands the answers
 * back, waking the task, whose `service` acks and fails the inputs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../spouts/redis_common.h"
#include "gale.h"

#define MAX_ARGS 64
#define FULL_WAIT_MS 1000

typedef struct item {
    struct item *next;
    struct state *s;
    const gale_tuple_t *input; /* kept */
    char *cmd;                 /* RESP, hiredis's */
    int len;
    bool ok;
    char why[200];
} item_t;

typedef struct list {
    item_t *head, *tail;
} list_t;

typedef struct state {
    gale_ctx_t *ctx;
    redis_link_t link;
    thread_notes_t notes;
    /* The template: argument i is the text args[i] with each "{name}" replaced. */
    char **args;
    int n_args;
    bool xadd; /* `stream`: the fields follow args */
    int64_t max_in_flight, finish_timeout_ms;
    /* Shared, under `mu`. */
    pthread_mutex_t mu;
    list_t to_send, answered;
    /* The thread's: handed over while the connection was down. */
    list_t waiting;
    /* The task's. */
    int64_t in_flight;
    char *scratch;
    size_t scratch_cap;
    gale_metric_t *errors_m;
    uint64_t errors;
} state_t;

static void list_add(list_t *l, item_t *it)
{
    it->next = NULL;
    if (l->tail) l->tail->next = it;
    else l->head = it;
    l->tail = it;
}

static void list_cat(list_t *l, list_t *more)
{
    if (!more->head) return;
    if (l->tail) l->tail->next = more->head;
    else l->head = more->head;
    l->tail = more->tail;
    *more = (list_t){0};
}

/* ---- on the thread -------------------------------------------------------------------------------------------- */

static void answer(state_t *s, item_t *it)
{
    free(it->cmd);
    it->cmd = NULL;
    pthread_mutex_lock(&s->mu);
    list_add(&s->answered, it);
    pthread_mutex_unlock(&s->mu);
    gale_wake(s->ctx);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    item_t *it = privdata;
    redisReply *r = reply;
    it->ok = r && r->type != REDIS_REPLY_ERROR;
    if (!it->ok) snprintf(it->why, sizeof it->why, "%s", redis_reply_why(ac, r));
    answer(it->s, it);
}

static void send_waiting(state_t *s)
{
    while (s->link.up && s->waiting.head) {
        item_t *it = s->waiting.head;
        s->waiting.head = it->next;
        if (!s->waiting.head) s->waiting.tail = NULL;
        if (redisAsyncFormattedCommand(s->link.conn[0], on_reply, it, it->cmd, (size_t)it->len) != REDIS_OK) {
            it->ok = false;
            snprintf(it->why, sizeof it->why, "cannot send: %s", s->link.conn[0]->errstr);
            answer(s, it);
        } else {
            free(it->cmd); /* hiredis copied it into its buffer */
            it->cmd = NULL;
        }
    }
}

static void link_kick(redis_link_t *l)
{
    state_t *s = l->owner;
    pthread_mutex_lock(&s->mu);
    list_cat(&s->waiting, &s->to_send);
    pthread_mutex_unlock(&s->mu);
    send_waiting(s);
}

static void link_up(redis_link_t *l) { link_kick(l); }

static const redis_link_ops_t link_ops = {.up = link_up, .kick = link_kick};

/* ---- on the task ---------------------------------------------------------------------------------------------- */

/* `v` as an argument's text, appended to the scratch at *at. */
static int put_text(gale_ctx_t *ctx, state_t *s, size_t *at, const gale_value_t *v)
{
    char num[64];
    const char *p = num;
    size_t n;
    switch (v->type) {
    case GALE_STR:
    case GALE_BYTES: p = v->s.ptr, n = v->s.len; break;
    case GALE_INT: n = (size_t)snprintf(num, sizeof num, "%" PRId64, v->i); break;
    case GALE_UINT: n = (size_t)snprintf(num, sizeof num, "%" PRIu64, v->u); break;
    case GALE_DOUBLE: n = (size_t)snprintf(num, sizeof num, "%.17g", v->d); break;
    case GALE_BOOL: p = v->b ? "true" : "false", n = strlen(p); break;
    case GALE_NIL: p = "", n = 0; break;
    default: n = SIZE_MAX; break; /* JSON, below */
    }
    size_t need = n == SIZE_MAX ? gale_to_json(ctx, v, NULL, 0) + 1 : n;
    if (*at + need + 1 > s->scratch_cap) {
        size_t cap = s->scratch_cap ? s->scratch_cap : 4096;
        while (cap < *at + need + 1) cap *= 2;
        char *q = realloc(s->scratch, cap);
        if (!q) return GALE_ENOMEM;
        s->scratch = q, s->scratch_cap = cap;
    }
    if (n == SIZE_MAX) n = gale_to_json(ctx, v, s->scratch + *at, need);
    else memcpy(s->scratch + *at, p, n);
    *at += n;
    return 0;
}

/* Argument `tmpl` with its "{name}"s replaced, appended to the scratch; GALE_ENOENT (logged) for a field the tuple
   lacks. */
static int put_arg(gale_ctx_t *ctx, state_t *s, size_t *at, const char *tmpl, const gale_tuple_t *in)
{
    for (const char *p = tmpl; *p;) {
        const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
        size_t lit = open && close ? (size_t)(open - p) : strlen(p);
        gale_value_t lit_v = gale_strn(p, lit);
        int rc = put_text(ctx, s, at, &lit_v);
        if (rc || !(open && close)) return rc;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 1), open + 1);
        gale_value_t v;
        if (gale_field(ctx, in, name, &v)) {
            gale_warn(ctx, "command argument \"%s\": the tuple (stream %s of %s) has no field '%s'", tmpl,
                      gale_tuple_stream(ctx, in), gale_tuple_component(ctx, in), name);
            return GALE_ENOENT;
        }
        if ((rc = put_text(ctx, s, at, &v))) return rc;
        p = close + 1;
    }
    return 0;
}

/* The input's command, RESP-encoded (the caller frees *cmd); its length, or an error. */
static int format_command(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in, char **cmd)
{
    size_t ends[MAX_ARGS * 2 + 8], at = 0;
    int argc = 0, rc;
    for (int i = 0; i < s->n_args; i++) {
        if ((rc = put_arg(ctx, s, &at, s->args[i], in))) return rc;
        ends[argc++] = at;
    }
    if (s->xadd) { /* every field and its value */
        const char *const *fields;
        size_t n;
        gale_tuple_fields(ctx, in, &fields, &n);
        if (n > MAX_ARGS) n = MAX_ARGS;
        for (size_t i = 0; i < n; i++) {
            gale_value_t name = gale_str(fields[i]), v;
            if ((rc = put_text(ctx, s, &at, &name))) return rc;
            ends[argc++] = at;
            if (gale_get(ctx, in, i, &v)) v = gale_nil();
            if ((rc = put_text(ctx, s, &at, &v))) return rc;
            ends[argc++] = at;
        }
    }
    const char *argv[MAX_ARGS * 2 + 8];
    size_t lens[MAX_ARGS * 2 + 8];
    for (int i = 0; i < argc; i++) {
        size_t start = i ? ends[i - 1] : 0;
        argv[i] = s->scratch + start; /* the scratch no longer moves */
        lens[i] = ends[i] - start;
    }
    int len = redisFormatCommandArgv(cmd, argc, argv, lens);
    return len < 0 ? GALE_ENOMEM : len;
}

static int service(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    thread_notes_say(ctx, &s->notes);
    pthread_mutex_lock(&s->mu);
    list_t done = s->answered;
    s->answered = (list_t){0};
    pthread_mutex_unlock(&s->mu);
    int n = 0;
    for (item_t *it = done.head, *next; it; it = next, n++) {
        next = it->next;
        if (it->ok) {
            gale_ack(ctx, it->input);
        } else {
            gale_counter_add(ctx, s->errors_m, 1);
            if (s->errors++ % 1000 == 0)
                gale_warn(ctx, "Redis did not take a tuple: %s (failed; %" PRIu64 " so far)", it->why, s->errors);
            gale_fail(ctx, it->input);
        }
        s->in_flight--;
        free(it->cmd);
        free(it);
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *input)
{
    state_t *s = ctx->state;
    if (s->in_flight >= s->max_in_flight) { /* Redis is behind: wait for answers a while, then give up */
        uint64_t until = redis_now_ms() + FULL_WAIT_MS;
        while (s->in_flight >= s->max_in_flight && redis_now_ms() < until) {
            if (!service(ctx)) sleep_ms(1);
        }
        if (s->in_flight >= s->max_in_flight) {
            gale_counter_add(ctx, s->errors_m, 1);
            if (s->errors++ % 1000 == 0)
                gale_warn(ctx, "%" PRId64 " commands unanswered for a second: failing the input", s->in_flight);
            return gale_fail(ctx, input);
        }
    }
    item_t *it = calloc(1, sizeof *it);
    if (!it) return gale_fail(ctx, input), GALE_ENOMEM;
    int len = format_command(ctx, s, input, &it->cmd);
    if (len < 0) {
        free(it);
        gale_fail(ctx, input);
        return len == GALE_ENOENT ? 0 : len; /* a missing field was logged: the input fails, the task goes on */
    }
    if (!(it->input = gale_keep(ctx, input))) {
        free(it->cmd);
        free(it);
        gale_fail(ctx, input);
        return GALE_ENOMEM;
    }
    it->s = s;
    it->len = len;
    s->in_flight++;
    pthread_mutex_lock(&s->mu);
    list_add(&s->to_send, it);
    pthread_mutex_unlock(&s->mu);
    redis_link_kick(&s->link);
    return 0;
}

static void free_state(state_t *s)
{
    for (int i = 0; i < s->n_args; i++) free(s->args[i]);
    free(s->args);
    free(s->scratch);
    pthread_mutex_destroy(&s->mu);
    thread_notes_destroy(&s->notes);
    free(s);
}

/* Every item still held, as unanswered. */
static void drop_all(state_t *s)
{
    list_t all = {0};
    pthread_mutex_lock(&s->mu);
    list_cat(&all, &s->to_send);
    list_cat(&all, &s->waiting);
    for (item_t *it = all.head; it; it = it->next) {
        it->ok = false;
        snprintf(it->why, sizeof it->why, "no answer before the end of the run");
    }
    list_cat(&s->answered, &all);
    pthread_mutex_unlock(&s->mu);
}

static int finish(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    uint64_t until = redis_now_ms() + (uint64_t)s->finish_timeout_ms;
    while (s->in_flight > 0 && redis_now_ms() < until) {
        if (!service(ctx)) sleep_ms(1);
    }
    redis_link_stop(&s->link); /* what is still out is answered with no reply: failed below */
    drop_all(s);
    service(ctx);
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s) return;
    redis_link_stop(&s->link); /* finish did, unless the run ended early */
    drop_all(s);
    for (item_t *it = s->answered.head, *next; it; it = next) { /* too late to ack: their trees time out */
        next = it->next;
        free(it->cmd);
        free(it);
    }
    thread_notes_say(ctx, &s->notes);
    free_state(s);
    ctx->state = NULL;
}

static int add_arg(state_t *s, const char *text)
{
    if (s->n_args >= MAX_ARGS) return GALE_EINVAL;
    char **a = realloc(s->args, (size_t)(s->n_args + 1) * sizeof *a);
    if (!a) return GALE_ENOMEM;
    s->args = a;
    if (!(a[s->n_args] = strdup(text))) return GALE_ENOMEM;
    s->n_args++;
    return 0;
}

static int read_template(gale_ctx_t *ctx, state_t *s)
{
    const char *stream = gale_setting_str(ctx, "stream", NULL);
    gale_value_t cmd;
    bool has_cmd = !gale_setting(ctx, "command", &cmd);
    if (!stream == !has_cmd) {
        gale_error(ctx, "give settings.stream (XADD each tuple) or settings.command (a template), one of them");
        return GALE_EINVAL;
    }
    int rc;
    if (stream) {
        s->xadd = true;
        int64_t maxlen = gale_setting_int(ctx, "maxlen", 0);
        char n[24];
        snprintf(n, sizeof n, "%" PRId64, maxlen);
        if ((rc = add_arg(s, "XADD")) || (rc = add_arg(s, stream))) return rc;
        if (maxlen > 0 && ((rc = add_arg(s, "MAXLEN")) || (rc = add_arg(s, "~")) || (rc = add_arg(s, n)))) return rc;
        return add_arg(s, "*");
    }
    if (cmd.type != GALE_ARRAY || !cmd.n || cmd.n > MAX_ARGS) {
        gale_error(ctx,
                   "settings.command must be a list of 1 to %d strings: [ \"HINCRBY\", \"counts\", \"{word}\", "
                   "\"{count}\" ]",
                   MAX_ARGS);
        return GALE_EINVAL;
    }
    for (uint32_t i = 0; i < cmd.n; i++) {
        gale_value_t v;
        if (gale_item(ctx, &cmd, i, &v) || v.type != GALE_STR) {
            gale_error(ctx, "settings.command[%u] must be a string", i);
            return GALE_EINVAL;
        }
        if ((rc = add_arg(s, v.s.ptr))) return rc;
    }
    return 0;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    thread_notes_init(&s->notes, ctx);
    s->max_in_flight = gale_setting_int(ctx, "max_in_flight", 10000);
    s->finish_timeout_ms = gale_setting_int(ctx, "finish_timeout_ms", 10000);
    int rc = redis_read_address(ctx, &s->link);
    if (!rc) rc = read_template(ctx, s);
    if (!rc && (s->max_in_flight < 1 || s->finish_timeout_ms < 0)) {
        gale_error(ctx, "settings.max_in_flight must be 1 or more, finish_timeout_ms 0 or more");
        rc = GALE_EINVAL;
    }
    bool retry = gale_setting_bool(ctx, "retry", false);
    redisContext *c = rc ? NULL : redis_open_sync(ctx, &s->link, gale_setting_int(ctx, "open_timeout_ms", 5000), retry);
    if (!rc && !c && !retry) rc = GALE_EIO;
    if (c) redisFree(c);
    if (rc) {
        free_state(s);
        return rc;
    }
    s->errors_m = gale_counter(ctx, "redis_errors");
    s->link.owner = s;
    s->link.ops = &link_ops;
    s->link.notes = &s->notes;
    s->link.n_conns = 1;
    ctx->state = s;
    if ((rc = redis_link_start(&s->link))) {
        ctx->state = NULL;
        free_state(s);
    }
    return rc;
}

static const gale_setting_decl_t settings[] = {
    {"host", GALE_SETTING_STRING, "the Redis server (default \"127.0.0.1\")"},
    {"port", GALE_SETTING_INT, "its port (6379)"},
    {"stream", GALE_SETTING_STRING, "XADD each tuple (its fields and values) to this stream"},
    {"maxlen", GALE_SETTING_INT, "with stream: XADD MAXLEN ~ this"},
    {"command", GALE_SETTING_LIST, "instead of stream: a template, [\"HINCRBY\", \"counts\", \"{word}\", \"{count}\"]"},
    {"max_in_flight", GALE_SETTING_INT, "commands unanswered before execute waits (10000)"},
    {"finish_timeout_ms", GALE_SETTING_INT, "how long the end of the run waits for answers (10000)"},
    {"open_timeout_ms", GALE_SETTING_INT, "how long prepare waits for the server (5000)"},
    {"retry", GALE_SETTING_BOOL, "a server unreachable at prepare: go on, connecting in the background (false)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "redis_sink",
            .description = "writes tuples to Redis (XADD or a command template), acking on the answer (hiredis)",
            .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup}, .service = service);
