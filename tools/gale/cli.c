#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "gale: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s\n", usage);
    return GALE_EXIT_USAGE;
}

static int parse_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

static int add_override(gale_cli_args_t *out, const char *assignment)
{
    gale_override_t *o = realloc(out->overrides, (out->n_overrides + 1) * sizeof *o);
    if (!o) return -1;
    out->overrides = o;
    out->overrides[out->n_overrides++].assignment = assignment;
    return 0;
}

/* Takes the value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL when it is missing. */
const char *gale_cli_option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

int gale_cli_is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int gale_cli_parse(int argc, char **argv, int run_options, const char *usage, gale_cli_args_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (gale_cli_is_option(a, "--set")) {
            if (!(v = gale_cli_option_value(argc, argv, &i, "--set"))) return usage_error(usage, "%s needs COMPONENT.KEY=VALUE", a);
            if (!strchr(v, '=') || !strchr(v, '.')) return usage_error(usage, "--set %s: expected COMPONENT.KEY=VALUE", v);
            if (add_override(out, v)) return usage_error(usage, "%s", "out of memory");
        } else if (run_options && gale_cli_is_option(a, "--duration")) {
            if (!(v = gale_cli_option_value(argc, argv, &i, "--duration")) || parse_number(v, &out->duration_s))
                return usage_error(usage, "%s needs a number of seconds", a);
        } else if (run_options && gale_cli_is_option(a, "--threads")) {
            double t;
            if (!(v = gale_cli_option_value(argc, argv, &i, "--threads")) || parse_number(v, &t) || t < 1 || t > 4096)
                return usage_error(usage, "%s needs a number of threads from 1 to 4096", a);
            out->threads = (int)t;
        } else if (run_options && gale_cli_is_option(a, "--workers")) {
            double w;
            if (!(v = gale_cli_option_value(argc, argv, &i, "--workers")) || parse_number(v, &w) || w < 1 || w > 64)
                return usage_error(usage, "%s needs a number of workers from 1 to 64", a);
            out->workers = (int)w;
        } else if (run_options && gale_cli_is_option(a, "--stats")) {
            if (!(out->stats = gale_cli_option_value(argc, argv, &i, "--stats"))) return usage_error(usage, "%s needs a file", a);
        } else if (run_options && !strcmp(a, "--quiet")) {
            out->quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error(usage, "unknown option %s", a);
        } else if (out->file) {
            return usage_error(usage, "one topology file only (got %s too)", a);
        } else {
            out->file = a;
        }
    }
    if (!out->file) return usage_error(usage, "%s", "no topology file given");
    return 0;
}

int gale_cli_self_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0) {
        fprintf(stderr, "gale: cannot find the gale binary to start workers\n");
        return GALE_EXIT_ERROR;
    }
    buf[n] = '\0';
    return 0;
}

int gale_cli_read_secret(const char *path, char *buf, size_t cap, size_t *len)
{
    /* O_NONBLOCK and a regular file only: a FIFO given as the secret file hung the daemon at start, and a folder
       was reported as a secret of the wrong size. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    const char *why = fd < 0 || fstat(fd, &st) ? strerror(errno) : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    if (why) {
        fprintf(stderr, "gale: %s: cannot read the secret file: %s\n", path, why);
        if (fd >= 0) close(fd);
        return GALE_EXIT_ERROR;
    }
    if (st.st_mode & 077) {
        fprintf(stderr, "gale: %s: the secret file is readable by others (chmod 600 %s)\n", path, path);
        close(fd);
        return GALE_EXIT_ERROR;
    }
    size_t n = 0;
    ssize_t got = 1;
    while (n < cap && st.st_size <= (off_t)cap && (got = read(fd, buf + n, cap - n)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        n += (size_t)got;
    }
    close(fd);
    bool more = n >= cap || st.st_size > (off_t)cap - 1;
    if (got < 0) {
        fprintf(stderr, "gale: %s: cannot read the secret file: %s\n", path, strerror(errno));
        return GALE_EXIT_ERROR;
    }
    if (more) n = 0;
    while (n && strchr(" \t\r\n", buf[n - 1])) n--; /* `echo ... > file` adds a newline that is not the secret */
    buf[n] = '\0';
    if (more || n < 16) {
        fprintf(stderr, "gale: %s: the secret must be 16 to %zu bytes\n", path, cap - 1);
        return GALE_EXIT_ERROR;
    }
    *len = n;
    return 0;
}

void gale_cli_args_free(gale_cli_args_t *a)
{
    free(a->overrides);
    a->overrides = NULL;
}

gale_topology_t *gale_cli_open_topology(const gale_cli_args_t *a)
{
    gale_topology_t *topo = NULL;
    gale_diag_t diag = {{0}};
    int rc = gale_topology_open(a->file, a->overrides, a->n_overrides, &topo, &diag);
    if (rc) {
        fprintf(stderr, "gale: %s\n", diag.msg[0] ? diag.msg : gale_strerror(rc));
        return NULL;
    }
    return topo;
}
