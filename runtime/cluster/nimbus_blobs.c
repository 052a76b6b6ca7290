/*
 * nimbus_blobs.c: the blobs of nimbus (plugins, models, shell resources), by digest. Each lives in the --data
 * folder (blobs.h) and, so that a standby nimbus can serve it after a takeover, in ZooKeeper too:
 * ROOT/blobs/SHA holds "size=N chunks=K" once its chunks ROOT/blobs/SHA/c0000... (CHUNK bytes each) are all there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "diag.h"
#include "gale.h"
#include "hmac.h"
#include "log.h"
#include "nimbus_state.h"
#include "topology_codec.h"

/* ZooKeeper refuses nodes over 1 MiB (jute.maxbuffer): half of that a chunk. */
#define CHUNK (512u << 10)
/* The bytes of one data line: 12,000 characters of base64, well inside a 16 KiB line. */
#define LINE_BYTES 9000

static const char *data_dir(const nimbus_t *n) { return n->o->data_dir; }

/* Copies a blob that is here into ZooKeeper, unless it is there already. 0 or a zk.h code. */
static int mirror(nimbus_t *n, const char *sha, const char *bytes, size_t len)
{
    char path[NIMBUS_PATH_MAX + 80], chunk[NIMBUS_PATH_MAX + 120], *old = NULL;
    size_t old_len;
    snprintf(path, sizeof path, "%s/%s", n->blobs_folder, sha);
    if (gale_zk_get(n->zk, path, false, &old, &old_len, NULL) == 0 && !strncmp(old, "size=", 5)) {
        free(old);
        return 0;
    }
    free(old);
    int rc = gale_zk_create(n->zk, path, NULL, 0, 0, NULL, 0);
    if (rc && rc != GALE_EEXIST) return rc;
    size_t chunks = (len + CHUNK - 1) / CHUNK;
    for (size_t k = 0; k < chunks; k++) {
        size_t at = k * CHUNK, part = len - at < CHUNK ? len - at : CHUNK;
        snprintf(chunk, sizeof chunk, "%s/c%04zu", path, k);
        rc = gale_zk_create(n->zk, chunk, bytes + at, part, 0, NULL, 0);
        if (rc == GALE_EEXIST) rc = gale_zk_set(n->zk, chunk, bytes + at, part, -1);
        if (rc) return rc;
    }
    char about[64];
    int m = snprintf(about, sizeof about, "size=%zu chunks=%zu", len, chunks);
    return gale_zk_set(n->zk, path, about, (size_t)m, -1);
}

/* Copies a blob from ZooKeeper into the data folder (the digest is checked as it is written). 0 or a code. */
static int fetch_from_zk(nimbus_t *n, const char *sha)
{
    char path[NIMBUS_PATH_MAX + 80], chunk[NIMBUS_PATH_MAX + 120], *about = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", n->blobs_folder, sha);
    int rc = gale_zk_get(n->zk, path, false, &about, &len, NULL);
    unsigned long long size = 0, chunks = 0;
    if (!rc && sscanf(about, "size=%llu chunks=%llu", &size, &chunks) != 2) rc = GALE_ENOENT; /* not whole yet */
    free(about);
    if (rc) return rc;
    gale_blob_writer_t *w = NULL;
    if ((rc = gale_blob_begin(data_dir(n), sha, size, &w))) return rc;
    for (unsigned long long k = 0; !rc && k < chunks; k++) {
        char *bytes = NULL;
        size_t got;
        snprintf(chunk, sizeof chunk, "%s/c%04llu", path, k);
        rc = gale_zk_get(n->zk, chunk, false, &bytes, &got, NULL);
        if (!rc) rc = gale_blob_write(w, bytes, got);
        free(bytes);
    }
    if (rc) {
        gale_blob_abort(w);
        return rc;
    }
    char got[GALE_BLOB_HEX_LEN + 1];
    return gale_blob_finish(w, got);
}

bool nimbus_blob_known(nimbus_t *n, const char *sha)
{
    if (gale_blob_has(data_dir(n), sha)) return true;
    int rc = n->zk ? fetch_from_zk(n, sha) : GALE_ENOENT;
    if (rc && rc != GALE_ENOENT)
        gale_logf(GALE_LOG_WARN, "nimbus", "blob %s: cannot copy it from ZooKeeper: %s", sha, gale_strerror(rc));
    return rc == 0;
}

long nimbus_blob_head(nimbus_t *n, const char *sha, unsigned char *buf, size_t cap)
{
    char path[4096];
    int rc = gale_blob_path(data_dir(n), sha, path, sizeof path);
    if (rc) return rc;
    FILE *f = fopen(path, "rbe");
    if (!f) return GALE_ENOENT;
    size_t got = fread(buf, 1, cap, f);
    fclose(f);
    return (long)got;
}

void nimbus_cmd_has(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok)
{
    if (ntok != 2 || !gale_blob_digest_ok(tok[1])) return gale_ctl_sendf(c, "error usage: has SHA256 (64 hex digits)");
    gale_ctl_sendf(c, "ok %s", nimbus_blob_known(n, tok[1]) ? "yes" : "no");
}

