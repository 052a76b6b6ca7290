#include "submit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "diag.h"
#include "gale.h"
#include "hmac.h"
#include "plugin.h"
#include "topology_codec.h"

void gale_submit_free(gale_submit_t *s)
{
    for (size_t i = 0; i < s->n_blobs; i++) free(s->blobs[i].bytes);
    free(s->blobs);
    free(s->command);
    memset(s, 0, sizeof *s);
}

/* Adds a blob of `bytes` (taken); the same bytes twice are one blob. Its digest into `sha`. */
static int add_blob(gale_submit_t *s, char *bytes, size_t len, const char *what, char sha[GALE_BLOB_HEX_LEN + 1])
{
    unsigned char digest[GALE_SHA256_LEN];
    if (gale_sha256(bytes, len, digest)) {
        free(bytes);
        return GALE_EIO;
    }
    gale_hex_encode(digest, sizeof digest, sha);
    for (size_t i = 0; i < s->n_blobs; i++)
        if (!strcmp(s->blobs[i].sha, sha)) {
            free(bytes);
            return 0;
        }
    gale_submit_blob_t *more = realloc(s->blobs, (s->n_blobs + 1) * sizeof *more);
    if (!more) {
        free(bytes);
        return GALE_ENOMEM;
    }
    s->blobs = more;
    gale_submit_blob_t *b = &more[s->n_blobs++];
    memcpy(b->sha, sha, sizeof b->sha);
    b->bytes = bytes;
    b->len = len;
    snprintf(b->what, sizeof b->what, "%s", what);
    return 0;
}

/* The whole of file `path` (at most GALE_BLOB_MAX bytes) as a blob. */
static int add_file(gale_submit_t *s, const char *path, const char *what, char sha[GALE_BLOB_HEX_LEN + 1], char *why,
                    size_t cap)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        snprintf(why, cap, "%s: cannot read %s: %s", what, path, strerror(errno));
        return -errno;
    }
    size_t len = 0, room = 65536;
    char *bytes = malloc(room);
    int rc = 0;
    while (bytes && !rc) {
        if (len == room) {
            char *more = room < GALE_BLOB_MAX ? realloc(bytes, room * 2) : NULL;
            if (!more) {
                rc = room < GALE_BLOB_MAX ? GALE_ENOMEM : GALE_ELIMIT;
                break;
            }
            bytes = more, room *= 2;
        }
        size_t n = fread(bytes + len, 1, room - len, f);
        len += n;
        if (n == 0) break;
    }
    if (!bytes) rc = GALE_ENOMEM;
    if (!rc && ferror(f)) rc = GALE_EIO;
    if (!rc && len > GALE_BLOB_MAX) rc = GALE_ELIMIT;
    fclose(f);
    if (rc) {
        free(bytes);
        snprintf(why, cap, "%s: cannot ship %s: %s", what, path,
                 rc == GALE_ELIMIT ? "larger than a blob may be" : gale_strerror(rc));
        return rc;
    }
    return add_blob(s, bytes, len, what, sha);
}

/* Whether `path` is one of the plugins that ship with gale: every supervisor has its own. */
static bool ships_with_gale(const char *path)
{
    char dir[PATH_MAX], real[PATH_MAX];
    if (!realpath(gale_plugin_builtin_dir(), dir) || !realpath(path, real)) return false;
    size_t n = strlen(dir);
    return !strncmp(real, dir, n) && real[n] == '/' && !strchr(real + n + 1, '/');
}

/* A shell component's folder: its files, then the manifest naming them. The manifest's digest into `sha`. */
static int add_folder(gale_submit_t *s, const gale_topology_t *t, const gale_component_t *c,
                      char sha[GALE_BLOB_HEX_LEN + 1], char *why, size_t cap)
{
    const gale_setting_t *cwd = gale_component_setting(c, "cwd");
    const char *dir_s = cwd && cwd->value.type == GALE_STR ? cwd->value.s.ptr : ".";
    char dir[PATH_MAX], what[PATH_MAX + 64], msg[600];
    if (dir_s[0] == '/') snprintf(dir, sizeof dir, "%s", dir_s);
    else snprintf(dir, sizeof dir, "%s/%s", t->dir && t->dir[0] ? t->dir : ".", dir_s);
    gale_bundle_t b;
    int rc = gale_bundle_scan(dir, &b, msg, sizeof msg);
    if (rc) snprintf(why, cap, "%s's folder (cwd) %s: %s", c->name, dir, msg);
    for (size_t i = 0; !rc && i < b.n; i++) {
        char path[PATH_MAX + 256], file_sha[GALE_BLOB_HEX_LEN + 1];
        snprintf(path, sizeof path, "%s/%s", dir, b.files[i].path);
        snprintf(what, sizeof what, "%s's file %s", c->name, b.files[i].path);
        rc = add_file(s, path, what, file_sha, why, cap);
        /* Read twice (digest, then bytes): a file changed in between would not match; ship what was read. */
        if (!rc) memcpy(b.files[i].sha, file_sha, sizeof file_sha);
    }
    char *manifest = rc ? NULL : gale_bundle_format(&b);
    gale_bundle_free(&b);
    if (rc) return rc;
    if (!manifest) return GALE_ENOMEM;
    snprintf(what, sizeof what, "%s's folder %s", c->name, dir);
    return add_blob(s, manifest, strlen(manifest), what, sha);
}

