/*
 * kafka: the records of Kafka topics, on librdkafka (Storm's KafkaSpout, Flink's Kafka source).
 *
 *   brokers             (string, required)  bootstrap servers, "host:port,host:port"
 *   topic               (string or list)    the topic(s) to read
 *   group               (string)            the consumer group: "gale-TOPOLOGY-COMPONENT" when absent
 *   start               ("committed")       where a partition starts when the group has committed no offset for it
 *                                           (and no checkpoint has its position): "committed" or "earliest", its
 *                                           first record; "latest", its next one. Committed offsets always win,
 *                                           as with Kafka's auto.offset.reset: to read a topic again, use a new
 *                                           group
 *   value               ("bytes")           the value field as "bytes", as "string", or "json": parsed into a
 *                                           gale value (objects become maps); a value that is not JSON is
 *                                           rejected: journaled with the parse error (cause "rejected"), counted
 *                                           (records_not_json) and passed over
 *   bounded             (false)             read each partition up to its end at the task's start, then be done
 *   max_record_kb       (1024)              a record whose value is longer is not emitted: rejected (journaled
 *                                           with its size and a nil value, counted in records_too_large)
 *   commit_interval_ms  (1000)              how often the acked offsets are committed
 *   open_timeout_ms     (10000)             how long open waits for the brokers to answer
 *   retry               (false)             brokers unreachable at open: go on and let librdkafka retry (logged),
 *                                           rather than fail the open. Group mode only: the spout's own
 *                                           assignment needs the partitions at open
 *   properties          (list)              librdkafka properties, passed through, as "name=value" strings:
 *                                           properties = [ "fetch.min.bytes=1024" ]; they override what this
 *                                           spout sets
 *
 * Output fields: topic, partition, offset, key (bytes, or nil), value, timestamp (ms since the epoch, or nil).
 *
 * Delivery (Storm's KafkaSpout contract). Each record is emitted with a message id that names its partition and
 * offset, so with acking on its tuple tree is tracked. A partition's offset is committed only past records that are
 * all done: acked, or failed for good. A failed tree is replayed by the runtime (the plugin is GALE_SPOUT_REPLAY),
 * after config.retry_backoff_ms doubling to config.retry_backoff_max_ms, up to config.max_retries times, then
 * journaled like any tree; it then counts as done, so that one bad record does not stop a partition forever. After
 * a crash the records after the committed offsets come again: at least once. Commits go out every
 * commit_interval_ms, before a partition is given up in a rebalance, and at close.
 *
 * Partitions. Without `bounded` and without checkpoints, the spout's tasks are consumers of the group, which spreads
 * the partitions over them and moves them when a task comes or goes (a rebalance, eager or cooperative as the
 * group's assignor says). A task that loses a partition commits what is done of it and forgets it: an ack that comes
 * later for one of its records commits nothing, since the partition is no longer the task's to commit. With
 * `bounded` or with checkpoints (config.checkpoint_interval_ms) the partitions are assigned by the spout itself,
 * the same way at every start: the topics' partitions in order, the i-th to task i % parallelism. With checkpoints,
 * each partition's position (the offset of the next record to read) is in the task's state at every checkpoint, and
 * a task restored from one reads on from there: with stateful bolts, exactly once. Offsets are then committed when
 * a checkpoint completes, its positions (Flink's source does the same), not on acks: they only show the group's
 * progress; the checkpoint decides where a task starts.
 *
 * Threads. librdkafka fetches on threads of its own; when records arrive on a queue that was empty it calls back,
 * and the callback only wakes the task (gale_wake). The task takes the records in batches on its own thread without
 * waiting (rd_kafka_consume_batch_queue with no timeout) and emits one a call, so that max_spout_pending holds;
 * rebalances, errors and librdkafka's log are served there too, so that nothing here is shared between threads.
 * While the topology is behind, the task takes no records, and librdkafka stops fetching once
 * queued.max.messages.kbytes are waiting: that is the backpressure. A consumer that takes nothing for
 * max.poll.interval.ms (5 minutes) leaves its group, as in any Kafka client.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gale.h"
#include "kafka_common.h"

/* A message id: the partition's slot (its number in this task's life) above the offset. */
#define SLOT_SHIFT 48
#define OFFSET_MASK ((UINT64_C(1) << SLOT_SHIFT) - 1)
#define MAX_SLOTS 0xffffu

