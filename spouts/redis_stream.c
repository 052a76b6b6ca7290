/*
 * redis_stream: the entries of a Redis stream, read by a consumer group (XREADGROUP), on hiredis.
 *
 *   host, port         ("127.0.0.1", 6379)   the server
 *   stream             (string, required)    the stream's key
 *   group              (string)              the consumer group, created from the stream's start (and the stream
 *                                            with it) when missing: "gale-TOPOLOGY-COMPONENT" when absent
 *   consumer           (string)              this task's consumer name: "COMPONENT-I" (I: the task's index) when
 *                                            absent, so that the task's next life has its pending entries. A name
 *                                            given here gets "-I" appended when the parallelism is above 1
 *   field              (string)              the entry's field to emit as `value` (a string); absent: `value` is a
 *                                            map of every field of the entry. An entry without it is rejected:
 *                                            journaled with its fields (cause "rejected"), counted
 *                                            (records_without_field), acknowledged
 *   count              (256)                 entries asked for a read (XREADGROUP COUNT)
 *   block_ms           (1000)                how long a read waits for new entries (XREADGROUP BLOCK)
 *   claim_idle_ms      (60000)               entries pending on another consumer of the group for longer than this
 *                                            are taken over (XPENDING IDLE, then XCLAIM), every claim_idle_ms / 2:
 *                                            a consumer gone for good (a task of a larger parallelism, another
 *                                            program). 0: never. Keep it well above message_timeout_s: an entry
 *                                            whose tree is still open at another task would come twice
 *   bounded            (false)               be done once the group has nothing new (and this task's pending
 *                                            entries, and one sweep of the claimable ones, are read): for tests
 *                                            and backfills
 *   max_record_kb      (1024)                an entry whose fields and values are longer is not emitted but
 *                                            rejected: journaled with its size and a nil value (cause
 *                                            "rejected"), counted (records_too_large), acknowledged
 *   open_timeout_ms    (5000)                how long open waits for the server
 *   retry              (false)               a server unreachable at open: go on and connect in the background
 *                                            (logged) rather than fail the open
 *
 * Output fields: id (the entry's id, "MS-SEQ"), value.
 *
 * Delivery. Each entry is emitted with a message id, so with acking on its tree is tracked; the entry is XACKed
 * once the tree is done: acked, or failed for good. A failed tree is replayed by the runtime (the plugin is
 * GALE_SPOUT_REPLAY) with backoff up to config.max_retries, then journaled, then XACKed, so that one bad entry
 * does not stay pending for ever. Until it is XACKed an entry is in the group's pending list, under this task's
 * consumer: when the worker dies, the task's next life reads its consumer's pending entries first (XREADGROUP
 * from 0), so nothing is lost (GALE_SPOUT_REWINDS), and trees that were done but whose XACK had not gone out come
 * again: at least once. With acking off, the runtime acks each entry as it is emitted, and it is XACKed then
 * (at most once).
 *
 * Threads. A thread of the task's own runs hiredis on a libuv loop with two connections: one for the reads, which
 * wait up to block_ms on the server, one for XACK, XPENDING and XCLAIM. It hands entries over a read at a time (one
 * lock per batch) and wakes the task; the task emits one entry a call and hands its acks back in batches. While
 * 4 reads' worth of entries wait for the task, the thread reads no more: that is the backpressure, and
 * max_spout_pending bounds what is in flight. When Redis goes away the thread connects again with backoff
 * (100 ms to 5 s, logged), reads its consumer's pending entries again (those in flight here are not emitted
 * twice), and sends the acks that had not been answered: acked work is not lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "redis_common.h"

#define ACK_CHUNK 512 /* ids in one XACK */
#define INBOX_READS 4 /* reads' worth of entries waiting for the task before the thread reads no more */
#define CLOSE_WAIT_MS 2000
#define CLAIMED_BIT ((size_t)1 << (sizeof(size_t) * 8 - 1)) /* in entry_t.bytes: taken over from another consumer */

typedef struct entry_id {
    uint64_t ms, seq;
} entry_id_t;

typedef struct part {
    const char *p;
    size_t len;
} part_t;

typedef struct entry {
    entry_id_t id;
    size_t first, n; /* its parts (field, value, field, value, ...) in the batch's `parts` */
    size_t bytes;
} entry_t;

/* A read's entries, from the thread to the task: one allocation. */
typedef struct batch {
    struct batch *next;
    size_t n, at;
    entry_t *e;
    part_t *parts;
} batch_t;

/* An XACK on its way: its ids come back to `acks` if it gets no answer. */
typedef struct ack_cmd {
    struct state *s;
    size_t n;
    entry_id_t ids[];
} ack_cmd_t;

