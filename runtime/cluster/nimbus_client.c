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

int gale_nimbus_leader(const gale_nimbus_target_t *t, char *buf, size_t cap, gale_diag_t *d)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop)) return gale__diag(d, GALE_ENOMEM, "out of memory");
    gale_zk_t *zk = NULL;
    char why[300] = "", folder[300], path[400], **names = NULL, *data = NULL;
    size_t count = 0, len;
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
    if (!rc) {
        snprintf(path, sizeof path, "%s/%s", folder, names[0]); /* the lowest sequence number leads */
        rc = gale_zk_get(zk, path, false, &data, &len, NULL);
        if (!rc) rc = parse_about(data, buf, cap);
        if (rc) gale__diag(d, rc, "cannot read the leading nimbus's node %s: %s", path, gale_strerror(rc));
    }
    free(data);
    gale_zk_free_names(names, count);
    gale_zk_close(zk);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the session's handle close */
    uv_loop_close(&loop);
    return rc;
}

int gale_nimbus_connect(const gale_nimbus_target_t *t, gale_daemon_client_t **out, gale_diag_t *d)
{
    char addr[200];
    int rc = 0;
    if (t->nimbus) snprintf(addr, sizeof addr, "%s", t->nimbus);
    else if ((rc = gale_nimbus_leader(t, addr, sizeof addr, d))) return rc;
    for (int hop = 0; hop < 2; hop++) {
        gale_daemon_client_t *c = NULL;
        rc = gale_daemon_client_open(addr, "nimbus", t->secret, t->secret_len, t->timeout_ms, &c, d);
        if (rc) {
            char said[sizeof d->msg];
            snprintf(said, sizeof said, "%s", d->msg);
            return gale__diag(d, rc, "nimbus at %s: %s", addr, said);
        }
        /* A standby says where the leader is: go there, once. */
        const char *ok = NULL;
        rc = gale_daemon_client_call(c, "leader", t->timeout_ms, NULL, NULL, &ok, d);
        char leader[200];
        if (!rc && parse_about(ok, leader, sizeof leader) == 0 && strcmp(leader, addr) && hop == 0) {
            gale_daemon_client_free(c);
            snprintf(addr, sizeof addr, "%s", leader);
            continue;
        }
        *out = c;
        return 0;
    }
    return gale__diag(d, GALE_EIO, "nimbus at %s does not lead and names no leader", addr);
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