typedef struct part {
    uint32_t slot; /* not reused while held, nor soon after: an ack for a partition given up finds nothing */
    char *topic;
    int32_t partition;
    /* The offsets emitted and not yet passed by the commit position, in emit order (offset order: a partition's
       records come in order), with whether each is done: a ring. */
    int64_t *offs;
    uint8_t *done;
    size_t head, n, cap;
    int64_t commit_at; /* the offset to commit: every record before it is done; -1: nothing read yet */
    int64_t committed; /* what the last commit sent; -1: none */
    int64_t next;      /* the offset after the last record taken; -1: none yet */
    int64_t end;       /* bounded: the end at the start (the high watermark); -1: unbounded */
    bool at_end;       /* bounded: reached */
} part_t;

typedef struct state {
    gale_ctx_t *ctx;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    const char *brokers, *start;
    char *group;
    char **topics;
    size_t n_topics;
    part_t **parts;
    size_t n_parts, cap_parts;
    uint32_t next_slot;
    part_t *last; /* the part of the last record or ack: most come in runs */
    rd_kafka_message_t **batch;
    size_t batch_at, batch_n, batch_cap;
    enum { VALUE_BYTES, VALUE_STRING, VALUE_JSON } value_as;
    bool bounded, fixed, checkpointed, subscribed, done;
    /* Checkpoints: the positions prepare_commit put into checkpoint `prepared`, committed to the group when it
       completes (Flink's source commits on notifyCheckpointComplete). */
    uint64_t prepared;
    rd_kafka_topic_partition_list_t *prepared_at;
    size_t max_record;
    uint64_t commit_every_ns, last_commit_ns;
    gale_metric_t *too_large_m, *not_json_m, *stale_acks_m;
    uint64_t errors_said;
} state_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- partitions and their commit positions ------------------------------------------------------------------ */

static part_t *part_find(state_t *s, const char *topic, int32_t partition)
{
    if (s->last && s->last->partition == partition && !strcmp(s->last->topic, topic)) return s->last;
    for (size_t i = 0; i < s->n_parts; i++)
        if (s->parts[i]->partition == partition && !strcmp(s->parts[i]->topic, topic)) return s->last = s->parts[i];
    return NULL;
}

static part_t *part_by_slot(state_t *s, uint32_t slot)
{
    if (s->last && s->last->slot == slot) return s->last;
    for (size_t i = 0; i < s->n_parts; i++)
        if (s->parts[i]->slot == slot) return s->last = s->parts[i];
    return NULL;
}

/* A partition the task now reads. NULL when out of memory. */
static part_t *part_add(state_t *s, const char *topic, int32_t partition)
{
    if (s->n_parts == s->cap_parts) {
        size_t cap = s->cap_parts ? s->cap_parts * 2 : 8;
        part_t **p = realloc(s->parts, cap * sizeof *p);
        if (!p) return NULL;
        s->parts = p, s->cap_parts = cap;
    }
    part_t *p = calloc(1, sizeof *p);
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    /* 1 .. 65535, then round again, skipping the slots of partitions still held. An ack of a partition given up
       65535 assignments ago could still land on a new one: tens of thousands of rebalances within one message
       timeout. */
    do s->next_slot = s->next_slot % MAX_SLOTS + 1;
    while (part_by_slot(s, s->next_slot));
    p->slot = s->next_slot;
    p->partition = partition;
    p->commit_at = p->committed = p->next = p->end = -1;
    s->parts[s->n_parts++] = p;
    return p;
}

static void part_free(part_t *p) { free(p->topic), free(p->offs), free(p->done), free(p); }

/* Forgets the partition (given up in a rebalance). */
static void part_remove(state_t *s, part_t *p)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (s->parts[i] == p) {
            s->parts[i] = s->parts[--s->n_parts];
            break;
        }
    if (s->last == p) s->last = NULL;
    part_free(p);
}

/* Record `off` of `p` was emitted: it waits in the ring until it is done. 0 or GALE_ENOMEM. */
static int part_emitted(part_t *p, int64_t off)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        int64_t *o = malloc(cap * sizeof *o);
        uint8_t *d = malloc(cap);
        if (!o || !d) {
            free(o), free(d);
            return GALE_ENOMEM;
        }
        for (size_t i = 0; i < p->n; i++)
            o[i] = p->offs[(p->head + i) % p->cap], d[i] = p->done[(p->head + i) % p->cap];
        free(p->offs), free(p->done);
        p->offs = o, p->done = d, p->head = 0, p->cap = cap;
    }
    size_t at = (p->head + p->n++) % p->cap;
    p->offs[at] = off;
    p->done[at] = 0;
    if (p->commit_at < 0) p->commit_at = p->committed = off; /* the first record: nothing before it to commit */
    return 0;
}