typedef struct ids {
    entry_id_t *v;
    size_t n, cap;
} ids_t;

/* An entry in flight: its tree is open. */
typedef struct slot {
    entry_id_t id;
    int32_t next_free; /* -1: in use, or the end of the free list */
    bool used;
} slot_t;

typedef struct state {
    gale_ctx_t *ctx;
    redis_link_t link;
    thread_notes_t notes;
    char stream[256], group[256], consumer[300], field[256];
    bool has_field, bounded;
    int64_t count, block_ms, claim_idle_ms;
    size_t max_record;

    /* Shared, under `mu`. */
    pthread_mutex_t mu;
    batch_t *inbox, *inbox_tail; /* thread -> task */
    ids_t acks_in;               /* task -> thread */
    atomic_size_t inbox_n;       /* entries in `inbox` */
    atomic_bool at_end;          /* bounded: the thread read everything it will */
    atomic_size_t acks_unanswered;

    /* The thread's. */
    bool reading, history, claimed_once, claiming;
    entry_id_t history_from;
    char claim_cursor[56]; /* where the next page of the pending list starts: "-" or "(ID" */
    bool claim_more;
    ids_t acks_retry; /* sent and not answered: again when connected */
    uint64_t last_claim_ms;

    /* The task's. */
    batch_t *cur;
    slot_t *slots;
    int32_t n_slots, free_slot, in_flight;
    int32_t *hash; /* open addressing: slot + 1, 0 empty */
    size_t hash_cap;
    ids_t acks_out;
    gale_value_t *kv;
    size_t kv_cap;
    bool done;
    gale_metric_t *too_large_m, *no_field_m, *dup_m, *claimed_m;
} state_t;

/* ---- ids ------------------------------------------------------------------------------------------------------ */

static bool parse_id(const char *p, size_t len, entry_id_t *out)
{
    char buf[48];
    if (!len || len >= sizeof buf) return false;
    memcpy(buf, p, len);
    buf[len] = 0;
    char *end;
    out->ms = strtoull(buf, &end, 10);
    if (*end != '-') return false;
    out->seq = strtoull(end + 1, &end, 10);
    return !*end;
}

static int format_id(entry_id_t id, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

static int ids_push(ids_t *v, const entry_id_t *ids, size_t n)
{
    if (!n) return 0;
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n) cap *= 2;
        entry_id_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return GALE_ENOMEM;
        v->v = p, v->cap = cap;
    }
    memcpy(v->v + v->n, ids, n * sizeof *ids);
    v->n += n;
    return 0;
}

/* ---- the entries in flight: slots, and a hash of their ids (an entry read twice is not emitted twice) ------- */

static size_t hash_of(entry_id_t id, size_t cap)
{
    uint64_t h = id.ms * 0x9e3779b97f4a7c15ull ^ (id.seq + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 31)) & (cap - 1);
}

static int32_t flight_find(const state_t *s, entry_id_t id)
{
    if (!s->hash_cap) return -1;
    for (size_t i = hash_of(id, s->hash_cap);; i = (i + 1) & (s->hash_cap - 1)) {
        int32_t v = s->hash[i];
        if (!v) return -1;
        const slot_t *sl = &s->slots[v - 1];
        if (sl->id.ms == id.ms && sl->id.seq == id.seq) return v - 1;
    }
}

static void hash_put(state_t *s, int32_t slot)
{
    size_t i = hash_of(s->slots[slot].id, s->hash_cap);
    while (s->hash[i]) i = (i + 1) & (s->hash_cap - 1);
    s->hash[i] = slot + 1;
}

/* Removes `slot` by backward shift, so that no tombstones build up. */
static void hash_remove(state_t *s, int32_t slot)
{
    size_t mask = s->hash_cap - 1, i = hash_of(s->slots[slot].id, s->hash_cap);
    while (s->hash[i] != slot + 1) i = (i + 1) & mask;
    for (size_t j = i;;) {
        s->hash[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!s->hash[j]) return;
            size_t k = hash_of(s->slots[s->hash[j] - 1].id, s->hash_cap);
            /* The entry at j may move to i when its home k is not cyclically in (i, j]. */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        s->hash[i] = s->hash[j];
        i = j;
    }
}

