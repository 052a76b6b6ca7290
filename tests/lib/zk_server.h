/*
 * zk_server.h: a real ZooKeeper server (Debian's zookeeper package) as a test fixture, started by
 * runtime/cluster/zk_local.h as `gale dev-cluster` starts it: on 127.0.0.1 at a free port in a temporary folder of
 * its own, ready once it answers `ruok`, stopped by its pid (never by name). Its tickTime is 100 ms, so that
 * sessions may time out in 200 ms to 2 s. Criterion asserts on failure (with the end of the server's log).
 */
#ifndef GALE_TEST_ZK_SERVER_H
#define GALE_TEST_ZK_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct tl_zk {
    char *dir; /* its folder: zoo.cfg, data/, log/, zookeeper.log (malloc'd) */
    pid_t pid;
    int port;
    char hosts[32]; /* "127.0.0.1:PORT", as gale_zk_opts_t.hosts takes it */
} tl_zk_t;

/* Starts a server and waits (bounded) until it answers. */
void tl_zk_start(tl_zk_t *z);
/* Stops it and starts it again on the same port with its data: the sessions it knew live on (a client that comes
   back within its session timeout finds its session). */
void tl_zk_restart(tl_zk_t *z);
/* Stops it (SIGTERM, then SIGKILL after a bound) and waits for it; the folder stays until tl_zk_free. */
void tl_zk_stop(tl_zk_t *z);
/* Stops it if it runs, and removes its folder. */
void tl_zk_free(tl_zk_t *z);
/* HOST:PORT where a server was a moment ago and nothing listens now, into buf: for the tests of an ensemble that
   cannot be reached. */
void tl_zk_dead_hosts(char *buf, size_t cap);
/* Whether it answers `ruok` with `imok` now. */
bool tl_zk_ok(const tl_zk_t *z);

#endif
