/* Without THREADED the client's header declares none of its synchronous calls (libzookeeper_mt has no pkg-config
   to say so). */
#define THREADED 1

#include "zk.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#include "gale.h"
#include "base64.h"
#include "hmac.h"
#include "log.h"

/* The first read of a node's data; a larger node is read again with its size (the ensemble's limit is 1 MiB). */
#define GET_FIRST 4096
#define ZK_PATH_MAX 1024

/* What the client's completion thread saw, for the loop: a session state, or a watch that fired on `path`. */
typedef struct zk_item {
    struct zk_item *next;
    bool is_state;
    int value; /* gale_zk_state_t or gale_zk_event_t */
    char path[];
} zk_item_t;

struct gale_zk {
    zhandle_t *zh;
    uv_async_t async;
    gale_zk_callbacks_t cb;
    struct ACL_vector *acl; /* for the nodes it creates */
    char identity[80];      /* with a secret, the id ZooKeeper's ACLs name it by (owned_by_cluster); else "" */
    /* Shared with the client's completion thread. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a session state or the authentication's answer came */
    zk_item_t *head, **tail;
    int session_state; /* ZooKeeper's, as last seen */
    int auth_rc;       /* the answer to zoo_add_auth; 1 while waiting */
    bool closed;       /* gale_zk_close was called: nothing more is delivered */
};

/* ZooKeeper's codes in gale's words (zk.h lists them). */
static int from_zk(int rc, const char *op, const char *path)
{
    switch (rc) {
    case ZOK: return 0;
    case ZNONODE: return GALE_ENOENT;
    case ZNODEEXISTS: return GALE_EEXIST;
    case ZBADVERSION: return GALE_EAGAIN;
    case ZNOTEMPTY: return -ENOTEMPTY;
    case ZNOAUTH: return -EACCES;
    case ZOPERATIONTIMEOUT:
    case ZCONNECTIONLOSS: return GALE_ETIMEDOUT;
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE: return GALE_ESTATE;
    case ZBADARGUMENTS: return GALE_EINVAL;
    default: gale_logf(GALE_LOG_ERROR, "zookeeper", "%s %s: %s (%d)", op, path, zerror(rc), rc); return GALE_EIO;
    }
}

/* ZooKeeper's state constants are variables, not constants: no switch. */
static gale_zk_state_t state_of(int state)
{
    if (state == ZOO_CONNECTED_STATE) return GALE_ZK_CONNECTED;
    if (state == ZOO_EXPIRED_SESSION_STATE) return GALE_ZK_EXPIRED;
    if (state == ZOO_AUTH_FAILED_STATE) return GALE_ZK_AUTH_FAILED;
    return GALE_ZK_CONNECTING;
}

static int event_of(int type)
{
    if (type == ZOO_CREATED_EVENT) return GALE_ZK_NODE_CREATED;
    if (type == ZOO_DELETED_EVENT) return GALE_ZK_NODE_DELETED;
    if (type == ZOO_CHANGED_EVENT) return GALE_ZK_NODE_CHANGED;
    if (type == ZOO_CHILD_EVENT) return GALE_ZK_CHILDREN_CHANGED;
    return 0; /* ZOO_NOTWATCHING_EVENT: a watch the server dropped; nothing to tell */
}

/* Under zk->mu. Out of memory, the item is dropped: the caller's next read sees the change anyway. */
static void push(gale_zk_t *zk, bool is_state, int value, const char *path)
{
    size_t len = path ? strlen(path) : 0;
    zk_item_t *it = malloc(sizeof *it + len + 1);
    if (!it) return;
    it->next = NULL;
    it->is_state = is_state;
    it->value = value;
    memcpy(it->path, path ? path : "", len + 1);
    *zk->tail = it;
    zk->tail = &it->next;
}