/* Record `off` of `p` is done (acked, or failed for good): the commit position moves past every done record at the
   head of the ring. An offset not in the ring (a replay's second ack) changes nothing. */
static void part_done(part_t *p, int64_t off)
{
    size_t lo = 0, hi = p->n; /* offsets rise along the ring: binary search */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->offs[(p->head + mid) % p->cap] < off) lo = mid + 1;
        else hi = mid;
    }
    if (lo == p->n || p->offs[(p->head + lo) % p->cap] != off) return;
    p->done[(p->head + lo) % p->cap] = 1;
    while (p->n && p->done[p->head]) {
        p->commit_at = p->offs[p->head] + 1;
        p->head = (p->head + 1) % p->cap, p->n--;
    }
    if (p->n) p->commit_at = p->offs[p->head];
}

/* The commit of `l` failed (err, or each entry's own): those positions are to be sent again. */
static void uncommit(state_t *s, const rd_kafka_topic_partition_list_t *l, rd_kafka_resp_err_t err)
{
    for (int i = 0; i < l->cnt; i++) {
        if (!err && !l->elems[i].err) continue;
        part_t *p = part_find(s, l->elems[i].topic, l->elems[i].partition);
        if (p) p->committed = -1;
    }
}

/* Commits every partition whose position moved (all of `only`'s when given: a rebalance gives them up). */
static void commit(state_t *s, bool sync, const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_parts);
    for (size_t i = 0; i < s->n_parts; i++) {
        part_t *p = s->parts[i];
        if (p->commit_at < 0 || p->commit_at == p->committed) continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->commit_at;
        p->committed = p->commit_at;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, sync ? 0 : 1);
        if (err) {
            gale_warn(s->ctx, "cannot commit offsets of %d partitions (the next commit carries them): %s", l->cnt,
                      rd_kafka_err2str(err));
            uncommit(s, l, err);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    s->last_commit_ns = now_ns();
}

/* ---- callbacks, all served on the task's thread (the consumer queue) but the queue's ---------------------------- */

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    state_t *s = opaque;
    /* Brokers that go away are retried by librdkafka; the reason is logged, a few times, then counted. */
    if (s->errors_said++ < 20 || rd_kafka_fatal_error(rk, NULL, 0))
        gale_warn(s->ctx, "kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    state_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    if (err) gale_warn(s->ctx, "a commit of offsets failed (the next one carries them): %s", rd_kafka_err2str(err));
    if (!s->checkpointed) uncommit(s, offsets, err);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l, void *opaque)
{
    state_t *s = opaque;
    bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t plain = 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* Offsets left INVALID: librdkafka starts from the committed offset, else auto.offset.reset (`start`). */
        for (int i = 0; i < l->cnt; i++)
            if (!part_find(s, l->elems[i].topic, l->elems[i].partition) &&
                !part_add(s, l->elems[i].topic, l->elems[i].partition))
                gale_error(s->ctx, "out of memory tracking %s [%d]", l->elems[i].topic, l->elems[i].partition);
        gale_log(s->ctx, GALE_LOG_INFO, "assigned %d partition%s", l->cnt, l->cnt == 1 ? "" : "s");
        if (cooperative) e = rd_kafka_incremental_assign(rk, l);
        else plain = rd_kafka_assign(rk, l);
    } else {
        /* Given up: commit what is done of them (unless the group already took them: that commit would be
           refused), then forget them, and the records of theirs not emitted. */
        if (!rd_kafka_assignment_lost(rk)) commit(s, true, l);
        for (size_t i = s->batch_at; i < s->batch_n; i++) {
            rd_kafka_message_t *m = s->batch[i];
            if (m && (!m->rkt || rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(m->rkt), m->partition))) {
                rd_kafka_message_destroy(m);
                s->batch[i] = NULL;
            }
        }
        for (int i = 0; i < l->cnt; i++) {
            part_t *p = part_find(s, l->elems[i].topic, l->elems[i].partition);
            if (p) part_remove(s, p);
        }
        gale_log(s->ctx, GALE_LOG_INFO, "gave up %d partition%s", l->cnt, l->cnt == 1 ? "" : "s");
        if (cooperative) e = rd_kafka_incremental_unassign(rk, l);
        else plain = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        gale_warn(s->ctx, "cannot apply a rebalance: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (plain) gale_warn(s->ctx, "cannot apply a rebalance: %s", rd_kafka_err2str(plain));
}

