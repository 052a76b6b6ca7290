/*
 * test_cluster.h: a whole cluster on this host as a test fixture: a real ZooKeeper (zk_server.h), one or two
 * `gale nimbus`, and supervisors started with --zk (test_daemon.h), all sharing one secret and a temporary folder
 * that every supervisor may serve files from; the `gale submit | list | kill` verbs run against it. Sessions time
 * out in 2 s, so that a dead process is noticed quickly. Every process is stopped by its pid, and a supervisor's
 * workers are checked to be gone with it. Criterion asserts on failure.
 */
#ifndef GALE_TEST_CLUSTER_H
#define GALE_TEST_CLUSTER_H

#include <stdbool.h>
#include <sys/types.h>

#include "test_daemon.h"
#include "testlib.h"
#include "zk_server.h"

#define TL_CLUSTER_SECRET "cluster test secret, 16 bytes or more"
#define TL_CLUSTER_SUPS 4

typedef struct tl_nimbus {
    char *dir;
    pid_t pid;
    int port;      /* its control port */
    int http_port; /* its HTTP endpoint (every nimbus of the fixture serves one: --http 0) */
} tl_nimbus_t;

typedef struct tl_cluster {
    tl_zk_t zk;
    char *dir, *secret, *data; /* the shared folder, the secret file in it, the supervisors' data folder */
    char *python_dir;          /* where python3 is, which the supervisors allow (shell components run it) */
    tl_nimbus_t nimbus[2];
    tl_daemon_t sup[TL_CLUSTER_SUPS];
    int n_sups;
} tl_cluster_t;

/* ZooKeeper, one nimbus, and `n_sups` supervisors of `slots` slots each; waits until nimbus has seen them all. */
void tl_cluster_start(tl_cluster_t *c, int n_sups, int slots);
/* Another supervisor, once nimbus has seen it: its index. */
int tl_cluster_add_supervisor(tl_cluster_t *c, int slots);
/* The same, once nimbus `nimbus` (0 or 1: the one that leads now) has seen it, with its blob cache in `data` (NULL:
   the folder the others share), so that what it runs must be fetched from nimbus. */
int tl_cluster_add_supervisor_with(tl_cluster_t *c, int slots, int nimbus, const char *data);
/* Nimbus `i` (0 or 1) started; waits for its "listening" line. */
void tl_cluster_start_nimbus(tl_cluster_t *c, int i);
/* Nimbus `i`'s log so far, malloc'd (never NULL). */
char *tl_cluster_nimbus_log(const tl_cluster_t *c, int i);
/* Waits (bounded, 60 s) until nimbus i's log holds `what`; fails the test if it never does. */
void tl_cluster_wait_log(const tl_cluster_t *c, int i, const char *what);
/* `gale VERB --zk HOSTS --secret-file SECRET ARGS...` (args NULL-terminated), bounded by 180 s. */
tl_result_t tl_cluster_verb(const tl_cluster_t *c, const char *verb, const char *const *args);
/* The same with the arguments listed: TL_VERB(c, "kill", "--wait", "1", NAME). */
tl_result_t tl_cluster_verb_list(const tl_cluster_t *c, const char *verb, ...);
#define TL_VERB(c, ...) tl_cluster_verb_list((c), __VA_ARGS__, (const char *)NULL)
/* Whether `gale list` shows `what` (it must succeed). */
bool tl_cluster_listed(const tl_cluster_t *c, const char *what);
/* `gale VERB --nimbus ADDR --secret-file SECRET ARGS...`: nimbus given by its HOST:PORT, not found through
   ZooKeeper. Bounded by 180 s. */
tl_result_t tl_cluster_verb_at(const tl_cluster_t *c, const char *addr, const char *verb, const char *const *args);
/* The same with the arguments listed: TL_VERB_AT(c, "127.0.0.1:PORT", "list"). */
tl_result_t tl_cluster_verb_at_list(const tl_cluster_t *c, const char *addr, const char *verb, ...);
#define TL_VERB_AT(c, addr, ...) tl_cluster_verb_at_list((c), (addr), __VA_ARGS__, (const char *)NULL)
/* Stops supervisor i (SIGTERM, its workers checked gone) unless it is stopped already. */
void tl_cluster_stop_supervisor(tl_cluster_t *c, int i);
/* Stops everything (supervisors, nimbus, ZooKeeper) and removes the folders. */
void tl_cluster_free(tl_cluster_t *c);

#endif