/* On the client's completion thread. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    gale_zk_t *zk = ctx;
    pthread_mutex_lock(&zk->mu);
    if (type == ZOO_SESSION_EVENT) {
        zk->session_state = state;
        pthread_cond_broadcast(&zk->cond);
        push(zk, true, state_of(state), NULL);
    } else if (event_of(type)) {
        push(zk, false, event_of(type), path);
    }
    bool closed = zk->closed;
    pthread_mutex_unlock(&zk->mu);
    if (!closed) uv_async_send(&zk->async);
}

static void auth_done(int rc, const void *data)
{
    gale_zk_t *zk = (gale_zk_t *)data;
    pthread_mutex_lock(&zk->mu);
    zk->auth_rc = rc;
    pthread_cond_broadcast(&zk->cond);
    pthread_mutex_unlock(&zk->mu);
}

/* On the caller's loop: what the completion thread queued, in order. */
static void deliver(uv_async_t *h)
{
    gale_zk_t *zk = h->data;
    pthread_mutex_lock(&zk->mu);
    zk_item_t *it = zk->head;
    zk->head = NULL;
    zk->tail = &zk->head;
    pthread_mutex_unlock(&zk->mu);
    while (it) {
        zk_item_t *next = it->next;
        if (!zk->closed) {
            if (it->is_state && zk->cb.state) zk->cb.state(zk->cb.arg, (gale_zk_state_t)it->value);
            if (!it->is_state && zk->cb.watch) zk->cb.watch(zk->cb.arg, (gale_zk_event_t)it->value, it->path);
        }
        free(it);
        it = next;
    }
}

/* Waits on zk->cond until `done` or `ms` pass; under zk->mu. */
static bool wait_for(gale_zk_t *zk, bool (*done)(const gale_zk_t *), int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!done(zk))
        if (pthread_cond_timedwait(&zk->cond, &zk->mu, &until) == ETIMEDOUT) return done(zk);
    return true;
}

static bool connected(const gale_zk_t *zk) { return zk->session_state == ZOO_CONNECTED_STATE; }
static bool authed(const gale_zk_t *zk) { return zk->auth_rc != 1; }

static void say(char *why, size_t cap, const char *fmt, const char *hosts, int ms)
{
    if (why && cap) snprintf(why, cap, fmt, hosts, ms);
}

static void free_zk(uv_handle_t *h)
{
    gale_zk_t *zk = h->data;
    pthread_mutex_destroy(&zk->mu);
    pthread_cond_destroy(&zk->cond);
    free(zk);
}

/* The digest identity "gale:PASSWORD", PASSWORD the hex of an HMAC of the secret: the secret itself never goes to
   ZooKeeper, which stores (and its logs may show) only a hash of what it is given. */
_Static_assert(GALE_ZK_CREDENTIALS_LEN == 5 + 2 * GALE_SHA256_LEN + 1, "gale:HEX of an HMAC-SHA256");
int gale_zk_credentials(const void *secret, size_t len, char out[GALE_ZK_CREDENTIALS_LEN])
{
    static const char LABEL[] = "gale zookeeper digest";
    unsigned char mac[GALE_SHA256_LEN];
    int rc = gale_hmac_sha256(secret, len, LABEL, sizeof LABEL - 1, mac);
    memcpy(out, "gale:", 5);
    gale_hex_encode(mac, sizeof mac, out + 5);
    return rc;
}

/* ---- the cluster's identity in ZooKeeper's ACLs ---------------------------------------------------------------- */

/* ZooKeeper's digest scheme names an identity USER:PASSWORD in an ACL as USER:base64(SHA-1(USER:PASSWORD)): to tell
   whether a node that exists already is the cluster's, that id is needed, and nothing else of gale uses SHA-1 (nor
   trusts it: the secret is guarded by the HMAC above). Both are OpenSSL's (hmac.h). */

/* "gale:base64(SHA-1(gale:PASSWORD))": the id of the digest ACL entry that ZOO_CREATOR_ALL_ACL gives a node this
   session creates. */