/* ---- open --------------------------------------------------------------------------------------------------- */

static void free_state(state_t *s)
{
    /* Records first: rd_kafka_destroy waits for every record of its own to be destroyed. */
    for (size_t i = s->batch_at; i < s->batch_n; i++)
        if (s->batch[i]) rd_kafka_message_destroy(s->batch[i]);
    if (s->rk) {
        if (s->q) {
            rd_kafka_queue_cb_event_enable(s->q, NULL, NULL);
            rd_kafka_queue_destroy(s->q);
        }
        rd_kafka_destroy(s->rk);
    }
    for (size_t i = 0; i < s->n_parts; i++) part_free(s->parts[i]);
    for (size_t i = 0; i < s->n_topics; i++) free(s->topics[i]);
    if (s->prepared_at) rd_kafka_topic_partition_list_destroy(s->prepared_at);
    free(s->topics), free(s->parts), free(s->batch), free(s->group), free(s);
}

/* The `topic` setting: one string, or a list of them. */
static int read_topics(gale_ctx_t *ctx, state_t *s)
{
    gale_value_t v, item;
    if (gale_setting(ctx, "topic", &v)) {
        gale_error(ctx, "settings.topic: required (the topic, or a list of topics, to read)");
        return GALE_EINVAL;
    }
    size_t n = v.type == GALE_ARRAY ? v.n : 1;
    s->topics = calloc(n ? n : 1, sizeof *s->topics);
    if (!s->topics) return GALE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (v.type == GALE_ARRAY && gale_item(ctx, &v, i, &item)) return GALE_EINVAL;
        const gale_value_t *t = v.type == GALE_ARRAY ? &item : &v;
        if (t->type != GALE_STR || !t->s.len) {
            gale_error(ctx, "settings.topic: want a topic name or a list of them");
            return GALE_EINVAL;
        }
        if (!(s->topics[s->n_topics++] = strndup(t->s.ptr, t->s.len))) return GALE_ENOMEM;
    }
    if (!n) {
        gale_error(ctx, "settings.topic: the list is empty");
        return GALE_EINVAL;
    }
    return 0;
}

static int build_conf(gale_ctx_t *ctx, state_t *s, const gale_task_info_t *info, rd_kafka_conf_t *c)
{
    char text[512];
    int rc = kafka_conf_set(ctx, c, "bootstrap.servers", s->brokers, "settings.brokers: ");
    if (!rc) rc = kafka_conf_set(ctx, c, "group.id", s->group, "settings.group: ");
    snprintf(text, sizeof text, "gale-%s-%s-%u", info->topology, info->component, info->task_index);
    if (!rc) rc = kafka_conf_set(ctx, c, "client.id", text, "");
    /* Offsets are committed here, past done records only. */
    if (!rc) rc = kafka_conf_set(ctx, c, "enable.auto.commit", "false", "");
    if (!rc) rc = kafka_conf_set(ctx, c, "enable.auto.offset.store", "false", "");
    if (!rc) rc = kafka_conf_set(ctx, c, "auto.offset.reset", !strcmp(s->start, "latest") ? "latest" : "earliest", "");
    if (!rc && s->bounded) rc = kafka_conf_set(ctx, c, "enable.partition.eof", "true", "");
    /* 16 MiB waiting per task, not librdkafka's 64: a topology that is behind holds less. */
    if (!rc) rc = kafka_conf_set(ctx, c, "queued.max.messages.kbytes", "16384", "");
    /* Its log comes through the consumer queue to the task's thread, and from there to gale's log. */
    if (!rc) rc = kafka_conf_set(ctx, c, "log.queue", "true", "");
    if (rc) return rc;
    if ((rc = kafka_conf_properties(ctx, c))) return rc;
    rd_kafka_conf_set_opaque(c, s);
    rd_kafka_conf_set_log_cb(c, kafka_on_log);
    rd_kafka_conf_set_error_cb(c, on_error);
    rd_kafka_conf_set_offset_commit_cb(c, on_commit);
    if (!s->fixed) rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
    return 0;
}

