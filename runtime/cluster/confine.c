#include "confine.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gale.h"
#include "log.h"
#include "plugin.h"

/* Whether the resolved `real` lies in one of the daemon's folders. */
static bool under_roots(const gale_confine_t *d, const char *real)
{
    for (int i = 0; i < d->n_roots; i++) {
        size_t n = strlen(d->roots[i]);
        if (n == 1 && d->roots[i][0] == '/') return true;
        if (!strncmp(real, d->roots[i], n) && (real[n] == '/' || real[n] == '\0')) return true;
    }
    return false;
}

/*
 * Whether `path` (relative to `base` when not absolute; base NULL: the daemon's working folder, where workers
 * resolve relative paths too) resolves, symbolic links and ".." followed, inside a folder of the daemon. A path
 * that does not exist yet (a file a sink will create) is judged by its folder, which must exist; anything that
 * cannot be resolved is not allowed, so the answer tells nothing about files outside.
 */
bool gale_confine_path(const gale_confine_t *d, const char *path, const char *base)
{
    char full[PATH_MAX], real[PATH_MAX];
    if (!*path) return false;
    if (path[0] == '/' || !base) snprintf(full, sizeof full, "%s", path);
    else if ((size_t)snprintf(full, sizeof full, "%s/%s", base, path) >= sizeof full) return false;
    if (realpath(full, real)) return under_roots(d, real);
    if (errno != ENOENT) return false;
    char *slash = strrchr(full, '/');
    const char *name = slash ? slash + 1 : full;
    if (!*name || !strcmp(name, "..") || !strcmp(name, ".")) return false;
    if (slash == full) return under_roots(d, "/");
    if (slash) *slash = '\0';
    return realpath(slash ? full : ".", real) && under_roots(d, real);
}

/* The plugin ABI does not mark which settings are paths, so every string that looks like one must pass: an
   absolute path, or one that climbs with "..". Relative paths without ".." stay in the daemon's folder. */
static bool looks_like_path(const char *s, size_t len)
{
    if (len && s[0] == '/') return true;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '.' && s[i + 1] == '.') return true;
    return false;
}

/* The first string in `v` (recursively) that looks like a path and is not allowed, copied to `bad`; false if none. */
static bool bad_string(const gale_confine_t *d, const gale_value_t *v, char *bad, size_t cap)
{
    if (v->type == GALE_STR) {
        if (!looks_like_path(v->s.ptr, v->s.len)) return false;
        snprintf(bad, cap, "%.*s", (int)v->s.len, v->s.ptr);
        return strlen(bad) != v->s.len || !gale_confine_path(d, bad, NULL);
    }
    if (v->type != GALE_ARRAY && v->type != GALE_MAP) return false;
    uint32_t n = v->type == GALE_MAP ? 2 * v->n : v->n;
    for (uint32_t i = 0; i < n; i++)
        if (bad_string(d, &v->c.items[i], bad, cap)) return true;
    return false;
}

/* The program a shell component runs, as execvp would find it (relative to its cwd when it has a '/'), into `out`;
   false when it is not found. */
static bool find_program(const char *prog, const char *cwd, char *out, size_t cap)
{
    if (strchr(prog, '/')) {
        int n = prog[0] == '/' ? snprintf(out, cap, "%s", prog) : snprintf(out, cap, "%s/%s", cwd, prog);
        return n >= 0 && (size_t)n < cap;
    }
    const char *path = getenv("PATH");
    char *dirs = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *dir = dirs ? strtok_r(dirs, ":", &save) : NULL; dir && !found; dir = strtok_r(NULL, ":", &save)) {
        int n = snprintf(out, cap, "%s/%s", *dir ? dir : ".", prog);
        found = n >= 0 && (size_t)n < cap && access(out, X_OK) == 0;
    }
    free(dirs);
    return found;
}

/*
 * Checks what the loaded (not yet resolved) topology `t` would touch on this host: plugins named by path, the
 * journal, string settings that look like paths, and each shell component's working folder and program. 0, or
 * -EACCES with "WHAT: not allowed" in `why` (nothing about the file itself).
 */
/* Whether `path` is one of the plugins that ship with gale. */
static bool in_builtin_dir(const char *path)
{
    const char *dir = gale_plugin_builtin_dir();
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/' && !strchr(path + n + 1, '/');
}

