/*
 * The ZooKeeper session (zk.h) against a real ZooKeeper server (zk_server.h): nodes with their versions,
 * sequential and ephemeral nodes, watches delivered on the caller's loop, the digest ACL that keeps gale's nodes
 * from a client without the secret, folders someone else made not built on, no server at all, and a server that goes away and comes back too late for the
 * session.
 */
#define THREADED 1 /* for zookeeper.h's synchronous calls: the test takes a session over with them */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include <zookeeper/zookeeper.h>

#include "gale.h"
#include "testlib.h"
#include "zk.h"
#include "zk_server.h"

static tl_zk_t server;

static void start_server(void) { tl_zk_start(&server); }
static void stop_server(void) { tl_zk_free(&server); }

TestSuite(zk, .init = start_server, .fini = stop_server, .timeout = 120);

/* What the callbacks saw, and on which thread. */
typedef struct seen {
    pthread_t loop_thread;
    bool off_loop;
    int states[16], n_states;
    int events[16], n_events;
    char paths[16][64];
} seen_t;

static void on_state(void *arg, gale_zk_state_t st)
{
    seen_t *s = arg;
    s->off_loop |= !pthread_equal(pthread_self(), s->loop_thread);
    if (s->n_states < 16) s->states[s->n_states++] = st;
}

static void on_watch(void *arg, gale_zk_event_t ev, const char *path)
{
    seen_t *s = arg;
    s->off_loop |= !pthread_equal(pthread_self(), s->loop_thread);
    if (s->n_events < 16) {
        snprintf(s->paths[s->n_events], sizeof s->paths[0], "%s", path);
        s->events[s->n_events++] = ev;
    }
}

static gale_zk_t *open_with(uv_loop_t *loop, const char *secret, seen_t *s, int session_ms)
{
    gale_zk_opts_t o = {.hosts = server.hosts,
                        .session_timeout_ms = session_ms,
                        .connect_timeout_ms = 30000,
                        .secret = secret,
                        .secret_len = secret ? strlen(secret) : 0,
                        .cb = {.state = s ? on_state : NULL, .watch = s ? on_watch : NULL, .arg = s}};
    if (s) s->loop_thread = pthread_self();
    gale_zk_t *zk = NULL;
    char why[160] = "";
    cr_assert_eq(gale_zk_open(loop, &o, &zk, why, sizeof why), 0, "%s", why);
    return zk;
}

static void close_zk(uv_loop_t *loop, gale_zk_t *zk)
{
    gale_zk_close(zk);
    uv_run(loop, UV_RUN_NOWAIT); /* runs the close of its handle, which frees it */
}

/* Runs `loop` until `done(s)` or `seconds` pass. */
static bool run_until(uv_loop_t *loop, bool (*done)(const seen_t *), const seen_t *s, double seconds)
{
    for (int i = 0; i < (int)(seconds * 100); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (done(s)) return true;
        tl_sleep_ms(10);
    }
    return done(s);
}

