/*
 * redis_uv.h: hiredis's asynchronous context on a libuv loop, for the runtime's Redis state backend and for the
 * Redis plugins (header-only: a plugin links nothing of the runtime).
 *
 * hiredis 0.14's own libuv adapter (adapters/libuv.h) drops a poll callback whose status is an error, and a
 * non-blocking connect that is refused is reported exactly so: hiredis never learns of it, and every command queued
 * on the connection waits for ever. This is the same adapter with that case handed to hiredis (a write event, in
 * which it reads the socket's error, fails the connection and answers its commands).
 *
 * gale_redis_uv_attach(ac, loop): REDIS_OK, or REDIS_ERR (out of memory, a socket libuv cannot poll); on REDIS_ERR
 * the caller still owns `ac` and frees it. Once attached, hiredis owns the watcher: redisAsyncFree (or a disconnect)
 * closes it, and the loop must run once more for the close to complete.
 */
#ifndef GALE_REDIS_UV_H
#define GALE_REDIS_UV_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <uv.h>

typedef struct gale_redis_uv {
    redisAsyncContext *ac;
    uv_poll_t handle;
    int events;
} gale_redis_uv_t;

static void gale__redis_uv_on_poll(uv_poll_t *h, int status, int events)
{
    gale_redis_uv_t *p = h->data;
    if (status < 0) events = UV_WRITABLE;
    if (p->ac && (events & UV_READABLE)) redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
}

static void gale__redis_uv_set(gale_redis_uv_t *p, int events)
{
    p->events = events;
    if (events) uv_poll_start(&p->handle, events, gale__redis_uv_on_poll);
    else uv_poll_stop(&p->handle);
}

static void gale__redis_uv_add_read(void *d) { gale__redis_uv_set(d, ((gale_redis_uv_t *)d)->events | UV_READABLE); }
static void gale__redis_uv_del_read(void *d) { gale__redis_uv_set(d, ((gale_redis_uv_t *)d)->events & ~UV_READABLE); }
static void gale__redis_uv_add_write(void *d) { gale__redis_uv_set(d, ((gale_redis_uv_t *)d)->events | UV_WRITABLE); }
static void gale__redis_uv_del_write(void *d) { gale__redis_uv_set(d, ((gale_redis_uv_t *)d)->events & ~UV_WRITABLE); }

static void gale__redis_uv_closed(uv_handle_t *h) { free(h->data); }

static void gale__redis_uv_cleanup(void *d)
{
    gale_redis_uv_t *p = d;
    p->ac = NULL; /* hiredis frees the context after this */
    uv_close((uv_handle_t *)&p->handle, gale__redis_uv_closed);
}

static inline int gale_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    gale_redis_uv_t *p = calloc(1, sizeof *p);
    if (!p) return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd)) {
        free(p);
        return REDIS_ERR;
    }
    p->ac = ac;
    p->handle.data = p;
    ac->ev.data = p;
    ac->ev.addRead = gale__redis_uv_add_read, ac->ev.delRead = gale__redis_uv_del_read;
    ac->ev.addWrite = gale__redis_uv_add_write, ac->ev.delWrite = gale__redis_uv_del_write;
    ac->ev.cleanup = gale__redis_uv_cleanup;
    return REDIS_OK;
}

#endif
