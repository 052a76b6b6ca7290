#include "sup_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "bundle.h"
#include "daemon_client.h"
#include "diag.h"
#include "gale.h"
#include "plugin.h"
#include "topology_codec.h"

typedef struct fetch {
    const gale_sup_fetch_opts_t *o;
    gale_daemon_client_t *client; /* dialled at the first blob the cache lacks */
    char *why;
    size_t cap;
} fetch_t;

/* A data line of a `get`: its bytes go to the blob being written. */
typedef struct receiving {
    gale_blob_writer_t *w;
    int rc;
} receiving_t;

static void on_data(void *arg, gale_daemon_line_kind_t kind, const char *line)
{
    receiving_t *r = arg;
    if (kind != GALE_DAEMON_DATA || r->rc) return;
    static __thread unsigned char bytes[GALE_DAEMON_CLIENT_LINE_MAX];
    size_t len = strlen(line);
    long n = strncmp(line, "data ", 5) ? GALE_ECORRUPT : gale_base64_decode(line + 5, len - 5, bytes);
    r->rc = n < 0 ? GALE_ECORRUPT : gale_blob_write(r->w, bytes, (size_t)n);
}

/* Blob `sha` into the cache, from nimbus when it is not there. `what` names it for errors ("split's plugin"). */
static int need(fetch_t *f, const char *sha, const char *what)
{
    const gale_sup_fetch_opts_t *o = f->o;
    if (gale_blob_has(o->data_dir, sha)) return 0;
    gale_diag_t d = {{0}};
    int rc;
    if (!o->nimbus) {
        snprintf(f->why, f->cap, "%s (%s) is not cached here and no nimbus leads to fetch it from", what, sha);
        return GALE_ENOENT;
    }
    if (!f->client &&
        (rc = gale_daemon_client_open(o->nimbus, "nimbus", o->secret, o->secret_len, o->timeout_ms, &f->client, &d))) {
        snprintf(f->why, f->cap, "cannot fetch %s from nimbus at %s: %s", what, o->nimbus, d.msg);
        return rc;
    }
    /* The size comes at the reply's end, checked against what came; the digest is checked at the finish. */
    receiving_t r = {0};
    rc = gale_blob_begin(o->data_dir, sha, GALE_BLOB_SIZE_UNKNOWN, &r.w);
    if (rc) {
        snprintf(f->why, f->cap, "cannot cache %s: %s", what, gale_strerror(rc));
        return rc;
    }
    char command[80];
    snprintf(command, sizeof command, "get %s", sha);
    const char *ok = NULL;
    rc = gale_daemon_client_call(f->client, command, o->timeout_ms, on_data, &r, &ok, &d);
    if (rc || r.rc) {
        gale_blob_abort(r.w);
        if (rc) snprintf(f->why, f->cap, "cannot fetch %s (%s) from nimbus at %s: %s", what, sha, o->nimbus, d.msg);
        else snprintf(f->why, f->cap, "%s (%s) from nimbus at %s: %s", what, sha, o->nimbus, gale_strerror(r.rc));
        if (rc && rc != GALE_EINVAL) { /* the connection is unusable */
            gale_daemon_client_free(f->client);
            f->client = NULL;
        }
        return rc ? rc : r.rc;
    }
    char *end;
    unsigned long long said = strtoull(ok, &end, 10);
    if (*end || said != gale_blob_written(r.w)) {
        snprintf(f->why, f->cap, "%s (%s) from nimbus at %s: %llu bytes said, %llu came", what, sha, o->nimbus, said,
                 (unsigned long long)gale_blob_written(r.w));
        gale_blob_abort(r.w); /* after the message: it frees r.w */
        return GALE_ECORRUPT;
    }
    char got[GALE_BLOB_HEX_LEN + 1];
    rc = gale_blob_finish(r.w, got);
    if (rc == GALE_ECORRUPT)
        snprintf(f->why, f->cap, "%s from nimbus at %s has the digest %s, not %s: refused", what, o->nimbus, got, sha);
    else if (rc) snprintf(f->why, f->cap, "cannot cache %s: %s", what, gale_strerror(rc));
    return rc;
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
        *p = '/';
        if (rc) return rc;
    }
    return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

/* Copies cached blob `sha` to `to` with `mode`. 0 or a negative errno. */
static int copy_blob(const char *data_dir, const char *sha, const char *to, unsigned mode)
{
    char from[PATH_MAX];
    int rc = gale_blob_path(data_dir, sha, from, sizeof from);
    if (rc) return rc;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        rc = -errno;
        close(in);
        return rc;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        if (write(out, buf, (size_t)n) != n) {
            rc = -EIO;
            break;
        }
    }
    if (!rc && fchmod(out, mode & 0755)) rc = -errno;
    close(in);
    if (close(out) && !rc) rc = -errno;
    return rc;
}