/* The brokers answer, and name each topic: 0; an error (logged) otherwise. */
static int check_brokers(gale_ctx_t *ctx, state_t *s, int timeout_ms)
{
    for (size_t i = 0; i < s->n_topics; i++) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(s->rk, s->topics[i], NULL);
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t err = t ? rd_kafka_metadata(s->rk, 0, t, &md, timeout_ms) : rd_kafka_last_error();
        if (!err && md && md->topic_cnt == 1 && md->topics[0].err) err = md->topics[0].err;
        if (md) rd_kafka_metadata_destroy(md);
        if (t) rd_kafka_topic_destroy(t);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            gale_error(ctx, "settings.topic: the brokers %s have no topic '%s'", s->brokers, s->topics[i]);
            return GALE_ENOENT;
        }
        if (err) {
            gale_error(ctx, "cannot reach the brokers %s in %d ms (settings.brokers): %s", s->brokers, timeout_ms,
                       rd_kafka_err2str(err));
            return GALE_EIO;
        }
    }
    return 0;
}

/* The spout's own assignment: partition i of the topics' (in order) to task i % parallelism, starting where the
   checkpoint says, else as `start` says; bounded, up to the end each has now. */
static int assign_fixed(gale_ctx_t *ctx, state_t *s, const gale_task_info_t *info, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    uint32_t index = 0;
    int rc = 0;
    for (size_t i = 0; i < s->n_topics && !rc; i++) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(s->rk, s->topics[i], NULL);
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t err = t ? rd_kafka_metadata(s->rk, 0, t, &md, timeout_ms) : rd_kafka_last_error();
        if (!err && md->topic_cnt == 1) {
            for (int p = 0; p < md->topics[0].partition_cnt; p++, index++)
                if (index % info->parallelism == info->task_index)
                    rd_kafka_topic_partition_list_add(l, s->topics[i], md->topics[0].partitions[p].id);
        } else if (!err) err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (err) {
            gale_error(ctx, "cannot read the partitions of '%s': %s", s->topics[i], rd_kafka_err2str(err));
            rc = GALE_EIO;
        }
        if (md) rd_kafka_metadata_destroy(md);
        if (t) rd_kafka_topic_destroy(t);
    }
    /* The group's committed offsets, else `start`; a checkpoint's position wins over both. */
    if (!rc && l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_committed(s->rk, l, timeout_ms);
        if (err) {
            gale_error(ctx, "cannot read the committed offsets of group '%s': %s", s->group, rd_kafka_err2str(err));
            rc = GALE_EIO;
        }
    }
    bool latest = !strcmp(s->start, "latest");
    for (int i = 0; i < l->cnt && !rc; i++) {
        rd_kafka_topic_partition_t *e = &l->elems[i];
        part_t *p = part_add(s, e->topic, e->partition);
        if (!p) {
            rc = GALE_ENOMEM;
            break;
        }
        char key[320];
        snprintf(key, sizeof key, "%s/%d", e->topic, e->partition);
        gale_value_t k = gale_str(key), at;
        if (!gale_state_get(ctx, &k, &at) && at.type == GALE_INT && at.i >= 0) e->offset = at.i;
        /* Where it starts as an offset, so that a checkpoint taken before its first record holds it too. */
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(s->rk, e->topic, e->partition, &lo, &hi, timeout_ms);
        if (err) {
            gale_error(ctx, "cannot read where %s [%d] begins and ends: %s", e->topic, e->partition,
                       rd_kafka_err2str(err));
            rc = GALE_EIO;
            break;
        }
        if (e->offset < 0) e->offset = latest ? hi : lo;
        p->next = e->offset;
        if (s->bounded) {
            p->end = hi;
            p->at_end = e->offset >= hi;
        }
    }
    if (!rc) {
        rd_kafka_resp_err_t err = rd_kafka_assign(s->rk, l);
        if (err) {
            gale_error(ctx, "cannot assign partitions: %s", rd_kafka_err2str(err));
            rc = GALE_EIO;
        } else {
            gale_log(ctx, GALE_LOG_INFO, "reading %d partition%s", l->cnt, l->cnt == 1 ? "" : "s");
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int open_(gale_ctx_t *ctx)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    s->brokers = gale_setting_str(ctx, "brokers", NULL);
    s->start = gale_setting_str(ctx, "start", "committed");
    const char *value = gale_setting_str(ctx, "value", "bytes");
    s->value_as = !strcmp(value, "string") ? VALUE_STRING : !strcmp(value, "json") ? VALUE_JSON : VALUE_BYTES;
    s->bounded = gale_setting_bool(ctx, "bounded", false);
    s->checkpointed = info.checkpoint_interval_ms > 0;
    s->fixed = s->bounded || s->checkpointed;
    int64_t max_kb = gale_setting_int(ctx, "max_record_kb", 1024);
    int64_t commit_ms = gale_setting_int(ctx, "commit_interval_ms", 1000);
    int64_t open_ms = gale_setting_int(ctx, "open_timeout_ms", 10000);
    int rc = 0;
    if (!s->brokers || !*s->brokers) {
        gale_error(ctx, "settings.brokers: required (\"host:port,...\")");
        rc = GALE_EINVAL;
    } else if (strcmp(s->start, "committed") && strcmp(s->start, "earliest") && strcmp(s->start, "latest")) {
        gale_error(ctx, "settings.start: \"committed\", \"earliest\" or \"latest\", not \"%s\"", s->start);
        rc = GALE_EINVAL;
    } else if (strcmp(value, "bytes") && strcmp(value, "string") && strcmp(value, "json")) {
        gale_error(ctx, "settings.value: \"bytes\", \"string\" or \"json\", not \"%s\"", value);
        rc = GALE_EINVAL;
    } else if (max_kb < 1 || commit_ms < 1 || open_ms < 1) {
        gale_error(ctx, "settings: max_record_kb, commit_interval_ms and open_timeout_ms must be positive");
        rc = GALE_EINVAL;
    }
    if (!rc) rc = read_topics(ctx, s);
    if (rc) {
        free_state(s);
        return rc;
    }
    s->max_record = (size_t)max_kb * 1024;
    s->commit_every_ns = (uint64_t)commit_ms * 1000000u;
    const char *group = gale_setting_str(ctx, "group", NULL);
    char dflt[256];
    snprintf(dflt, sizeof dflt, "gale-%s-%s", info.topology, info.component);
    s->group = strdup(group ? group : dflt);
    s->batch_cap = 256;
    s->batch = calloc(s->batch_cap, sizeof *s->batch);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (!s->group || !s->batch || !c) rc = GALE_ENOMEM;
    if (!rc) rc = build_conf(ctx, s, &info, c);
    char err[512];
    if (!rc && !(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err))) {
        gale_error(ctx, "cannot create a Kafka consumer: %s", err);
        rc = GALE_EINVAL;
    }
    if (!s->rk && c) rd_kafka_conf_destroy(c); /* rd_kafka_new owns it only when it succeeds */
    if (rc) {
        free_state(s);
        return rc;
    }
    /* Everything (log, errors, rebalances, records) on the one queue the task takes from. */
    rd_kafka_poll_set_consumer(s->rk);
    rd_kafka_set_log_queue(s->rk, NULL);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    rd_kafka_queue_cb_event_enable(s->q, kafka_on_queue, ctx);
    bool retry = gale_setting_bool(ctx, "retry", false);
    rc = check_brokers(ctx, s, (int)open_ms);
    if (rc == GALE_EIO && retry && !s->fixed) {
        gale_warn(ctx, "going on (settings.retry): librdkafka retries the brokers, and says why it cannot reach them");
        rc = 0;
    }
    if (!rc && s->fixed) rc = assign_fixed(ctx, s, &info, (int)open_ms);
    else if (!rc) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_topics);
        for (size_t i = 0; i < s->n_topics; i++)
            rd_kafka_topic_partition_list_add(l, s->topics[i], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            gale_error(ctx, "cannot subscribe to the topics: %s", rd_kafka_err2str(e));
            rc = GALE_EIO;
        }
        s->subscribed = !rc;
    }
    if (rc) {
        free_state(s);
        return rc;
    }
    s->too_large_m = gale_counter(ctx, "records_too_large");
    s->not_json_m = gale_counter(ctx, "records_not_json");
    s->stale_acks_m = gale_counter(ctx, "acks_of_given_up_partitions");
    s->last_commit_ns = now_ns();
    ctx->state = s;
    return 0;
}