/* A slot for `id`, or -1 when out of memory. Grows the tables now and then, never per entry. */
static int32_t flight_add(state_t *s, entry_id_t id)
{
    if (s->free_slot < 0) {
        int32_t n = s->n_slots ? s->n_slots * 2 : 1024;
        slot_t *p = realloc(s->slots, (size_t)n * sizeof *p);
        if (!p) return -1;
        s->slots = p;
        for (int32_t i = s->n_slots; i < n; i++) p[i] = (slot_t){.next_free = i + 1 < n ? i + 1 : -1};
        s->free_slot = s->n_slots;
        s->n_slots = n;
        size_t cap = (size_t)n * 2;
        int32_t *h = calloc(cap, sizeof *h);
        if (!h) return -1;
        free(s->hash);
        s->hash = h, s->hash_cap = cap;
        for (int32_t i = 0; i < s->n_slots; i++)
            if (s->slots[i].used) hash_put(s, i);
    }
    int32_t i = s->free_slot;
    s->free_slot = s->slots[i].next_free;
    s->slots[i] = (slot_t){.id = id, .next_free = -1, .used = true};
    hash_put(s, i);
    s->in_flight++;
    return i;
}

static void flight_remove(state_t *s, int32_t i)
{
    hash_remove(s, i);
    s->slots[i].used = false;
    s->slots[i].next_free = s->free_slot;
    s->free_slot = i;
    s->in_flight--;
}

/* ---- on the thread: replies into batches -------------------------------------------------------------------- */

/* The entries of `arr` (each [id, [field, value, ...]] or [id, nil] for one deleted since it was delivered) as a
   batch; NULL when there are none (or no memory). Deleted ones are acknowledged: there is nothing to emit. */
static batch_t *batch_of(state_t *s, const redisReply *arr, entry_id_t *last)
{
    size_t n = 0, parts = 0, bytes = 0;
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *e = arr->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        const redisReply *f = e->element[1];
        n++;
        if (f->type != REDIS_REPLY_ARRAY) continue;
        parts += f->elements;
        for (size_t j = 0; j < f->elements; j++) bytes += f->element[j]->len + 1;
    }
    if (!n) return NULL;
    batch_t *b = malloc(sizeof *b + n * sizeof(entry_t) + parts * sizeof(part_t) + bytes);
    if (!b) return NULL;
    *b = (batch_t){.e = (entry_t *)(b + 1)};
    b->parts = (part_t *)(b->e + n);
    char *data = (char *)(b->parts + parts);
    size_t np = 0;
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *e = arr->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        entry_id_t id;
        if (e->element[0]->type != REDIS_REPLY_STRING || !parse_id(e->element[0]->str, e->element[0]->len, &id))
            continue;
        *last = id;
        const redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY) { /* deleted from the stream while pending */
            pthread_mutex_lock(&s->mu);
            ids_push(&s->acks_in, &id, 1);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        entry_t *en = &b->e[b->n++];
        *en = (entry_t){.id = id, .first = np, .n = f->elements};
        for (size_t j = 0; j < f->elements; j++) {
            const redisReply *v = f->element[j];
            memcpy(data, v->str, v->len);
            data[v->len] = 0;
            b->parts[np++] = (part_t){data, v->len};
            data += v->len + 1;
            en->bytes += v->len;
        }
    }
    if (!b->n) {
        free(b);
        return NULL;
    }
    return b;
}

static void hand_over(state_t *s, batch_t *b)
{
    pthread_mutex_lock(&s->mu);
    if (s->inbox_tail) s->inbox_tail->next = b;
    else s->inbox = b;
    s->inbox_tail = b;
    atomic_fetch_add(&s->inbox_n, b->n);
    pthread_mutex_unlock(&s->mu);
    gale_wake(s->ctx);
}

static void read_more(state_t *s);
static void send_acks(state_t *s);

static void check_end(state_t *s)
{
    if (s->bounded && !s->history && !s->reading && s->claimed_once && !atomic_load(&s->at_end)) {
        atomic_store(&s->at_end, true);
        gale_wake(s->ctx);
    }
}

static void on_read(redisAsyncContext *ac, void *reply, void *privdata)
{
    state_t *s = privdata;
    redisReply *r = reply;
    s->reading = false;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r && !s->link.stopping) {
            thread_note(&s->notes, GALE_LOG_WARN, "XREADGROUP on %s: %s; dropping the connection", s->stream, r->str);
            redis__link_drop(&s->link); /* made again with backoff; the group is created again if it went */
        }
        return;
    }
    size_t got = 0;
    /* [[stream, [entries]]], or nil when BLOCK ran out */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *arr = r->element[0]->element[1];
        got = arr->elements;
        entry_id_t last = s->history_from;
        batch_t *b = batch_of(s, arr, &last);
        if (s->history) s->history_from = last;
        if (b) hand_over(s, b);
    }
    if (s->history && !got) s->history = false; /* this consumer's pending entries are all read: new ones now */
    else if (!s->history && !got && s->bounded) {
        check_end(s);
        return;
    }
    read_more(s);
}

