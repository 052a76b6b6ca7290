#include "blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gale.h"
#include "hmac.h"

struct gale_blob_writer {
    int fd;
    uint64_t size, written;
    bool unknown; /* begun without a size: any up to `size` is whole */
    gale_sha256_t sha;
    char hex[GALE_BLOB_HEX_LEN + 1];
    char tmp[PATH_MAX], path[PATH_MAX];
};

bool gale_blob_digest_ok(const char *hex)
{
    size_t n = 0;
    for (; hex[n]; n++)
        if (!((hex[n] >= '0' && hex[n] <= '9') || (hex[n] >= 'a' && hex[n] <= 'f'))) return false;
    return n == GALE_BLOB_HEX_LEN;
}

int gale_blobs_init(const char *dir)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/blobs", dir) >= sizeof path) return GALE_ERANGE;
    if (mkdir(dir, 0700) && errno != EEXIST) return -errno;
    if (mkdir(path, 0700) && errno != EEXIST) return -errno;
    return 0;
}

int gale_blob_path(const char *dir, const char *hex, char *out, size_t cap)
{
    if (!gale_blob_digest_ok(hex)) return GALE_EINVAL;
    return (size_t)snprintf(out, cap, "%s/blobs/%s", dir, hex) < cap ? 0 : GALE_ERANGE;
}

bool gale_blob_has(const char *dir, const char *hex)
{
    char path[PATH_MAX];
    struct stat st;
    return !gale_blob_path(dir, hex, path, sizeof path) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int gale_blob_begin(const char *dir, const char *hex, uint64_t size, gale_blob_writer_t **out)
{
    if (!gale_blob_digest_ok(hex)) return GALE_EINVAL;
    bool unknown = size == GALE_BLOB_SIZE_UNKNOWN;
    if (size > GALE_BLOB_MAX && !unknown) return GALE_ELIMIT;
    gale_blob_writer_t *w = calloc(1, sizeof *w);
    if (!w) return GALE_ENOMEM;
    w->size = unknown ? GALE_BLOB_MAX : size;
    w->unknown = unknown;
    snprintf(w->hex, sizeof w->hex, "%s", hex);
    int rc = gale_sha256_init(&w->sha);
    if (!rc) rc = gale_blob_path(dir, hex, w->path, sizeof w->path);
    /* A name of its own per writer: two uploads of one blob at once each write their own file. Atomic: the
       supervisor fetches in libuv's thread pool, several topologies at once. */
    static atomic_uint seq;
    if (!rc && (size_t)snprintf(w->tmp, sizeof w->tmp, "%s/blobs/.%s.%d.%u", dir, hex, (int)getpid(),
                                atomic_fetch_add(&seq, 1) + 1) >= sizeof w->tmp)
        rc = GALE_ERANGE;
    if (!rc && (w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) rc = -errno;
    if (rc) {
        gale_sha256_abort(&w->sha);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int gale_blob_write(gale_blob_writer_t *w, const void *data, size_t len)
{
    if (len > w->size - w->written) return GALE_ELIMIT;
    gale_sha256_update(&w->sha, data, len);
    for (const char *p = data; len;) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        p += n, len -= (size_t)n, w->written += (uint64_t)n;
    }
    return 0;
}

uint64_t gale_blob_written(const gale_blob_writer_t *w) { return w->written; }
uint64_t gale_blob_size(const gale_blob_writer_t *w) { return w->size; }

void gale_blob_abort(gale_blob_writer_t *w)
{
    if (!w) return;
    close(w->fd);
    unlink(w->tmp);
    gale_sha256_abort(&w->sha);
    free(w);
}

int gale_blob_finish(gale_blob_writer_t *w, char got[GALE_BLOB_HEX_LEN + 1])
{
    unsigned char digest[GALE_SHA256_LEN];
    int rc = gale_sha256_final(&w->sha, digest);
    gale_hex_encode(digest, sizeof digest, got);
    if (!rc) rc = w->written != w->size && !w->unknown ? GALE_EINVAL : strcmp(got, w->hex) ? GALE_ECORRUPT : 0;
    if (!rc && fsync(w->fd)) rc = -errno;
    if (close(w->fd) && !rc) rc = -errno;
    if (!rc && rename(w->tmp, w->path)) rc = -errno;
    if (rc) unlink(w->tmp);
    free(w);
    return rc;
}

int gale_blob_digest_file(const char *path, char hex[GALE_BLOB_HEX_LEN + 1], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : !S_ISREG(st.st_mode) ? GALE_EINVAL : 0;
    gale_sha256_t sha;
    if (!rc) rc = gale_sha256_init(&sha);
    else sha.md = NULL;
    uint64_t total = 0;
    char buf[65536];
    while (!rc) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = -errno;
        if (n <= 0) break;
        total += (uint64_t)n;
        if (total > GALE_BLOB_MAX) rc = GALE_ELIMIT;
        else gale_sha256_update(&sha, buf, (size_t)n);
    }
    close(fd);
    unsigned char digest[GALE_SHA256_LEN];
    if (rc) {
        gale_sha256_abort(&sha);
        return rc;
    }
    if ((rc = gale_sha256_final(&sha, digest))) return rc;
    gale_hex_encode(digest, sizeof digest, hex);
    *size = total;
    return 0;
}

int gale_blob_read(const char *dir, const char *hex, size_t max, char **data, size_t *len)
{
    char path[PATH_MAX];
    int rc = gale_blob_path(dir, hex, path, sizeof path);
    if (rc) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? GALE_ENOENT : -errno;
    struct stat st;
    rc = fstat(fd, &st) ? -errno : (uint64_t)st.st_size > max ? GALE_ELIMIT : 0;
    if (rc) {
        close(fd);
        return rc;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf) return GALE_ENOMEM;
    if (got != (size_t)st.st_size) {
        free(buf);
        return GALE_EIO;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}
