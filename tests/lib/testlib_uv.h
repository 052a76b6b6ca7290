/* testlib_uv.h: running a libuv loop in a test until a condition holds, bounded by a time (the transport tests). */
#ifndef GALE_TESTLIB_UV_H
#define GALE_TESTLIB_UV_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

static inline void tl_uv_noop_tick(uv_timer_t *h) { (void)h; }

/* Runs `loop` until `cond` holds or `ms` pass (a 5 ms tick keeps it turning); whether it held. */
#define RUN_UNTIL(loop, cond, ms)                                         \
    ({                                                                    \
        uv_timer_t tick_;                                                 \
        uv_timer_init(loop, &tick_);                                      \
        uv_timer_start(&tick_, tl_uv_noop_tick, 5, 5);                    \
        uint64_t end_ = uv_now(loop) + (ms);                              \
        while (!(cond) && uv_now(loop) < end_) uv_run(loop, UV_RUN_ONCE); \
        uv_close((uv_handle_t *)&tick_, NULL);                            \
        uv_run(loop, UV_RUN_NOWAIT);                                      \
        (bool)(cond);                                                     \
    })

#endif