Test(zk, nodes_are_created_read_changed_and_deleted_by_version)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_t *zk = open_with(&loop, NULL, NULL, 0);
    cr_assert_eq(gale_zk_create_all(zk, "/gale/a/b"), 0);
    cr_assert_eq(gale_zk_create_all(zk, "/gale/a/b"), 0, "mkdir -p: no error when it is there");
    cr_assert_eq(gale_zk_create(zk, "/gale/a/b/x", "one", 3, 0, NULL, 0), 0);
    cr_assert_eq(gale_zk_create(zk, "/gale/a/b/x", "again", 5, 0, NULL, 0), GALE_EEXIST);
    cr_assert_eq(gale_zk_create(zk, "/gale/nothing/here", "x", 1, 0, NULL, 0), GALE_ENOENT, "no parent");
    char *data;
    size_t len;
    int32_t version = -5;
    cr_assert_eq(gale_zk_get(zk, "/gale/a/b/x", false, &data, &len, &version), 0);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(data, "one");
    cr_assert_eq(version, 0);
    free(data);
    cr_assert_eq(gale_zk_set(zk, "/gale/a/b/x", "two", 3, 0), 0);
    cr_assert_eq(gale_zk_set(zk, "/gale/a/b/x", "three", 5, 0), GALE_EAGAIN, "someone changed it first");
    cr_assert_eq(gale_zk_get(zk, "/gale/a/b/x", false, &data, &len, &version), 0);
    cr_assert_str_eq(data, "two");
    cr_assert_eq(version, 1);
    free(data);
    cr_assert_eq(gale_zk_exists(zk, "/gale/a/b/x", false, &version), 0);
    cr_assert_eq(version, 1);
    char **names;
    size_t n;
    cr_assert_eq(gale_zk_children(zk, "/gale/a/b", false, &names, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(names[0], "x");
    gale_zk_free_names(names, n);
    cr_assert_eq(gale_zk_delete(zk, "/gale/a/b", -1), -ENOTEMPTY);
    cr_assert_eq(gale_zk_delete(zk, "/gale/a/b/x", 0), GALE_EAGAIN);
    cr_assert_eq(gale_zk_delete(zk, "/gale/a/b/x", 1), 0);
    cr_assert_eq(gale_zk_get(zk, "/gale/a/b/x", false, &data, &len, NULL), GALE_ENOENT);
    cr_assert_null(data);
    cr_assert_eq(gale_zk_exists(zk, "/gale/a/b/x", false, NULL), GALE_ENOENT);
    cr_assert_eq(gale_zk_children(zk, "/gale/none", false, &names, &n), GALE_ENOENT);
    cr_assert_eq(gale_zk_create(zk, "relative", NULL, 0, 0, NULL, 0), GALE_EINVAL);
    cr_assert_eq(gale_zk_get(zk, "", false, &data, &len, NULL), GALE_EINVAL);
    close_zk(&loop, zk);
    cr_assert_eq(uv_loop_close(&loop), 0, "the session left a handle on the loop");
}

Test(zk, data_larger_than_the_first_read_comes_whole)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_t *zk = open_with(&loop, NULL, NULL, 0);
    size_t big = 200 * 1024;
    char *blob = malloc(big);
    for (size_t i = 0; i < big; i++) blob[i] = (char)('a' + i % 26);
    cr_assert_eq(gale_zk_create(zk, "/blob", blob, big, 0, NULL, 0), 0);
    char *data;
    size_t len;
    cr_assert_eq(gale_zk_get(zk, "/blob", false, &data, &len, NULL), 0);
    cr_assert_eq(len, big);
    cr_assert_eq(memcmp(data, blob, big), 0);
    free(data);
    cr_assert_eq(gale_zk_create(zk, "/empty", NULL, 0, 0, NULL, 0), 0);
    cr_assert_eq(gale_zk_get(zk, "/empty", false, &data, &len, NULL), 0);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(data, "");
    free(data);
    free(blob);
    close_zk(&loop, zk);
    uv_loop_close(&loop);
}

Test(zk, sequential_nodes_are_numbered_in_order_and_listed_sorted)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_t *zk = open_with(&loop, NULL, NULL, 0);
    cr_assert_eq(gale_zk_create_all(zk, "/leader"), 0);
    char name[3][128];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(gale_zk_create(zk, "/leader/n-", NULL, 0, GALE_ZK_SEQUENTIAL, name[i], sizeof name[i]), 0);
    cr_assert_str_eq(name[0], "/leader/n-0000000000");
    cr_assert_str_eq(name[2], "/leader/n-0000000002");
    char **names;
    size_t n;
    cr_assert_eq(gale_zk_children(zk, "/leader", false, &names, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "n-0000000000");
    cr_assert_str_eq(names[1], "n-0000000001");
    gale_zk_free_names(names, n);
    close_zk(&loop, zk);
    uv_loop_close(&loop);
}

static bool heard_deleted(const seen_t *s)
{
    bool node = false, children = false;
    for (int i = 0; i < s->n_events; i++) {
        node |= s->events[i] == GALE_ZK_NODE_DELETED && !strcmp(s->paths[i], "/live/me");
        children |= s->events[i] == GALE_ZK_CHILDREN_CHANGED && !strcmp(s->paths[i], "/live");
    }
    return node && children;
}

/* A supervisor's node is ephemeral: when its session ends, the node goes, and whoever watched it hears of it on
   its own loop. */