/* The upload is whole: check it, keep it (here and in ZooKeeper), answer. */
static void upload_done(nimbus_t *n, nconn_t *x)
{
    char got[GALE_BLOB_HEX_LEN + 1];
    int rc = gale_blob_finish(x->upload, got);
    x->upload = NULL;
    if (rc == GALE_ECORRUPT)
        return gale_ctl_sendf(x->conn, "error blob %s: the bytes sent have the digest %s: nothing was stored",
                              x->upload_sha, got);
    if (rc) return gale_ctl_sendf(x->conn, "error blob %s: cannot store it: %s", x->upload_sha, gale_strerror(rc));
    char *bytes = NULL;
    size_t len;
    rc = gale_blob_read(data_dir(n), x->upload_sha, GALE_BLOB_MAX, &bytes, &len);
    if (!rc) rc = mirror(n, x->upload_sha, bytes, len);
    free(bytes);
    if (rc)
        gale_logf(GALE_LOG_WARN, "nimbus", "blob %s: not copied to ZooKeeper: %s", x->upload_sha, gale_strerror(rc));
    gale_logf(GALE_LOG_INFO, "nimbus", "stored blob %s (%zu bytes)", x->upload_sha, len);
    gale_ctl_sendf(x->conn, "ok stored %s", x->upload_sha);
}

void nimbus_cmd_put(nimbus_t *n, nconn_t *x, char **tok, int ntok)
{
    gale_ctl_conn_t *c = x->conn;
    char *end = NULL;
    errno = 0;
    unsigned long long size = ntok == 3 ? strtoull(tok[2], &end, 10) : 0;
    if (ntok != 3 || !gale_blob_digest_ok(tok[1]) || !end || *end || tok[2][0] == '-')
        return gale_ctl_sendf(c, "error usage: put SHA256 SIZE, then data lines");
    /* A size past 2^64 reads as ULLONG_MAX (ERANGE): over the bound too, and said as the client wrote it. */
    if (size > GALE_BLOB_MAX || errno == ERANGE)
        return gale_ctl_sendf(c, "error blob %s: %s bytes is more than a blob may have (%" PRIu64 " MiB)", tok[1],
                              tok[2], GALE_BLOB_MAX >> 20);
    int rc = gale_blob_begin(data_dir(n), tok[1], size, &x->upload);
    if (rc) return gale_ctl_sendf(c, "error blob %s: cannot store it: %s", tok[1], gale_strerror(rc));
    snprintf(x->upload_sha, sizeof x->upload_sha, "%s", tok[1]);
    if (size == 0) return upload_done(n, x);
    gale_ctl_sendf(c, "ok send");
}

void nimbus_upload_line(nimbus_t *n, nconn_t *x, char *line)
{
    size_t len = strlen(line);
    while (len && line[len - 1] == '\r') line[--len] = '\0';
    static unsigned char bytes[GALE_CTL_LINE_MAX];
    long got = strncmp(line, "data ", 5) ? GALE_EINVAL : gale_base64_decode(line + 5, len - 5, bytes);
    int rc = got < 0 ? (int)got : gale_blob_write(x->upload, bytes, (size_t)got);
    if (rc) {
        gale_blob_abort(x->upload);
        x->upload = NULL;
        gale_ctl_refuse(x->conn, rc == GALE_ELIMIT
                                     ? "the upload sent more bytes than it said: nothing was stored"
                                     : "an upload takes only lines of \"data BASE64\": nothing was stored");
        return;
    }
    if (gale_blob_written(x->upload) == gale_blob_size(x->upload)) upload_done(n, x);
}

void nimbus_cmd_get(nimbus_t *n, gale_ctl_conn_t *c, char **tok, int ntok)
{
    if (ntok != 2 || !gale_blob_digest_ok(tok[1])) return gale_ctl_sendf(c, "error usage: get SHA256");
    char *bytes = NULL;
    size_t len = 0;
    int rc =
        nimbus_blob_known(n, tok[1]) ? gale_blob_read(data_dir(n), tok[1], GALE_BLOB_MAX, &bytes, &len) : GALE_ENOENT;
    if (rc)
        return gale_ctl_sendf(c, "error blob %s: %s", tok[1], rc == GALE_ENOENT ? "no such blob" : gale_strerror(rc));
    char line[5 + 12004];
    memcpy(line, "data ", 5);
    for (size_t at = 0; at < len; at += LINE_BYTES) {
        size_t part = len - at < LINE_BYTES ? len - at : LINE_BYTES;
        gale_base64_encode(bytes + at, part, line + 5);
        gale_ctl_send(c, line, 5 + gale_base64_len(part));
    }
    free(bytes);
    gale_ctl_sendf(c, "ok %zu", len);
}

int nimbus_blob_store(nimbus_t *n, const char *bytes, size_t len, char sha[GALE_BLOB_HEX_LEN + 1])
{
    unsigned char digest[GALE_SHA256_LEN];
    if (gale_sha256(bytes, len, digest)) return GALE_EIO;
    gale_hex_encode(digest, sizeof digest, sha);
    gale_blob_writer_t *w = NULL;
    char got[GALE_BLOB_HEX_LEN + 1];
    int rc = gale_blob_has(data_dir(n), sha) ? 0 : gale_blob_begin(data_dir(n), sha, len, &w);
    if (!rc && w && (rc = gale_blob_write(w, bytes, len))) gale_blob_abort(w);
    else if (!rc && w) rc = gale_blob_finish(w, got);
    if (!rc) rc = mirror(n, sha, bytes, len); /* a nimbus that takes over has it too */
    return rc;
}

int nimbus_read_model(nimbus_t *n, const gale_topo_record_t *r, gale_topology_t **out, char *why, size_t cap)
{
    char *bytes = NULL;
    size_t len;
    gale_diag_t diag = {{0}};
    *out = NULL;
    int rc = nimbus_blob_known(n, r->model) ? 0 : GALE_ENOENT;
    if (!rc) rc = gale_blob_read(n->o->data_dir, r->model, GALE_TOPOLOGY_MODEL_MAX, &bytes, &len);
    if (!rc) rc = gale_topology_read(bytes, len, out, &diag);
    if (rc)
        snprintf(why, cap, "cannot read the model of %s: %.600s", r->name, diag.msg[0] ? diag.msg : gale_strerror(rc));
    free(bytes);
    return rc;
}
