/*
 * state_file.c: the file backend of state_store.h.
 *
 *   DIR/TOPOLOGY/latest              the latest complete checkpoint's record (written to latest.tmp, renamed)
 *   DIR/TOPOLOGY/chk-N/COMPONENT.I   task I's snapshot for checkpoint N (written to .tmp, renamed)
 *
 * The rename is the commit: a reader sees a whole file or none, and a crash leaves at most a .tmp behind. With
 * fsync on, each file is fsynced before its rename and its folder after, so that what `latest` names is on the
 * disk before `latest` is (the order a crash of the host must not be able to break).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "state_store.h"

/* ---- files -------------------------------------------------------------------------------------------------- */

typedef struct file_store {
    gale_state_store_t base;
    char *root; /* DIR/TOPOLOGY */
    bool fsync_on;
} file_store_t;

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* mkdir -p of one more level at most per call is all this needs, but DIR may be several levels deep. */
static int make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return GALE_ERANGE;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -errno;
    return 0;
}

/* Writes `path` whole through path.tmp and a rename. */
static int write_atomic(const char *dir, const char *path, const char *p, size_t len, bool fsync_on, char *why,
                        size_t cap)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        snprintf(why, cap, "cannot create %.400s: %s", tmp, strerror(err));
        return -err;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            snprintf(why, cap, "cannot write %.400s: %s", tmp, strerror(err));
            close(fd);
            unlink(tmp);
            return -err;
        }
        done += (size_t)w;
    }
    if (fsync_on && fsync(fd)) {
        int err = errno;
        snprintf(why, cap, "cannot fsync %.400s: %s", tmp, strerror(err));
        close(fd);
        unlink(tmp);
        return -err;
    }
    close(fd);
    if (rename(tmp, path)) {
        int err = errno;
        snprintf(why, cap, "cannot rename %.400s: %s", tmp, strerror(err));
        unlink(tmp);
        return -err;
    }
    if (fsync_on && fsync_dir(dir)) {
        int err = errno;
        snprintf(why, cap, "cannot fsync %.400s: %s", dir, strerror(err));
        return -err;
    }
    return 0;
}

static int read_whole(const char *path, gale_buf_t *out, char *why, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) return GALE_ENOENT;
        snprintf(why, cap, "cannot open %s: %s", path, strerror(err));
        return -err;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            snprintf(why, cap, "cannot read %s: %s", path, strerror(err));
            close(fd);
            return -err;
        }
        if (!n) break;
        gale_buf_put(out, chunk, (size_t)n);
    }
    close(fd);
    if (out->failed) {
        snprintf(why, cap, "out of memory reading %s", path);
        return GALE_ENOMEM;
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4400];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Removes chk-M for M < below, and for M > above (0: none above). */
static void prune(const file_store_t *f, uint64_t below, uint64_t above)
{
    DIR *d = opendir(f->root);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        uint64_t m;
        int used = 0;
        if (sscanf(e->d_name, "chk-%" SCNu64 "%n", &m, &used) != 1 || e->d_name[used]) continue;
        if (m < below || (above && m > above)) {
            char p[4400];
            if (snprintf(p, sizeof p, "%s/%s", f->root, e->d_name) < (int)sizeof p) remove_tree(p);
        }
    }
    closedir(d);
}

static char *chk_dir(const file_store_t *f, uint64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/chk-%" PRIu64, f->root, id);
    return buf;
}

/* ---- put and complete, in the thread pool ------------------------------------------------------------------ */

typedef struct job {
    uv_work_t work;
    file_store_t *f;
    uint64_t id;
    char name[160];
    uint32_t index;
    gale_buf_t bytes;
    gale_store_cb cb;
    void *arg;
    int rc;
    char why[1024];
} job_t;

static void run_put(uv_work_t *w)
{
    job_t *j = w->data;
    char dir[4200], path[4400];
    chk_dir(j->f, j->id, dir, sizeof dir);
    int rc = make_dirs(dir);
    if (rc) {
        snprintf(j->why, sizeof j->why, "cannot make %.400s: %s", dir, strerror(-rc));
        j->rc = rc;
        return;
    }
    snprintf(path, sizeof path, "%s/%s.%u", dir, j->name, j->index);
    j->rc = write_atomic(dir, path, j->bytes.p, j->bytes.len, j->f->fsync_on, j->why, sizeof j->why);
}

static void run_complete(uv_work_t *w)
{
    job_t *j = w->data;
    char path[4200];
    snprintf(path, sizeof path, "%s/latest", j->f->root);
    j->rc = write_atomic(j->f->root, path, j->bytes.p, j->bytes.len, j->f->fsync_on, j->why, sizeof j->why);
    if (!j->rc) prune(j->f, j->id, 0);
}

static void after_job(uv_work_t *w, int status)
{
    job_t *j = w->data;
    if (status && !j->rc) j->rc = GALE_EIO, snprintf(j->why, sizeof j->why, "the write was cancelled");
    j->cb(j->arg, j->rc, j->rc ? j->why : NULL);
    gale_buf_free(&j->bytes);
    free(j);
}