Test(zk, an_ephemeral_node_goes_with_its_session_and_the_watchers_hear_it_on_their_loop)
{
    uv_loop_t loop_a, loop_b;
    uv_loop_init(&loop_a);
    uv_loop_init(&loop_b);
    seen_t seen = {0};
    gale_zk_t *a = open_with(&loop_a, NULL, NULL, 0), *b = open_with(&loop_b, NULL, &seen, 0);
    cr_assert_eq(gale_zk_create_all(a, "/live"), 0);
    cr_assert_eq(gale_zk_create(a, "/live/me", "host:1", 6, GALE_ZK_EPHEMERAL, NULL, 0), 0);
    char **names;
    size_t n;
    cr_assert_eq(gale_zk_children(b, "/live", true, &names, &n), 0);
    cr_assert_eq(n, 1);
    gale_zk_free_names(names, n);
    cr_assert_eq(gale_zk_exists(b, "/live/me", true, NULL), 0);
    cr_assert_eq(gale_zk_delete(a, "/live", -1), -ENOTEMPTY);
    close_zk(&loop_a, a);
    cr_assert(run_until(&loop_b, heard_deleted, &seen, 30), "%d events", seen.n_events);
    cr_assert_not(seen.off_loop, "a callback ran off the caller's loop");
    cr_assert_eq(gale_zk_exists(b, "/live/me", false, NULL), GALE_ENOENT);
    close_zk(&loop_b, b);
    uv_loop_close(&loop_a);
    uv_loop_close(&loop_b);
}

/* Nodes created with the secret carry the digest ACL: a session without it, or with another secret, can neither
   read nor change them; one with the same secret can. */
Test(zk, without_the_secret_a_session_can_neither_read_nor_change_gales_nodes)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_t *owner = open_with(&loop, "the cluster secret", NULL, 0);
    cr_assert_eq(gale_zk_create(owner, "/secure", "assignments", 11, 0, NULL, 0), 0);
    gale_zk_t *stranger = open_with(&loop, NULL, NULL, 0), *other = open_with(&loop, "another secret", NULL, 0),
              *peer = open_with(&loop, "the cluster secret", NULL, 0);
    char *data;
    size_t len;
    cr_assert_eq(gale_zk_get(stranger, "/secure", false, &data, &len, NULL), -EACCES);
    cr_assert_eq(gale_zk_set(stranger, "/secure", "mine", 4, -1), -EACCES);
    cr_assert_eq(gale_zk_delete(stranger, "/secure", -1), 0, "delete is the parent's ACL's: the root is open");
    cr_assert_eq(gale_zk_create(owner, "/secure", "assignments", 11, 0, NULL, 0), 0);
    cr_assert_eq(gale_zk_create(owner, "/secure/child", NULL, 0, 0, NULL, 0), 0);
    cr_assert_eq(gale_zk_delete(other, "/secure/child", -1), -EACCES, "a child is protected by its parent's ACL");
    cr_assert_eq(gale_zk_get(other, "/secure", false, &data, &len, NULL), -EACCES);
    cr_assert_eq(gale_zk_get(peer, "/secure", false, &data, &len, NULL), 0);
    cr_assert_str_eq(data, "assignments");
    free(data);
    cr_assert_eq(gale_zk_set(peer, "/secure", "moved", 5, -1), 0);
    close_zk(&loop, owner);
    close_zk(&loop, stranger);
    close_zk(&loop, other);
    close_zk(&loop, peer);
    uv_loop_close(&loop);
}

/* A folder that exists already is built on only if it is the cluster's: one open to all (a root someone made
   first) or another secret's is refused, whatever is above it; one the same secret made is used. */
