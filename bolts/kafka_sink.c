/*
 * kafka_sink: produces each input tuple as one record of a Kafka topic, on librdkafka (Storm's KafkaBolt, Flink's
 * Kafka sink with at-least-once delivery).
 *
 *   brokers          (string, required)  bootstrap servers, "host:port,host:port"
 *   topic            (string, required)  the topic to write
 *   key              (string)            the input field that is the record's key (none: no key)
 *   value            (string)            the input field that is the record's value (none: the whole tuple as a
 *                                        JSON object keyed by field name)
 *   idempotent       (true)              librdkafka's idempotent producer: a record retried after a lost
 *                                        answer is written once, in order
 *   open_timeout_ms  (10000)             how long prepare waits for the brokers to answer
 *   retry            (false)             brokers unreachable at prepare: go on, librdkafka retrying, rather than
 *                                        fail
 *   properties       (list)              librdkafka properties, passed through, as "name=value" strings
 *                                        ("message.timeout.ms=30000", "linger.ms=5", "compression.type=lz4")
 *
 * A string or bytes field is written as its bytes; a number, bool or container as its JSON text.
 *
 * Delivery: each input is kept (gale_keep) until Kafka answers for its record, then acked, or failed when the
 * record could not be delivered (message.timeout.ms passed, or the broker refused it), so that its tree replays or
 * is journaled. At least once end to end: a record acked by Kafka whose answer was lost is written again when its
 * tree replays; idempotence covers librdkafka's own retries, not a replay of the tree.
 *
 * Threads: librdkafka sends on threads of its own; its delivery reports wait on its main queue, whose callback
 * wakes the task, and the task takes them on its own thread (service: rd_kafka_poll without waiting). When
 * librdkafka's queue of unsent records is full (queue.buffering.max.messages), execute waits for deliveries, up
 * to a second, before it fails the input: that is the backpressure. finish waits for every record (up to
 * message.timeout.ms and 5 s, then fails what is left), so that the run ends with every input settled.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gale.h"
#include "../spouts/kafka_common.h"

typedef struct {
    char *p;
    size_t cap;
} jbuf_t;

typedef struct state {
    gale_ctx_t *ctx;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    rd_kafka_topic_t *topic;
    const char *brokers, *topic_name, *key_field, *value_field;
    jbuf_t key_json, value_json; /* JSON texts of a key and a value, reused */
    uint64_t failures_said;
    bool closing; /* cleanup: reports of purged records settle nothing */
} state_t;

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    state_t *s = opaque;
    /* A fatal error (the idempotent producer's) ends the producer: every record after it fails. Always said. */
    if (rd_kafka_fatal_error(rk, NULL, 0))
        gale_error(s->ctx, "kafka: fatal: %s: every input from now on fails", reason);
    else if (s->failures_said++ < 20)
        gale_warn(s->ctx, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Kafka answered for one record: its input is settled. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    state_t *s = opaque;
    const gale_tuple_t *in = m->_private;
    if (s->closing) return;
    if (!m->err) {
        gale_ack(s->ctx, in);
        return;
    }
    if (s->failures_said++ < 20)
        gale_warn(s->ctx, "a record to %s was not delivered (its input fails): %s", s->topic_name,
                  rd_kafka_err2str(m->err));
    gale_fail(s->ctx, in);
}

static int build_conf(gale_ctx_t *ctx, state_t *s, rd_kafka_conf_t *c)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    char text[512];
    snprintf(text, sizeof text, "gale-%s-%s-%u", info.topology, info.component, info.task_index);
    int rc = kafka_conf_set(ctx, c, "bootstrap.servers", s->brokers, "settings.brokers: ");
    if (!rc) rc = kafka_conf_set(ctx, c, "client.id", text, "");
    if (!rc)
        rc = kafka_conf_set(ctx, c, "enable.idempotence", gale_setting_bool(ctx, "idempotent", true) ? "true" : "false",
                            "");
    if (!rc) rc = kafka_conf_set(ctx, c, "log.queue", "true", "");
    if (rc) return rc;
    if ((rc = kafka_conf_properties(ctx, c))) return rc;
    rd_kafka_conf_set_opaque(c, s);
    rd_kafka_conf_set_log_cb(c, kafka_on_log);
    rd_kafka_conf_set_error_cb(c, on_error);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    return 0;
}

