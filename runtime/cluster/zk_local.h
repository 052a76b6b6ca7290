/*
 * zk_local.h: a ZooKeeper server of this host, for `gale dev-cluster` and the tests (tests/lib/zk_local.c):
 * Debian's (package zookeeper, which `make deps` installs), started without systemd as
 * `JMXDISABLE=true ZOO_LOG_DIR=DIR/log zkServer.sh start-foreground DIR/zoo.cfg` in a folder of its own, standalone
 * on 127.0.0.1 with the admin server off, ready once it answers `ruok` with `imok`, and stopped by its pid (never by
 * name). It runs in a process group of its own and is killed when the process that started it ends (proc.h).
 */
#ifndef GALE_ZK_LOCAL_H
#define GALE_ZK_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "diag.h"

/* Where Debian's package puts the server's script; $GALE_ZK_SERVER names another (an unpacked release's). */
#define GALE_ZK_LOCAL_SCRIPT "/usr/share/zookeeper/bin/zkServer.sh"

typedef struct gale_zk_local_opts {
    const char *dir; /* an existing folder of its own: zoo.cfg, data/, log/ and zookeeper.log (borrowed) */
    int port;        /* 0: a free one, and another if the server loses the race for it */
    int tick_ms;     /* 0: 2000, ZooKeeper's own */
    int min_session_ms, max_session_ms; /* 0: ZooKeeper's (2 and 20 ticks) */
    int ready_ms;                       /* how long it may take to answer (0: 90 s, for a busy machine) */
} gale_zk_local_opts_t;

typedef struct gale_zk_local {
    pid_t pid; /* 0 once stopped */
    int port;
    char hosts[32]; /* "127.0.0.1:PORT", as gale_zk_opts_t.hosts and --zk take it */
    char log[4096]; /* the server's stdout and stderr */
} gale_zk_local_t;

/* The server's script: $GALE_ZK_SERVER when set, else GALE_ZK_LOCAL_SCRIPT (static storage or the environment's). */
const char *gale_zk_local_script(void);

/* 0 when the server's script can be run; GALE_ENOENT when not, with `d` saying that `make deps` installs it. */
int gale_zk_local_installed(gale_diag_t *d);

/* Writes DIR/zoo.cfg and starts a server, then waits (bounded) until it answers. The data in DIR/data is kept from
   a server that ran there before, so that a restart on the same port finds its sessions. 0 and *z; or, with nothing
   left running: GALE_ENOENT (the script is not installed: `d` says that `make deps` installs it), GALE_EEXIST (the
   given port is taken), GALE_ETIMEDOUT or GALE_EIO (it did not answer, or ended; `d` names its log), or another
   negative code with `d` saying why. */
int gale_zk_local_start(const gale_zk_local_opts_t *o, gale_zk_local_t *z, gale_diag_t *d);

/* Whether the server at 127.0.0.1:port answers `ruok` with `imok` now (within a second). */
bool gale_zk_local_ok(int port);

/* Stops it (SIGTERM, then SIGKILL after `timeout_ms`), waits for it and sets z->pid to 0; nothing when it is not
   running. Its folder stays. */
void gale_zk_local_stop(gale_zk_local_t *z, int timeout_ms);

#endif