static void read_more(state_t *s)
{
    redis_link_t *l = &s->link;
    if (!l->up || s->reading || atomic_load(&s->at_end)) return;
    if (atomic_load(&s->inbox_n) >= (size_t)s->count * INBOX_READS) return; /* the task's take kicks again */
    char count[24], block[24], from[48];
    snprintf(count, sizeof count, "%" PRId64, s->count);
    snprintf(block, sizeof block, "%" PRId64, s->block_ms);
    if (s->history) format_id(s->history_from, from, sizeof from);
    else snprintf(from, sizeof from, ">");
    const char *argv[12] = {"XREADGROUP", "GROUP", s->group, s->consumer, "COUNT", count};
    int argc = 6;
    if (!s->history && !s->bounded) argv[argc++] = "BLOCK", argv[argc++] = block;
    argv[argc++] = "STREAMS", argv[argc++] = s->stream, argv[argc++] = from;
    if (redisAsyncCommandArgv(l->conn[0], on_read, s, argc, argv, NULL) == REDIS_OK) s->reading = true;
}

static void on_ack(redisAsyncContext *ac, void *reply, void *privdata)
{
    ack_cmd_t *a = privdata;
    state_t *s = a->s;
    redisReply *r = reply;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r) thread_note(&s->notes, GALE_LOG_WARN, "XACK on %s: %s; sent again", s->stream, r->str);
        ids_push(&s->acks_retry, a->ids, a->n); /* XACK is idempotent: sending it twice is harmless */
    }
    free(a);
    atomic_fetch_sub(&s->acks_unanswered, 1);
    if (r && r->type == REDIS_REPLY_ERROR) redis__link_drop(&s->link);
}

static void send_chunk(state_t *s, const entry_id_t *ids, size_t n)
{
    ack_cmd_t *a = malloc(sizeof *a + n * sizeof *ids);
    const char **argv = malloc((n + 3) * sizeof *argv);
    char *text = malloc(n * 48);
    if (!a || !argv || !text) {
        ids_push(&s->acks_retry, ids, n);
        free(a), free(argv), free(text);
        return;
    }
    a->s = s, a->n = n;
    memcpy(a->ids, ids, n * sizeof *ids);
    argv[0] = "XACK", argv[1] = s->stream, argv[2] = s->group;
    for (size_t i = 0; i < n; i++) {
        format_id(ids[i], text + i * 48, 48);
        argv[3 + i] = text + i * 48;
    }
    atomic_fetch_add(&s->acks_unanswered, 1);
    if (redisAsyncCommandArgv(s->link.conn[1], on_ack, a, (int)n + 3, argv, NULL) != REDIS_OK) {
        ids_push(&s->acks_retry, ids, n);
        atomic_fetch_sub(&s->acks_unanswered, 1);
        free(a);
    }
    free(argv), free(text); /* hiredis formatted the command: the arguments are its own now */
}

static void send_acks(state_t *s)
{
    if (!s->link.up) return;
    pthread_mutex_lock(&s->mu);
    ids_push(&s->acks_retry, s->acks_in.v, s->acks_in.n);
    s->acks_in.n = 0;
    pthread_mutex_unlock(&s->mu);
    ids_t resend = s->acks_retry;
    s->acks_retry = (ids_t){0};
    for (size_t i = 0; i < resend.n; i += ACK_CHUNK)
        send_chunk(s, resend.v + i, resend.n - i < ACK_CHUNK ? resend.n - i : ACK_CHUNK);
    free(resend.v);
}

static void claim(state_t *s);

static void claim_swept(state_t *s)
{
    s->claiming = false;
    s->claimed_once = true;
    snprintf(s->claim_cursor, sizeof s->claim_cursor, "-"); /* the next sweep starts from the beginning */
    check_end(s);
}

/* The next page of the pending list, or the end of the sweep. */
static void claim_next(state_t *s)
{
    if (!s->claim_more) {
        claim_swept(s);
        return;
    }
    s->claiming = false;
    claim(s);
}

/* XCLAIM's answer: the entries taken over, [[id, [field, value, ...]], ...]. */
static void on_claimed(redisAsyncContext *ac, void *reply, void *privdata)
{
    state_t *s = privdata;
    redisReply *r = reply;
    if (!r) {
        s->claiming = false;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        thread_note(&s->notes, GALE_LOG_WARN, "XCLAIM on %s: %s", s->stream, redis_reply_why(ac, r));
        claim_swept(s);
        return;
    }
    entry_id_t last;
    batch_t *b = batch_of(s, r, &last);
    if (b) {
        for (size_t i = 0; i < b->n; i++) b->e[i].bytes |= CLAIMED_BIT;
        hand_over(s, b);
    }
    claim_next(s);
}

