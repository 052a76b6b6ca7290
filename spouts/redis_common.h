/*
 * redis_common.h: what the Redis plugins (spouts/redis_stream, bolts/redis_sink) share: their connection settings,
 * the check at open, and the link: a thread of the plugin's own that runs hiredis's asynchronous client on a libuv
 * loop, with one or two connections to the server, made again with backoff (100 ms doubling to 5 s, each reason
 * noted) when the server goes away. Header-only (static functions): each plugin is one .so of its own.
 *
 * The task's executor never waits on Redis: it hands work to the thread (under a lock, a batch at a time, then
 * redis_link_kick) and the thread hands results back the same way, then wakes the task (gale_wake). Everything
 * the link's callbacks touch lives on the thread; the plugin's ops run there too.
 */
#ifndef GALE_REDIS_COMMON_H
#define GALE_REDIS_COMMON_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <uv.h>

#include "base/redis_uv.h"
#include "gale.h"
#include "thread_notes.h"

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
#define REDIS_MAX_CONNS 2

typedef struct redis_link redis_link_t;

/* What the plugin does on the link's thread. Any may be NULL. */
typedef struct redis_link_ops {
    void (*up)(redis_link_t *l);   /* every connection is made (again): start (or resume) the work */
    void (*kick)(redis_link_t *l); /* the executor called redis_link_kick */
    void (*down)(redis_link_t *l); /* the connections are gone; their commands were answered with no reply */
    void (*tick)(redis_link_t *l); /* every tick_ms while up */
} redis_link_ops_t;

struct redis_link {
    /* Set before redis_link_start, then read-only. */
    void *owner;
    const redis_link_ops_t *ops;
    thread_notes_t *notes;
    char host[256];
    int port;
    int n_conns;      /* 1 or 2 */
    unsigned tick_ms; /* 0: no tick */
    /* The thread's. */
    redisAsyncContext *conn[REDIS_MAX_CONNS];
    int connected;
    bool up, was_up, ever_up, stopping;
    unsigned backoff_ms;
    uv_loop_t loop;
    uv_async_t kick;
    uv_timer_t retry, tick;
    pthread_t thread;
    bool started;
    atomic_bool stop;
};

/* ---- settings and the check at open ----------------------------------------------------------------------- */

/* host and port from the settings into `l`; 0, or GALE_EINVAL logged. */
static int redis_read_address(gale_ctx_t *ctx, redis_link_t *l)
{
    const char *host = gale_setting_str(ctx, "host", "127.0.0.1");
    int64_t port = gale_setting_int(ctx, "port", 6379);
    if (!*host || strlen(host) >= sizeof l->host) {
        gale_error(ctx, "settings.host must be 1 to %zu characters", sizeof l->host - 1);
        return GALE_EINVAL;
    }
    if (port < 1 || port > 65535) {
        gale_error(ctx, "settings.port must be 1 to 65535 (got %lld)", (long long)port);
        return GALE_EINVAL;
    }
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = (int)port;
    return 0;
}

/* A blocking connection for the checks at open, answering within timeout_ms; NULL with the reason logged (at
   error level, or as a warning when `retry` says the run goes on). The caller owns it (redisFree). */
static redisContext *redis_open_sync(gale_ctx_t *ctx, const redis_link_t *l, int64_t timeout_ms, bool retry)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(l->host, l->port, tv);
    redisReply *r = NULL;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) r = redisCommand(c, "PING");
    if (r && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return c;
    }
    gale_log(ctx, retry ? GALE_LOG_WARN : GALE_LOG_ERROR, "cannot reach Redis at %s:%d: %s%s", l->host, l->port,
             r                   ? r->str
             : c && c->errstr[0] ? c->errstr
                                 : "out of memory",
             retry ? " (retry = true: going on, connecting again in the background)" : "");
    if (r) freeReplyObject(r);
    if (c) redisFree(c);
    return NULL;
}

/* A reply's text for a note: its error, or what kind of reply it was. */
static const char *redis_reply_why(const redisAsyncContext *ac, const redisReply *r)
{
    if (!r) return ac && ac->errstr[0] ? ac->errstr : "no answer (the connection closed)";
    if (r->type == REDIS_REPLY_ERROR) return r->str;
    return "an answer of an unexpected type";
}

/* ---- the link, on its thread ------------------------------------------------------------------------------ */

static void redis_link_connect(redis_link_t *l);

static void redis__link_on_retry(uv_timer_t *t) { redis_link_connect(t->data); }
static void redis__link_on_tick(uv_timer_t *t);

static void redis__link_gone(redis_link_t *l)
{
    for (int i = 0; i < l->n_conns; i++)
        if (l->conn[i]) return;
    l->connected = 0;
    if (l->up || l->was_up) {
        l->up = l->was_up = false;
        uv_timer_stop(&l->tick);
        if (l->ops->down) l->ops->down(l);
    }
    if (l->stopping) return;
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : REDIS_BACKOFF_MIN_MS;
    if (l->backoff_ms > REDIS_BACKOFF_MAX_MS) l->backoff_ms = REDIS_BACKOFF_MAX_MS;
    uv_timer_start(&l->retry, redis__link_on_retry, l->backoff_ms, 0);
}