/* ---- running ------------------------------------------------------------------------------------------------- */

static bool all_at_end(const state_t *s)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (!s->parts[i]->at_end) return false;
    return true;
}

/* A record that is not emitted (too large, not JSON): journaled with `why` and done, so the partition goes on.
   0, or the journal's code. */
static int reject(gale_ctx_t *ctx, part_t *p, const rd_kafka_message_t *m, uint64_t id, const gale_value_t v[6],
                  const char *why)
{
    int rc = gale_reject(ctx, NULL, v, 6, id, why);
    part_done(p, m->offset);
    return rc == GALE_EIO ? 0 : rc; /* a journal that cannot be written is logged; the partition goes on */
}

/* One record of the batch: emitted (1), or passed over (0: a partition's end, an error, a record rejected), or
   an error. */
static int take(gale_ctx_t *ctx, state_t *s, rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    part_t *p = m->rkt ? part_find(s, topic, m->partition) : NULL;
    int rc = 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p && p->end >= 0 && m->offset >= p->end) p->at_end = true;
    } else if (m->err) {
        if (s->errors_said++ < 20) gale_warn(ctx, "kafka: %s", rd_kafka_message_errstr(m));
    } else if (!p) {
        /* A record of a partition given up while it was on its way: its new owner reads it. */
    } else if (p->end >= 0 && m->offset >= p->end) {
        p->at_end = true; /* bounded: past the end it had at the start */
    } else {
        p->next = m->offset + 1;
        if (p->end >= 0 && p->next >= p->end) p->at_end = true;
        if ((rc = part_emitted(p, m->offset))) return rc;
        uint64_t id = ((uint64_t)p->slot << SLOT_SHIFT) | ((uint64_t)m->offset & OFFSET_MASK);
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        const char *payload = m->payload ? m->payload : "";
        gale_value_t v[6] = {
            gale_str(topic),
            gale_int(m->partition),
            gale_int(m->offset),
            m->key ? gale_bytes(m->key, m->key_len) : gale_nil(),
            gale_bytes(payload, m->len),
            ts >= 0 ? gale_int(ts) : gale_nil(),
        };
        char why[200];
        if (m->len > s->max_record) {
            gale_counter_add(ctx, s->too_large_m, 1);
            snprintf(why, sizeof why, "%s [%d] offset %lld: a value of %zu bytes is over max_record_kb (%zu)", topic,
                     m->partition, (long long)m->offset, m->len, s->max_record / 1024);
            v[4] = gale_nil(); /* the record stays in Kafka at its offset: the journal says where */
            return reject(ctx, p, m, id, v, why);
        }
        if (s->value_as == VALUE_STRING) v[4] = gale_strn(payload, m->len);
        if (s->value_as == VALUE_JSON) {
            char cause[120];
            if (gale_from_json(ctx, payload, m->len, &v[4], cause, sizeof cause)) {
                gale_counter_add(ctx, s->not_json_m, 1);
                snprintf(why, sizeof why, "%s [%d] offset %lld: the value is not JSON: %s", topic, m->partition,
                         (long long)m->offset, cause);
                return reject(ctx, p, m, id, v, why);
            }
        }
        rc = gale_emit_id(ctx, id, v, 6);
        if (rc) part_done(p, m->offset); /* refused: nothing of it is open */
        else rc = 1;
    }
    return rc;
}