/* XPENDING's answer: a page of the group's pending entries idle for claim_idle_ms, [[id, consumer, idle, n], ...].
   Those of other consumers are taken over; this task's own are in flight here, or read again from its history. */
static void on_pending(redisAsyncContext *ac, void *reply, void *privdata)
{
    state_t *s = privdata;
    redisReply *r = reply;
    if (!r) {
        s->claiming = false;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        thread_note(&s->notes, GALE_LOG_WARN, "XPENDING on %s: %s; not claiming", s->stream, redis_reply_why(ac, r));
        s->claim_idle_ms = 0;
        claim_swept(s);
        return;
    }
    s->claim_more = r->elements == (size_t)s->count;
    const char **argv = malloc((r->elements + 5) * sizeof *argv);
    if (!argv) {
        claim_swept(s);
        return;
    }
    char idle[24];
    snprintf(idle, sizeof idle, "%" PRId64, s->claim_idle_ms);
    int argc = 0;
    argv[argc++] = "XCLAIM", argv[argc++] = s->stream, argv[argc++] = s->group, argv[argc++] = s->consumer;
    argv[argc++] = idle;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING) continue;
        snprintf(s->claim_cursor, sizeof s->claim_cursor, "(%s", e->element[0]->str);
        if (e->element[1]->type == REDIS_REPLY_STRING && strcmp(e->element[1]->str, s->consumer))
            argv[argc++] = e->element[0]->str;
    }
    /* XCLAIM with the same min-idle: an entry its owner acknowledged or touched since is left alone. */
    if (argc > 5 && redisAsyncCommandArgv(ac, on_claimed, s, argc, argv, NULL) == REDIS_OK) {
        free(argv);
        return;
    }
    free(argv);
    claim_next(s);
}

static void claim(state_t *s)
{
    if (!s->link.up || s->claiming) return;
    if (!s->claim_idle_ms) {
        s->claimed_once = true;
        return;
    }
    char idle[24], count[24];
    snprintf(idle, sizeof idle, "%" PRId64, s->claim_idle_ms);
    snprintf(count, sizeof count, "%" PRId64, s->count);
    const char *argv[] = {"XPENDING", s->stream, s->group, "IDLE", idle, s->claim_cursor, "+", count};
    if (redisAsyncCommandArgv(s->link.conn[1], on_pending, s, 8, argv, NULL) == REDIS_OK) {
        s->claiming = true;
        s->last_claim_ms = redis_now_ms();
    }
}

static void on_group(redisAsyncContext *ac, void *reply, void *privdata)
{
    state_t *s = privdata;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9))
        thread_note(&s->notes, GALE_LOG_WARN, "XGROUP CREATE %s %s: %s", s->stream, s->group, r->str);
}

static void link_up(redis_link_t *l)
{
    state_t *s = l->owner;
    /* The group may be gone (a server that came back empty); the reads after this on the same connection see it. */
    const char *argv[] = {"XGROUP", "CREATE", s->stream, s->group, "0", "MKSTREAM"};
    redisAsyncCommandArgv(l->conn[0], on_group, s, 6, argv, NULL);
    s->history = true; /* this consumer's pending entries first: those of an earlier life, or lost in a drop */
    s->history_from = (entry_id_t){0, 0};
    snprintf(s->claim_cursor, sizeof s->claim_cursor, "-");
    send_acks(s);
    claim(s);
    read_more(s);
}

static void link_kick(redis_link_t *l)
{
    state_t *s = l->owner;
    send_acks(s);
    read_more(s);
}

static void link_tick(redis_link_t *l)
{
    state_t *s = l->owner;
    if (s->claim_idle_ms && !s->claiming && redis_now_ms() - s->last_claim_ms >= (uint64_t)s->claim_idle_ms / 2)
        claim(s);
    send_acks(s);
    read_more(s);
}

static void link_down(redis_link_t *l)
{
    state_t *s = l->owner;
    s->reading = s->claiming = false;
}

static const redis_link_ops_t link_ops = {.up = link_up, .kick = link_kick, .tick = link_tick, .down = link_down};

/* ---- on the task -------------------------------------------------------------------------------------------- */

static void flush_acks(state_t *s)
{
    if (!s->acks_out.n) return;
    pthread_mutex_lock(&s->mu);
    int rc = ids_push(&s->acks_in, s->acks_out.v, s->acks_out.n);
    pthread_mutex_unlock(&s->mu);
    if (!rc) s->acks_out.n = 0; /* else kept, and handed over at the next call */
    redis_link_kick(&s->link);
}