static int append(char **text, size_t *len, const char *fmt, const char *a, const char *b)
{
    char *more = NULL;
    int n = asprintf(&more, fmt, *text ? *text : "", a, b);
    if (n < 0) return GALE_ENOMEM;
    free(*text);
    *text = more;
    *len = (size_t)n;
    return 0;
}

int gale_submit_prepare(gale_topology_t *topo, const char *name, double timeout_s, gale_submit_t *out, char *why,
                        size_t cap)
{
    memset(out, 0, sizeof *out);
    const char *state = topo->config.state_path ? topo->config.state_path : GALE_STATE_PATH_DEFAULT;
    bool file_state = !topo->config.state_backend || !strcmp(topo->config.state_backend, "file");
    if (topo->config.checkpoint_interval_ms && file_state && state[0] != '/') {
        /* Each part's workers run in a folder of their own supervisor's: a relative folder would be one per host. */
        snprintf(why, cap,
                 "%s: config.state_path: \"%s\" is relative; in a cluster the file backend needs an absolute "
                 "folder that every supervisor's host sees (a shared mount), or state_backend = \"redis\"",
                 topo->file, state);
        return GALE_EINVAL;
    }
    char *renamed = strdup(name); /* `name` may be topo->name itself */
    if (!renamed) return GALE_ENOMEM;
    free(topo->name);
    topo->name = renamed;
    name = renamed;
    out->workers = topo->config.workers > 0 ? topo->config.workers : 1;
    char *model = NULL, sha[GALE_BLOB_HEX_LEN + 1];
    size_t model_len = 0, len = 0;
    int rc = gale_topology_write(topo, &model, &model_len);
    if (rc) {
        snprintf(why, cap, "cannot make the model: %s", gale_strerror(rc));
        return rc;
    }
    if ((rc = add_blob(out, model, model_len, "the model", sha))) return rc;
    char head[300];
    snprintf(head, sizeof head, "submit %s workers=%d model=%s timeout=%g", name, out->workers, sha, timeout_s);
    out->command = topo->config.users ? NULL : strdup(head);
    if (topo->config.users && asprintf(&out->command, "%s users=%s", head, topo->config.users) < 0) out->command = NULL;
    if (!out->command) return GALE_ENOMEM;
    len = strlen(out->command);
    for (size_t i = 0; !rc && i < topo->n_components; i++) {
        const gale_component_t *c = &topo->components[i];
        char what[PATH_MAX + 64];
        if (!strcmp(c->plugin_name, "shell")) {
            if (!(rc = add_folder(out, topo, c, sha, why, cap))) {
                rc = append(&out->command, &len, "%s resource=%s:%s", c->name, sha);
                out->resources++;
            }
            continue;
        }
        const char *path = c->plugin ? c->plugin->path : c->plugin_path;
        if (!path || ships_with_gale(path)) continue;
        snprintf(what, sizeof what, "%s's plugin %s", c->name, path);
        if (!(rc = add_file(out, path, what, sha, why, cap))) {
            rc = append(&out->command, &len, "%s plugin=%s:%s", c->name, sha);
            out->plugins++;
        }
    }
    if (!rc && len > 16000) {
        snprintf(why, cap, "the submit names too many files for one line (%zu bytes)", len);
        rc = GALE_ELIMIT;
    }
    if (rc == GALE_ENOMEM) snprintf(why, cap, "out of memory");
    return rc;
}

int gale_submit_prepare_swap(const char *name, const char *component, const char *path, gale_submit_t *out, char *why,
                             size_t cap)
{
    memset(out, 0, sizeof *out);
    gale_plugin_handle_t *h = NULL;
    gale_diag_t d = {{0}};
    int rc = gale_plugin_load(path, &h, &d);
    if (rc) {
        snprintf(why, cap, "%s", d.msg);
        return rc;
    }
    gale_plugin_unload(h); /* it loads here: the supervisors check it against the component */
    char sha[GALE_BLOB_HEX_LEN + 1], what[320], head[600];
    snprintf(what, sizeof what, "%s's plugin %s", component, path);
    if ((rc = add_file(out, path, what, sha, why, cap))) return rc;
    snprintf(head, sizeof head, "swap %s %s %s", name, component, sha);
    if (!(out->command = strdup(head))) return GALE_ENOMEM;
    out->plugins = 1;
    return 0;
}