/* Takes a batch from librdkafka without waiting (serving its callbacks: rebalances, errors, commits, its log).
   The number of records, or 0. */
static size_t fetch(state_t *s)
{
    if (s->batch_at < s->batch_n) return 0;
    s->batch_at = s->batch_n = 0;
    ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->batch, s->batch_cap);
    s->batch_n = n > 0 ? (size_t)n : 0;
    return s->batch_n;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (s->done) return 0;
    uint64_t now = now_ns();
    if (!s->checkpointed && now - s->last_commit_ns >= s->commit_every_ns) commit(s, false, NULL);
    /* One record emitted a call: the executor checks max_spout_pending and the lease between calls. A call that
       emitted nothing makes the executor pause, so records passed over (an end, an error) do not end the call. */
    for (;;) {
        while (s->batch_at < s->batch_n) {
            rd_kafka_message_t *m = s->batch[s->batch_at];
            s->batch[s->batch_at++] = NULL;
            if (!m) continue; /* dropped in a rebalance */
            int rc = take(ctx, s, m);
            rd_kafka_message_destroy(m);
            if (rc) return rc < 0 ? rc : 0;
        }
        if (!fetch(s)) break;
    }
    if (s->bounded && all_at_end(s)) {
        gale_log(ctx, GALE_LOG_INFO, "every partition read to its end");
        s->done = true;
        gale_done(ctx);
    }
    return 0;
}

/* A wake: records or events came; next_tuple takes them (it empties the queue, so the callback fires again).
   Taking them here instead, to serve rebalances while next_tuple is not called, made the group tests fail one run
   in three with a 45 s rebalance stall and records read twice: not understood yet, so not done. */
static int service(gale_ctx_t *ctx)
{
    (void)ctx;
    return 0;
}

