/*
 * keyfile.h: the one rule for a file that holds a secret key, for the runtime (the journal's key) and for plugins
 * (pii's HMAC key), header-only because a plugin links nothing of the runtime.
 *
 * A key file is a regular file (not a link) owned by this user and readable by no one else: a key that others can
 * read is no secret, so such a file is refused rather than used, with the chmod that fixes it. New keys come from
 * the kernel's random source and are made whole in a file of their own (mode 600) that is then linked into place,
 * so that processes racing to make one all end up reading the same key. The caller wipes the bytes it read
 * (explicit_bzero) when it is done with them.
 *
 * Both functions return 0 or a negative errno code, with `why` (cap bytes) saying what is wrong and naming the
 * path: "PATH: readable by others (mode 0644): chmod 600 PATH".
 */
#ifndef GALE_KEYFILE_H
#define GALE_KEYFILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the key at `path` into out (cap bytes): *len gets its size, which must be min to max bytes (max < cap, so
   that a longer file is seen to be one). On an error nothing of the key is left in out. */
static inline int gale_keyfile_read(const char *path, unsigned char *out, size_t cap, size_t min, size_t max,
                                    size_t *len, char *why, size_t why_cap)
{
    /* O_NONBLOCK: a FIFO given as the key file must be refused, not waited on for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = -errno;
        snprintf(why, why_cap, "%s: %s", path, err == -ELOOP ? "a symbolic link, not the key file" : strerror(-err));
        return err;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        const char *kind = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a device";
        snprintf(why, why_cap, "%s: is %s, not a regular file", path, kind);
        rc = -EINVAL;
    } else if (st.st_mode & 077) {
        snprintf(why, why_cap, "%s: readable by others (mode %04o): chmod 600 %s", path, (unsigned)(st.st_mode & 07777),
                 path);
        rc = -EPERM;
    } else if (st.st_uid != geteuid()) {
        snprintf(why, why_cap, "%s: owned by uid %u, not by this user (uid %u)", path, (unsigned)st.st_uid,
                 (unsigned)geteuid());
        rc = -EPERM;
    } else {
        size_t got = 0;
        ssize_t n = 0;
        while (got < cap && (n = read(fd, out + got, cap - got)) != 0) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) break;
            got += (size_t)n;
        }
        if (n < 0) {
            rc = -errno;
            snprintf(why, why_cap, "%s: %s", path, strerror(-rc));
        } else if (got < min || got > max) {
            char need[64];
            if (min == max) snprintf(need, sizeof need, "%zu bytes", min);
            else snprintf(need, sizeof need, "%zu to %zu bytes", min, max);
            if (got > max) snprintf(why, why_cap, "%s: the key is over %zu bytes; it must be %s", path, max, need);
            else snprintf(why, why_cap, "%s: the key is %zu bytes; it must be %s", path, got, need);
            rc = -EINVAL;
        } else *len = got;
        if (rc) explicit_bzero(out, cap);
    }
    close(fd);
    return rc;
}

/* Makes a key of `n` random bytes (at most 64) at `path` unless a file is there already; *made says which. */
static inline int gale_keyfile_create(const char *path, size_t n, bool *made, char *why, size_t why_cap)
{
    *made = false;
    if (n == 0 || n > 64) {
        snprintf(why, why_cap, "%s: a key is 1 to 64 bytes", path);
        return -EINVAL;
    }
    if (access(path, F_OK) == 0) return 0;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        snprintf(why, why_cap, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    int fd = mkstemp(tmp); /* mode 600 */
    if (fd < 0) {
        int err = -errno;
        snprintf(why, why_cap, "cannot make %s: %s", path, strerror(-err));
        return err;
    }
    unsigned char key[64];
    bool ok = getrandom(key, n, 0) == (ssize_t)n && write(fd, key, n) == (ssize_t)n && fsync(fd) == 0;
    int err = ok ? 0 : -errno;
    explicit_bzero(key, sizeof key);
    close(fd);
    if (ok && link(tmp, path) == 0) *made = true;
    else if (ok && errno != EEXIST) err = -errno, ok = false; /* EEXIST: another process made it first */
    unlink(tmp);
    if (!ok) {
        snprintf(why, why_cap, "cannot make %s: %s", path, strerror(err ? -err : EIO));
        return err ? err : -EIO;
    }
    return 0;
}

#endif
