/*
 * state_redis.c: the Redis backend of state_store.h.
 *
 *   gale:T:chk:N:COMPONENT.I   task I's snapshot for checkpoint N (a string, binary-safe)
 *   gale:T:chk:N:keys          the snapshot keys of checkpoint N (a set), for pruning
 *   gale:T:chks                the checkpoints that have keys (a sorted set, score = id)
 *   gale:T:latest              the latest complete checkpoint's record (state_store.h's text)
 *
 * Each put and each complete is one EVAL, so that Redis applies it whole: a crash of the server or of gale leaves a
 * snapshot with its bookkeeping or nothing, and `latest` moves together with the removal of what it supersedes.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "diag.h"
#include "log.h"
#include "redis_uv.h"
#include "state_store.h"

#define SYNC_TIMEOUT_S 5
#define STUCK_NS (5 * 1000000000ull)

static const char PUT_SCRIPT[] = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SADD', KEYS[2], KEYS[1]) "
                                 "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2]) return 1";

/* Removes the checkpoints whose ids lie in [ARGV[1], ARGV[2]] (ZRANGEBYSCORE bounds) and their keys; with
   ARGV[4] = '1' the record too; first sets the record to ARGV[5] when given. */
static const char PRUNE_SCRIPT[] = "if ARGV[5] then redis.call('SET', KEYS[2], ARGV[5]) end "
                                   "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2]) "
                                   "for _, m in ipairs(ids) do "
                                   "  local set = ARGV[3] .. m .. ':keys' "
                                   "  for _, k in ipairs(redis.call('SMEMBERS', set)) do redis.call('DEL', k) end "
                                   "  redis.call('DEL', set) redis.call('ZREM', KEYS[1], m) "
                                   "end "
                                   "if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end "
                                   "return #ids";

typedef struct redis_store {
    gale_state_store_t base;
    char host[256];
    int port;
    char prefix[300]; /* gale:T: */
    redisContext *sync;
    redisAsyncContext *ac; /* NULL: not connected (made at the next put) */
    bool stopped;
    /* Commands sent and not answered, and when the oldest of them went (monotonic ns): a connection that answers
       nothing for STUCK_NS is dropped at the next command and made again, so that a server that went away without
       a word (no EOF seen, a host gone) cannot hold every later checkpoint. */
    uint32_t unanswered;
    uint64_t oldest_ns;
} redis_store_t;

typedef struct pending {
    struct redis_store *store;
    gale_store_cb cb;
    void *arg;
} pending_t;