static void queue(file_store_t *f, job_t *j, void (*run)(uv_work_t *))
{
    j->work.data = j;
    int rc = uv_queue_work(f->base.loop, &j->work, run, after_job);
    if (rc) {
        j->rc = GALE_EIO;
        snprintf(j->why, sizeof j->why, "cannot queue the write: %s", uv_strerror(rc));
        j->cb(j->arg, j->rc, j->why);
        gale_buf_free(&j->bytes);
        free(j);
    }
}

static void file_put(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index,
                     gale_buf_t *bytes, gale_store_cb cb, void *arg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        gale_buf_free(bytes);
        cb(arg, GALE_ENOMEM, "out of memory");
        return;
    }
    j->f = (file_store_t *)s, j->id = checkpoint, j->index = index, j->cb = cb, j->arg = arg;
    snprintf(j->name, sizeof j->name, "%s", component);
    j->bytes = *bytes;
    memset(bytes, 0, sizeof *bytes);
    queue(j->f, j, run_put);
}

static void file_complete(gale_state_store_t *s, const gale_checkpoint_record_t *r, gale_store_cb cb, void *arg)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cb(arg, GALE_ENOMEM, "out of memory");
        return;
    }
    j->f = (file_store_t *)s, j->id = r->id, j->cb = cb, j->arg = arg;
    gale_checkpoint_record_format(r, &j->bytes);
    if (j->bytes.failed) {
        free(j->bytes.p);
        free(j);
        cb(arg, GALE_ENOMEM, "out of memory");
        return;
    }
    queue(j->f, j, run_complete);
}

static int file_latest(gale_state_store_t *s, gale_checkpoint_record_t *r, char *why, size_t cap)
{
    file_store_t *f = (file_store_t *)s;
    char path[4200];
    snprintf(path, sizeof path, "%s/latest", f->root);
    gale_buf_t b = {0};
    int rc = read_whole(path, &b, why, cap);
    if (!rc) {
        char what[300];
        rc = gale_checkpoint_record_parse(b.p, b.len, r, what, sizeof what);
        if (rc) snprintf(why, cap, "%.400s: %s", path, what);
    }
    gale_buf_free(&b);
    return rc;
}

static int file_get(gale_state_store_t *s, uint64_t checkpoint, const char *component, uint32_t index, gale_buf_t *out,
                    char *why, size_t cap)
{
    file_store_t *f = (file_store_t *)s;
    char dir[4200], path[4400];
    snprintf(path, sizeof path, "%s/%s.%u", chk_dir(f, checkpoint, dir, sizeof dir), component, index);
    return read_whole(path, out, why, cap);
}

static int file_wipe(gale_state_store_t *s, char *why, size_t cap)
{
    file_store_t *f = (file_store_t *)s;
    char path[4200];
    snprintf(path, sizeof path, "%s/latest", f->root);
    if (unlink(path) && errno != ENOENT) {
        int err = errno;
        snprintf(why, cap, "cannot remove %s: %s", path, strerror(err));
        return -err;
    }
    prune(f, UINT64_MAX, 0);
    return 0;
}

static void file_stop(gale_state_store_t *s) { (void)s; /* its writes run in the thread pool to their end */ }

static void file_close(gale_state_store_t *s)
{
    file_store_t *f = (file_store_t *)s;
    free(f->root);
    free(f);
}

static const gale_state_store_ops_t file_ops = {
    .name = "file",
    .put = file_put,
    .complete = file_complete,
    .latest = file_latest,
    .get = file_get,
    .wipe = file_wipe,
    .stop = file_stop,
    .close = file_close,
};

int gale_state_file_open(uv_loop_t *loop, const char *dir, const char *topology, bool fsync_on,
                         gale_state_store_t **out, char *why, size_t cap)
{
    file_store_t *f = calloc(1, sizeof *f);
    size_t n = strlen(dir) + strlen(topology) + 2;
    if (!f || !(f->root = malloc(n))) {
        free(f);
        snprintf(why, cap, "out of memory");
        return GALE_ENOMEM;
    }
    snprintf(f->root, n, "%s/%s", dir, topology);
    int rc = make_dirs(f->root);
    if (rc) {
        snprintf(why, cap, "cannot make the state folder %s: %s", f->root, strerror(-rc));
        file_close(&f->base);
        return rc;
    }
    f->base.ops = &file_ops;
    f->base.loop = loop;
    f->fsync_on = fsync_on;
    /* What a crash left: checkpoints above the latest complete one never completed. */
    gale_checkpoint_record_t r = {0};
    char ignored[256];
    if (file_latest(&f->base, &r, ignored, sizeof ignored) == 0) prune(f, r.id, r.id);
    else if (file_latest(&f->base, &r, ignored, sizeof ignored) == GALE_ENOENT) prune(f, UINT64_MAX, 0);
    gale_checkpoint_record_free(&r);
    *out = &f->base;
    return 0;
}
