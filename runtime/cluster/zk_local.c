#include "zk_local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "proc.h"

#define READY_MS 90000 /* Java starts in about a second here; the bound is for a busy machine */
#define TRIES 3        /* ports, when the kernel chooses them */

const char *gale_zk_local_script(void)
{
    const char *s = getenv("GALE_ZK_SERVER");
    return s && *s ? s : GALE_ZK_LOCAL_SCRIPT;
}

bool gale_zk_local_ok(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char reply[16] = "";
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "ruok", 4) == 4) {
        ssize_t r;
        while (n < sizeof reply - 1 && (r = read(fd, reply + n, sizeof reply - 1 - n)) > 0) n += (size_t)r;
    }
    close(fd);
    reply[n] = '\0';
    return !strcmp(reply, "imok");
}

/* DIR/zoo.cfg for `port`. 0, or GALE_EIO with `d` saying why. */
static int write_config(const gale_zk_local_opts_t *o, int port, const char *path, gale_diag_t *d)
{
    FILE *f = fopen(path, "w");
    if (!f) return gale__diag(d, GALE_EIO, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# written by gale (runtime/cluster/zk_local.c): a standalone server on 127.0.0.1\n"
            "tickTime=%d\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n4lw.commands.whitelist=ruok\n",
            o->tick_ms > 0 ? o->tick_ms : 2000, o->dir, port);
    if (o->min_session_ms > 0) fprintf(f, "minSessionTimeout=%d\n", o->min_session_ms);
    if (o->max_session_ms > 0) fprintf(f, "maxSessionTimeout=%d\n", o->max_session_ms);
    if (fclose(f)) return gale__diag(d, GALE_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* One try on z->port: 0 once it answers; GALE_EIO when it ended first (`d` says how), GALE_ETIMEDOUT when it did not
   answer in time (stopped then), or a code from writing its config or starting it. */
static int try_start(const gale_zk_local_opts_t *o, gale_zk_local_t *z, gale_diag_t *d)
{
    char cfg[4096], log_dir[4096 + 16];
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", o->dir);
    snprintf(log_dir, sizeof log_dir, "ZOO_LOG_DIR=%s/log", o->dir);
    int rc = write_config(o, z->port, cfg, d);
    if (rc) return rc;
    const char *script = gale_zk_local_script();
    const char *argv[] = {script, "start-foreground", cfg, NULL};
    /* ZOO_NOEXEC would leave a shell between us and Java, and the shell's pid is not the server's. */
    const char *env[] = {"JMXDISABLE=true", log_dir, "ZOO_NOEXEC", NULL};
    gale_proc_opts_t po = {.argv = argv, .env = env, .log = z->log, .death_signal = SIGKILL};
    if ((rc = gale_proc_spawn(&po, &z->pid, d))) return rc;
    int ready_ms = o->ready_ms > 0 ? o->ready_ms : READY_MS, st;
    for (long long end = gale_proc_now_ms() + ready_ms; gale_proc_now_ms() < end;) {
        if (gale_proc_ended(z->pid, &st) == 1) {
            char how[128];
            gale_proc_describe(st, how, sizeof how);
            z->pid = 0;
            return gale__diag(d, GALE_EIO, "ZooKeeper on 127.0.0.1:%d %s before it answered; its log: %s", z->port, how,
                              z->log);
        }
        if (gale_zk_local_ok(z->port)) return 0;
        gale_proc_sleep_ms(50);
    }
    gale_zk_local_stop(z, 5000);
    return gale__diag(d, GALE_ETIMEDOUT, "ZooKeeper on 127.0.0.1:%d did not answer `ruok` within %d s; its log: %s",
                      z->port, ready_ms / 1000, z->log);
}

int gale_zk_local_installed(gale_diag_t *d)
{
    const char *script = gale_zk_local_script();
    if (!access(script, X_OK)) return 0;
    return gale__diag(d, GALE_ENOENT,
                      "ZooKeeper's server is not installed (%s: %s): `make deps` installs it (Debian's package "
                      "zookeeper), or set GALE_ZK_SERVER to a zkServer.sh",
                      script, strerror(errno));
}

int gale_zk_local_start(const gale_zk_local_opts_t *o, gale_zk_local_t *z, gale_diag_t *d)
{
    memset(z, 0, sizeof *z);
    int rc = gale_zk_local_installed(d);
    if (rc) return rc;
    char data[4096], log[4096];
    snprintf(data, sizeof data, "%s/data", o->dir);
    snprintf(log, sizeof log, "%s/log", o->dir);
    if ((mkdir(data, 0700) && errno != EEXIST) || (mkdir(log, 0700) && errno != EEXIST))
        return gale__diag(d, GALE_EIO, "%s: cannot make its folders: %s", o->dir, strerror(errno));
    snprintf(z->log, sizeof z->log, "%s/zookeeper.log", o->dir);
    rc = GALE_EIO;
    for (int attempt = 0; attempt < (o->port ? 1 : TRIES) && rc; attempt++) {
        z->port = o->port ? o->port : gale_proc_free_port();
        if (!z->port) return gale__diag(d, GALE_EIO, "no free port on 127.0.0.1: %s", strerror(errno));
        if (o->port && !gale_proc_port_free(o->port))
            return gale__diag(d, GALE_EEXIST, "port %d of 127.0.0.1 is taken: give ZooKeeper another", o->port);
        rc = try_start(o, z, d);
        if (rc != GALE_EIO) break; /* only a server that ended may have lost the race for its port */
    }
    if (rc) {
        z->pid = 0;
        return rc;
    }
    snprintf(z->hosts, sizeof z->hosts, "127.0.0.1:%d", z->port);
    return 0;
}

void gale_zk_local_stop(gale_zk_local_t *z, int timeout_ms)
{
    if (z->pid <= 0) return;
    gale_proc_stop(z->pid, timeout_ms, NULL);
    z->pid = 0;
}