static void key(const redis_store_t *r, char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void key(const redis_store_t *r, char *buf, size_t cap, const char *fmt, ...)
{
    int n = snprintf(buf, cap, "%s", r->prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

/* ---- synchronous, before the run ---------------------------------------------------------------------------- */

static int sync_connect(redis_store_t *r, char *why, size_t cap)
{
    if (r->sync && !r->sync->err) return 0;
    if (r->sync) redisFree(r->sync);
    struct timeval tv = {SYNC_TIMEOUT_S, 0};
    r->sync = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->sync || r->sync->err) {
        snprintf(why, cap, "cannot reach Redis at %s:%d: %s", r->host, r->port,
                 r->sync ? r->sync->errstr : "out of memory");
        if (r->sync) redisFree(r->sync);
        r->sync = NULL;
        return GALE_EIO;
    }
    redisSetTimeout(r->sync, tv);
    return 0;
}

/* One command; *out gets the reply (the caller frees it). An error reply is an error with its text. */
static int sync_call(redis_store_t *r, int argc, const char **argv, const size_t *len, redisReply **out, char *why,
                     size_t cap)
{
    int rc = sync_connect(r, why, cap);
    if (rc) return rc;
    redisReply *rep = redisCommandArgv(r->sync, argc, argv, len);
    if (!rep) {
        snprintf(why, cap, "Redis at %s:%d: %s", r->host, r->port, r->sync->errstr);
        return GALE_EIO;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(why, cap, "Redis at %s:%d answered: %.200s", r->host, r->port, rep->str);
        freeReplyObject(rep);
        return GALE_EIO;
    }
    *out = rep;
    return 0;
}

static int get_string(redis_store_t *r, const char *k, gale_buf_t *out, char *why, size_t cap)
{
    const char *argv[] = {"GET", k};
    size_t len[] = {3, strlen(k)};
    redisReply *rep;
    int rc = sync_call(r, 2, argv, len, &rep, why, cap);
    if (rc) return rc;
    if (rep->type == REDIS_REPLY_NIL) rc = GALE_ENOENT;
    else if (rep->type != REDIS_REPLY_STRING) rc = GALE_ECORRUPT, snprintf(why, cap, "%s is not a string", k);
    else gale_buf_put(out, rep->str, rep->len);
    freeReplyObject(rep);
    if (!rc && out->failed) rc = GALE_ENOMEM, snprintf(why, cap, "out of memory");
    return rc;
}

/* PRUNE_SCRIPT over the ids [lo, hi] (ZRANGEBYSCORE bounds); with `drop_latest` the record too. */
static int sync_prune(redis_store_t *r, const char *lo, const char *hi, bool drop_latest, char *why, size_t cap)
{
    char zset[400], latest[400], chk[400];
    key(r, zset, sizeof zset, "chks");
    key(r, latest, sizeof latest, "latest");
    key(r, chk, sizeof chk, "chk:");
    const char *argv[] = {"EVAL", PRUNE_SCRIPT, "2", zset, latest, lo, hi, chk, drop_latest ? "1" : "0"};
    size_t len[9];
    for (int i = 0; i < 9; i++) len[i] = strlen(argv[i]);
    redisReply *rep;
    int rc = sync_call(r, 9, argv, len, &rep, why, cap);
    if (!rc) freeReplyObject(rep);
    return rc;
}

static int redis_latest(gale_state_store_t *s, gale_checkpoint_record_t *rec, char *why, size_t cap)
{
    redis_store_t *r = (redis_store_t *)s;
    char k[400], what[300];
    key(r, k, sizeof k, "latest");
    gale_buf_t b = {0};
    int rc = get_string(r, k, &b, why, cap);
    if (!rc && (rc = gale_checkpoint_record_parse(b.p, b.len, rec, what, sizeof what)))
        snprintf(why, cap, "Redis %s:%d, key %s: %s", r->host, r->port, k, what);
    gale_buf_free(&b);
    return rc;
}

static int redis_get(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index, gale_buf_t *out,
                     char *why, size_t cap)
{
    redis_store_t *r = (redis_store_t *)s;
    char k[600];
    key(r, k, sizeof k, "chk:%" PRIu64 ":%s.%u", checkpoint, component, index);
    return get_string(r, k, out, why, cap);
}

static int redis_wipe(gale_state_store_t *s, char *why, size_t cap)
{
    return sync_prune((redis_store_t *)s, "-inf", "+inf", true, why, cap);
}

/* ---- asynchronous, on the loop ------------------------------------------------------------------------------ */

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_store_t *r = ac->data;
    if (status != REDIS_OK && !r->stopped)
        gale_logf(GALE_LOG_WARN, "checkpoint",
                  "the connection to Redis at %s:%d dropped: %s (made again at the next "
                  "checkpoint)",
                  r->host, r->port, ac->errstr);
    r->ac = NULL; /* hiredis frees it */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_store_t *r = ac->data;
    if (status != REDIS_OK) r->ac = NULL; /* hiredis frees it; the commands queued on it fail */
}

static redisAsyncContext *async_ctx(redis_store_t *r, char *why, size_t cap)
{
    if (r->ac) return r->ac;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        snprintf(why, cap, "cannot reach Redis at %s:%d: %s", r->host, r->port, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return NULL;
    }
    ac->data = r;
    if (gale_redis_uv_attach(ac, r->base.loop) != REDIS_OK) {
        snprintf(why, cap, "cannot watch the connection to Redis at %s:%d", r->host, r->port);
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    return ac;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    pending_t *p = privdata;
    redis_store_t *r = p->store;
    if (r->unanswered && --r->unanswered) r->oldest_ns = now_ns(); /* replies come in order: the next is oldest now */
    redisReply *rep = reply;
    char why[400];
    int rc = 0;
    if (!rep) {
        rc = GALE_EIO;
        snprintf(why, sizeof why, "Redis: %s", ac && ac->errstr[0] ? ac->errstr : "no answer (connection closed)");
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rc = GALE_EIO;
        snprintf(why, sizeof why, "Redis answered: %.300s", rep->str);
    }
    p->cb(p->arg, rc, rc ? why : NULL);
    free(p);
}

static void async_eval(redis_store_t *r, int argc, const char **argv, const size_t *len, gale_store_cb cb, void *arg)
{
    char why[400];
    pending_t *p = malloc(sizeof *p);
    if (p) *p = (pending_t){r, cb, arg};
    if (r->ac && r->unanswered && now_ns() - r->oldest_ns > STUCK_NS) {
        gale_logf(GALE_LOG_WARN, "checkpoint", "Redis at %s:%d answered nothing for %llu s: connecting again", r->host,
                  r->port, (unsigned long long)(STUCK_NS / 1000000000ull));
        redisAsyncFree(r->ac); /* its commands are answered now, with no reply: they fail */
        r->ac = NULL;
    }
    redisAsyncContext *ac = r->stopped ? NULL : async_ctx(r, why, sizeof why);
    if (r->stopped) snprintf(why, sizeof why, "the run is stopping");
    if (!p || !ac || redisAsyncCommandArgv(ac, on_reply, p, argc, argv, len) != REDIS_OK) {
        if (!p) snprintf(why, sizeof why, "out of memory");
        else if (ac) snprintf(why, sizeof why, "Redis at %s:%d: %s", r->host, r->port, ac->errstr);
        free(p);
        cb(arg, GALE_EIO, why);
        return;
    }
    if (!r->unanswered++) r->oldest_ns = now_ns();
}

static void redis_put(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index,
                      gale_buf_t *bytes, gale_store_cb cb, void *arg)
{
    redis_store_t *r = (redis_store_t *)s;
    char k[600], set[400], zset[400], id[32];
    key(r, k, sizeof k, "chk:%" PRIu64 ":%s.%u", checkpoint, component, index);
    key(r, set, sizeof set, "chk:%" PRIu64 ":keys", checkpoint);
    key(r, zset, sizeof zset, "chks");
    snprintf(id, sizeof id, "%" PRIu64, checkpoint);
    const char *argv[] = {"EVAL", PUT_SCRIPT, "3", k, set, zset, bytes->p, id};
    size_t len[] = {4, strlen(PUT_SCRIPT), 1, strlen(k), strlen(set), strlen(zset), bytes->len, strlen(id)};
    async_eval(r, 8, argv, len, cb, arg); /* hiredis copies the arguments into its buffer */
    gale_buf_free(bytes);
}

static void redis_complete(gale_state_store_t *s, const gale_checkpoint_record_t *rec, gale_store_cb cb, void *arg)
{
    redis_store_t *r = (redis_store_t *)s;
    gale_buf_t text = {0};
    gale_checkpoint_record_format(rec, &text);
    if (text.failed) {
        gale_buf_free(&text);
        cb(arg, GALE_ENOMEM, "out of memory");
        return;
    }
    char zset[400], latest[400], chk[400], below[40];
    key(r, zset, sizeof zset, "chks");
    key(r, latest, sizeof latest, "latest");
    key(r, chk, sizeof chk, "chk:");
    snprintf(below, sizeof below, "(%" PRIu64, rec->id);
    const char *argv[] = {"EVAL", PRUNE_SCRIPT, "2", zset, latest, "-inf", below, chk, "0", text.p};
    size_t len[10];
    for (int i = 0; i < 9; i++) len[i] = strlen(argv[i]);
    len[9] = text.len;
    async_eval(r, 10, argv, len, cb, arg);
    gale_buf_free(&text);
}

static void redis_stop(gale_state_store_t *s)
{
    redis_store_t *r = (redis_store_t *)s;
    r->stopped = true;
    if (r->ac) redisAsyncFree(r->ac); /* its pending replies are answered (NULL), its poll handle closed */
    r->ac = NULL;
}

static void redis_close(gale_state_store_t *s)
{
    redis_store_t *r = (redis_store_t *)s;
    if (r->sync) redisFree(r->sync);
    free(r);
}

static const gale_state_store_ops_t redis_ops = {
    .name = "redis",
    .put = redis_put,
    .complete = redis_complete,
    .latest = redis_latest,
    .get = redis_get,
    .wipe = redis_wipe,
    .stop = redis_stop,
    .close = redis_close,
};

int gale_state_redis_open(uv_loop_t *loop, const char *addr, const char *topology, gale_state_store_t **out, char *why,
                          size_t cap)
{
    redis_store_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, cap, "out of memory");
        return GALE_ENOMEM;
    }
    r->base.ops = &redis_ops;
    r->base.loop = loop;
    if (!addr) addr = "127.0.0.1:6379";
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof r->host || !end || *end || port < 1 ||
        port > 65535) {
        snprintf(why, cap, "config.state_redis must be HOST:PORT (got \"%.100s\")", addr);
        free(r);
        return GALE_EINVAL;
    }
    snprintf(r->host, sizeof r->host, "%.*s", (int)(colon - addr), addr);
    r->port = (int)port;
    snprintf(r->prefix, sizeof r->prefix, "gale:%s:", topology);
    /* What a crash left above the latest complete checkpoint is removed now, as the file backend does. */
    gale_checkpoint_record_t rec = {0};
    int rc = redis_latest(&r->base, &rec, why, cap);
    if (!rc) {
        char above[40];
        snprintf(above, sizeof above, "(%" PRIu64, rec.id);
        rc = sync_prune(r, above, "+inf", false, why, cap);
    } else if (rc == GALE_ENOENT) {
        rc = sync_prune(r, "-inf", "+inf", false, why, cap);
    }
    gale_checkpoint_record_free(&rec);
    if (rc) {
        redis_close(&r->base);
        return rc;
    }
    *out = &r->base;
    return 0;
}