static void settle_id(state_t *s, entry_id_t id)
{
    ids_push(&s->acks_out, &id, 1);
    if (s->acks_out.n >= ACK_CHUNK) flush_acks(s);
}

static batch_t *take_batch(state_t *s)
{
    if (!atomic_load(&s->inbox_n)) return NULL;
    pthread_mutex_lock(&s->mu);
    batch_t *b = s->inbox;
    if (b) {
        s->inbox = b->next;
        if (!s->inbox) s->inbox_tail = NULL;
        atomic_fetch_sub(&s->inbox_n, b->n);
    }
    pthread_mutex_unlock(&s->mu);
    redis_link_kick(&s->link); /* room in the inbox: the thread may read again */
    return b;
}

/* An entry that is not emitted: journaled with what was wrong (cause "rejected", gale_reject logs it too) and
   acknowledged, so that it does not stay pending for ever. 0, or a code for values the stream refuses. */
static int reject_entry(gale_ctx_t *ctx, state_t *s, const entry_t *e, gale_value_t value, const char *why)
{
    char id_text[48], text[512];
    int id_len = format_id(e->id, id_text, sizeof id_text);
    snprintf(text, sizeof text, "%.200s entry %s: %.150s", s->stream, id_text, why);
    gale_value_t v[2] = {gale_strn(id_text, (size_t)id_len), value};
    int rc = gale_reject(ctx, NULL, v, 2, 0, text);
    settle_id(s, e->id);
    return rc == GALE_EIO ? 0 : rc; /* a journal that cannot be written is logged; the stream goes on */
}

/* Every field of entry `e` as a map, in s->kv. */
static int entry_map(state_t *s, const batch_t *b, const entry_t *e, gale_value_t *out)
{
    const part_t *p = b->parts + e->first;
    if (e->n > s->kv_cap) {
        size_t cap = e->n * 2;
        gale_value_t *kv = realloc(s->kv, cap * sizeof *kv);
        if (!kv) return GALE_ENOMEM;
        s->kv = kv, s->kv_cap = cap;
    }
    for (size_t i = 0; i < e->n; i++) s->kv[i] = gale_strn(p[i].p, p[i].len);
    *out = gale_map(s->kv, (uint32_t)(e->n / 2));
    return 0;
}

/* Emits `e`: 1 when it did, 0 when it passed over it, or an error. */
static int emit_entry(gale_ctx_t *ctx, state_t *s, const batch_t *b, const entry_t *e)
{
    size_t bytes = e->bytes & ~CLAIMED_BIT;
    if (flight_find(s, e->id) >= 0) { /* in flight here already: read again after a drop, or claimed back */
        gale_counter_add(ctx, s->dup_m, 1);
        return 0;
    }
    if (e->bytes & CLAIMED_BIT) gale_counter_add(ctx, s->claimed_m, 1);
    if (bytes > s->max_record) {
        gale_counter_add(ctx, s->too_large_m, 1);
        char why[128];
        snprintf(why, sizeof why, "%zu bytes of fields and values, over max_record_kb (%zu)", bytes,
                 s->max_record / 1024);
        return reject_entry(ctx, s, e, gale_nil(), why); /* the entry stays in the stream: its id says where */
    }
    const part_t *p = b->parts + e->first;
    gale_value_t value = gale_nil();
    if (s->has_field) {
        size_t i = 0;
        while (i + 1 < e->n && strcmp(p[i].p, s->field)) i += 2;
        if (i + 1 >= e->n) {
            gale_counter_add(ctx, s->no_field_m, 1);
            char why[128];
            snprintf(why, sizeof why, "it has no field '%.64s' (settings.field)", s->field);
            int rc = entry_map(s, b, e, &value);
            return rc ? rc : reject_entry(ctx, s, e, value, why);
        }
        value = gale_strn(p[i + 1].p, p[i + 1].len);
    } else {
        int rc = entry_map(s, b, e, &value);
        if (rc) return rc;
    }
    char id_text[48];
    int id_len = format_id(e->id, id_text, sizeof id_text);
    gale_value_t v[2] = {gale_strn(id_text, (size_t)id_len), value};
    int32_t slot = flight_add(s, e->id);
    if (slot < 0) return GALE_ENOMEM;
    int rc = gale_emit_id(ctx, (uint64_t)slot, v, 2);
    if (rc) { /* refused: nothing of it is open; it stays pending, for the next life */
        flight_remove(s, slot);
        return rc;
    }
    return 1;
}