static void free_state(state_t *s)
{
    if (s->topic) rd_kafka_topic_destroy(s->topic);
    if (s->rk) {
        if (s->q) {
            rd_kafka_queue_cb_event_enable(s->q, NULL, NULL);
            rd_kafka_queue_destroy(s->q);
        }
        rd_kafka_destroy(s->rk);
    }
    free(s->key_json.p), free(s->value_json.p);
    free(s);
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    s->brokers = gale_setting_str(ctx, "brokers", NULL);
    s->topic_name = gale_setting_str(ctx, "topic", NULL);
    s->key_field = gale_setting_str(ctx, "key", NULL);
    s->value_field = gale_setting_str(ctx, "value", NULL);
    int64_t open_ms = gale_setting_int(ctx, "open_timeout_ms", 10000);
    int rc = 0;
    if (!s->brokers || !*s->brokers) {
        gale_error(ctx, "settings.brokers: required (\"host:port,...\")");
        rc = GALE_EINVAL;
    } else if (!s->topic_name || !*s->topic_name) {
        gale_error(ctx, "settings.topic: required (the topic to write)");
        rc = GALE_EINVAL;
    } else if (open_ms < 1) {
        gale_error(ctx, "settings.open_timeout_ms: must be positive");
        rc = GALE_EINVAL;
    }
    rd_kafka_conf_t *c = rc ? NULL : rd_kafka_conf_new();
    if (c) rc = build_conf(ctx, s, c);
    char err[512];
    if (c && !rc && !(s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err))) {
        gale_error(ctx, "cannot create a Kafka producer: %s", err);
        rc = GALE_EINVAL;
    }
    if (c && !s->rk) rd_kafka_conf_destroy(c); /* rd_kafka_new owns it only when it succeeds */
    if (!rc) {
        /* The log, errors and delivery reports all come to the main queue, taken on the task's thread. */
        rd_kafka_set_log_queue(s->rk, NULL);
        s->q = rd_kafka_queue_get_main(s->rk);
        rd_kafka_queue_cb_event_enable(s->q, kafka_on_queue, ctx);
        s->topic = rd_kafka_topic_new(s->rk, s->topic_name, NULL);
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t e =
            s->topic ? rd_kafka_metadata(s->rk, 0, s->topic, &md, (int)open_ms) : rd_kafka_last_error();
        if (md) rd_kafka_metadata_destroy(md);
        if (e && gale_setting_bool(ctx, "retry", false)) {
            gale_warn(ctx, "going on (settings.retry): librdkafka retries the brokers %s: %s", s->brokers,
                      rd_kafka_err2str(e));
        } else if (e) {
            gale_error(ctx, "cannot reach the brokers %s in %lld ms (settings.brokers): %s", s->brokers,
                       (long long)open_ms, rd_kafka_err2str(e));
            rc = GALE_EIO;
        }
    }
    if (rc) {
        free_state(s);
        return rc;
    }
    ctx->state = s;
    /* The callback fires when the queue goes from empty to not: what came before it was enabled (librdkafka's
       first log lines) would hold it off for good. A first service empties the queue. */
    gale_wake(ctx);
    return 0;
}

/* A field as the bytes to write: a string's or bytes' own, anything else's JSON text (in `j`, grown as needed). */
static int field_bytes(gale_ctx_t *ctx, jbuf_t *j, const gale_value_t *v, const void **p, size_t *n)
{
    if (v->type == GALE_STR || v->type == GALE_BYTES) {
        *p = v->s.ptr, *n = v->s.len;
        return 0;
    }
    size_t need = gale_to_json(ctx, v, j->p, j->cap);
    if (need >= j->cap) {
        char *grown = realloc(j->p, need + 1);
        if (!grown) return GALE_ENOMEM;
        j->p = grown, j->cap = need + 1;
        gale_to_json(ctx, v, j->p, j->cap);
    }
    *p = j->p, *n = need;
    return 0;
}