/* Drops every connection (their commands are answered with no reply), once. */
static void redis__link_drop(redis_link_t *l)
{
    for (int i = 0; i < l->n_conns; i++) {
        redisAsyncContext *ac = l->conn[i];
        l->conn[i] = NULL; /* first: its disconnect callback comes from inside the free */
        if (ac) redisAsyncFree(ac);
    }
    redis__link_gone(l);
}

static int redis__link_index(redis_link_t *l, const redisAsyncContext *ac)
{
    for (int i = 0; i < l->n_conns; i++)
        if (l->conn[i] == ac) return i;
    return -1;
}

static void redis__link_on_connect(const redisAsyncContext *ac, int status)
{
    redis_link_t *l = ac->data;
    int i = redis__link_index(l, ac);
    if (i < 0) return;
    if (status != REDIS_OK) {
        l->conn[i] = NULL; /* hiredis frees it */
        if (!l->stopping)
            thread_note(l->notes, GALE_LOG_WARN, "cannot connect to Redis at %s:%d: %s; again in %u ms", l->host,
                        l->port, ac->errstr, l->backoff_ms ? l->backoff_ms * 2 : REDIS_BACKOFF_MIN_MS);
        redis__link_drop(l);
        return;
    }
    if (++l->connected < l->n_conns) return;
    if (l->ever_up) thread_note(l->notes, GALE_LOG_INFO, "connected to Redis at %s:%d again", l->host, l->port);
    l->up = l->was_up = l->ever_up = true;
    l->backoff_ms = 0;
    if (l->tick_ms) uv_timer_start(&l->tick, redis__link_on_tick, l->tick_ms, l->tick_ms);
    if (l->ops->up) l->ops->up(l);
}

static void redis__link_on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_link_t *l = ac->data;
    int i = redis__link_index(l, ac);
    if (i < 0) return; /* dropped by us: redis__link_drop goes on */
    l->conn[i] = NULL; /* hiredis frees it */
    if (!l->stopping)
        thread_note(l->notes, GALE_LOG_WARN, "the connection to Redis at %s:%d dropped: %s; connecting again", l->host,
                    l->port, status == REDIS_OK ? "closed" : ac->errstr);
    redis__link_drop(l);
}

static void redis_link_connect(redis_link_t *l)
{
    if (l->stopping) return;
    l->connected = 0;
    for (int i = 0; i < l->n_conns; i++) {
        redisAsyncContext *ac = redisAsyncConnect(l->host, l->port);
        if (!ac || ac->err || gale_redis_uv_attach(ac, &l->loop) != REDIS_OK) {
            thread_note(l->notes, GALE_LOG_WARN, "cannot connect to Redis at %s:%d: %s", l->host, l->port,
                        ac && ac->err ? ac->errstr : "out of memory");
            if (ac) redisAsyncFree(ac);
            redis__link_drop(l);
            return;
        }
        ac->data = l;
        redisAsyncSetConnectCallback(ac, redis__link_on_connect);
        redisAsyncSetDisconnectCallback(ac, redis__link_on_disconnect);
        l->conn[i] = ac;
    }
}

static void redis__link_on_tick(uv_timer_t *t)
{
    redis_link_t *l = t->data;
    if (l->up && l->ops->tick) l->ops->tick(l);
}

static void redis__link_on_kick(uv_async_t *a)
{
    redis_link_t *l = a->data;
    if (atomic_load(&l->stop) && !l->stopping) {
        l->stopping = true;
        redis__link_drop(l); /* answers what is outstanding (no reply): the ops see it, then the loop ends */
        uv_timer_stop(&l->retry);
        uv_timer_stop(&l->tick);
        uv_close((uv_handle_t *)&l->retry, NULL);
        uv_close((uv_handle_t *)&l->tick, NULL);
        uv_close((uv_handle_t *)&l->kick, NULL);
        return;
    }
    if (!l->stopping && l->ops->kick) l->ops->kick(l);
}

static void *redis__link_main(void *arg)
{
    redis_link_t *l = arg;
    redis_link_connect(l);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- the link, from the executor ---------------------------------------------------------------------------- */

/* Starts the thread, which connects at once. 0, or GALE_ENOMEM (nothing to stop then). */
static int redis_link_start(redis_link_t *l)
{
    if (uv_loop_init(&l->loop)) return GALE_ENOMEM;
    uv_async_init(&l->loop, &l->kick, redis__link_on_kick);
    uv_timer_init(&l->loop, &l->retry);
    uv_timer_init(&l->loop, &l->tick);
    l->kick.data = l->retry.data = l->tick.data = l;
    if (pthread_create(&l->thread, NULL, redis__link_main, l)) {
        uv_close((uv_handle_t *)&l->kick, NULL);
        uv_close((uv_handle_t *)&l->retry, NULL);
        uv_close((uv_handle_t *)&l->tick, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
        return GALE_ENOMEM;
    }
    l->started = true;
    return 0;
}

/* Asks the thread to look at what the executor handed over; cheap when repeated. */
static void redis_link_kick(redis_link_t *l) { uv_async_send(&l->kick); }

/* Stops the thread: the connections are dropped (what is outstanding is answered with no reply, on the thread,
   before this returns), and the thread joined. */
static void redis_link_stop(redis_link_t *l)
{
    if (!l->started) return;
    atomic_store(&l->stop, true);
    uv_async_send(&l->kick);
    pthread_join(l->thread, NULL);
    uv_loop_close(&l->loop);
    l->started = false;
}

static uint64_t redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
