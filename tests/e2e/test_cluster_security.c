/*
 * The cluster's security and bad-input guarantees, against a real ZooKeeper and a real nimbus (test_cluster.h):
 *   - the control port refuses garbage, a wrong or replayed proof, a command before authentication and silence,
 *     each with an "error ..." line and a hang-up, and a flood of idle connections locks no client out;
 *   - a client that speaks the protocol but lacks the secret can neither submit nor kill;
 *   - every node under the cluster's root carries the digest ACL of the cluster secret and nothing else, so that a
 *     ZooKeeper client without it (none, or another digest) can neither read, create, change nor delete any of them,
 *     the topologies (their assignments), the leader's node and the blobs included; a root that someone else made
 *     first is not used;
 *   - a `put` whose bytes are not its digest, that announces more than GALE_BLOB_MAX, sends more than it said, or is
 *     cut off, stores nothing, neither in nimbus's blob folder nor in ZooKeeper;
 *   - a plugin that is not an ELF object is refused by `gale submit`, by nimbus (a forged client skips the local
 *     checks) and by a supervisor's fetch;
 *   - a topology file that fails validation gets gale validate's FILE:LINE error from gale submit and sends nothing.
 * Each test that drives the cluster compares a snapshot of every node under the root (its zxids and versions) taken
 * before and after: "changes nothing" is checked in ZooKeeper itself.
 */
#define THREADED 1 /* without it ZooKeeper's header declares none of its synchronous calls */

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include "base64.h"
#include "blobs.h"
#include "ctl_server.h"
#include "daemon_client.h"
#include "diag.h"
#include "gale.h"
#include "hmac.h"
#include "submit.h"
#include "sup_fetch.h"
#include "test_cluster.h"
#include "topo_record.h"
#include "topology_read.h"
#include "zk.h"

#define ROOT "/gale"

TestSuite(cluster_security, .timeout = 240);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- ZooKeeper through its own client ------------------------------------------------------------------------- */

static void no_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

static void auth_done(int rc, const void *data) { atomic_store((atomic_int *)data, rc); }

/* A session of ZooKeeper's own client, authenticated as digest `user:password` when `digest` is not NULL: what
   anyone on the network can open, so that what it may do is what a stranger may do. */
static zhandle_t *raw_open(const tl_cluster_t *c, const char *digest)
{
    zoo_set_debug_level((ZooLogLevel)0);
    zhandle_t *zh = zookeeper_init(c->zk.hosts, no_watch, 10000, NULL, NULL, 0);
    cr_assert_not_null(zh, "zookeeper_init: %s", strerror(errno));
    for (int i = 0; i < 6000 && zoo_state(zh) != ZOO_CONNECTED_STATE; i++) tl_sleep_ms(10);
    cr_assert_eq(zoo_state(zh), ZOO_CONNECTED_STATE, "no session with %s", c->zk.hosts);
    if (digest) {
        static atomic_int rc;
        atomic_store(&rc, 1);
        cr_assert_eq(zoo_add_auth(zh, "digest", digest, (int)strlen(digest), auth_done, &rc), ZOK);
        for (int i = 0; i < 6000 && atomic_load(&rc) == 1; i++) tl_sleep_ms(10);
        cr_assert_eq(atomic_load(&rc), ZOK, "addauth digest: %s", zerror(atomic_load(&rc)));
    }
    return zh;
}

/* A session with the cluster's credentials, as nimbus and the supervisors have them. */
static zhandle_t *raw_cluster(const tl_cluster_t *c)
{
    char id[GALE_ZK_CREDENTIALS_LEN];
    gale_zk_credentials(TL_CLUSTER_SECRET, strlen(TL_CLUSTER_SECRET), id);
    return raw_open(c, id);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every path under `path` (itself included), depth first and sorted, one a line, into `f`, with what ZooKeeper
   says of each when `stats`: created, modified and children-modified zxids and the three versions, so that any
   create, set, delete or ACL change below shows. */
static void walk(zhandle_t *zh, const char *path, bool stats, FILE *f)
{
    struct Stat st;
    int rc = zoo_exists(zh, path, 0, &st);
    cr_assert_eq(rc, ZOK, "%s: %s", path, zerror(rc));
    /* A part's figures (ROOT/stats/NAME/SUPERVISOR) are written again whenever its workers report: of those, what
       a stranger could change besides the data (the node itself, its ACL) is compared. */
    const char *figures = strstr(path, ROOT "/stats/") == path ? strchr(path + strlen(ROOT "/stats/"), '/') : NULL;
    if (stats && figures) fprintf(f, "%s czxid=%lld aversion=%d (figures)\n", path, (long long)st.czxid, st.aversion);
    else if (stats)
        fprintf(f, "%s czxid=%lld mzxid=%lld pzxid=%lld version=%d cversion=%d aversion=%d length=%d\n", path,
                (long long)st.czxid, (long long)st.mzxid, (long long)st.pzxid, st.version, st.cversion, st.aversion,
                st.dataLength);
    else fprintf(f, "%s\n", path);
    struct String_vector v = {0};
    rc = zoo_get_children(zh, path, 0, &v);
    cr_assert_eq(rc, ZOK, "%s: %s", path, zerror(rc));
    qsort(v.data, (size_t)v.count, sizeof *v.data, by_name);
    for (int i = 0; i < v.count; i++) {
        char *child = tl_path("%s/%s", strcmp(path, "/") ? path : "", v.data[i]);
        walk(zh, child, stats, f);
        free(child);
    }
    deallocate_String_vector(&v);
}

static char *tree(zhandle_t *zh, bool stats)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    walk(zh, ROOT, stats, f);
    fclose(f);
    return text;
}

/* Whether a tree() names a supervisor's report on a topology, ROOT/status/NAME/SUPERVISOR. */
static bool part_reported(const char *tree_text)
{
    for (const char *at = tree_text; (at = strstr(at, ROOT "/status/")); at++) {
        const char *name = at + strlen(ROOT "/status/"), *slash = strchr(name, '/'), *end = strchr(name, ' ');
        if (slash && end && slash < end) return true;
    }
    return false;
}

/* The tree under ROOT with its stats, once two readings 300 ms apart agree (the supervisors' reports of a topology
   that just started may still be coming) and a running topology's figures are there (its first report comes a
   metrics interval after it started), bounded. */