/* The whole tuple as a JSON object keyed by field name, in s->value_json. */
static int tuple_json(state_t *s, const gale_tuple_t *in, const void **p, size_t *n)
{
    const char *const *fields;
    size_t nf;
    gale_tuple_fields(s->ctx, in, &fields, &nf);
    gale_value_t kv[2 * 32];
    if (nf > 32) nf = 32; /* a wider tuple: name the fields to write with `value` */
    for (size_t i = 0; i < nf; i++) {
        kv[2 * i] = gale_str(fields[i]);
        if (gale_get(s->ctx, in, i, &kv[2 * i + 1])) kv[2 * i + 1] = gale_nil();
    }
    gale_value_t map = gale_map(kv, (uint32_t)nf);
    return field_bytes(s->ctx, &s->value_json, &map, p, n);
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *input)
{
    state_t *s = ctx->state;
    gale_value_t kv, vv;
    const void *key = NULL, *val = NULL;
    size_t klen = 0, vlen = 0;
    int rc = 0;
    if (s->key_field && gale_field(ctx, input, s->key_field, &kv) == 0 && kv.type != GALE_NIL) {
        rc = field_bytes(ctx, &s->key_json, &kv, &key, &klen);
    }
    if (!rc && s->value_field) {
        if (gale_field(ctx, input, s->value_field, &vv)) {
            gale_warn(ctx, "an input has no field '%s' (settings.value): failed", s->value_field);
            gale_fail(ctx, input);
            return 0;
        }
        if (vv.type != GALE_NIL) rc = field_bytes(ctx, &s->value_json, &vv, &val, &vlen);
    } else if (!rc) {
        rc = tuple_json(s, input, &val, &vlen);
    }
    const gale_tuple_t *kept = rc ? NULL : gale_keep(ctx, input);
    if (!kept) { /* not a basic bolt: an error returned would not fail the input */
        gale_fail(ctx, input);
        return rc ? rc : GALE_ENOMEM;
    }
    /* librdkafka copies key and value (F_COPY) and hands `kept` back in the delivery report. */
    uint64_t until = 0;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(s->topic), RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)kept), RD_KAFKA_V_END);
        if (!e) return 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (!until) until = now + 1000000000u;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || now >= until) {
            if (s->failures_said++ < 20) gale_warn(ctx, "cannot produce to %s: %s", s->topic_name, rd_kafka_err2str(e));
            gale_fail(ctx, kept);
            return 0;
        }
        rd_kafka_poll(s->rk, 10); /* full: deliveries make room (and settle their inputs) */
    }
}

/* Delivery reports came: settle their inputs. Until the queue is empty, or its callback would not fire again. */
static int service(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    int n, all = 0;
    while ((n = rd_kafka_poll(s->rk, 0)) > 0) all += n;
    return all;
}

/* Every record delivered or given up before the run ends: librdkafka gives up a record after
   message.timeout.ms; what is left after that and a margin is purged, so that its input fails. */
static int finish(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    char text[32];
    size_t n = sizeof text;
    long timeout_ms = 300000;
    if (rd_kafka_conf_get(rd_kafka_conf(s->rk), "message.timeout.ms", text, &n) == RD_KAFKA_CONF_OK)
        timeout_ms = atol(text);
    rd_kafka_resp_err_t e = rd_kafka_flush(s->rk, (int)(timeout_ms + 5000));
    if (e) {
        gale_warn(ctx, "records to %s still unsent after %ld ms: failed", s->topic_name, timeout_ms + 5000);
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    rd_kafka_poll(s->rk, 0);
    return 0;
}

static void cleanup(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s) return;
    /* Reports now would settle inputs no longer ours to settle: purge what is left, then let it go. */
    s->closing = true;
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    free_state(s);
}

static const gale_setting_decl_t settings[] = {
    {"brokers", GALE_SETTING_STRING, "bootstrap servers, \"host:port,...\" (required)"},
    {"topic", GALE_SETTING_STRING, "the topic to write (required)"},
    {"key", GALE_SETTING_STRING, "the field that is the record's key (none: no key)"},
    {"value", GALE_SETTING_STRING, "the field that is the record's value (none: the tuple as a JSON object)"},
    {"idempotent", GALE_SETTING_BOOL, "librdkafka's idempotent producer (true)"},
    {"open_timeout_ms", GALE_SETTING_INT, "how long prepare waits for the brokers (10000)"},
    {"retry", GALE_SETTING_BOOL, "brokers unreachable at prepare: go on, librdkafka retrying (default false: fail)"},
    {"properties", GALE_SETTING_LIST, "librdkafka properties, passed through: [\"name=value\", ...]"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "kafka_sink", .description = "each input as a record of a Kafka topic",
            .settings = settings,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup},
            .process_init = kafka_pin_library, .service = service);