static void settle(gale_ctx_t *ctx, uint64_t id)
{
    state_t *s = ctx->state;
    part_t *p = part_by_slot(s, (uint32_t)(id >> SLOT_SHIFT));
    if (p) part_done(p, (int64_t)(id & OFFSET_MASK));
    else gale_counter_add(ctx, s->stale_acks_m, 1);
}

static void ack(gale_ctx_t *ctx, uint64_t id) { settle(ctx, id); }

/* Failed for good (after the runtime's replays, and journaled): done, so that the partition goes on. */
static void fail(gale_ctx_t *ctx, uint64_t id) { settle(ctx, id); }

/* Checkpoint: the offset of the next record to read of each partition, under "TOPIC/PARTITION"; kept to be
   committed to the group when the checkpoint completes. */
static int prepare_commit(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    if (s->prepared_at) rd_kafka_topic_partition_list_destroy(s->prepared_at);
    s->prepared_at = rd_kafka_topic_partition_list_new((int)s->n_parts);
    s->prepared = checkpoint;
    for (size_t i = 0; i < s->n_parts; i++) {
        part_t *p = s->parts[i];
        if (p->next < 0) continue; /* nothing read: where it starts is where it would start again */
        char key[320];
        snprintf(key, sizeof key, "%s/%d", p->topic, p->partition);
        gale_value_t k = gale_str(key), v = gale_int(p->next);
        int rc = gale_state_put(ctx, &k, &v);
        if (rc) return rc;
        rd_kafka_topic_partition_list_add(s->prepared_at, p->topic, p->partition)->offset = p->next;
    }
    return 0;
}

/* Complete: its positions are the group's committed offsets now, for those who watch the group's lag. */
static void commit_checkpoint(gale_ctx_t *ctx, uint64_t checkpoint)
{
    state_t *s = ctx->state;
    if (checkpoint != s->prepared || !s->prepared_at || !s->prepared_at->cnt) return;
    rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, s->prepared_at, 1);
    if (err)
        gale_warn(ctx, "cannot commit the offsets of checkpoint %llu: %s", (unsigned long long)checkpoint,
                  rd_kafka_err2str(err));
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s) return;
    if (!s->checkpointed) commit(s, true, NULL);
    if (s->subscribed) rd_kafka_consumer_close(s->rk); /* leaves the group: its rebalance commits once more */
    free_state(s);
}

static const gale_setting_decl_t settings[] = {
    {"brokers", GALE_SETTING_STRING, "bootstrap servers, \"host:port,...\" (required)"},
    {"topic", GALE_SETTING_ANY, "the topic to read, or a list of topics (required)"},
    {"group", GALE_SETTING_STRING, "consumer group (default \"gale-TOPOLOGY-COMPONENT\")"},
    {"start", GALE_SETTING_STRING,
     "where a partition without a committed offset starts: \"committed\" (default) or \"earliest\": its first "
     "record; \"latest\": its next"},
    {"value", GALE_SETTING_STRING,
     "the value field as \"bytes\" (default), \"string\", or \"json\" (parsed; a value that is not JSON is "
     "journaled with the parse error)"},
    {"bounded", GALE_SETTING_BOOL, "read each partition to the end it has at the start, then done (false)"},
    {"max_record_kb", GALE_SETTING_INT, "a longer value is not emitted but journaled, with its size (1024)"},
    {"commit_interval_ms", GALE_SETTING_INT, "how often acked offsets are committed (1000)"},
    {"open_timeout_ms", GALE_SETTING_INT, "how long open waits for the brokers (10000)"},
    {"retry", GALE_SETTING_BOOL,
     "group mode: brokers unreachable at open: go on, librdkafka retrying (default false: fail)"},
    {"properties", GALE_SETTING_LIST, "librdkafka properties, passed through: [\"name=value\", ...]"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "kafka", .description = "records of Kafka topics (librdkafka)",
            .flags = GALE_SPOUT_REPLAY | GALE_SPOUT_REWINDS,
            .streams = (const gale_stream_decl_t[]){{"default",
                                                     (const char *const[]){"topic", "partition", "offset", "key",
                                                                           "value", "timestamp", NULL}},
                                                    {NULL, NULL}},
            .settings = settings,
            .spout = {.open = open_, .next_tuple = next_tuple, .ack = ack, .fail = fail, .close = close_},
            .process_init = kafka_pin_library, .service = service, .prepare_commit = prepare_commit,
            .commit = commit_checkpoint);