/* Lays out component `c`'s resources (manifest blob `sha`) under DIR/res/NAME and points its cwd there. */
static int lay_out(fetch_t *f, gale_component_t *c, const char *sha, const char *dir)
{
    char what[300], *text = NULL, why[300];
    size_t len;
    snprintf(what, sizeof what, "%s's resources", c->name);
    int rc = need(f, sha, what);
    if (rc) return rc;
    if ((rc = gale_blob_read(f->o->data_dir, sha, GALE_BLOB_MAX, &text, &len))) {
        snprintf(f->why, f->cap, "cannot read %s: %s", what, gale_strerror(rc));
        return rc;
    }
    gale_bundle_t b;
    rc = gale_bundle_parse(text, &b, why, sizeof why);
    free(text);
    if (rc) {
        snprintf(f->why, f->cap, "%s: %s", what, why);
        return rc;
    }
    char root[PATH_MAX];
    if ((size_t)snprintf(root, sizeof root, "%s/res/%s", dir, c->name) >= sizeof root) {
        gale_bundle_free(&b);
        snprintf(f->why, f->cap, "%s: the run folder's path is too long", what);
        return GALE_ERANGE;
    }
    for (size_t i = 0; !rc && i < b.n; i++) {
        char to[PATH_MAX], file_what[PATH_MAX + 64];
        snprintf(file_what, sizeof file_what, "%s's file %s", c->name, b.files[i].path);
        if ((rc = need(f, b.files[i].sha, file_what))) break;
        if ((size_t)snprintf(to, sizeof to, "%s/%s", root, b.files[i].path) >= sizeof to) rc = GALE_ERANGE;
        char *slash = rc ? NULL : strrchr(to, '/');
        if (slash) *slash = '\0';
        if (!rc) rc = mkdirs(to);
        if (slash) *slash = '/';
        if (!rc) rc = copy_blob(f->o->data_dir, b.files[i].sha, to, b.files[i].mode);
        if (rc && !f->why[0]) snprintf(f->why, f->cap, "cannot lay out %s: %s", file_what, gale_strerror(rc));
    }
    gale_bundle_free(&b);
    if (rc) return rc;
    if ((rc = mkdirs(root))) { /* an empty folder still has to be there */
        snprintf(f->why, f->cap, "cannot make %s: %s", root, strerror(-rc));
        return rc;
    }
    gale_value_t v = {.type = GALE_STR, .s = {root, strlen(root)}};
    for (size_t k = 0; k < c->n_settings; k++)
        if (!strcmp(c->settings[k].key, "cwd")) {
            gale__value_free(&c->settings[k].value);
            return gale__value_copy(&v, &c->settings[k].value);
        }
    snprintf(f->why, f->cap, "%s has resources but no cwd setting", c->name);
    return GALE_EINVAL;
}

/* Whether cached blob `sha` starts as an ELF object does. nimbus refuses a submit whose plugin does not, but the
   supervisor runs what a topology node names, and anyone with the secret may write one: a worker is not to be
   started on a file that cannot be a plugin. 0, or GALE_EINVAL with `why` naming the component and the blob. */
static int plugin_is_elf(fetch_t *f, const char *component, const char *sha, const char *path)
{
    unsigned char head[4];
    FILE *in = fopen(path, "rbe");
    size_t got = in ? fread(head, 1, sizeof head, in) : 0;
    if (in) fclose(in);
    if (got == sizeof head && !memcmp(head, "\177ELF", 4)) return 0;
    snprintf(f->why, f->cap, "%s's plugin (%s) is not an ELF object: a plugin is a shared object (.so); refused",
             component, sha);
    return GALE_EINVAL;
}

/* Points each component's plugin at the file this host runs it from. */
static int place_plugins(fetch_t *f, const gale_topo_record_t *r, gale_topology_t *t)
{
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        if (!strcmp(c->plugin_name, "shell")) continue;
        const char *sha = NULL;
        for (size_t k = 0; k < r->n_plugins; k++)
            if (!strcmp(r->plugins[k].component, c->name)) sha = r->plugins[k].sha;
        char path[PATH_MAX], what[300];
        int rc = 0;
        if (sha) {
            snprintf(what, sizeof what, "%s's plugin", c->name);
            if ((rc = need(f, sha, what))) return rc;
            rc = gale_blob_path(f->o->data_dir, sha, path, sizeof path);
            if (!rc && (rc = plugin_is_elf(f, c->name, sha, path))) return rc;
        } else { /* one of gale's own: this host's copy, by the file name it had where it was submitted */
            const char *base = c->plugin_path ? strrchr(c->plugin_path, '/') : NULL;
            base = base ? base + 1 : c->plugin_path ? c->plugin_path : c->plugin_name;
            snprintf(path, sizeof path, "%s/%s", gale_plugin_builtin_dir(), base);
            if (access(path, R_OK)) {
                snprintf(f->why, f->cap, "%s's plugin %s ships with gale, but this supervisor has no %s", c->name,
                         c->plugin_name, path);
                return GALE_ENOENT;
            }
        }
        char *real = rc ? NULL : realpath(path, NULL);
        if (!real) return rc ? rc : -errno;
        free(c->plugin_path);
        c->plugin_path = real;
    }
    return 0;
}