static char *snapshot(const tl_cluster_t *c)
{
    zhandle_t *zh = raw_cluster(c);
    char *last = tree(zh, true);
    for (int i = 0; i < 100; i++) {
        tl_sleep_ms(300);
        char *now = tree(zh, true);
        bool same = !strcmp(now, last) && (!part_reported(now) || strstr(now, "(figures)"));
        free(last);
        last = now;
        if (same) break;
    }
    zookeeper_close(zh);
    return last;
}

static void assert_unchanged(const tl_cluster_t *c, const char *before, const char *what)
{
    zhandle_t *zh = raw_cluster(c);
    char *after = tree(zh, true);
    zookeeper_close(zh);
    cr_assert_str_eq(after, before, "%s changed ZooKeeper:\nbefore:\n%s\nafter:\n%s", what, before, after);
    free(after);
}

/* ---- the control port, byte by byte --------------------------------------------------------------------------- */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    return fd;
}

/* The next line from `fd` (without its '\n'), malloc'd; NULL at the end of the stream. Fails the test when no
   whole line or end comes within `seconds`. */
static char *read_line(int fd, double seconds)
{
    char *line = calloc(1, 65536);
    size_t n = 0;
    double until = now_s() + seconds;
    while (n < 65535) {
        ssize_t r = read(fd, line + n, 1);
        if (r == 1 && line[n] == '\n') {
            line[n] = '\0';
            return line;
        }
        if (r == 1) {
            n++;
            continue;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
        cr_assert_lt(now_s(), until, "no line within %.0f s (so far: '%.*s')", seconds, (int)n, line);
    }
    cr_assert_eq(n, 0, "the stream ended inside a line: '%.*s'", (int)n, line);
    free(line);
    return NULL;
}

static void send_all(int fd, const void *bytes, size_t len)
{
    for (const char *p = bytes; len;) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        p += n, len -= (size_t)n;
    }
}

/* Dials nimbus and reads its challenge: the nonce into `nonce`. */
static int dial_nimbus(const tl_cluster_t *c, unsigned char nonce[GALE_NONCE_LEN])
{
    int fd = dial(c->nimbus[0].port);
    char *banner = read_line(fd, 30);
    cr_assert_not_null(banner);
    const char *hex = strstr(banner, " challenge ");
    cr_assert(!strncmp(banner, "gale-nimbus 1 challenge ", 24) && hex, "banner '%s'", banner);
    cr_assert_eq(gale_hex_decode(hex + 11, nonce, GALE_NONCE_LEN), 0, "banner '%s'", banner);
    free(banner);
    return fd;
}

/* "auth PROOF\n" for `nonce` with `secret`, as a client of the cluster sends it. */
static char *auth_line(const char *secret, const unsigned char nonce[GALE_NONCE_LEN])
{
    unsigned char proof[GALE_SHA256_LEN];
    char hex[2 * GALE_SHA256_LEN + 1];
    gale_auth_proof(secret, strlen(secret), nonce, 'C', 0, proof);
    gale_hex_encode(proof, sizeof proof, hex);
    return tl_path("auth %s\n", hex);
}

/* After `bytes` (len of them), nimbus answers `want` and hangs up, within `seconds`. */
static void refused(const tl_cluster_t *c, int fd, const void *bytes, size_t len, const char *want, double seconds)
{
    if (len) send_all(fd, bytes, len);
    char *line = read_line(fd, seconds);
    char *log = tl_cluster_nimbus_log(c, 0);
    cr_assert_not_null(line, "hung up without a word, where '%s' was due; nimbus's log:\n%s", want, log);
    cr_assert_str_eq(line, want, "nimbus's log:\n%s", log);
    free(line);
    line = read_line(fd, seconds);
    cr_assert_null(line, "'%s' after the refusal, and no hang-up", line);
    free(log);
    close(fd);
}

static char *write_secret(const tl_cluster_t *c, const char *name, const char *text)
{
    char *dir = tl_path("%s/%s", c->dir, name);
    cr_assert_eq(mkdir(dir, 0700), 0);
    char *path = tl_daemon_secret(dir, text, 0600);
    free(dir);
    return path;
}

static char *nimbus_addr(const tl_cluster_t *c) { return tl_path("127.0.0.1:%d", c->nimbus[0].port); }

/* Whether some supervisor's report of topology `name` (ROOT/status/NAME/SUPERVISOR) holds `what`. */
static bool reported(zhandle_t *zh, const char *name, const char *what)
{
    char *folder = tl_path(ROOT "/status/%s", name);
    struct String_vector v = {0};
    bool found = false;
    if (zoo_get_children(zh, folder, 0, &v) == ZOK)
        for (int i = 0; i < v.count && !found; i++) {
            char *path = tl_path("%s/%s", folder, v.data[i]), buf[1024];
            int len = sizeof buf - 1;
            struct Stat st;
            if (zoo_get(zh, path, 0, buf, &len, &st) == ZOK && len > 0) {
                buf[len] = '\0';
                found = strstr(buf, what) != NULL;
            }
            free(path);
        }
    deallocate_String_vector(&v);
    free(folder);
    return found;
}

/* `gale submit` of wordcount.cfg paced to 20 sentences a second (light on a busy machine) as NAME, on one slot; it
   returns once its supervisor has reported it running, the last write a submit makes. */
static void submit_wordcount(const tl_cluster_t *c, const char *name)
{
    tl_result_t r = TL_VERB(c, "submit", "--name", name, "--set", "config.workers=1", "--set", "sentences.rate=20",
                            "--set", "config.metrics_interval_s=1", "topologies/wordcount.cfg");
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    zhandle_t *zh = raw_cluster(c);
    bool running = false;
    for (int i = 0; i < 6000 && !(running = reported(zh, name, "state=running")); i++) tl_sleep_ms(10);
    zookeeper_close(zh);
    cr_assert(running, "no supervisor reported %s running", name);
}

static bool listed(const tl_cluster_t *c, const char *what)
{
    tl_result_t r = TL_VERB(c, "list");
    cr_assert_eq(r.status, 0, "%s", r.err);
    bool there = strstr(r.out, what) != NULL;
    tl_result_free(&r);
    return there;
}