int gale_confine_topology(const gale_confine_t *d, const gale_topology_t *t, char *why, size_t cap)
{
    static const char NOT_ALLOWED[] = "not allowed (outside the daemon's folder and its --allow-path folders)";
    char bad[PATH_MAX];
    if (t->config.journal && !gale_confine_path(d, t->config.journal, NULL)) {
        snprintf(why, cap, "config.journal: %s", NOT_ALLOWED);
        return -EACCES;
    }
    if (t->config.journal_key && !gale_confine_path(d, t->config.journal_key, NULL)) {
        snprintf(why, cap, "config.journal_key: %s", NOT_ALLOWED);
        return -EACCES;
    }
    const char *state = t->config.state_path ? t->config.state_path : GALE_STATE_PATH_DEFAULT;
    bool file_state = !t->config.state_backend || !strcmp(t->config.state_backend, "file");
    if (t->config.checkpoint_interval_ms && file_state && !gale_confine_path(d, state, NULL)) {
        snprintf(why, cap, "config.state_path: %s", NOT_ALLOWED);
        return -EACCES;
    }
    for (size_t i = 0; i < t->n_components; i++) {
        const gale_component_t *c = &t->components[i];
        bool shell = !strcmp(c->plugin_name, "shell");
        if (!shell && c->plugin_path && !in_builtin_dir(c->plugin_path) &&
            !gale_confine_path(d, c->plugin_path, NULL)) {
            snprintf(why, cap, "%s's plugin: %s", c->name, NOT_ALLOWED);
            return -EACCES;
        }
        if (!shell && !c->plugin_path && gale_plugin_name_is_path(c->plugin_name) &&
            !gale_confine_path(d, c->plugin_name, t->dir)) {
            snprintf(why, cap, "%s's plugin: %s", c->name, NOT_ALLOWED);
            return -EACCES;
        }
        for (size_t k = 0; k < c->n_settings; k++)
            if (!(shell && !strcmp(c->settings[k].key, "cwd")) && /* below: relative to the topology's folder */
                bad_string(d, &c->settings[k].value, bad, sizeof bad)) {
                snprintf(why, cap, "%s.%s: %s", c->name, c->settings[k].key, NOT_ALLOWED);
                return -EACCES;
            }
        if (!shell) continue;
        /* As shell.c resolves them: cwd relative to the topology's folder, the program as execvp finds it. */
        const gale_setting_t *cwd = gale_component_setting(c, "cwd"), *cmd = gale_component_setting(c, "command");
        char dir[PATH_MAX];
        const char *cwd_s = cwd && cwd->value.type == GALE_STR ? cwd->value.s.ptr : ".";
        if (cwd_s[0] == '/') snprintf(dir, sizeof dir, "%s", cwd_s);
        else snprintf(dir, sizeof dir, "%s/%s", t->dir && t->dir[0] ? t->dir : ".", cwd_s);
        if (!gale_confine_path(d, dir, NULL)) {
            snprintf(why, cap, "%s.cwd: %s", c->name, NOT_ALLOWED);
            return -EACCES;
        }
        if (cmd && cmd->value.type == GALE_ARRAY && cmd->value.n && cmd->value.c.items[0].type == GALE_STR &&
            !(find_program(cmd->value.c.items[0].s.ptr, dir, bad, sizeof bad) && gale_confine_path(d, bad, NULL))) {
            snprintf(why, cap, "%s.command: its program is %s", c->name, NOT_ALLOWED);
            return -EACCES;
        }
    }
    return 0;
}

int gale_confine_add(gale_confine_t *d, const char *dir)
{
    char **more = realloc(d->roots, ((size_t)d->n_roots + 1) * sizeof *more);
    if (!more) return GALE_ENOMEM;
    d->roots = more;
    struct stat st;
    char *real = realpath(dir, NULL);
    if (!real || stat(real, &st) || !S_ISDIR(st.st_mode)) {
        gale_logf(GALE_LOG_ERROR, "supervisor", "%s: not a folder to allow (%s)", dir,
                  real ? "not a folder" : strerror(errno));
        free(real);
        return GALE_EINVAL;
    }
    d->roots[d->n_roots++] = real;
    return 0;
}

void gale_confine_free(gale_confine_t *d)
{
    for (int i = 0; i < d->n_roots; i++) free(d->roots[i]);
    free(d->roots);
    d->roots = NULL;
    d->n_roots = 0;
}

int gale_confine_init(gale_confine_t *d, const char *const *allow, int n_allow)
{
    memset(d, 0, sizeof *d);
    int rc = gale_confine_add(d, ".");
    for (int i = 0; !rc && i < n_allow; i++) rc = gale_confine_add(d, allow[i]);
    return rc;
}
