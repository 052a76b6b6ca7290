/*
 * plugin.h: finding, loading and checking plugin shared objects.
 *
 * A plugin is refused before any of its code runs when its file is not a whole ELF shared object of this host,
 * it cannot be loaded, it exports no descriptor, the
 * descriptor's ABI major differs from ours, its size (or its tables' element sizes) is smaller than ABI 2.0's, or
 * its kind or callbacks do not match what it is used as. Every refusal names the file and the reason. A descriptor
 * smaller than this gale's (a plugin of an older minor) is copied into a zero-filled one of this gale's size.
 */
#ifndef GALE_PLUGIN_H
#define GALE_PLUGIN_H

#include <stddef.h>

#include "diag.h"
#include "gale.h"
#include "topology.h"

struct gale_plugin_handle {
    void *dl;                   /* dlopen handle */
    char *path;                 /* the file loaded, owned */
    const gale_plugin_t *desc;  /* `copy`, or a built-in's; its pointers point into the object: valid until unload */
    gale_plugin_t copy;         /* a loaded plugin's descriptor, zero-filled past the size it was built with */
};

/* The end of a struct's last ABI 2.0 field: a plugin's struct may be larger (a later minor), never smaller. */
#define GALE__SIZE_2_0(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* The ends of ABI 2.0's descriptor and declaration structs: a plugin's may be larger (a later minor's), never
   smaller. Descriptor fields after `bolt` are optional: a descriptor may end before them and they read as zero. */
#define GALE__PLUGIN_SIZE_2_0 GALE__SIZE_2_0(gale_plugin_t, bolt)
#define GALE__STREAM_DECL_SIZE_2_0 GALE__SIZE_2_0(gale_stream_decl_t, fields)
#define GALE__SETTING_DECL_SIZE_2_0 GALE__SIZE_2_0(gale_setting_decl_t, help)

/* Entry `i` of the descriptor's stream (setting) table, stepped to by the plugin's element size and copied into
   *out with the fields the plugin's element lacks zero. False at the terminator or when there is no table. */
bool gale__plugin_stream(const gale_plugin_t *d, size_t i, gale_stream_decl_t *out);
bool gale__plugin_setting(const gale_plugin_t *d, size_t i, gale_setting_decl_t *out);

/*
 * Where plugin `name` lives. A name that contains '/' or ends in ".so" is a path, taken relative to `topo_dir`
 * when not absolute. Otherwise "NAME.so" is looked for in `topo_dir`, then in each folder of GALE_PLUGIN_PATH
 * (colon-separated), then in the folder of plugins that ship with gale (gale_plugin_builtin_dir()).
 * On success *out is a malloc'd path the caller frees. GALE_ENOENT with the places looked in, in `diag`.
 */
/* Whether a plugin name as written in a topology is a path (it contains '/' or ends in ".so"). */
bool gale_plugin_name_is_path(const char *name);

int gale_plugin_resolve_path(const char *name, const char *topo_dir, char **out, gale_diag_t *diag);

/* The folder of the plugins that ship with gale: $GALE_HOME/plugins when GALE_HOME is set, else the `plugins`
   folder beside the folder of the running executable (build/bin/gale -> build/plugins), else, as installed by
   `make install`, PREFIX/lib/gale/plugins for PREFIX/bin/gale. Static storage. */
const char *gale_plugin_builtin_dir(void);

/* Loads `path` (RTLD_NOW | RTLD_LOCAL) and checks its descriptor. Before dlopen the file must be a regular file
   (opened without blocking: a FIFO is refused, not waited on) holding an ELF shared object of this host's class,
   byte order and machine whose headers and loadable segments lie within the file, so that a truncated copy is
   refused ("cannot load plugin PATH: not a valid plugin: truncated (N bytes, ...)") instead of raising SIGBUS in the loader. That
   cannot stop a valid object's own constructors from crashing: a process that must survive any plugin loads it in
   a child (the daemon does). *out is owned by the caller (gale_plugin_unload). On failure nothing stays loaded. */
int gale_plugin_load(const char *path, gale_plugin_handle_t **out, gale_diag_t *diag);

/* A plugin built into the program instead of loaded from a file: the name a topology gives it, and its descriptor
   of each kind (NULL for a kind it is not). */
typedef struct gale_plugin_builtin {
    const char *name;
    const gale_plugin_t *spout;
    const gale_plugin_t *bolt;
} gale_plugin_builtin_t;

/* Makes `b` (static storage, not copied) a plugin a topology can name, ahead of any file of that name. Registered
   from above the model (the gale command registers `shell`, shell.h), so that the loader knows no plugin by name;
   call it before any topology is read and before threads start, as the table is not locked. GALE_EEXIST for a name
   already registered (the same `b` again is 0), GALE_ELIMIT when the table is full. */
int gale_plugin_register_builtin(const gale_plugin_builtin_t *b);

/* The registered plugin `name`, as a handle like a loaded one's (path "NAME (built in)"): its descriptor of `kind`,
   or its other one when it has none of that kind, so that the caller's kind check names the mismatch. GALE_ENOENT
   when no plugin of that name is registered. */
int gale_plugin_builtin(const char *name, gale_kind_t kind, gale_plugin_handle_t **out);

void gale_plugin_unload(gale_plugin_handle_t *h); /* NULL is a no-op */

#endif
