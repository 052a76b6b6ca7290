#include "bundle.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "gale.h"

#define DEPTH_MAX 16

void gale_bundle_free(gale_bundle_t *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->files[i].path);
    free(b->files);
    b->files = NULL;
    b->n = 0;
}

typedef struct scan {
    gale_bundle_t *b;
    uint64_t total;
    char *why;
    size_t cap;
} scan_t;

static int add_file(scan_t *s, const char *full, const char *rel, const struct stat *st)
{
    if (s->b->n == GALE_BUNDLE_FILES) {
        snprintf(s->why, s->cap, "more than %d files to ship", GALE_BUNDLE_FILES);
        return GALE_ELIMIT;
    }
    gale_bundle_file_t f = {.mode = (unsigned)(st->st_mode & 0777)};
    int rc = gale_blob_digest_file(full, f.sha, &f.size);
    if (rc) {
        snprintf(s->why, s->cap, "%s: cannot read it: %s", full, gale_strerror(rc));
        return rc;
    }
    s->total += f.size;
    if (s->total > GALE_BLOB_MAX) {
        snprintf(s->why, s->cap, "more than %" PRIu64 " MiB to ship", GALE_BLOB_MAX >> 20);
        return GALE_ELIMIT;
    }
    gale_bundle_file_t *more = realloc(s->b->files, (s->b->n + 1) * sizeof *more);
    if (!more || !(f.path = strdup(rel))) {
        if (more) s->b->files = more;
        return GALE_ENOMEM;
    }
    s->b->files = more;
    s->b->files[s->b->n++] = f;
    return 0;
}

static int walk(scan_t *s, const char *dir, const char *rel, int depth)
{
    if (depth > DEPTH_MAX) {
        snprintf(s->why, s->cap, "%s: folders nested deeper than %d", dir, DEPTH_MAX);
        return GALE_ELIMIT;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(s->why, s->cap, "%s: cannot read the folder: %s", dir, strerror(errno));
        return -errno;
    }
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char full[PATH_MAX], sub[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= sizeof full ||
            (size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof sub) {
            snprintf(s->why, s->cap, "%s/%s: path too long", dir, e->d_name);
            rc = GALE_ERANGE;
        } else if (stat(full, &st)) {
            continue; /* a dangling link: nothing to ship */
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(s, full, sub, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(s, full, sub, &st);
        }
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const gale_bundle_file_t *)a)->path, ((const gale_bundle_file_t *)b)->path);
}

int gale_bundle_scan(const char *dir, gale_bundle_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    scan_t s = {.b = out, .why = why, .cap = cap};
    int rc = walk(&s, dir, "", 0);
    if (rc == GALE_ENOMEM) snprintf(why, cap, "out of memory");
    if (rc) return rc;
    if (out->n) qsort(out->files, out->n, sizeof *out->files, by_path); /* files is NULL when there are none */
    return 0;
}

char *gale_bundle_format(const gale_bundle_t *b)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    for (size_t i = 0; i < b->n; i++)
        fprintf(f, "%04o %" PRIu64 " %s %s\n", b->files[i].mode, b->files[i].size, b->files[i].sha, b->files[i].path);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

/* A path a supervisor may lay out: relative, '/'-separated parts, none empty or starting with '.'. */
static bool path_ok(const char *p)
{
    if (!*p || *p == '/') return false;
    for (const char *part = p; *part;) {
        size_t n = strcspn(part, "/");
        if (n == 0 || part[0] == '.') return false;
        part += n;
        if (*part == '/') part++;
        else break;
    }
    return p[strlen(p) - 1] != '/';
}

int gale_bundle_parse(const char *text, gale_bundle_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    int line_no = 0;
    uint64_t total = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        char line[PATH_MAX + 128], sha[80], path[PATH_MAX];
        unsigned mode;
        unsigned long long size;
        int used = 0;
        line_no++;
        bool fine = len < sizeof line;
        if (fine) {
            memcpy(line, p, len);
            line[len] = '\0';
            fine = sscanf(line, "%o %llu %79s %n", &mode, &size, sha, &used) == 3 && used > 0 && mode <= 0777 &&
                   gale_blob_digest_ok(sha) && (size_t)snprintf(path, sizeof path, "%s", line + used) < sizeof path &&
                   path_ok(path) && out->n < GALE_BUNDLE_FILES && size <= GALE_BLOB_MAX &&
                   (total += size) <= GALE_BLOB_MAX; /* each bounded first: the sum cannot wrap */
        }
        gale_bundle_file_t *more = fine ? realloc(out->files, (out->n + 1) * sizeof *more) : NULL;
        if (more) out->files = more;
        char *copy = more ? strdup(path) : NULL;
        if (!copy) {
            snprintf(why, cap, "manifest line %d: %.*s", line_no, (int)(len < 200 ? len : 200), p);
            gale_bundle_free(out);
            return GALE_ECORRUPT;
        }
        gale_bundle_file_t *f = &out->files[out->n++];
        *f = (gale_bundle_file_t){.path = copy, .mode = mode, .size = size};
        memcpy(f->sha, sha, sizeof f->sha); /* checked: 64 digits and the NUL */
        p += len + (p[len] == '\n');
    }
    return 0;
}