Test(cluster_security, garbage_a_wrong_proof_or_silence_at_the_control_port_is_refused_and_changes_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 1);
    submit_wordcount(&c, "victim");
    char *before = snapshot(&c);
    unsigned char nonce[GALE_NONCE_LEN], other[GALE_NONCE_LEN];

    /* Text that is no `auth` line, and a verb before authenticating. */
    refused(&c, dial_nimbus(&c, nonce), "hello nimbus\n", 13, "error authentication failed", 30);
    refused(&c, dial_nimbus(&c, nonce), "kill victim\n", 12, "error authentication failed", 30);
    refused(&c, dial_nimbus(&c, nonce), "auth\n", 5, "error authentication failed", 30);
    refused(&c, dial_nimbus(&c, nonce), "auth zz\n", 8, "error authentication failed", 30);
    /* Binary bytes with no newline, up to the line bound: the whole buffer, then the refusal. */
    char *noise = malloc(GALE_CTL_LINE_MAX - 1);
    for (size_t i = 0; i < GALE_CTL_LINE_MAX - 1; i++) noise[i] = (char)(0x80 | (i * 37 % 128));
    refused(&c, dial_nimbus(&c, nonce), noise, GALE_CTL_LINE_MAX - 1, "error line too long", 30);
    free(noise);
    /* A proof made with another secret, and a right proof for another connection's challenge (a replay). */
    int fd = dial_nimbus(&c, nonce);
    char *wrong = auth_line("not the cluster's secret, but as long", nonce);
    refused(&c, fd, wrong, strlen(wrong), "error authentication failed", 30);
    int first = dial_nimbus(&c, other);
    char *replayed = auth_line(TL_CLUSTER_SECRET, other);
    refused(&c, dial_nimbus(&c, nonce), replayed, strlen(replayed), "error authentication failed", 30);
    close(first);
    /* A right proof with a word more. */
    fd = dial_nimbus(&c, nonce);
    char *proof = auth_line(TL_CLUSTER_SECRET, nonce);
    proof[strlen(proof) - 1] = '\0';
    char *with_word = tl_path("%s submit\n", proof);
    refused(&c, fd, with_word, strlen(with_word), "error authentication failed", 30);
    free(proof);
    /* The right proof for its own challenge gets in: the refusals above are for what was wrong in each. */
    fd = dial_nimbus(&c, nonce);
    proof = auth_line(TL_CLUSTER_SECRET, nonce);
    send_all(fd, proof, strlen(proof));
    char *line = read_line(fd, 30);
    cr_assert_str_eq(line, "ok authenticated");
    free(line), free(proof);
    close(fd);
    /* Silence, or only bytes that make empty lines: dropped after the authentication bound (10 s). */
    double t0 = now_s();
    refused(&c, dial_nimbus(&c, nonce), NULL, 0, "error no authentication in time", 40);
    cr_assert_geq(now_s() - t0, 9.0, "dropped before the bound");
    refused(&c, dial_nimbus(&c, nonce), "\0\0\0\n\r\n\n", 7, "error no authentication in time", 40);

    /* Many idle connections at once: the oldest are closed to make room, so the cluster's clients still get in. */
    int idle[80];
    for (int i = 0; i < 80; i++) idle[i] = dial(c.nimbus[0].port);
    cr_assert(listed(&c, "topology victim status=active"));
    for (int i = 0; i < 80; i++) close(idle[i]);

    assert_unchanged(&c, before, "refused control connections");
    cr_assert(listed(&c, "1 topologies"));
    char *log = tl_cluster_nimbus_log(&c, 0);
    cr_assert_not_null(strstr(log, "refused before authenticating"), "the refusals are logged:\n%s", log);
    free(log), free(before), free(wrong), free(replayed), free(with_word);
    tl_cluster_free(&c);
}

Test(cluster_security, a_client_that_knows_the_protocol_but_not_the_secret_can_neither_submit_nor_kill)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 2);
    submit_wordcount(&c, "victim");
    char *before = snapshot(&c);
    char *wrong = write_secret(&c, "elsewhere", "not the cluster's secret, but as long");
    char *addr = nimbus_addr(&c);
    /* Straight at nimbus's port (with --zk, ZooKeeper's ACL stops it first: it cannot even read where nimbus is). */
    const char *kill_argv[] = {tl_gale(), "kill",   "--nimbus", addr,     "--secret-file",
                               wrong,     "--wait", "0",        "victim", NULL};
    const char *submit_argv[] = {tl_gale(),
                                 "submit",
                                 "--nimbus",
                                 addr,
                                 "--secret-file",
                                 wrong,
                                 "--name",
                                 "intruder",
                                 "--set",
                                 "config.workers=1",
                                 "topologies/wordcount.cfg",
                                 NULL};
    const char *zk_argv[] = {tl_gale(), "kill", "--zk", c.zk.hosts, "--secret-file", wrong, "victim", NULL};
    const char *const *runs[] = {kill_argv, submit_argv, zk_argv};
    for (int i = 0; i < 3; i++) {
        tl_result_t r;
        cr_assert_eq(tl_run(runs[i], NULL, 120, &r), 0);
        cr_assert_eq(r.status, 1, "%s %s: %s", runs[i][1], runs[i][2], r.out);
        if (i < 2) cr_assert_not_null(strstr(r.err, "authentication failed"), "%s", r.err);
        else cr_assert_not_null(strstr(r.err, "ZooKeeper"), "%s", r.err);
        tl_result_free(&r);
    }
    /* The same through the client library, with a command sent anyway after the refusal. */
    gale_daemon_client_t *dc = NULL;
    gale_diag_t d = {{0}};
    const char *other = "not the cluster's secret, but as long";
    int rc = gale_daemon_client_open(addr, "nimbus", other, strlen(other), 10000, &dc, &d);
    cr_assert_eq(rc, GALE_EINVAL, "%s", d.msg);
    cr_assert_not_null(strstr(d.msg, "authentication failed"), "%s", d.msg);
    assert_unchanged(&c, before, "clients without the secret");
    cr_assert(listed(&c, "topology victim status=active"));
    cr_assert(!listed(&c, "intruder"));
    free(before), free(wrong), free(addr);
    tl_cluster_free(&c);
}

/* ---- ZooKeeper's ACLs ----------------------------------------------------------------------------------------- */