static int acl_identity(const char *credentials, char *out, size_t cap)
{
    unsigned char digest[GALE_SHA1_LEN];
    char b64[32];
    if (gale_sha1(credentials, strlen(credentials), digest)) return GALE_EIO;
    gale_base64_encode(digest, sizeof digest, b64);
    snprintf(out, cap, "gale:%s", b64);
    return 0;
}

/* An ACL as zkCli.sh prints it, "scheme:id:cdrwa, ...", into buf. */
static void say_acl(const struct ACL_vector *acl, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < acl->count && len < cap; i++) {
        int p = acl->data[i].perms;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s:%s:%s%s%s%s%s", i ? ", " : "", acl->data[i].id.scheme,
                                acl->data[i].id.id, p & ZOO_PERM_CREATE ? "c" : "", p & ZOO_PERM_DELETE ? "d" : "",
                                p & ZOO_PERM_READ ? "r" : "", p & ZOO_PERM_WRITE ? "w" : "",
                                p & ZOO_PERM_ADMIN ? "a" : "");
    }
    if (!acl->count) snprintf(buf, cap, "none");
}

/* Whether node `path`, which exists, is the cluster's: its ACL is exactly what gale gives the nodes it creates, every
   right for the cluster's identity and none for anyone else. A node someone else made first (a cluster root open to
   all, say) would let that someone remove what gale puts under it while it is empty and put its own in its place:
   the topologies and their assignments. 0 (also without a secret: nothing is closed then); -EACCES, logged with the
   ACL found; or a zk.h code. */
static int owned_by_cluster(gale_zk_t *zk, const char *path)
{
    if (!zk->identity[0]) return 0;
    struct ACL_vector acl = {0};
    struct Stat st;
    int rc = zoo_get_acl(zk->zh, path, &acl, &st);
    if (rc == ZNOAUTH) {
        gale_logf(GALE_LOG_ERROR, "zookeeper",
                  "%s exists and its ACL keeps the cluster out: it was not made with this cluster's secret; gale does "
                  "not use it (remove it, or choose another --root)",
                  path);
        return -EACCES;
    }
    if (rc != ZOK) return from_zk(rc, "get the ACL of", path);
    bool ours = acl.count == 1 && !strcmp(acl.data[0].id.scheme, "digest") &&
                !strcmp(acl.data[0].id.id, zk->identity) && acl.data[0].perms == ZOO_PERM_ALL;
    if (!ours) {
        char said[512];
        say_acl(&acl, said, sizeof said);
        gale_logf(
            GALE_LOG_ERROR, "zookeeper",
            "%s exists with the ACL %s, not the cluster's (digest:%s:cdrwa alone): it was not made with this "
            "cluster's secret, and whoever the ACL names could change what gale keeps under it; gale does not use "
            "it (remove it, or choose another --root)",
            path, said, zk->identity);
    }
    deallocate_ACL_vector(&acl);
    return ours ? 0 : -EACCES;
}

