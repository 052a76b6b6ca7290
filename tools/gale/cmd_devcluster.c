/* `gale dev-cluster`: a whole cluster on 127.0.0.1 for trying cluster mode: a ZooKeeper (runtime/cluster/zk_local.h),
   one nimbus and N supervisors started from this binary, in one folder, in the foreground until Ctrl-C. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "certs.h"
#include "cli.h"
#include "daemon_client.h"
#include "proc.h"
#include "zk_local.h"

#define SUPS_MAX 16
#define DIR_CAP 2048 /* the cluster's folder; what is in it takes PATH_CAP */
#define PATH_CAP 4096
#define LISTEN_MS 30000 /* for nimbus to say where it listens */
#define UP_MS \
    60000             /* for it to lead and see every supervisor (a session of a supervisor that came and went
                           before lingers for up to 20 s, but a new one registers at once) */
#define STOP_MS 30000 /* per child, before SIGKILL: a supervisor drains its workers first */

typedef struct child {
    char name[32]; /* "nimbus", "supervisor 2" */
    char log[PATH_CAP];
    pid_t pid; /* 0 when not running */
} child_t;

typedef struct devc {
    char dir[DIR_CAP], secret[PATH_CAP], exe[PATH_CAP];
    char interp_dir[2][PATH_CAP]; /* folders of python3 and node as found on PATH, resolved; "" when not found */
    const char *shown_exe; /* exe as printed: relative to the working folder when under it */
    int n_sups, slots, zk_port, nimbus_port, http_port;
    bool tls;                /* nimbus, the supervisors and their workers speak TLS (DIR/certs); --no-tls: in clear */
    char user_tls[PATH_CAP]; /* DIR/certs/admin: the certificate the printed commands (and this process) use */
    gale_zk_local_t zk;
    child_t nimbus, sup[SUPS_MAX];
} devc_t;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gale dev-cluster: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return GALE_EXIT_ERROR;
}

/* The folder: `given` (made if missing, and it must be empty: a ZooKeeper's data from another run holds nodes
   guarded by another secret), or a new one under $TMPDIR. Its absolute path into d->dir. 0, or an exit code. */