/* The ACL ZooKeeper gives a node that a session with the cluster's credentials creates with "all rights for its
   creator": what every node of the cluster must carry, exactly. */
static char *cluster_acl(zhandle_t *zh)
{
    char path[64];
    snprintf(path, sizeof path, "/acl-probe-%d", (int)getpid());
    int rc = zoo_create(zh, path, NULL, -1, &ZOO_CREATOR_ALL_ACL, ZOO_EPHEMERAL, NULL, 0);
    cr_assert_eq(rc, ZOK, "%s: %s", path, zerror(rc));
    struct ACL_vector acl = {0};
    struct Stat st;
    cr_assert_eq(zoo_get_acl(zh, path, &acl, &st), ZOK);
    cr_assert_eq(acl.count, 1);
    cr_assert_str_eq(acl.data[0].id.scheme, "digest");
    cr_assert_eq(acl.data[0].perms, ZOO_PERM_ALL);
    char *id = strdup(acl.data[0].id.id);
    deallocate_ACL_vector(&acl);
    cr_assert_eq(zoo_delete(zh, path, -1), ZOK);
    return id;
}

/* What a stranger's session `zh` may do to `path` (a node of the cluster): nothing at all. */
static void nothing_allowed(zhandle_t *zh, const char *who, const char *path, bool is_root)
{
    char buf[64];
    int len = sizeof buf, rc;
    struct Stat st;
    struct String_vector v = {0};
    struct ACL_vector acl = {0};
    rc = zoo_get(zh, path, 0, buf, &len, &st);
    cr_assert_eq(rc, ZNOAUTH, "%s read %s: %s", who, path, zerror(rc));
    rc = zoo_get_children(zh, path, 0, &v);
    cr_assert_eq(rc, ZNOAUTH, "%s listed %s: %s", who, path, zerror(rc));
    rc = zoo_get_acl(zh, path, &acl, &st);
    cr_assert_eq(rc, ZNOAUTH, "%s read the ACL of %s: %s", who, path, zerror(rc));
    rc = zoo_set(zh, path, "forged", 6, -1);
    cr_assert_eq(rc, ZNOAUTH, "%s changed %s: %s", who, path, zerror(rc));
    rc = zoo_set_acl(zh, path, -1, &ZOO_OPEN_ACL_UNSAFE);
    cr_assert_eq(rc, ZNOAUTH, "%s opened the ACL of %s: %s", who, path, zerror(rc));
    char *child = tl_path("%s/forged", path);
    rc = zoo_create(zh, child, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    cr_assert_eq(rc, ZNOAUTH, "%s created %s: %s", who, child, zerror(rc));
    rc = zoo_create(zh, child, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, NULL, 0);
    cr_assert_eq(rc, ZNOAUTH, "%s created a sequential %s: %s", who, child, zerror(rc));
    free(child);
    /* Deleting is the parent's ACL's: the root's parent is the open "/", where a non-empty node cannot go. */
    rc = zoo_delete(zh, path, -1);
    cr_assert_eq(rc, is_root ? ZNOTEMPTY : ZNOAUTH, "%s deleted %s: %s", who, path, zerror(rc));
}

static bool has_line_with(const char *paths, const char *what) { return strstr(paths, what) != NULL; }

Test(cluster_security, every_node_of_the_cluster_is_closed_to_zookeeper_clients_without_the_secret)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 1);
    submit_wordcount(&c, "victim");
    char *before = snapshot(&c);
    zhandle_t *owner = raw_cluster(&c);
    char *paths = tree(owner, false);
    /* The layout the guarantees are about is all there. */
    const char *const expected[] = {ROOT "\n",
                                    ROOT "/nimbus/",
                                    ROOT "/supervisors/",
                                    ROOT "/topologies/victim\n",
                                    ROOT "/status/victim/",
                                    ROOT "/workers/victim/0\n",
                                    ROOT "/blobs/"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        cr_assert(has_line_with(paths, expected[i]), "no %s in:\n%s", expected[i], paths);
    char *chunk = tl_path("/c0000\n");
    cr_assert(has_line_with(paths, chunk), "no blob chunk in:\n%s", paths);
    free(chunk);

    /* Every node carries exactly the cluster's ACL: the digest identity of its secret, with every right. */
    char *want = cluster_acl(owner);
    char *line_save = NULL, *copy_paths = strdup(paths);
    int nodes = 0;
    for (char *p = strtok_r(copy_paths, "\n", &line_save); p; p = strtok_r(NULL, "\n", &line_save), nodes++) {
        struct ACL_vector acl = {0};
        struct Stat st;
        int rc = zoo_get_acl(owner, p, &acl, &st);
        cr_assert_eq(rc, ZOK, "%s: %s", p, zerror(rc));
        cr_assert_eq(acl.count, 1, "%s has %d ACL entries", p, acl.count);
        cr_assert_str_eq(acl.data[0].id.scheme, "digest", "%s is open to %s:%s", p, acl.data[0].id.scheme,
                         acl.data[0].id.id);
        cr_assert_str_eq(acl.data[0].id.id, want, "%s belongs to another identity", p);
        cr_assert_eq(acl.data[0].perms, ZOO_PERM_ALL, "%s", p);
        deallocate_ACL_vector(&acl);
    }
    free(copy_paths);

    /* A session without credentials, and one with another digest identity (another secret's, and the cluster's
       user name with a guessed password), may do nothing to any of them. */
    char other_id[GALE_ZK_CREDENTIALS_LEN];
    gale_zk_credentials("not the cluster's secret", 24, other_id);
    const char *strangers[] = {NULL, other_id, "gale:password", "super:super"};
    for (size_t s = 0; s < sizeof strangers / sizeof *strangers; s++) {
        zhandle_t *zh = raw_open(&c, strangers[s]);
        char *who = tl_path("a session %s%s", strangers[s] ? "authenticated as " : "without credentials",
                            strangers[s] ? strangers[s] : "");
        copy_paths = strdup(paths);
        for (char *p = strtok_r(copy_paths, "\n", &line_save); p; p = strtok_r(NULL, "\n", &line_save))
            nothing_allowed(zh, who, p, !strcmp(p, ROOT));
        free(copy_paths), free(who);
        zookeeper_close(zh);
    }
    cr_log_info("%d nodes checked", nodes);
    zookeeper_close(owner);
    assert_unchanged(&c, before, "ZooKeeper clients without the secret");
    cr_assert(listed(&c, "topology victim status=active"));
    free(before), free(paths), free(want);
    tl_cluster_free(&c);
}

