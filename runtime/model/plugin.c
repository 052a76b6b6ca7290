#include "plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *gale_plugin_builtin_dir(void)
{
    static char dir[PATH_MAX + 32];
    const char *home = getenv("GALE_HOME");
    if (home && *home) {
        snprintf(dir, sizeof dir, "%s/plugins", home);
        return dir;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "plugins";
    exe[n] = '\0';
    /* build/bin/gale -> build/plugins in a build tree; PREFIX/bin/gale -> PREFIX/lib/gale/plugins installed. */
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
    }
    struct stat st;
    snprintf(dir, sizeof dir, "%s/plugins", exe);
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return dir;
    snprintf(dir, sizeof dir, "%s/lib/gale/plugins", exe);
    return dir;
}

bool gale_plugin_name_is_path(const char *name)
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
    if (gale_plugin_name_is_path(name)) {
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

/* Copies the descriptor the plugin exports into `out`, zero past its size: only its first three fields are read
   before its size is known. 0, or GALE_EABI naming the file and both versions. */
static int copy_descriptor(const char *path, const gale_plugin_t *d, gale_plugin_t *out, gale_diag_t *diag)
{
    if (d->abi_major != GALE_ABI_MAJOR)
        return gale__diag(diag, GALE_EABI, "plugin %s has ABI major %u, this gale has %d: rebuild it against this gale.h",
                          path, d->abi_major, GALE_ABI_MAJOR);
    if (d->size < GALE__PLUGIN_SIZE_2_0)
        return gale__diag(diag, GALE_EABI,
                          "plugin %s (ABI %u.%u) has a descriptor of %u bytes, this gale (ABI %d.%d) needs at least %zu: "
                          "rebuild it", path, d->abi_major, d->abi_minor, d->size, GALE_ABI_MAJOR, GALE_ABI_MINOR,
                          GALE__PLUGIN_SIZE_2_0);
    memset(out, 0, sizeof *out);
    memcpy(out, d, d->size < sizeof *out ? d->size : sizeof *out);
    out->size = sizeof *out; /* it is this gale's size now */
    if ((out->stream_decl_size && out->stream_decl_size < GALE__STREAM_DECL_SIZE_2_0) ||
        (out->setting_decl_size && out->setting_decl_size < GALE__SETTING_DECL_SIZE_2_0))
        return gale__diag(diag, GALE_EABI,
                          "plugin %s (ABI %u.%u) declares table entries of %u and %u bytes, this gale (ABI %d.%d) needs "
                          "at least %zu and %zu: rebuild it", path, d->abi_major, d->abi_minor, out->stream_decl_size,
                          out->setting_decl_size, GALE_ABI_MAJOR, GALE_ABI_MINOR, GALE__STREAM_DECL_SIZE_2_0,
                          GALE__SETTING_DECL_SIZE_2_0);
    return 0;
}

/* Entry `i` of a table of `elem`-byte entries (0: `native` bytes), copied into `out` (`native` bytes, zero past
   the plugin's entry). The loader refused entries smaller than ABI 2.0's, so the name is always there. */
static const void *table_entry(const void *table, uint32_t elem, size_t native, size_t i, void *out)
{
    size_t step = elem ? elem : native;
    memset(out, 0, native);
    memcpy(out, (const char *)table + i * step, step < native ? step : native);
    return out;
}

bool gale__plugin_stream(const gale_plugin_t *d, size_t i, gale_stream_decl_t *out)
{
    return d->streams && (table_entry(d->streams, d->stream_decl_size, sizeof *out, i, out), out->name);
}

bool gale__plugin_setting(const gale_plugin_t *d, size_t i, gale_setting_decl_t *out)
{
    return d->settings && (table_entry(d->settings, d->setting_decl_size, sizeof *out, i, out), out->name);
}

static int check_descriptor(const char *path, const gale_plugin_t *d, gale_diag_t *diag)
{
    if (!d->name) return gale__diag(diag, GALE_EPLUGIN, "plugin %s: its descriptor has no name", path);
    if (d->kind == GALE_SPOUT && !d->spout.next_tuple)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: a spout without next_tuple", path);
    if (d->kind == GALE_BOLT && !d->bolt.execute && !d->execute_window)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: a bolt without execute (or execute_window)", path);
    if (d->kind != GALE_SPOUT && d->kind != GALE_BOLT)
        return gale__diag(diag, GALE_EPLUGIN, "plugin %s: kind %d is neither GALE_SPOUT nor GALE_BOLT", path, d->kind);
    return 0;
}

/* The e_machine of the objects this gale can load; EM_NONE where it is not known (that check is then skipped). */
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#else
#define HOST_MACHINE EM_NONE
#endif
#if __SIZEOF_POINTER__ == 8
#define HOST_CLASS ELFCLASS64
#else
#define HOST_CLASS ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

/* Reads exactly `n` bytes at `off`; false on a short read or an error. */
static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

/* `off + count * size` (the end of a table in the file) without overflow; UINT64_MAX when it would overflow. */
static uint64_t table_end(uint64_t off, uint64_t count, uint64_t size)
{
    if (size && count > (UINT64_MAX - off) / size) return UINT64_MAX;
    return off + count * size;
}

/*
 * Checks, before dlopen, what would make the loader block or crash instead of failing: a FIFO or device (open
 * would block, or mapping would not work), a file that is not an ELF shared object of this host, and a truncated
 * one, whose mapped pages past the end of the file raise SIGBUS when the loader touches them (a `cp` cut short
 * took down `gale run` and the daemon that way). The file is opened with O_NONBLOCK so that a FIFO cannot block
 * the open itself. 0, or GALE_EPLUGIN with "cannot load plugin PATH: not a valid plugin: WHY" in `diag`.
 */
static int check_elf(const char *path, gale_diag_t *diag)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return gale__diag(diag, GALE_EPLUGIN, "cannot load plugin %s: %s", path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    char whybuf[160];
    ElfW(Ehdr) eh;
    if (fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = "not a regular file";
    uint64_t size = why ? 0 : (uint64_t)st.st_size;
    if (!why && size < sizeof eh) {
        snprintf(whybuf, sizeof whybuf, "truncated (%llu bytes, the ELF headers need %zu)", (unsigned long long)size,
                 sizeof eh);
        why = whybuf;
    } else if (!why && !read_at(fd, &eh, sizeof eh, 0)) {
        why = "its ELF header cannot be read";
    } else if (!why && memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
        why = "not an ELF file";
    } else if (!why && eh.e_ident[EI_CLASS] != HOST_CLASS) {
        snprintf(whybuf, sizeof whybuf, "a %s ELF object, this gale is %s",
                 eh.e_ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : eh.e_ident[EI_CLASS] == ELFCLASS64 ? "64-bit" : "bad-class",
                 HOST_CLASS == ELFCLASS64 ? "64-bit" : "32-bit");
        why = whybuf;
    } else if (!why && eh.e_ident[EI_DATA] != HOST_DATA) {
        why = "an ELF object of the other byte order";
    } else if (!why && eh.e_type != ET_DYN) {
        why = "not a shared object (ELF type is not ET_DYN)";
    } else if (!why && HOST_MACHINE != EM_NONE && eh.e_machine != HOST_MACHINE) {
        snprintf(whybuf, sizeof whybuf, "built for another machine (ELF machine %u, this host's is %u)",
                 (unsigned)eh.e_machine, (unsigned)HOST_MACHINE);
        why = whybuf;
    } else if (!why && (eh.e_phnum == 0 || eh.e_phentsize != sizeof(ElfW(Phdr)) ||
                        (eh.e_shnum && eh.e_shentsize != sizeof(ElfW(Shdr))))) {
        why = "its ELF header has bad table sizes";
    }
    if (!why) {
        uint64_t need = table_end(eh.e_phoff, eh.e_phnum, eh.e_phentsize);
        uint64_t sh_need = table_end(eh.e_shoff, eh.e_shnum, eh.e_shentsize);
        if (sh_need > need) need = sh_need;
        if (need > size) {
            snprintf(whybuf, sizeof whybuf, "truncated (%llu bytes, the ELF headers need %llu)",
                     (unsigned long long)size, (unsigned long long)need);
            why = whybuf;
        }
    }
    for (unsigned i = 0; !why && i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (!read_at(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph)) {
            why = "its program headers cannot be read";
            break;
        }
        uint64_t end = table_end(ph.p_offset, 1, ph.p_filesz);
        if (ph.p_type == PT_LOAD && end > size) {
            snprintf(whybuf, sizeof whybuf, "truncated (%llu bytes, segment %u needs %llu)", (unsigned long long)size,
                     i, (unsigned long long)end);
            why = whybuf;
        }
    }
    close(fd);
    /* Worded as dlopen's refusals are ("cannot load plugin PATH: ..."), which scripts and fixtures match. */
    return why ? gale__diag(diag, GALE_EPLUGIN, "cannot load plugin %s: not a valid plugin: %s", path, why) : 0;
}

int gale_plugin_load(const char *path, gale_plugin_handle_t **out, gale_diag_t *diag)
{
    int crc = check_elf(path, diag);
    if (crc) return crc;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return gale__diag(diag, GALE_EPLUGIN, "cannot load plugin %s: %s", path, dlerror());
    const gale_plugin_t *d = dlsym(dl, GALE_PLUGIN_SYMBOL);
    gale_plugin_handle_t *h = calloc(1, sizeof *h);
    int rc = !h ? gale__diag(diag, GALE_ENOMEM, "out of memory")
             : !d ? gale__diag(diag, GALE_EPLUGIN, "plugin %s exports no '" GALE_PLUGIN_SYMBOL "' descriptor "
                                                   "(declare one with GALE_PLUGIN(...) from gale.h)", path)
                  : copy_descriptor(path, d, &h->copy, diag);
    if (!rc) rc = check_descriptor(path, &h->copy, diag);
    if (!rc && !(h->path = strdup(path))) rc = gale__diag(diag, GALE_ENOMEM, "out of memory");
    if (rc) {
        free(h);
        dlclose(dl);
        return rc;
    }
    h->dl = dl;
    h->desc = &h->copy;
    *out = h;
    return 0;
}

/* ---- built-in plugins ------------------------------------------------------------------------------------- */

static const gale_plugin_builtin_t *builtins[8];
static size_t n_builtins;

static const gale_plugin_builtin_t *find_builtin(const char *name)
{
    for (size_t i = 0; i < n_builtins; i++)
        if (!strcmp(builtins[i]->name, name)) return builtins[i];
    return NULL;
}

int gale_plugin_register_builtin(const gale_plugin_builtin_t *b)
{
    const gale_plugin_builtin_t *known = find_builtin(b->name);
    if (known) return known == b ? 0 : GALE_EEXIST;
    if (n_builtins == sizeof builtins / sizeof *builtins) return GALE_ELIMIT;
    builtins[n_builtins++] = b;
    return 0;
}

int gale_plugin_builtin(const char *name, gale_kind_t kind, gale_plugin_handle_t **out)
{
    const gale_plugin_builtin_t *b = find_builtin(name);
    if (!b) return GALE_ENOENT;
    gale_plugin_handle_t *h = calloc(1, sizeof *h);
    size_t n = strlen(name) + sizeof " (built in)";
    if (!h || !(h->path = malloc(n))) {
        free(h);
        return GALE_ENOMEM;
    }
    snprintf(h->path, n, "%s (built in)", name);
    const gale_plugin_t *of_kind = kind == GALE_SPOUT ? b->spout : b->bolt;
    h->desc = of_kind ? of_kind : kind == GALE_SPOUT ? b->bolt : b->spout;
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