static int next_tuple(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    thread_notes_say(ctx, &s->notes);
    if (s->done) return 0;
    /* One entry emitted a call: the executor checks max_spout_pending between calls. */
    for (;;) {
        if (s->cur && s->cur->at == s->cur->n) free(s->cur), s->cur = NULL;
        if (!s->cur && !(s->cur = take_batch(s))) break;
        const entry_t *e = &s->cur->e[s->cur->at++];
        int rc = emit_entry(ctx, s, s->cur, e);
        if (rc) {
            flush_acks(s);
            return rc < 0 ? rc : 0;
        }
    }
    flush_acks(s);
    if (s->bounded && atomic_load(&s->at_end) && !s->in_flight && !atomic_load(&s->inbox_n)) {
        gale_info(ctx, "%s: the group %s has nothing more for this task", s->stream, s->group);
        s->done = true;
        gale_done(ctx);
    }
    return 0;
}

static int service(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    thread_notes_say(ctx, &s->notes);
    return 0;
}

static void settle(gale_ctx_t *ctx, uint64_t msg_id)
{
    state_t *s = ctx->state;
    if (msg_id >= (uint64_t)s->n_slots || !s->slots[msg_id].used) return;
    entry_id_t id = s->slots[msg_id].id;
    flight_remove(s, (int32_t)msg_id);
    settle_id(s, id);
}

/* Acked, or failed for good (the runtime replayed it up to max_retries and journaled it): done either way. */
static void ack(gale_ctx_t *ctx, uint64_t msg_id) { settle(ctx, msg_id); }
static void fail(gale_ctx_t *ctx, uint64_t msg_id) { settle(ctx, msg_id); }

static void free_state(state_t *s)
{
    while (s->inbox) {
        batch_t *b = s->inbox;
        s->inbox = b->next;
        free(b);
    }
    free(s->cur);
    free(s->acks_in.v), free(s->acks_out.v), free(s->acks_retry.v);
    free(s->slots), free(s->hash), free(s->kv);
    pthread_mutex_destroy(&s->mu);
    thread_notes_destroy(&s->notes);
    free(s);
}

static int copy_setting(gale_ctx_t *ctx, char *out, size_t cap, const char *name, const char *value)
{
    if (!*value || strlen(value) >= cap) {
        gale_error(ctx, "settings.%s must be 1 to %zu characters", name, cap - 1);
        return GALE_EINVAL;
    }
    snprintf(out, cap, "%s", value);
    return 0;
}

static int read_settings(gale_ctx_t *ctx, state_t *s)
{
    gale_task_info_t info;
    gale_task_info(ctx, &info);
    const char *stream = gale_setting_str(ctx, "stream", NULL);
    if (!stream) {
        gale_error(ctx, "settings.stream is required: the key of the stream to read");
        return GALE_EINVAL;
    }
    char def_group[300], def_consumer[300];
    snprintf(def_group, sizeof def_group, "gale-%s-%s", info.topology, info.component);
    const char *consumer = gale_setting_str(ctx, "consumer", NULL);
    if (!consumer) snprintf(def_consumer, sizeof def_consumer, "%s-%u", info.component, info.task_index);
    else if (info.parallelism > 1) snprintf(def_consumer, sizeof def_consumer, "%s-%u", consumer, info.task_index);
    else snprintf(def_consumer, sizeof def_consumer, "%s", consumer);
    int rc;
    if ((rc = copy_setting(ctx, s->stream, sizeof s->stream, "stream", stream)) ||
        (rc = copy_setting(ctx, s->group, sizeof s->group, "group", gale_setting_str(ctx, "group", def_group))) ||
        (rc = copy_setting(ctx, s->consumer, sizeof s->consumer, "consumer", def_consumer)))
        return rc;
    const char *field = gale_setting_str(ctx, "field", NULL);
    if (field && (rc = copy_setting(ctx, s->field, sizeof s->field, "field", field))) return rc;
    s->has_field = field != NULL;
    s->count = gale_setting_int(ctx, "count", 256);
    s->block_ms = gale_setting_int(ctx, "block_ms", 1000);
    s->claim_idle_ms = gale_setting_int(ctx, "claim_idle_ms", 60000);
    int64_t max_kb = gale_setting_int(ctx, "max_record_kb", 1024);
    s->bounded = gale_setting_bool(ctx, "bounded", false);
    if (s->count < 1 || s->count > 100000 || s->block_ms < 1 || s->block_ms > 600000 || s->claim_idle_ms < 0 ||
        max_kb < 1 || max_kb > 1024 * 1024) {
        gale_error(ctx, "settings: count must be 1 to 100000, block_ms 1 to 600000, claim_idle_ms 0 or more, "
                        "max_record_kb 1 to 1048576");
        return GALE_EINVAL;
    }
    s->max_record = (size_t)max_kb * 1024;
    return 0;
}

