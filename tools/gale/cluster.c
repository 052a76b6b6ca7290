/* `gale supervisor` (the daemon of a host, runtime/supd.h) and `gale ctl` (one command to a daemon's control port). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hmac.h"
#include "supd.h"

#define SECRET_MAX 1024

/* An integer option's value: 0 with *out set, or -1 when `v` is not an integer from min to max. */
static int parse_int(const char *v, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max) return -1;
    *out = (int)n;
    return 0;
}

int gale_cmd_supervisor(int argc, char **argv)
{
    const char *secret_file = NULL, *host = "127.0.0.1", *v;
    int port = 0, slots = 4, n_allow = 0;
    const char *allow[64]; /* --allow-path: folders assignments may name besides the daemon's own (supd.h) */
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("supervisor");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--host"))) host = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--port"))) {
            if (parse_int(v, 0, 65535, &port)) return gale_cli_usage_error("supervisor", "--port needs 0 to 65535, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--slots"))) {
            if (parse_int(v, 1, 1024, &slots)) return gale_cli_usage_error("supervisor", "--slots needs 1 to 1024, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--allow-path"))) {
            if (n_allow == 64) return gale_cli_usage_error("supervisor", "at most 64 --allow-path folders");
            allow[n_allow++] = v;
        } else if (o[0] == '-' && o[1]) {
            const char *const valued[] = {"--secret-file", "--host", "--port", "--slots", "--allow-path"};
            for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
                if (!strcmp(o, valued[k])) return gale_cli_usage_error("supervisor", "%s needs a value", o);
            return gale_cli_unknown_option("supervisor", o);
        } else return gale_cli_usage_error("supervisor", "unexpected argument '%s'", o);
    }
    if (!secret_file) return gale_cli_usage_error("supervisor", "--secret-file is required: the control port runs topologies");
    char addr[64];
    int rc = gale_cli_resolve_host("supervisor", "--host", host, addr, sizeof addr);
    if (rc) return rc;
    char secret[SECRET_MAX], exe[4096];
    size_t secret_len;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &secret_len) || gale_cli_self_exe(exe, sizeof exe))
        return GALE_EXIT_ERROR;
    signal(SIGPIPE, SIG_IGN);
    gale_supd_opts_t o = {.host = addr, .port = port, .slots = slots, .secret = secret, .secret_len = secret_len,
                          .exe = exe, .allow = allow, .n_allow = n_allow};
    return gale_supd_run(&o) ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

/* ---- gale ctl ---------------------------------------------------------------------------------------------------- */

typedef struct reader {
    int fd;
    char buf[1 << 16];
    size_t len;
    int timeout_ms; /* < 0: none */
} reader_t;

/* The next line, NUL-terminated in place; NULL on end, error or timeout (errno says which). */
static char *next_line(reader_t *r)
{
    static char line[1 << 16];
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            memcpy(line, r->buf, n);
            line[n] = '\0';
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return line;
        }
        if (r->len == sizeof r->buf) {
            errno = EMSGSIZE;
            return NULL;
        }
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int ready = poll(&p, 1, r->timeout_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) errno = ETIMEDOUT;
        if (ready <= 0) return NULL;
        ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = ECONNRESET;
            return NULL;
        }
        r->len += (size_t)got;
    }
}

static int dial(const char *target)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof host) return -1;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai)) return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Reads to the reply ("ok ..." or "error ..."), printing data lines on stdout and skipping events. */
static int await_reply(reader_t *r, const char *target, bool print_ok)
{
    char *line;
    while ((line = next_line(r))) {
        if (!strncmp(line, "event ", 6)) continue;
        if (!strncmp(line, "error", 5)) {
            fprintf(stderr, "gale: %s: %s\n", target, line[5] ? line + 6 : "error");
            return GALE_EXIT_ERROR;
        }
        if (!strncmp(line, "ok", 2) && (!line[2] || line[2] == ' ')) {
            if (print_ok && line[2]) printf("%s\n", line + 3);
            return GALE_EXIT_OK;
        }
        printf("%s\n", line);
    }
    fprintf(stderr, "gale: %s: no reply: %s\n", target, strerror(errno));
    return GALE_EXIT_ERROR;
}