int gale_zk_open(uv_loop_t *loop, const gale_zk_opts_t *o, gale_zk_t **out, char *why, size_t cap)
{
    *out = NULL;
    if (!o->hosts || !*o->hosts || o->session_timeout_ms < 0 || o->connect_timeout_ms < 0) {
        say(why, cap, "bad ZooKeeper options (hosts '%s', %d)", o->hosts ? o->hosts : "", 0);
        return GALE_EINVAL;
    }
    int session_ms = o->session_timeout_ms ? o->session_timeout_ms : 10000;
    /* A short session (tests use 2 s) is no reason to give up on a first connection that a busy ensemble is slow
       to take: that waits at least 10 s. */
    int connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : session_ms > 10000 ? session_ms : 10000;
    gale_zk_t *zk = calloc(1, sizeof *zk);
    if (!zk) return GALE_ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&zk->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&zk->mu, NULL);
    zk->tail = &zk->head;
    zk->cb = o->cb;
    zk->acl = o->secret ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
    zk->auth_rc = 1;
    zk->async.data = zk;
    if (uv_async_init(loop, &zk->async, deliver)) {
        pthread_mutex_destroy(&zk->mu);
        pthread_cond_destroy(&zk->cond);
        free(zk);
        return GALE_ENOMEM;
    }
    /* The client's own log goes to stderr in its own format, a line per failed connection attempt: off. What
       matters is said here, in gale's log. */
    zoo_set_debug_level((ZooLogLevel)0);
    zk->zh = zookeeper_init(o->hosts, watcher, session_ms, NULL, zk, 0);
    int rc = 0;
    if (!zk->zh) {
        rc = errno == ENOMEM ? GALE_ENOMEM : GALE_EINVAL;
        say(why, cap, "cannot use ZooKeeper hosts '%s' (%d ms)", o->hosts, session_ms);
    }
    pthread_mutex_lock(&zk->mu);
    if (!rc && !wait_for(zk, connected, connect_ms)) {
        rc = GALE_ETIMEDOUT;
        say(why, cap, "no ZooKeeper server of %s answered within %d ms", o->hosts, connect_ms);
    }
    pthread_mutex_unlock(&zk->mu);
    if (!rc && o->secret) {
        char id[GALE_ZK_CREDENTIALS_LEN];
        int arc =
            gale_zk_credentials(o->secret, o->secret_len, id) || acl_identity(id, zk->identity, sizeof zk->identity)
                ? ZSYSTEMERROR
                : zoo_add_auth(zk->zh, "digest", id, (int)strlen(id), auth_done, zk);
        pthread_mutex_lock(&zk->mu);
        if (arc == ZOK && !wait_for(zk, authed, connect_ms)) arc = ZOPERATIONTIMEOUT;
        else if (arc == ZOK) arc = zk->auth_rc;
        pthread_mutex_unlock(&zk->mu);
        if (arc != ZOK) {
            rc = arc == ZOPERATIONTIMEOUT ? GALE_ETIMEDOUT : -EACCES;
            say(why, cap, "ZooKeeper at %s refused gale's credentials (%d)", o->hosts, arc);
        }
    }
    if (rc) {
        gale_zk_close(zk);
        return rc;
    }
    *out = zk;
    return 0;
}

void gale_zk_close(gale_zk_t *zk)
{
    if (!zk) return;
    pthread_mutex_lock(&zk->mu);
    zk->closed = true;
    pthread_mutex_unlock(&zk->mu);
    /* Joins the client's threads: after it, nothing is queued any more. */
    if (zk->zh) zookeeper_close(zk->zh);
    zk->zh = NULL;
    for (zk_item_t *it = zk->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    zk->head = NULL;
    uv_close((uv_handle_t *)&zk->async, free_zk);
}

static bool path_ok(const char *path) { return path && path[0] == '/' && strlen(path) < ZK_PATH_MAX; }

int gale_zk_create(gale_zk_t *zk, const char *path, const void *data, size_t len, unsigned flags, char *created,
                   size_t cap)
{
    if (!path_ok(path) || len > INT32_MAX) return GALE_EINVAL;
    int mode = ((flags & GALE_ZK_EPHEMERAL) ? ZOO_EPHEMERAL : 0) | ((flags & GALE_ZK_SEQUENTIAL) ? ZOO_SEQUENCE : 0);
    char name[ZK_PATH_MAX + 16];
    int rc = zoo_create(zk->zh, path, data, data ? (int)len : -1, zk->acl, mode, name, (int)sizeof name);
    if (rc == ZOK && created && cap) snprintf(created, cap, "%s", name);
    return from_zk(rc, "create", path);
}

int gale_zk_create_all(gale_zk_t *zk, const char *path)
{
    if (!path_ok(path)) return GALE_EINVAL;
    char part[ZK_PATH_MAX];
    for (const char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        size_t n = (size_t)(p - path);
        memcpy(part, path, n);
        part[n] = '\0';
        int rc = gale_zk_create(zk, part, NULL, 0, 0, NULL, 0);
        if (rc && rc != GALE_EEXIST) return rc;
        /* The folders above may be anyone's (an operator's /prod); the one asked for must be the cluster's. */
        if (!*p) return rc == GALE_EEXIST ? owned_by_cluster(zk, part) : 0;
    }
}

int gale_zk_get(gale_zk_t *zk, const char *path, bool watch, char **data, size_t *len, int32_t *version)
{
    *data = NULL;
    *len = 0;
    if (!path_ok(path)) return GALE_EINVAL;
    int cap = GET_FIRST;
    for (int attempt = 0; attempt < 3; attempt++) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf) return GALE_ENOMEM;
        int n = cap;
        struct Stat st;
        int rc = zoo_get(zk->zh, path, watch, buf, &n, &st);
        if (rc != ZOK) {
            free(buf);
            return from_zk(rc, "get", path);
        }
        if (st.dataLength <= cap) { /* all of it (a node without data reads as -1 bytes) */
            n = n < 0 ? 0 : n;
            buf[n] = '\0';
            *data = buf;
            *len = (size_t)n;
            if (version) *version = st.version;
            return 0;
        }
        free(buf);
        cap = st.dataLength; /* it grew between the calls, or is larger than the first read: read it again */
    }
    return GALE_EAGAIN;
}