/* Writes the model to `path` whole or not at all. */
static int write_model(const gale_topology_t *t, const char *path)
{
    char *bytes = NULL, tmp[PATH_MAX];
    size_t len;
    int rc = gale_topology_write(t, &bytes, &len);
    if (rc) return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "wbe");
    rc = !out ? -errno : fwrite(bytes, 1, len, out) != len ? GALE_EIO : 0;
    if (out && fclose(out) && !rc) rc = GALE_EIO;
    if (!rc && rename(tmp, path)) rc = -errno;
    if (rc) unlink(tmp);
    free(bytes);
    return rc;
}

int gale_sup_fetch(const gale_sup_fetch_opts_t *o, const gale_topo_record_t *r, char *model, size_t cap, char *why,
                   size_t why_cap)
{
    fetch_t f = {.o = o, .why = why, .cap = why_cap};
    why[0] = '\0';
    char dir[PATH_MAX], sup[128], *bytes = NULL;
    size_t len;
    gale_topology_t *t = NULL;
    gale_diag_t d = {{0}};
    snprintf(sup, sizeof sup, "%s", o->sup_id);
    for (char *p = sup; *p; p++)
        if (*p == ':' || *p == '/') *p = '_';
    int rc = gale_blobs_init(o->data_dir);
    if (!rc) rc = need(&f, r->model, "the model");
    if (!rc && (rc = gale_blob_read(o->data_dir, r->model, GALE_TOPOLOGY_MODEL_MAX, &bytes, &len)))
        snprintf(why, why_cap, "cannot read the model: %s", gale_strerror(rc));
    if (!rc && (rc = gale_topology_read(bytes, len, &t, &d))) snprintf(why, why_cap, "the model: %s", d.msg);
    free(bytes);
    if (!rc && (size_t)snprintf(dir, sizeof dir, "%s/run/%s/%s-v%lld", o->data_dir, sup, r->name,
                                (long long)r->version) >= sizeof dir)
        rc = GALE_ERANGE;
    if (!rc && (rc = mkdirs(dir))) snprintf(why, why_cap, "cannot make %s: %s", dir, strerror(-rc));
    if (!rc) rc = place_plugins(&f, r, t);
    for (size_t k = 0; !rc && k < r->n_resources; k++) {
        int at = gale_topology_find(t, r->resources[k].component);
        rc = at < 0 ? GALE_ENOENT : lay_out(&f, &t->components[at], r->resources[k].sha, dir);
        if (at < 0) snprintf(why, why_cap, "resources for %s, which the model lacks", r->resources[k].component);
    }
    if (!rc) {
        char *real = realpath(dir, NULL);
        if ((size_t)snprintf(model, cap, "%s/model", real ? real : dir) >= cap) rc = GALE_ERANGE;
        free(t->dir);
        free(t->file);
        t->dir = real;
        t->file = strdup(model);
        if (!t->dir || !t->file) rc = GALE_ENOMEM;
    }
    if (!rc && (rc = write_model(t, model))) snprintf(why, why_cap, "cannot write %s: %s", model, gale_strerror(rc));
    if (rc && !why[0]) snprintf(why, why_cap, "%s", gale_strerror(rc));
    gale_topology_free(t);
    gale_daemon_client_free(f.client);
    return rc;
}

int gale_sup_fetch_plugin(const gale_sup_fetch_opts_t *o, const char *component, const char *sha, char *path,
                          size_t cap, char *why, size_t why_cap)
{
    fetch_t f = {.o = o, .why = why, .cap = why_cap};
    char what[300];
    why[0] = '\0';
    snprintf(what, sizeof what, "%s's new plugin", component);
    int rc = gale_blobs_init(o->data_dir);
    if (!rc) rc = need(&f, sha, what);
    if (!rc) rc = gale_blob_path(o->data_dir, sha, path, cap);
    if (!rc) rc = plugin_is_elf(&f, component, sha, path);
    gale_daemon_client_free(f.client);
    if (rc && !why[0]) snprintf(why, why_cap, "%s: %s", what, gale_strerror(rc));
    return rc;
}