static int open_(gale_ctx_t *ctx)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    s->ctx = ctx;
    s->free_slot = -1;
    pthread_mutex_init(&s->mu, NULL);
    thread_notes_init(&s->notes, ctx);
    int rc = redis_read_address(ctx, &s->link);
    if (!rc) rc = read_settings(ctx, s);
    if (rc) {
        free_state(s);
        return rc;
    }
    bool retry = gale_setting_bool(ctx, "retry", false);
    redisContext *c = redis_open_sync(ctx, &s->link, gale_setting_int(ctx, "open_timeout_ms", 5000), retry);
    if (!c && !retry) {
        free_state(s);
        return GALE_EIO;
    }
    if (c) {
        redisReply *r = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", s->stream, s->group);
        bool bad = !r || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9));
        if (bad)
            gale_error(ctx, "XGROUP CREATE %s %s: %s", s->stream, s->group,
                       r              ? r->str
                       : c->errstr[0] ? c->errstr
                                      : "no answer");
        if (r) freeReplyObject(r);
        redisFree(c);
        if (bad) {
            free_state(s);
            return GALE_EIO;
        }
    }
    s->too_large_m = gale_counter(ctx, "records_too_large");
    s->no_field_m = gale_counter(ctx, "records_without_field");
    s->dup_m = gale_counter(ctx, "entries_read_twice");
    s->claimed_m = gale_counter(ctx, "entries_claimed");
    s->link.owner = s;
    s->link.ops = &link_ops;
    s->link.notes = &s->notes;
    s->link.n_conns = 2;
    s->link.tick_ms = 100;
    ctx->state = s;
    if ((rc = redis_link_start(&s->link))) {
        ctx->state = NULL;
        free_state(s);
        return rc;
    }
    gale_info(ctx, "reading %s as consumer %s of group %s at %s:%d", s->stream, s->consumer, s->group, s->link.host,
              s->link.port);
    return 0;
}

static void close_(gale_ctx_t *ctx)
{
    state_t *s = ctx->state;
    if (!s) return;
    /* The acks of trees done hand over, and get a while to be answered: what does not is pending, for the next
       life (at least once). */
    flush_acks(s);
    uint64_t until = redis_now_ms() + CLOSE_WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t waiting = s->acks_in.n;
        pthread_mutex_unlock(&s->mu);
        if ((!waiting && !atomic_load(&s->acks_unanswered)) || redis_now_ms() >= until) break;
        redis_link_kick(&s->link);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    redis_link_stop(&s->link);
    thread_notes_say(ctx, &s->notes);
    free_state(s);
    ctx->state = NULL;
}

static const gale_setting_decl_t settings[] = {
    {"host", GALE_SETTING_STRING, "the Redis server (default \"127.0.0.1\")"},
    {"port", GALE_SETTING_INT, "its port (6379)"},
    {"stream", GALE_SETTING_STRING, "the stream's key (required)"},
    {"group", GALE_SETTING_STRING, "consumer group, created when missing (default \"gale-TOPOLOGY-COMPONENT\")"},
    {"consumer", GALE_SETTING_STRING, "this task's consumer name (default \"COMPONENT-I\")"},
    {"field", GALE_SETTING_STRING, "the field emitted as `value` (default: every field, as a map)"},
    {"count", GALE_SETTING_INT, "entries asked for a read (256)"},
    {"block_ms", GALE_SETTING_INT, "how long a read waits for new entries (1000)"},
    {"claim_idle_ms", GALE_SETTING_INT, "take over entries pending this long on any consumer; 0: never (60000)"},
    {"bounded", GALE_SETTING_BOOL, "done once the group has nothing new for the task (false)"},
    {"max_record_kb", GALE_SETTING_INT, "a longer entry is not emitted but journaled, with its size, and acked (1024)"},
    {"open_timeout_ms", GALE_SETTING_INT, "how long open waits for the server (5000)"},
    {"retry", GALE_SETTING_BOOL, "a server unreachable at open: go on, connecting in the background (false)"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_SPOUT, .name = "redis_stream",
            .description = "entries of a Redis stream, read by a consumer group (hiredis)",
            .flags = GALE_SPOUT_REPLAY | GALE_SPOUT_REWINDS,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *const[]){"id", "value", NULL}},
                                                    {NULL, NULL}},
            .settings = settings,
            .spout = {.open = open_, .next_tuple = next_tuple, .ack = ack, .fail = fail, .close = close_},
            .service = service);
