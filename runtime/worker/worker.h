/*
 * worker.h: the driver that makes a runtime one worker among several (`gale worker`, started by a supervisor).
 *
 * Plugged in from above through gale_runtime_opts_t.driver: the runtime stays local mode's, and this driver adds
 * what a worker has besides (worker.c): the control pipe on fd 3 to the supervisor (control.h's protocol), which
 * starts, drains, finishes and stops it, and the I/O lane to the other workers over the transport (transport.h).
 */
#ifndef GALE_WORKER_H
#define GALE_WORKER_H

#include <stddef.h>

#include "runtime.h"

typedef struct gale_worker_opts {
    const char *listen_host; /* the address to listen on for peers; NULL: 127.0.0.1 */
    const void *secret;      /* the topology's secret, proven to peers (borrowed; must outlive the run) */
    size_t secret_len;
    uint64_t placement;      /* cluster mode: the version of the placement its slot runs under (transport.h); 0 */
    struct gale_tls_ctx *tls; /* TLS between the workers (borrowed; must outlive the run); NULL: in clear */
    struct gale_io *io;      /* the driver's own state while the run lasts; start with NULL */
} gale_worker_opts_t;

/* The worker driver over `o` (borrowed: it must outlive the run): pass its address in gale_runtime_opts_t.driver,
   with n_workers and worker_index saying which worker this process is. */
gale_runtime_driver_t gale_worker_driver(gale_worker_opts_t *o);

#endif