int gale_zk_set(gale_zk_t *zk, const char *path, const void *data, size_t len, int32_t version)
{
    if (!path_ok(path) || len > INT32_MAX) return GALE_EINVAL;
    int rc = zoo_set(zk->zh, path, data, data ? (int)len : -1, version);
    return from_zk(rc, "set", path);
}

int gale_zk_exists(gale_zk_t *zk, const char *path, bool watch, int32_t *version)
{
    if (!path_ok(path)) return GALE_EINVAL;
    struct Stat st;
    int rc = zoo_exists(zk->zh, path, watch, &st);
    if (rc == ZOK && version) *version = st.version;
    return from_zk(rc, "exists", path);
}

int gale_zk_session_ms(const gale_zk_t *zk) { return zk ? zoo_recv_timeout(zk->zh) : 0; }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int gale_zk_children(gale_zk_t *zk, const char *path, bool watch, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (!path_ok(path)) return GALE_EINVAL;
    struct String_vector v = {0};
    int rc = zoo_get_children(zk->zh, path, watch, &v);
    if (rc != ZOK) return from_zk(rc, "children", path);
    char **out = calloc((size_t)v.count + 1, sizeof *out);
    int err = out ? 0 : GALE_ENOMEM;
    for (int i = 0; !err && i < v.count; i++)
        if (!(out[i] = strdup(v.data[i]))) err = GALE_ENOMEM;
    deallocate_String_vector(&v);
    if (err) {
        gale_zk_free_names(out, (size_t)v.count);
        return err;
    }
    qsort(out, (size_t)v.count, sizeof *out, by_name);
    *names = out;
    *n = (size_t)v.count;
    return 0;
}

void gale_zk_free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

int gale_zk_delete(gale_zk_t *zk, const char *path, int32_t version)
{
    if (!path_ok(path)) return GALE_EINVAL;
    int rc = zoo_delete(zk->zh, path, version);
    return from_zk(rc, "delete", path);
}

int64_t gale_zk_session_id(const gale_zk_t *zk)
{
    const clientid_t *id = zoo_client_id(zk->zh);
    return id ? id->client_id : 0;
}

void gale_zk_session_credentials(const gale_zk_t *zk, int64_t *id, char password[16])
{
    const clientid_t *c = zoo_client_id(zk->zh);
    *id = c ? c->client_id : 0;
    memcpy(password, c ? c->passwd : "", c ? 16 : 1);
}
