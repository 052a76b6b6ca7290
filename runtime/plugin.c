#include "plugin.h"
#include "shell.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *gale_plugin_builtin_dir(void)
{
    static char dir[PATH_MAX + 16];
    const char *home = getenv("GALE_HOME");
    if (home && *home) {
        snprintf(dir, sizeof dir, "%s/plugins", home);
        return dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "plugins";
    exe[n] = '\0';
    /* build/bin/gale -> build/plugins */
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
    }
    snprintf(dir, sizeof dir, "%s/plugins", exe);
    return dir;
}

static bool is_path(const char *name)
{
    size_t n = strlen(name);
    return strchr(name, '/') || (n > 3 && !strcmp(name + n - 3, ".so"));
}

/* Appends a candidate to the "looked in" list and returns whether the file is there. */
static bool try_candidate(char *buf, size_t cap, const char *dir, const char *name, char *looked, size_t lcap)
{
    snprintf(buf, cap, "%s/%s.so", dir, name);
    size_t l = strlen(looked);
    snprintf(looked + l, lcap - l, "%s%s", l ? ", " : "", buf);
    return access(buf, F_OK) == 0;
}

int gale_plugin_resolve_path(const char *name, const char *topo_dir, char **out, gale_diag_t *diag)
{
    char path[PATH_MAX];
    if (is_path(name)) {
        if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
        else snprintf(path, sizeof path, "%s/%s", topo_dir, name);
        if (access(path, F_OK) != 0) return gale__diag(diag, GALE_ENOENT, "plugin file %s not found", path);
        return (*out = strdup(path)) ? 0 : GALE_ENOMEM;
    }
    char looked[2048] = "";
    if (try_candidate(path, sizeof path, topo_dir, name, looked, sizeof looked)) return (*out = strdup(path)) ? 0 : GALE_ENOMEM;
    const char *env = getenv("GALE_PLUGIN_PATH");
    char *dirs = env ? strdup(env) : NULL, *save = NULL;
    for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
        if (!*d || !try_candidate(path, sizeof path, d, name, looked, sizeof looked)) continue;
        free(dirs);
        return (*out = strdup(path)) ? 0 : GALE_ENOMEM;
    }
    free(dirs);
    if (try_candidate(path, sizeof path, gale_plugin_builtin_dir(), name, looked, sizeof looked))
        return (*out = strdup(path)) ? 0 : GALE_ENOMEM;
    return gale__diag(diag, GALE_ENOENT, "plugin '%s' not found (looked in: %s)", name, looked);
}

static int check_descriptor(const char *path, const gale_plugin_t *d, gale_diag_t *diag)
{
    if (d->abi_major != GALE_ABI_MAJOR)
        return gale__diag(diag, GALE_EABI, "plugin %s has ABI major %u, this gale has %d: rebuild it against this gale.h",
                          path, d->abi_major, GALE_ABI_MAJOR);
    if (d->size < sizeof(gale_plugin_t))
        return gale__diag(diag, GALE_EABI, "plugin %s has a descriptor of %u bytes, ABI %d.%d needs %zu: rebuild it",
                          path, d->size, GALE_ABI_MAJOR, GALE_ABI_MINOR, sizeof(gale_plugin_t));
    if (!d->name) return gale__diag(diag, GALE_EPLUGIN, "plugin %s: its descriptor has no name", path);
    if (d->kind == GALE_SPOUT && !d->spout.next_tuple)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: a spout without next_tuple", path);
    if (d->kind == GALE_BOLT && !d->bolt.execute)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: a bolt without execute", path);
    if (d->kind != GALE_SPOUT && d->kind != GALE_BOLT)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: kind %d is neither GALE_SPOUT nor GALE_BOLT", path, d->kind);
    return 0;
}

int gale_plugin_load(const char *path, gale_plugin_handle_t **out, gale_diag_t *diag)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return gale__diag(diag, GALE_EPLUGIN, "cannot load plugin %s: %s", path, dlerror());
    const gale_plugin_t *d = dlsym(dl, GALE_PLUGIN_SYMBOL);
    int rc = d ? check_descriptor(path, d, diag)
               : gale__diag(diag, GALE_EPLUGIN, "plugin %s exports no '" GALE_PLUGIN_SYMBOL "' descriptor "
                                                "(declare one with GALE_PLUGIN(...) from gale.h)", path);
    gale_plugin_handle_t *h = rc ? NULL : calloc(1, sizeof *h);
    if (!rc && (!h || !(h->path = strdup(path)))) rc = gale__diag(diag, GALE_ENOMEM, "out of memory");
    if (rc) {
        free(h);
        dlclose(dl);
        return rc;
    }
    h->dl = dl;
    h->desc = d;
    *out = h;
    return 0;
}

int gale_plugin_builtin(const char *name, gale_kind_t kind, gale_plugin_handle_t **out)
{
    if (strcmp(name, "shell")) return GALE_ENOENT;
    gale_plugin_handle_t *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup("shell (built in)"))) {
        free(h);
        return GALE_ENOMEM;
    }
    h->desc = kind == GALE_SPOUT ? &gale__shell_spout : &gale__shell_bolt;
    *out = h;
    return 0;
}

void gale_plugin_unload(gale_plugin_handle_t *h)
{
    if (!h) return;
    /* Under a leak checker, keep the code mapped so that reports can still name the plugin's functions. */
    if (h->dl && !getenv("GALE_KEEP_PLUGINS")) dlclose(h->dl);
    free(h->path);
    free(h);
}
