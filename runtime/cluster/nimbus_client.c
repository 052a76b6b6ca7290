#include "nimbus_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base64.h"
#include "gale.h"
#include "zk.h"

/* The bytes of one data line: 12,000 characters of base64, well inside nimbus's 16 KiB lines. */
#define LINE_BYTES 9000
/* "HOST:PORT" of a nimbus. */
#define ADDR_MAX 200
/* The candidates of the election a client tries, the leader first. */
#define CANDIDATES_MAX 8

/* "host=H port=P ..." (an election node's data, or the tail of a standby's refusal) into "H:P". */
static int parse_about(const char *about, char *buf, size_t cap)
{
    const char *h = strstr(about, "host="), *p = strstr(about, "port=");
    char host[128];
    int port = 0;
    if (!h || !p || sscanf(h, "host=%127s", host) != 1 || sscanf(p, "port=%d", &port) != 1 || port <= 0)
        return GALE_ENOENT;
    return (size_t)snprintf(buf, cap, "%s:%d", host, port) < cap ? 0 : GALE_ERANGE;
}

/* The election's candidates in ZooKeeper, lowest (the leader) first: their "HOST:PORT" into addrs[0..*n). */
static int read_candidates(const gale_nimbus_target_t *t, char (*addrs)[ADDR_MAX], int max, int *n, gale_diag_t *d)
{
    *n = 0;
    uv_loop_t loop;
    if (uv_loop_init(&loop)) return gale__diag(d, GALE_ENOMEM, "out of memory");
    gale_zk_t *zk = NULL;
    char why[300] = "", folder[300], path[400], **names = NULL;
    size_t count = 0;
    gale_zk_opts_t zo = {.hosts = t->zk_hosts,
                         .session_timeout_ms = 10000,
                         .connect_timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 10000,
                         .secret = t->secret,
                         .secret_len = t->secret_len};
    int rc = gale_zk_open(&loop, &zo, &zk, why, sizeof why);
    if (rc) gale__diag(d, rc, "%s", why);
    snprintf(folder, sizeof folder, "%s/nimbus", t->root ? t->root : "/gale");
    if (!rc && (rc = gale_zk_children(zk, folder, false, &names, &count)))
        gale__diag(d, rc, "cannot read %s in ZooKeeper at %s: %s", folder, t->zk_hosts, gale_strerror(rc));
    if (!rc && !count)
        rc = gale__diag(d, GALE_ENOENT, "no nimbus runs: %s in ZooKeeper at %s is empty", folder, t->zk_hosts);
    /* Sequence numbers have ten digits, so the names sort by number: the lowest leads. */
    for (size_t i = 0; !rc && i < count && *n < max; i++) {
        char *data = NULL;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        int got = gale_zk_get(zk, path, false, &data, &len, NULL);
        if (!got) got = parse_about(data, addrs[*n], ADDR_MAX);
        free(data);
        if (!got) (*n)++;
        else if (got != GALE_ENOENT) /* ENOENT: it left meanwhile, or names no address: no candidate */
            rc = gale__diag(d, got, "cannot read the nimbus node %s: %s", path, gale_strerror(got));
    }
    if (!rc && !*n) rc = gale__diag(d, GALE_ENOENT, "no nimbus runs: every node in %s went", folder);
    gale_zk_free_names(names, count);
    gale_zk_close(zk);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the session's handle close */
    uv_loop_close(&loop);
    return rc;
}

int gale_nimbus_leader(const gale_nimbus_target_t *t, char *buf, size_t cap, gale_diag_t *d)
{
    char addrs[1][ADDR_MAX];
    int n, rc = read_candidates(t, addrs, 1, &n, d);
    if (rc) return rc;
    return (size_t)snprintf(buf, cap, "%s", addrs[0]) < cap ? 0 : gale__diag(d, GALE_ERANGE, "address too long");
}

static int open_at(const gale_nimbus_target_t *t, const char *addr, gale_daemon_client_t **out, gale_diag_t *d)
{
    int rc = gale_daemon_client_open(addr, "nimbus", t->secret, t->secret_len, t->timeout_ms, out, d);
    if (rc) {
        char said[sizeof d->msg];
        snprintf(said, sizeof said, "%s", d->msg);
        gale__diag(d, rc, "nimbus at %s: %s", addr, said);
    }
    return rc;
}

/* A connection to the nimbus at `addr`, or to the leader it names when that is another. */
static int dial(const gale_nimbus_target_t *t, const char *addr, gale_daemon_client_t **out, gale_diag_t *d)
{
    gale_daemon_client_t *c = NULL;
    int rc = open_at(t, addr, &c, d);
    if (rc) return rc;
    /* A standby says where the leader is: go there, once. When nothing answers there (it died and ZooKeeper has not
       expired its session yet), the standby it is: it serves what needs no leader (list, get) and says why it
       refuses the rest. */
    const char *ok = NULL;
    char leader[ADDR_MAX];
    gale_diag_t ignored = {{0}};
    gale_daemon_client_t *l = NULL;
    if (gale_daemon_client_call(c, "leader", t->timeout_ms, NULL, NULL, &ok, &ignored) == 0 &&
        parse_about(ok, leader, sizeof leader) == 0 && strcmp(leader, addr) && open_at(t, leader, &l, &ignored) == 0) {
        gale_daemon_client_free(c);
        c = l;
    }
    *out = c;
    return 0;
}

int gale_nimbus_connect(const gale_nimbus_target_t *t, gale_daemon_client_t **out, gale_diag_t *d)
{
    char addrs[CANDIDATES_MAX][ADDR_MAX];
    int n = 1, rc = 0;
    if (t->nimbus) snprintf(addrs[0], sizeof addrs[0], "%s", t->nimbus);
    else if ((rc = read_candidates(t, addrs, CANDIDATES_MAX, &n, d))) return rc;
    /* The leader first; a leader that died keeps the lowest node until its session expires, and meanwhile the
       standbys answer. The first failure is the one to tell. */
    gale_diag_t later = {{0}};
    rc = dial(t, addrs[0], out, d);
    for (int i = 1; rc && i < n; i++)
        if (dial(t, addrs[i], out, &later) == 0) rc = 0;
    return rc;
}

int gale_nimbus_put(gale_daemon_client_t *c, const char *sha, const void *bytes, size_t len, int timeout_ms, int *sent,
                    gale_diag_t *d)
{
    char command[128];
    const char *ok = NULL;
    if (sent) *sent = 0;
    snprintf(command, sizeof command, "has %s", sha);
    int rc = gale_daemon_client_call(c, command, timeout_ms, NULL, NULL, &ok, d);
    if (rc || !strcmp(ok, "yes")) return rc;
    snprintf(command, sizeof command, "put %s %zu", sha, len);
    if ((rc = gale_daemon_client_call(c, command, timeout_ms, NULL, NULL, &ok, d))) return rc;
    if (sent) *sent = 1;
    if (len == 0) return 0; /* "ok stored" at once */
    char line[5 + 12004];
    memcpy(line, "data ", 5);
    for (size_t at = 0; at < len; at += LINE_BYTES) {
        size_t part = len - at < LINE_BYTES ? len - at : LINE_BYTES;
        gale_base64_encode((const char *)bytes + at, part, line + 5);
        if ((rc = gale_daemon_client_send(c, line, timeout_ms, d))) return rc;
    }
    return gale_daemon_client_reply(c, timeout_ms, NULL, NULL, NULL, d);
}