Test(zk, create_all_uses_only_a_folder_with_the_clusters_acl)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gale_zk_t *owner = open_with(&loop, "the cluster secret", NULL, 0),
              *peer = open_with(&loop, "the cluster secret", NULL, 0), *stranger = open_with(&loop, NULL, NULL, 0),
              *other = open_with(&loop, "another secret", NULL, 0);
    cr_assert_eq(gale_zk_create_all(stranger, "/open/squat"), 0, "without a secret nothing is judged");
    cr_assert_eq(gale_zk_create_all(owner, "/open/squat"), -EACCES, "a folder open to all");
    cr_assert_eq(gale_zk_create_all(owner, "/open/squat/under"), 0, "made now, under the open one: the cluster's");
    cr_assert_eq(gale_zk_create_all(other, "/open/theirs"), 0);
    cr_assert_eq(gale_zk_create_all(owner, "/open/theirs"), -EACCES, "another secret's, which keeps us out");
    cr_assert_eq(gale_zk_create_all(owner, "/open/ours"), 0);
    cr_assert_eq(gale_zk_create_all(peer, "/open/ours"), 0, "the same secret's, made by another session");
    cr_assert_eq(gale_zk_create_all(peer, "/open/ours/deeper"), 0);
    close_zk(&loop, owner);
    close_zk(&loop, peer);
    close_zk(&loop, stranger);
    close_zk(&loop, other);
    uv_loop_close(&loop);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(zk, no_server_is_a_timeout_within_its_bound_naming_the_hosts)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char hosts[32];
    tl_zk_dead_hosts(hosts, sizeof hosts);
    gale_zk_opts_t o = {.hosts = hosts, .connect_timeout_ms = 700};
    gale_zk_t *zk = (gale_zk_t *)1;
    char why[160] = "";
    double t0 = now_s();
    cr_assert_eq(gale_zk_open(&loop, &o, &zk, why, sizeof why), GALE_ETIMEDOUT);
    double took = now_s() - t0;
    cr_assert_null(zk);
    cr_assert_not_null(strstr(why, hosts), "%s", why);
    cr_assert_lt(took, 10.0, "the bound was 0.7 s, it took %.1f s", took);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a failed open left a handle on the loop");
    o.hosts = "";
    cr_assert_eq(gale_zk_open(&loop, &o, &zk, NULL, 0), GALE_EINVAL);
}

static bool heard_connecting(const seen_t *s)
{
    for (int i = 0; i < s->n_states; i++)
        if (s->states[i] == GALE_ZK_CONNECTING) return true;
    return false;
}

static bool heard_connected(const seen_t *s)
{
    for (int i = 0; i < s->n_states; i++)
        if (s->states[i] == GALE_ZK_CONNECTED) return true;
    return false;
}

static bool heard_expired(const seen_t *s)
{
    for (int i = 0; i < s->n_states; i++)
        if (s->states[i] == GALE_ZK_EXPIRED) return true;
    return false;
}

static void ignore(zhandle_t *zh, int type, int state, const char *path, void *ctx) {}

/* Another client takes the session over and closes it: ZooKeeper ends the session (Curator's KillSession). */
static void kill_session(const gale_zk_t *zk)
{
    clientid_t id;
    gale_zk_session_credentials(zk, &id.client_id, id.passwd);
    zhandle_t *zh = zookeeper_init(server.hosts, ignore, 1000, &id, NULL, 0);
    cr_assert_not_null(zh);
    for (int i = 0; i < 3000 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++) tl_sleep_ms(10);
    cr_assert_eq(zoo_state(zh), ZOO_CONNECTED_STATE, "could not take the session over");
    zookeeper_close(zh);
}

/* The server goes away: the session says it is reconnecting, and calls time out. It comes back within the session
   timeout with what it knew: the session lives on, its ephemeral node too. Then ZooKeeper ends the session: it is
   expired, its ephemeral node gone, and calls say so. */
Test(zk, a_server_that_goes_away_is_said_and_a_lost_session_expires)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t seen = {0};
    gale_zk_t *zk = open_with(&loop, NULL, &seen, 1000);
    cr_assert_eq(gale_zk_create(zk, "/mine", NULL, 0, GALE_ZK_EPHEMERAL, NULL, 0), 0);
    tl_zk_stop(&server);
    cr_assert(run_until(&loop, heard_connecting, &seen, 30), "no word of the lost connection");
    cr_assert_eq(gale_zk_exists(zk, "/mine", false, NULL), GALE_ETIMEDOUT);
    tl_zk_restart(&server);
    seen.n_states = 0;
    cr_assert(run_until(&loop, heard_connected, &seen, 60), "the session did not come back");
    cr_assert_eq(gale_zk_exists(zk, "/mine", false, NULL), 0, "the session and its ephemeral node live on");
    kill_session(zk);
    cr_assert(run_until(&loop, heard_expired, &seen, 60), "the session did not expire");
    cr_assert_eq(gale_zk_exists(zk, "/mine", false, NULL), GALE_ESTATE);
    cr_assert_not(seen.off_loop);
    close_zk(&loop, zk);
    gale_zk_t *fresh = open_with(&loop, NULL, NULL, 0);
    cr_assert_eq(gale_zk_exists(fresh, "/mine", false, NULL), GALE_ENOENT, "the ephemeral node went with it");
    close_zk(&loop, fresh);
    uv_loop_close(&loop);
}