static int make_dir(devc_t *d, const char *given)
{
    char path[PATH_CAP];
    if (given) {
        if (mkdir(given, 0700) && errno != EEXIST)
            return fail("%s: cannot make the folder: %s", given, strerror(errno));
        DIR *dir = opendir(given);
        if (!dir) return fail("%s: %s", given, strerror(errno));
        struct dirent *e;
        int n = 0;
        while ((e = readdir(dir)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
        closedir(dir);
        if (n) return fail("%s is not empty: give a new or empty folder (its ZooKeeper starts afresh)", given);
        snprintf(path, sizeof path, "%s", given);
    } else {
        const char *tmp = getenv("TMPDIR");
        int n = snprintf(path, sizeof path, "%s/gale-dev-cluster-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (n < 0 || (size_t)n >= sizeof path) return fail("$TMPDIR is too long a path");
        if (!mkdtemp(path)) return fail("%s: cannot make the folder: %s", path, strerror(errno));
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) return fail("%s: %s", path, strerror(errno));
    if (strlen(real) >= sizeof d->dir) return fail("%s: too long a path", real);
    memcpy(d->dir, real, strlen(real) + 1);
    return 0;
}

/* d->dir/secret: 32 random bytes as base64, readable by its owner only. 0, or an exit code. */
static int write_secret(devc_t *d)
{
    unsigned char bytes[32];
    char text[64];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) return fail("getrandom: %s", strerror(errno));
    gale_base64_encode(bytes, sizeof bytes, text);
    snprintf(d->secret, sizeof d->secret, "%s/secret", d->dir);
    int fd = open(d->secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail("%s: %s", d->secret, strerror(errno));
    size_t n = strlen(text);
    text[n++] = '\n';
    bool ok = write(fd, text, n) == (ssize_t)n;
    if (close(fd) || !ok) return fail("%s: cannot write the secret: %s", d->secret, strerror(errno));
    return 0;
}

/* Starts `argv` (after the binary) as child `c`, named `name`, logging to d->dir/LOG. 0, or an exit code. */
static int start_child(devc_t *d, child_t *c, const char *name, const char *log, const char *const *args)
{
    const char *argv[32] = {d->exe};
    size_t n = 1;
    while (*args && n < 31) argv[n++] = *args++;
    argv[n] = NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->log, sizeof c->log, "%s/%s", d->dir, log);
    /* SIGTERM when this process ends however it ends: a supervisor then stops its workers. */
    gale_proc_opts_t o = {.argv = argv, .log = c->log, .death_signal = SIGTERM};
    gale_diag_t diag = {""};
    if (gale_proc_spawn(&o, &c->pid, &diag)) return fail("cannot start %s: %s", name, diag.msg);
    return 0;
}

/* Whether child `c` ended; if so says how, with the end of its log, and forgets its pid. */
static bool ended(child_t *c)
{
    int st;
    if (c->pid <= 0 || gale_proc_ended(c->pid, &st) != 1) return false;
    char how[128], tail[2048];
    gale_proc_describe(st, how, sizeof how);
    gale_proc_log_tail(c->log, 8, tail, sizeof tail);
    fprintf(stderr, "gale dev-cluster: %s (pid %d) %s; its log, %s, ends:\n%s\n", c->name, (int)c->pid, how, c->log,
            tail);
    c->pid = 0;
    return true;
}

/* The first child that ended (said as ended() says it), or NULL. ZooKeeper counts as one. */
static const char *any_ended(devc_t *d)
{
    for (int i = 0; i < d->n_sups; i++)
        if (ended(&d->sup[i])) return d->sup[i].name;
    if (ended(&d->nimbus)) return "nimbus";
    int st;
    if (d->zk.pid > 0 && gale_proc_ended(d->zk.pid, &st) == 1) {
        char how[128];
        gale_proc_describe(st, how, sizeof how);
        fprintf(stderr, "gale dev-cluster: ZooKeeper (pid %d) %s; its log: %s\n", (int)d->zk.pid, how, d->zk.log);
        d->zk.pid = 0;
        return "ZooKeeper";
    }
    return NULL;
}

static void stop_child(child_t *c)
{
    if (c->pid <= 0) return;
    bool killed = false;
    gale_proc_stop(c->pid, STOP_MS, &killed);
    if (killed) fprintf(stderr, "gale dev-cluster: %s did not stop within %d s: killed\n", c->name, STOP_MS / 1000);
    c->pid = 0;
}

/* Supervisors first (each stops its workers), then nimbus, then ZooKeeper; each waited for. */
static void stop_all(devc_t *d)
{
    for (int i = 0; i < d->n_sups; i++)
        if (d->sup[i].pid > 0) kill(d->sup[i].pid, SIGTERM); /* at once, so that they drain side by side */
    for (int i = 0; i < d->n_sups; i++) stop_child(&d->sup[i]);
    stop_child(&d->nimbus);
    gale_zk_local_stop(&d->zk, STOP_MS);
}

/* Waits for nimbus's "listening 127.0.0.1:PORT" line. 0, or an exit code after saying why. */
static int wait_listening(devc_t *d)
{
    for (long long end = gale_proc_now_ms() + LISTEN_MS; !stop_signal && gale_proc_now_ms() < end;) {
        if (any_ended(d)) return GALE_EXIT_ERROR;
        FILE *f = fopen(d->nimbus.log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "listening 127.0.0.1:", 20) && strchr(line, '\n')) d->nimbus_port = atoi(line + 20);
        if (f) fclose(f);
        if (d->nimbus_port > 0) return 0;
        gale_proc_sleep_ms(50);
    }
    if (stop_signal) return 0;
    return fail("nimbus did not say where it listens within %d s; its log: %s", LISTEN_MS / 1000, d->nimbus.log);
}

/* Waits for nimbus's "... at http://127.0.0.1:PORT/" line (its web UI). 0, or an exit code after saying why. */
static int wait_http(devc_t *d)
{
    /* nimbus with --tls serves HTTPS */
    const char *AT = d->tls ? " at https://127.0.0.1:" : " at http://127.0.0.1:";
    for (long long end = gale_proc_now_ms() + LISTEN_MS; !stop_signal && gale_proc_now_ms() < end;) {
        if (any_ended(d)) return GALE_EXIT_ERROR;
        FILE *f = fopen(d->nimbus.log, "r");
        char line[512];
        const char *at;
        while (f && fgets(line, sizeof line, f))
            if ((at = strstr(line, AT)) && strchr(line, '\n')) d->http_port = atoi(at + strlen(AT));
        if (f) fclose(f);
        if (d->http_port > 0) return 0;
        gale_proc_sleep_ms(50);
    }
    if (stop_signal) return 0;
    return fail("nimbus did not serve HTTP within %d s; its log: %s", LISTEN_MS / 1000, d->nimbus.log);
}

/* Asks nimbus whether it leads (`leader` names its own port) and how many supervisors it sees (-1: no answer). */
static int nimbus_sees(const devc_t *d, const char *secret, size_t secret_len, bool *leading)
{
    char addr[32], mine[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", d->nimbus_port);
    snprintf(mine, sizeof mine, " port=%d ", d->nimbus_port);
    gale_daemon_client_t *c = NULL;
    gale_diag_t diag = {""};
    const char *ok = NULL;
    int n = -1;
    *leading = false;
    if (gale_daemon_client_open(addr, "nimbus", secret, secret_len, 2000, &c, &diag)) return -1;
    if (!gale_daemon_client_call(c, "leader", 2000, NULL, NULL, &ok, &diag)) *leading = strstr(ok, mine) != NULL;
    if (*leading && !gale_daemon_client_call(c, "supervisors", 2000, NULL, NULL, &ok, &diag)) n = atoi(ok);
    gale_daemon_client_free(c);
    return n;
}

/* Waits until nimbus leads and sees every supervisor. 0, or an exit code after saying what did not come up. */
static int wait_up(devc_t *d)
{
    char secret[1024];
    size_t secret_len;
    if (gale_cli_read_secret(d->secret, secret, sizeof secret, &secret_len)) return GALE_EXIT_ERROR;
    bool leading = false;
    int seen = -1;
    for (long long end = gale_proc_now_ms() + UP_MS; !stop_signal && gale_proc_now_ms() < end;) {
        if (any_ended(d)) return GALE_EXIT_ERROR;
        if ((seen = nimbus_sees(d, secret, secret_len, &leading)) == d->n_sups) return 0;
        gale_proc_sleep_ms(100);
    }
    if (stop_signal) return 0;
    if (!leading) return fail("nimbus did not lead within %d s; its log: %s", UP_MS / 1000, d->nimbus.log);
    fprintf(stderr, "gale dev-cluster: nimbus sees %d of the %d supervisors after %d s; their logs:\n", seen, d->n_sups,
            UP_MS / 1000);
    for (int i = 0; i < d->n_sups; i++) fprintf(stderr, "  %s\n", d->sup[i].log);
    return GALE_EXIT_ERROR;
}

/* The resolved folder of `prog` as execvp would find it on PATH, into `out`; "" when it is not there. */
static void interpreter_dir(const char *prog, char *out, size_t cap)
{
    out[0] = 0;
    const char *path = getenv("PATH");
    char *dirs = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL, file[PATH_CAP];
    for (char *dir = dirs ? strtok_r(dirs, ":", &save) : NULL; dir && !out[0]; dir = strtok_r(NULL, ":", &save)) {
        int n = snprintf(file, sizeof file, "%s/%s", *dir ? dir : ".", prog);
        char *real = n > 0 && (size_t)n < sizeof file && access(file, X_OK) == 0 ? realpath(file, NULL) : NULL;
        char *slash = real ? strrchr(real, '/') : NULL;
        if (slash) {
            *slash = 0;
            snprintf(out, cap, "%s", slash == real ? "/" : real);
        }
        free(real);
    }
    free(dirs);
}

/* The cluster's CA and a certificate for each supervisor, in DIR/certs (certs.h). */
static int make_certs(devc_t *d)
{
    char certs[PATH_CAP], name[32];
    snprintf(certs, sizeof certs, "%s/certs", d->dir);
    gale_diag_t diag = {""};
    if (gale_certs_init(certs, 3650, &diag)) return fail("%s", diag.msg);
    for (int i = 0; i <= d->n_sups + 1; i++) { /* the supervisors, nimbus, and a user for the commands */
        if (i < d->n_sups) snprintf(name, sizeof name, "supervisor-%d", i + 1);
        else snprintf(name, sizeof name, "%s", i == d->n_sups ? "nimbus" : "admin");
        const char *role = i <= d->n_sups ? "node" : "admin";
        if (gale_certs_issue_as(certs, name, role, (const char *const[]){"127.0.0.1"}, 1, 0, 365, &diag))
            return fail("%s", diag.msg);
    }
    if (snprintf(d->user_tls, sizeof d->user_tls, "%.4000s/admin", certs) >= (int)sizeof d->user_tls)
        return fail("%s: path too long", certs);
    return gale_cli_client_tls(d->user_tls); /* this process asks nimbus whether it sees everyone */
}

/* ZooKeeper, nimbus, then the supervisors. 0, or an exit code after saying why (what started is still running). */
static int start_all(devc_t *d)
{
    char zk_dir[PATH_CAP], nimbus_port[16], nimbus_data[PATH_CAP], slots[16], cores[24];
    snprintf(zk_dir, sizeof zk_dir, "%s/zookeeper", d->dir);
    if (mkdir(zk_dir, 0700)) return fail("%s: %s", zk_dir, strerror(errno));
    fprintf(stderr, "gale dev-cluster: starting ZooKeeper, nimbus and %d supervisor%s in %s\n", d->n_sups,
            d->n_sups == 1 ? "" : "s", d->dir);
    gale_zk_local_opts_t zo = {.dir = zk_dir, .port = d->zk_port};
    gale_diag_t diag = {""};
    if (gale_zk_local_start(&zo, &d->zk, &diag)) return fail("%s", diag.msg);
    snprintf(nimbus_port, sizeof nimbus_port, "%d", d->nimbus_port);
    snprintf(nimbus_data, sizeof nimbus_data, "%s/nimbus-data", d->dir);
    char nimbus_tls[PATH_CAP];
    snprintf(nimbus_tls, sizeof nimbus_tls, "%s/certs/nimbus", d->dir);
    const char *nimbus[] = {"nimbus",    "--zk",   d->zk.hosts, "--secret-file", d->secret, "--data",
                            nimbus_data, "--port", nimbus_port, "--http",        "0",       NULL,
                            NULL,        NULL};
    if (d->tls) nimbus[11] = "--tls", nimbus[12] = nimbus_tls;
    int rc = start_child(d, &d->nimbus, "nimbus", "nimbus.log", nimbus);
    d->nimbus_port = 0; /* from its "listening" line, which says what it got */
    if (!rc) rc = wait_listening(d);
    if (!rc) rc = wait_http(d);
    snprintf(slots, sizeof slots, "%d", d->slots);
    /* The supervisors share this host: each shares out its part of the cores, not all of them (with all, two
       supervisors' workers ran twice as many threads as cores, at 0.55 of `gale run --workers 2`'s rate). */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    interpreter_dir("python3", d->interp_dir[0], sizeof d->interp_dir[0]);
    interpreter_dir("node", d->interp_dir[1], sizeof d->interp_dir[1]);
    snprintf(cores, sizeof cores, "%ld", online / d->n_sups > 1 ? online / d->n_sups : 1);
    for (int i = 0; !rc && !stop_signal && i < d->n_sups; i++) {
        char name[32], log[64], data[PATH_CAP];
        snprintf(name, sizeof name, "supervisor %d", i + 1);
        snprintf(log, sizeof log, "supervisor-%d.log", i + 1);
        snprintf(data, sizeof data, "%s/supervisor-%d", d->dir, i + 1);
        /* Its data folder and the cluster's folder are where a topology's files may be, besides the working
           folder (the checkout, for topologies/data/...). */
        /* ... and, so that multilang topologies (topologies/wordcount_python.cfg) run as they do locally, the
           folders of the interpreters Storm's multilang scripts use: a supervisor runs a shell component's program
           only from a folder it allows. */
        const char *sup[20] = {"supervisor", "--zk",         d->zk.hosts, "--secret-file", d->secret,
                               "--slots",    slots,          "--cores",   cores,           "--data",
                               data,         "--allow-path", d->dir};
        int n_arg = 13;
        char tls[PATH_CAP];
        snprintf(tls, sizeof tls, "%s/certs/supervisor-%d", d->dir, i + 1);
        if (d->tls) sup[n_arg++] = "--tls", sup[n_arg++] = tls;
        for (int k = 0; k < 2; k++)
            if (d->interp_dir[k][0] && (k == 0 || strcmp(d->interp_dir[0], d->interp_dir[1]))) {
                sup[n_arg++] = "--allow-path";
                sup[n_arg++] = d->interp_dir[k];
            }
        sup[n_arg] = NULL;
        rc = start_child(d, &d->sup[i], name, log, sup);
    }
    if (!rc && !stop_signal) rc = wait_up(d);
    return rc;
}

/* What to type, exactly, and where everything is. */
static void print_how(const devc_t *d)
{
    const char *g = d->shown_exe;
    printf("gale dev-cluster: up in %s\n"
           "  ZooKeeper     127.0.0.1:%d (pid %d)\n"
           "  nimbus        127.0.0.1:%d, leading (pid %d)\n"
           "  web UI        http%s://127.0.0.1:%d/ (and the REST API, /metrics)%s%s%s\n",
           d->dir, d->zk.port, (int)d->zk.pid, d->nimbus_port, (int)d->nimbus.pid, d->tls ? "s" : "", d->http_port,
           d->tls ? "; its CA: " : "", d->tls ? d->dir : "", d->tls ? "/certs/ca.crt" : "");
    for (int i = 0; i < d->n_sups; i++)
        printf("  %-13s %d slots (pid %d)\n", d->sup[i].name, d->slots, (int)d->sup[i].pid);
    if (d->tls)
        printf("  TLS           nimbus, supervisors and workers, with the CA and certificates in %s/certs\n", d->dir);
    else printf("  TLS           off (--no-tls): commands and tuples travel in clear\n");
    if (d->interp_dir[0][0] || d->interp_dir[1][0])
        printf("  shell components may run programs in %s%s%s (python3, node), besides the checkout\n",
               d->interp_dir[0][0] ? d->interp_dir[0] : d->interp_dir[1],
               d->interp_dir[0][0] && d->interp_dir[1][0] && strcmp(d->interp_dir[0], d->interp_dir[1]) ? ", " : "",
               d->interp_dir[0][0] && d->interp_dir[1][0] && strcmp(d->interp_dir[0], d->interp_dir[1])
                   ? d->interp_dir[1]
                   : "");
    /* With TLS, the user's certificate too: nimbus's control port takes no other client. */
    char cred[PATH_CAP * 2 + 32];
    snprintf(cred, sizeof cred, "--secret-file %s%s%s", d->secret, d->tls ? " --tls " : "", d->tls ? d->user_tls : "");
    printf("\nIn another terminal, at the top of the checkout:\n"
           "  %s submit --zk %s %s --set config.workers=%d topologies/wordcount.cfg\n"
           "  %s list --zk %s %s\n"
           "  %s kill --zk %s %s --wait 5 wordcount\n\n"
           "Logs: %s, %s",
           g, d->zk.hosts, cred, d->n_sups, g, d->zk.hosts, cred, g, d->zk.hosts, cred, d->zk.log, d->nimbus.log);
    for (int i = 0; i < d->n_sups; i++) printf(", %s", d->sup[i].log);
    printf("\nCtrl-C stops everything.\n");
    fflush(stdout);
}

/* The binary as the user would type it: relative to the working folder when it lies under it. */
static const char *shown_exe(const char *exe, char *cwd, size_t cap)
{
    if (!getcwd(cwd, cap)) return exe;
    size_t n = strlen(cwd);
    return !strncmp(exe, cwd, n) && exe[n] == '/' ? exe + n + 1 : exe;
}

int gale_cmd_dev_cluster(int argc, char **argv)
{
    devc_t d = {.n_sups = 2, .slots = 2, .tls = true};
    const char *dir = NULL, *v;
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("dev-cluster");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((v = gale_cli_option_value(argc, argv, &i, "--dir"))) dir = v;
        else if (!strcmp(o, "--no-tls")) d.tls = false;
        else if ((v = gale_cli_option_value(argc, argv, &i, "--supervisors"))) {
            if (gale_cli_parse_int(v, 1, SUPS_MAX, &d.n_sups))
                return gale_cli_usage_error("dev-cluster", "--supervisors needs 1 to %d, not '%s'", SUPS_MAX, v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--slots"))) {
            if (gale_cli_parse_int(v, 1, 1024, &d.slots))
                return gale_cli_usage_error("dev-cluster", "--slots needs 1 to 1024, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--zk-port"))) {
            if (gale_cli_parse_int(v, 1, 65535, &d.zk_port))
                return gale_cli_usage_error("dev-cluster", "--zk-port needs 1 to 65535, not '%s'", v);
        } else if ((v = gale_cli_option_value(argc, argv, &i, "--nimbus-port"))) {
            if (gale_cli_parse_int(v, 1, 65535, &d.nimbus_port))
                return gale_cli_usage_error("dev-cluster", "--nimbus-port needs 1 to 65535, not '%s'", v);
        } else if (o[0] == '-' && o[1]) {
            const char *const valued[] = {"--dir", "--supervisors", "--slots", "--zk-port", "--nimbus-port"};
            for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
                if (!strcmp(o, valued[k])) return gale_cli_usage_error("dev-cluster", "%s needs a value", o);
            return gale_cli_unknown_option("dev-cluster", o);
        } else return gale_cli_usage_error("dev-cluster", "unexpected argument '%s'", o);
    }
    if (d.zk_port && d.zk_port == d.nimbus_port)
        return gale_cli_usage_error("dev-cluster", "--zk-port and --nimbus-port are both %d", d.zk_port);
    /* What can be known before anything starts is said before anything starts. */
    gale_diag_t diag = {""};
    if (gale_zk_local_installed(&diag)) return fail("%s", diag.msg);
    if (d.zk_port && !gale_proc_port_free(d.zk_port))
        return fail("--zk-port %d: 127.0.0.1:%d is taken; give another, or none for a free one", d.zk_port, d.zk_port);
    if (d.nimbus_port && !gale_proc_port_free(d.nimbus_port))
        return fail("--nimbus-port %d: 127.0.0.1:%d is taken; give another, or none for a free one", d.nimbus_port,
                    d.nimbus_port);
    char cwd[PATH_CAP];
    int rc = gale_cli_self_exe(d.exe, sizeof d.exe);
    if (!rc) rc = make_dir(&d, dir);
    if (!rc) rc = write_secret(&d);
    if (!rc && d.tls) rc = make_certs(&d);
    if (rc) return rc;
    d.shown_exe = shown_exe(d.exe, cwd, sizeof cwd);
    /* Ctrl-C reaches this process alone (each child has a process group of its own), which stops them in order. */
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a signal cuts a sleep short */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = start_all(&d);
    if (!rc && !stop_signal) {
        print_how(&d);
        while (!stop_signal && !(rc = any_ended(&d) ? GALE_EXIT_ERROR : 0)) gale_proc_sleep_ms(100);
    }
    if (rc) fprintf(stderr, "gale dev-cluster: stopping the rest\n");
    else
        fprintf(stderr, "gale dev-cluster: %s: stopping the supervisors, nimbus and ZooKeeper\n",
                strsignal(stop_signal));
    stop_all(&d);
    fprintf(stderr, "gale dev-cluster: stopped; the logs stay in %s\n", d.dir);
    return rc;
}