/* A root that a stranger made first (open to all) would let the stranger remove the folders while they are empty
   and make its own, assignments included: nimbus and the supervisors refuse to use it. */
Test(cluster_security, a_root_that_a_client_without_the_secret_made_is_refused)
{
    tl_cluster_t c;
    memset(&c, 0, sizeof c);
    tl_zk_start(&c.zk);
    c.dir = tl_tmpdir();
    c.secret = tl_daemon_secret(c.dir, TL_CLUSTER_SECRET, 0600);
    zhandle_t *stranger = raw_open(&c, NULL);
    cr_assert_eq(zoo_create(stranger, "/squat", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    cr_assert_eq(zoo_create(stranger, "/squat/topologies", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    char *data = tl_path("%s/data", c.dir);
    const char *argv[] = {tl_gale(), "nimbus", "--zk",   c.zk.hosts, "--secret-file",        c.secret,
                          "--data",  data,     "--root", "/squat",   "--zk-session-timeout", "2",
                          NULL};
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 60, &r), 0);
    cr_assert_not(r.timed_out, "nimbus ran on a root a stranger made:\n%s", r.err);
    cr_assert_eq(r.status, 1, "nimbus ran on a root a stranger made:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "/squat"), "the message names the root:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "world:anyone"), "the message says who may change it:\n%s", r.err);
    tl_result_free(&r);
    /* The supervisor's side: it registers under the root and follows ROOT/topologies. */
    char *sup_dir = tl_tmpdir(), *sup_secret = tl_daemon_secret(sup_dir, TL_CLUSTER_SECRET, 0600);
    char *sup_data = tl_path("%s/data", sup_dir);
    const char *sup_argv[] = {
        tl_gale(), "supervisor", "--secret-file",        sup_secret, "--zk", c.zk.hosts, "--root", "/squat",
        "--data",  sup_data,     "--zk-session-timeout", "2",        NULL};
    cr_assert_eq(tl_run(sup_argv, NULL, 60, &r), 0);
    cr_assert_not(r.timed_out, "a supervisor ran on a root a stranger made:\n%s", r.err);
    cr_assert_eq(r.status, 1, "a supervisor ran on a root a stranger made:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "/squat"), "%s", r.err);
    tl_result_free(&r);
    /* Nothing of gale's is under it. */
    struct String_vector v = {0};
    cr_assert_eq(zoo_get_children(stranger, "/squat", 0, &v), ZOK);
    cr_assert_eq(v.count, 1, "nodes were made under a stranger's root");
    deallocate_String_vector(&v);
    zookeeper_close(stranger);
    tl_rmtree(sup_dir);
    free(sup_dir), free(sup_secret), free(sup_data), free(data);
    tl_cluster_free(&c);
}

/* ---- blobs ---------------------------------------------------------------------------------------------------- */

static char *sha_of(const void *bytes, size_t len)
{
    gale_sha256_t h;
    unsigned char digest[GALE_SHA256_LEN];
    gale_sha256_init(&h);
    gale_sha256_update(&h, bytes, len);
    gale_sha256_final(&h, digest);
    char *hex = malloc(2 * GALE_SHA256_LEN + 1);
    gale_hex_encode(digest, sizeof digest, hex);
    return hex;
}

/* The names in nimbus's blob folder, temporary ones included, one a line (sorted), malloc'd. */
static char *blob_files(const tl_cluster_t *c)
{
    char *dir = tl_path("%s/data/blobs", c->nimbus[0].dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", names[i]), free(names[i]);
    fclose(f);
    free(dir);
    return text;
}

/* Waits (bounded) until nimbus's blob folder is `want` again: an upload cut off is dropped when nimbus sees the
   connection close. */
static void blob_files_become(const tl_cluster_t *c, const char *want, const char *what)
{
    char *got = NULL;
    for (int i = 0; i < 3000; i++) {
        free(got);
        got = blob_files(c);
        if (!strcmp(got, want)) break;
        tl_sleep_ms(10);
    }
    cr_assert_str_eq(got, want, "%s left files in nimbus's blob folder", what);
    free(got);
}

static gale_daemon_client_t *authed(const tl_cluster_t *c)
{
    char *addr = nimbus_addr(c);
    gale_daemon_client_t *dc = NULL;
    gale_diag_t d = {{0}};
    int rc = gale_daemon_client_open(addr, "nimbus", TL_CLUSTER_SECRET, strlen(TL_CLUSTER_SECRET), 30000, &dc, &d);
    cr_assert_eq(rc, 0, "%s", d.msg);
    free(addr);
    return dc;
}

/* `command` gets "error ..." containing `want`. */
static void call_refused(gale_daemon_client_t *dc, const char *command, const char *want)
{
    gale_diag_t d = {{0}};
    const char *ok = NULL;
    int rc = gale_daemon_client_call(dc, command, 30000, NULL, NULL, &ok, &d);
    cr_assert_eq(rc, GALE_EINVAL, "'%.80s' was not refused (%s)", command, rc ? d.msg : ok);
    cr_assert_not_null(strstr(d.msg, want), "'%.80s': %s", command, d.msg);
}

static void call_ok(gale_daemon_client_t *dc, const char *command, const char *want)
{
    gale_diag_t d = {{0}};
    const char *ok = NULL;
    int rc = gale_daemon_client_call(dc, command, 30000, NULL, NULL, &ok, &d);
    cr_assert_eq(rc, 0, "'%.80s': %s", command, d.msg);
    cr_assert_str_eq(ok, want, "'%.80s'", command);
}

static char *data_line(const void *bytes, size_t len)
{
    char *line = malloc(5 + gale_base64_len(len) + 1);
    memcpy(line, "data ", 5);
    gale_base64_encode(bytes, len, line + 5);
    return line;
}

static void send_line(gale_daemon_client_t *dc, const char *line)
{
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_daemon_client_send(dc, line, 30000, &d), 0, "%s", d.msg);
}

/* The reply to what was sent last: "error ..." containing `want`. */
static void reply_refused(gale_daemon_client_t *dc, const char *want)
{
    gale_diag_t d = {{0}};
    const char *ok = NULL;
    int rc = gale_daemon_client_reply(dc, 30000, NULL, NULL, &ok, &d);
    cr_assert_neq(rc, 0, "accepted: %s", ok);
    cr_assert_not_null(strstr(d.msg, want), "%s", d.msg);
}

/* Whether ZooKeeper has blob `sha` (its node ROOT/blobs/SHA): ZOK or ZNONODE. */
static int blob_node(const tl_cluster_t *c, const char *sha)
{
    zhandle_t *zh = raw_cluster(c);
    char *path = tl_path(ROOT "/blobs/%s", sha);
    struct Stat st;
    int rc = zoo_exists(zh, path, 0, &st);
    free(path);
    zookeeper_close(zh);
    return rc;
}

/* The bytes of the one upload under way in nimbus's blob folder (its temporary file, ".SHA.PID.N"), 0 if none. */
static off_t upload_written(const tl_cluster_t *c)
{
    char *dir = tl_path("%s/data/blobs", c->nimbus[0].dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    off_t size = 0;
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        char *path = tl_path("%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && stat(path, &st) == 0)
            size = st.st_size;
        free(path);
    }
    closedir(d);
    free(dir);
    return size;
}

Test(cluster_security, a_blob_that_is_not_its_digest_too_large_or_cut_off_stores_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 0, 1);
    char *before = snapshot(&c), *files = blob_files(&c);
    const char hello[] = "hello, nimbus", other[] = "other bytes!!";
    char *hello_sha = sha_of(hello, sizeof hello - 1), *other_sha = sha_of(other, sizeof other - 1);
    gale_daemon_client_t *dc = authed(&c);

    /* Bytes whose digest is not the one announced: refused, named, nothing kept under either digest. */
    char *cmd = tl_path("put %s %zu", hello_sha, sizeof other - 1), *line = data_line(other, sizeof other - 1);
    call_ok(dc, cmd, "send");
    send_line(dc, line);
    char *said = tl_path("the bytes sent have the digest %s: nothing was stored", other_sha);
    reply_refused(dc, said);
    free(said), free(cmd), free(line);
    cmd = tl_path("has %s", hello_sha);
    call_ok(dc, cmd, "no");
    free(cmd);
    cmd = tl_path("has %s", other_sha);
    call_ok(dc, cmd, "no");
    free(cmd);
    cmd = tl_path("get %s", hello_sha);
    call_refused(dc, cmd, "no such blob");
    free(cmd);
    blob_files_become(&c, files, "a blob of the wrong digest");

    /* Sizes over the bound are refused at the `put` line, before a byte of data: one past it, 2^63, past 2^64. */
    char *at_bound = tl_path("put %s %llu", hello_sha, (unsigned long long)GALE_BLOB_MAX + 1);
    call_refused(dc, at_bound, "is more than a blob may have (64 MiB)");
    free(at_bound);
    cmd = tl_path("put %s 9223372036854775808", hello_sha);
    call_refused(dc, cmd, "is more than a blob may have");
    free(cmd);
    cmd = tl_path("put %s 99999999999999999999999", hello_sha);
    call_refused(dc, cmd, "99999999999999999999999 bytes is more than a blob may have");
    free(cmd);
    cmd = tl_path("put %s -1", hello_sha);
    call_refused(dc, cmd, "usage: put SHA256 SIZE");
    free(cmd);
    cmd = tl_path("put %.63s 3", hello_sha);
    call_refused(dc, cmd, "usage: put SHA256 SIZE");
    free(cmd);
    /* The connection still serves: the refusals above consumed no data lines. */
    char *leader = tl_path("host=127.0.0.1 port=%d pid=%d", c.nimbus[0].port, (int)c.nimbus[0].pid);
    call_ok(dc, "leader", leader);
    free(leader);

    /* More bytes than announced: refused and hung up at the line that goes over. */
    cmd = tl_path("put %s 4", hello_sha);
    call_ok(dc, cmd, "send");
    line = data_line(hello, sizeof hello - 1);
    send_line(dc, line);
    reply_refused(dc, "the upload sent more bytes than it said: nothing was stored");
    free(cmd), free(line);
    gale_daemon_client_free(dc);
    blob_files_become(&c, files, "an upload larger than announced");

    /* A data line that is not base64. */
    dc = authed(&c);
    cmd = tl_path("put %s %zu", hello_sha, sizeof hello - 1);
    call_ok(dc, cmd, "send");
    send_line(dc, "data !!!!");
    reply_refused(dc, "an upload takes only lines of \"data BASE64\": nothing was stored");
    gale_daemon_client_free(dc);
    blob_files_become(&c, files, "an upload of bad lines");

    /* Cut off: the connection closes after part of the announced bytes (the bound itself: a client may announce
       it), and what came is dropped. */
    dc = authed(&c);
    free(cmd);
    cmd = tl_path("put %s %llu", hello_sha, (unsigned long long)GALE_BLOB_MAX);
    call_ok(dc, cmd, "send");
    static char chunk[9000];
    memset(chunk, 'x', sizeof chunk);
    line = data_line(chunk, sizeof chunk);
    for (int i = 0; i < 50; i++) send_line(dc, line);
    /* nimbus writes what comes as it comes, under a temporary name: wait until all of it is there. */
    off_t written = 0;
    for (int i = 0; i < 3000 && written < 50 * (off_t)sizeof chunk; i++) {
        written = upload_written(&c);
        if (written < 50 * (off_t)sizeof chunk) tl_sleep_ms(10);
    }
    cr_assert_eq(written, 50 * (off_t)sizeof chunk, "the upload under way is not written as it comes");
    gale_daemon_client_free(dc);
    blob_files_become(&c, files, "an upload cut off");
    free(line), free(cmd);

    /* A line over the control port's bound mid-upload hangs up too, and drops the part (on a socket of its own:
       the client library sends no line the protocol does not allow). */
    unsigned char nonce[GALE_NONCE_LEN];
    int fd = dial_nimbus(&c, nonce);
    char *proof = auth_line(TL_CLUSTER_SECRET, nonce);
    send_all(fd, proof, strlen(proof));
    free(proof);
    line = read_line(fd, 30);
    cr_assert_str_eq(line, "ok authenticated");
    free(line);
    cmd = tl_path("put %s %zu\n", hello_sha, sizeof hello - 1);
    send_all(fd, cmd, strlen(cmd));
    free(cmd);
    line = read_line(fd, 30);
    cr_assert_str_eq(line, "ok send");
    free(line);
    /* Exactly the bound without a newline: nimbus reads it all, so its hang-up is no reset that could lose the
       reply. */
    char *huge = malloc(GALE_CTL_LINE_MAX - 1);
    memcpy(huge, "data ", 5);
    memset(huge + 5, 'A', GALE_CTL_LINE_MAX - 1 - 5);
    refused(&c, fd, huge, GALE_CTL_LINE_MAX - 1, "error line too long", 30);
    free(huge);
    blob_files_become(&c, files, "an over-long line");

    cr_assert_eq(blob_node(&c, hello_sha), ZNONODE, "a refused upload is in ZooKeeper");
    cr_assert_eq(blob_node(&c, other_sha), ZNONODE, "a refused upload is in ZooKeeper");
    assert_unchanged(&c, before, "refused uploads");
    /* And a right upload still works, and is mirrored. */
    dc = authed(&c);
    cmd = tl_path("put %s %zu", hello_sha, sizeof hello - 1);
    call_ok(dc, cmd, "send");
    line = data_line(hello, sizeof hello - 1);
    send_line(dc, line);
    gale_diag_t d = {{0}};
    const char *ok = NULL;
    cr_assert_eq(gale_daemon_client_reply(dc, 30000, NULL, NULL, &ok, &d), 0, "%s", d.msg);
    char *stored = tl_path("stored %s", hello_sha);
    cr_assert_str_eq(ok, stored);
    cr_assert_eq(blob_node(&c, hello_sha), ZOK, "a stored blob is not mirrored in ZooKeeper");
    gale_daemon_client_free(dc);
    free(stored), free(line), free(cmd), free(files), free(before), free(hello_sha), free(other_sha);
    tl_cluster_free(&c);
}

/* ---- plugins that are not ELF objects --------------------------------------------------------------------------- */

/* A shell script named like a plugin. */
static const char NOT_ELF[] = "#!/bin/sh\necho this is not a shared object\necho but it is named like one\n"
                              "echo and it is long enough to have ELF headers if it were one\n";

/* The model of wordcount.cfg and the submit line for it, as gale submit makes them; the caller frees `s`. */
static void prepare_wordcount(const char *name, gale_submit_t *s)
{
    gale_topology_t *t = NULL;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_topology_open("topologies/wordcount.cfg", NULL, 0, &t, &d), 0, "%s", d.msg);
    char why[512] = "";
    cr_assert_eq(gale_submit_prepare(t, name, 30, s, why, sizeof why), 0, "%s", why);
    cr_assert_eq(s->n_blobs, 1, "wordcount.cfg uses only plugins that ship with gale");
    gale_topology_free(t);
}

static void upload(gale_daemon_client_t *dc, const char *sha, const void *bytes, size_t len)
{
    char *cmd = tl_path("put %s %zu", sha, len);
    call_ok(dc, cmd, "send");
    for (size_t at = 0; at < len; at += 9000) {
        char *line = data_line((const char *)bytes + at, len - at < 9000 ? len - at : 9000);
        send_line(dc, line);
        free(line);
    }
    gale_diag_t d = {{0}};
    const char *ok = NULL;
    cr_assert_eq(gale_daemon_client_reply(dc, 30000, NULL, NULL, &ok, &d), 0, "%s", d.msg);
    free(cmd);
}

Test(cluster_security, a_plugin_that_is_not_an_elf_object_is_refused_by_submit_by_nimbus_and_places_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 2);
    char *before = snapshot(&c), *files = blob_files(&c);

    /* Through gale submit: the local checks name the component, the file and the line. */
    char *so = tl_path("%s/x.so", c.dir), *cfg = tl_path("%s/not_elf.cfg", c.dir);
    cr_assert_eq(tl_write_file(so, NOT_ELF), 0);
    cr_assert_eq(tl_write_file(cfg, "name = \"not_elf\";\nspouts = ( { name = \"sentences\"; plugin = "
                                    "\"random_sentence\"; } );\nbolts = ( { name = \"split\"; plugin = \"x.so\";\n"
                                    "  inputs = ( { from = \"sentences\"; grouping = \"shuffle\"; } ); } );\n"),
                 0);
    tl_result_t r = TL_VERB(&c, "submit", cfg);
    cr_assert_eq(r.status, 1, "%s", r.out);
    char *where = tl_path("%s:3: bolt 'split'", cfg);
    cr_assert_not_null(strstr(r.err, where), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "x.so"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "not an ELF file"), "%s", r.err);
    tl_result_free(&r);
    blob_files_become(&c, files, "a submit that failed its local checks");
    assert_unchanged(&c, before, "a submit that failed its local checks");

    /* A forged client skips the local checks: the plugin's bytes are uploaded as a blob (any bytes may be one) and
       a submit names it as split's plugin. nimbus refuses it, naming the component and the blob. */
    gale_submit_t s = {0};
    prepare_wordcount("forged", &s);
    char *text_sha = sha_of(NOT_ELF, sizeof NOT_ELF - 1);
    gale_daemon_client_t *dc = authed(&c);
    upload(dc, s.blobs[0].sha, s.blobs[0].bytes, s.blobs[0].len);
    upload(dc, text_sha, NOT_ELF, sizeof NOT_ELF - 1);
    char *cmd = tl_path("%s plugin=split:%s", s.command, text_sha);
    char *want = tl_path("split's plugin (%s) is not an ELF object", text_sha);
    call_refused(dc, cmd, want);
    free(cmd), free(want);
    /* Only four bytes that look like ELF's magic are not enough to take a blob for a plugin either. */
    const char short_elf[] = "\177EL";
    char *short_sha = sha_of(short_elf, 3);
    upload(dc, short_sha, short_elf, 3);
    cmd = tl_path("%s plugin=split:%s", s.command, short_sha);
    want = tl_path("split's plugin (%s) is not an ELF object", short_sha);
    call_refused(dc, cmd, want);
    free(cmd), free(want), free(short_sha);
    gale_daemon_client_free(dc);

    /* Nothing placed: no topology node, no status or workers folder; the uploads alone are new. */
    zhandle_t *zh = raw_cluster(&c);
    char *paths = tree(zh, false);
    zookeeper_close(zh);
    cr_assert_null(strstr(paths, "/forged"), "%s", paths);
    cr_assert_null(strstr(paths, ROOT "/topologies/"), "%s", paths);
    cr_assert(listed(&c, "0 topologies"));
    char *log = tl_cluster_nimbus_log(&c, 0);
    cr_assert_not_null(strstr(log, "submit of forged refused: split's plugin"), "%s", log);
    free(log), free(paths), free(text_sha), free(so), free(cfg), free(where), free(before), free(files);
    gale_submit_free(&s);
    tl_cluster_free(&c);
}