int gale_cmd_ctl(int argc, char **argv)
{
    const char *secret_file = NULL, *v;
    double timeout_s = 60;
    bool timeout_given = false;
    int i = 1;
    /* Options end at HOST:PORT: what follows is the daemon's command, passed on as it is. */
    if (gale_cli_wants_help(argc, argv, 1)) return gale_cli_help("ctl");
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--secret-file"))) secret_file = v;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--timeout"))) {
            char *end;
            timeout_s = strtod(v, &end);
            if (!*v || *end || !(timeout_s > 0 && timeout_s <= 86400))
                return gale_cli_usage_error("ctl", "--timeout needs seconds, more than 0 and at most 86400, not '%s'", v);
            timeout_given = true;
        } else if (!strcmp(o, "--secret-file") || !strcmp(o, "--timeout"))
            return gale_cli_usage_error("ctl", "%s needs a value", o);
        else return gale_cli_unknown_option("ctl", o);
    }
    if (!secret_file) return gale_cli_usage_error("ctl", "--secret-file is required");
    if (argc - i < 2) return gale_cli_usage_error("ctl", "a HOST:PORT and a command are needed");
    const char *target = argv[i++];
    char secret[SECRET_MAX];
    size_t secret_len;
    if (gale_cli_read_secret(secret_file, secret, sizeof secret, &secret_len)) return GALE_EXIT_ERROR;
    char command[16384] = "";
    for (; i < argc; i++) {
        size_t used = strlen(command);
        if (strchr(argv[i], ' ') || strchr(argv[i], '\n'))
            return gale_cli_usage_error("ctl", "arguments cannot hold spaces: '%s'", argv[i]);
        if (used + strlen(argv[i]) + 2 >= sizeof command) return gale_cli_usage_error("ctl", "command too long");
        snprintf(command + used, sizeof command - used, "%s%s", used ? " " : "", argv[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = dial(target);
    if (fd < 0) {
        fprintf(stderr, "gale: %s: cannot connect (a supervisor listening there?)\n", target);
        return GALE_EXIT_ERROR;
    }
    static reader_t r;
    r = (reader_t){.fd = fd, .timeout_ms = (int)(timeout_s * 1000)};
    char *hello = next_line(&r);
    unsigned char nonce[GALE_NONCE_LEN], proof[GALE_SHA256_LEN];
    const char *prefix = "gale-supervisor 1 challenge ";
    if (hello && !strncmp(hello, "error ", 6)) { /* refused before the challenge: say why, not "not a supervisor" */
        fprintf(stderr, "gale: %s: refused: %s\n", target, hello + 6);
        close(fd);
        return GALE_EXIT_ERROR;
    }
    if (!hello || strncmp(hello, prefix, strlen(prefix)) || gale_hex_decode(hello + strlen(prefix), nonce, sizeof nonce)) {
        fprintf(stderr, "gale: %s: not a gale supervisor of this version\n", target);
        close(fd);
        return GALE_EXIT_ERROR;
    }
    gale_auth_proof(secret, secret_len, nonce, 'C', 0, proof);
    char line[16500];
    char hex[2 * GALE_SHA256_LEN + 1];
    gale_hex_encode(proof, sizeof proof, hex);
    int n = snprintf(line, sizeof line, "auth %s\n", hex);
    int rc = write_all(fd, line, (size_t)n) ? GALE_EXIT_ERROR : await_reply(&r, target, false);
    if (!rc) {
        n = snprintf(line, sizeof line, "%s\n", command);
        if (!strncmp(command, "wait ", 5) && !timeout_given) r.timeout_ms = -1; /* as long as the topology runs */
        rc = write_all(fd, line, (size_t)n) ? GALE_EXIT_ERROR : await_reply(&r, target, true);
    }
    close(fd);
    return rc;
}