/* A supervisor checks what it fetched too: a topology node written by anyone with the secret (a nimbus of another
   version, say) that names a blob that is no ELF object as a plugin is refused before a worker runs it. */
Test(cluster_security, a_supervisors_fetch_refuses_a_plugin_that_is_not_an_elf_object)
{
    char *dir = tl_tmpdir();
    cr_assert_eq(gale_blobs_init(dir), 0);
    gale_submit_t s = {0};
    prepare_wordcount("fetched", &s);
    char *text_sha = sha_of(NOT_ELF, sizeof NOT_ELF - 1);
    const struct {
        const char *sha;
        const void *bytes;
        size_t len;
    } blobs[] = {{s.blobs[0].sha, s.blobs[0].bytes, s.blobs[0].len}, {text_sha, NOT_ELF, sizeof NOT_ELF - 1}};
    for (size_t i = 0; i < 2; i++) {
        gale_blob_writer_t *w = NULL;
        char got[GALE_BLOB_HEX_LEN + 1];
        cr_assert_eq(gale_blob_begin(dir, blobs[i].sha, blobs[i].len, &w), 0);
        cr_assert_eq(gale_blob_write(w, blobs[i].bytes, blobs[i].len), 0);
        cr_assert_eq(gale_blob_finish(w, got), 0);
    }
    gale_topo_record_t r = {.version = 1, .workers = 1};
    snprintf(r.name, sizeof r.name, "fetched");
    snprintf(r.model, sizeof r.model, "%s", s.blobs[0].sha);
    cr_assert_eq(gale_topo_record_add_file(&r.plugins, &r.n_plugins, "split", text_sha), 0);
    gale_sup_fetch_opts_t o = {.data_dir = dir, .sup_id = "127.0.0.1:1", .timeout_ms = 1000};
    char model[4096], why[1024] = "";
    int rc = gale_sup_fetch(&o, &r, model, sizeof model, why, sizeof why);
    cr_assert_neq(rc, 0, "a text file was laid out as split's plugin (%s)", model);
    char *want = tl_path("split's plugin (%s) is not an ELF object", text_sha);
    cr_assert_not_null(strstr(why, want), "%s", why);
    free(want);
    /* The same record with split's own plugin file lays out. */
    char *so = tl_path("%s/plugins/split_sentence.so", tl_build());
    size_t len = 0;
    char *bytes = tl_read_file(so, &len), *so_sha = sha_of(bytes, len);
    gale_blob_writer_t *w = NULL;
    char got[GALE_BLOB_HEX_LEN + 1];
    cr_assert_eq(gale_blob_begin(dir, so_sha, len, &w), 0);
    cr_assert_eq(gale_blob_write(w, bytes, len), 0);
    cr_assert_eq(gale_blob_finish(w, got), 0);
    snprintf(r.plugins[0].sha, sizeof r.plugins[0].sha, "%s", so_sha);
    why[0] = '\0';
    cr_assert_eq(gale_sup_fetch(&o, &r, model, sizeof model, why, sizeof why), 0, "%s", why);
    gale_topo_record_free(&r);
    gale_submit_free(&s);
    tl_rmtree(dir);
    free(dir), free(text_sha), free(so), free(bytes), free(so_sha);
}

/* ---- topology files that fail validation ----------------------------------------------------------------------- */

Test(cluster_security, a_file_that_fails_validation_gets_gale_validates_error_from_submit_and_sends_nothing)
{
    tl_cluster_t c;
    tl_cluster_start(&c, 1, 1);
    char *before = snapshot(&c), *files = blob_files(&c);
    /* A syntax error, a grouping on a field the input does not declare, an unknown key, a plugin not found: each
       a different stage of gale validate (tests/topologies/bad holds one file per message). */
    const char *const bad[] = {
        "name = \"syntax\";\nspouts = ( { name = \"s\"; plugin = \"random_sentence\"; } \n",
        "name = \"fields\";\nspouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
        "bolts = ( { name = \"b\"; plugin = \"word_count\";\n"
        "  inputs = ( { from = \"s\"; grouping = \"fields\"; fields = [ \"wrd\" ]; } ); } );\n",
        "name = \"key\";\nconfig = { workers = 1; no_such_key = 3; };\n"
        "spouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n",
        "name = \"plugin\";\nspouts = ( { name = \"s\"; plugin = \"random_sentence\"; } );\n"
        "bolts = ( { name = \"b\"; plugin = \"no_such_plugin\";\n"
        "  inputs = ( { from = \"s\"; grouping = \"shuffle\"; } ); } );\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *cfg = tl_path("%s/bad%zu.cfg", c.dir, i);
        cr_assert_eq(tl_write_file(cfg, bad[i]), 0);
        const char *argv[] = {tl_gale(), "validate", cfg, NULL};
        tl_result_t v, r;
        cr_assert_eq(tl_run(argv, NULL, 60, &v), 0);
        cr_assert_eq(v.status, 1, "%s validates", cfg);
        char *where = tl_path("%s:", cfg);
        cr_assert_not_null(strstr(v.err, where), "gale validate gives no FILE:LINE: %s", v.err);
        r = TL_VERB(&c, "submit", cfg);
        cr_assert_eq(r.status, 1, "%s: %s", cfg, r.out);
        cr_assert_str_eq(r.err, v.err, "gale submit's error is not gale validate's");
        cr_assert_str_eq(r.out, "");
        tl_result_free(&v), tl_result_free(&r);
        free(cfg), free(where);
    }
    blob_files_become(&c, files, "submits of files that fail validation");
    assert_unchanged(&c, before, "submits of files that fail validation");
    free(before), free(files);
    tl_cluster_free(&c);
}
