#include "zk_server.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define ZK_SERVER "/usr/share/zookeeper/bin/zkServer.sh"
/* Java starts in about a second here; the bound is for a machine that is busy, not for a failing server. */
#define READY_S 90
#define STOP_S 15

/* A port nothing listens on now (the kernel's choice); a server started on it may still lose a race for it, which
   tl_zk_start survives by trying another. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

bool tl_zk_ok(const tl_zk_t *z)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)z->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
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

/* The server as a child that dies with the test's process, however that ends (a failed assertion included). */
static pid_t spawn_server(const tl_zk_t *z, const char *cfg)
{
    char *out = tl_path("%s/out.txt", z->dir), *err = tl_path("%s/err.txt", z->dir);
    char *log_dir = tl_path("ZOO_LOG_DIR=%s/log", z->dir);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(125);
        int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644),
            e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || o < 0 || e < 0) _exit(126);
        dup2(in, 0), dup2(o, 1), dup2(e, 2);
        putenv(log_dir);
        putenv("JMXDISABLE=true");
        execl(ZK_SERVER, ZK_SERVER, "start-foreground", cfg, (char *)NULL);
        _exit(127);
    }
    free(out), free(err), free(log_dir);
    return pid;
}

/* One try on one port: the pid, once it answers; 0 when it exited first (the port was taken, say). */
static pid_t try_start(tl_zk_t *z)
{
    char *cfg = tl_path("%s/zoo.cfg", z->dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f, "%s: %s", cfg, strerror(errno));
    fprintf(f,
            "tickTime=100\nminSessionTimeout=200\nmaxSessionTimeout=20000\ndataDir=%s/data\nclientPort=%d\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n",
            z->dir, z->port);
    fclose(f);
    pid_t pid = spawn_server(z, cfg);
    free(cfg);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    for (int i = 0; i < READY_S * 20; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return 0;
        if (tl_zk_ok(z)) return pid;
        tl_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static void assert_started(const tl_zk_t *z)
{
    char *out = tl_path("%s/out.txt", z->dir), *text = tl_read_file(out, NULL);
    cr_assert_gt(z->pid, 0, "ZooKeeper did not start on port %d:\n%s", z->port, text ? text : "");
    free(out), free(text);
}

void tl_zk_start(tl_zk_t *z)
{
    memset(z, 0, sizeof *z);
    cr_assert_eq(access(ZK_SERVER, X_OK), 0, "%s is missing: `make test` installs Debian's zookeeper package",
                 ZK_SERVER);
    z->dir = tl_tmpdir();
    char *data = tl_path("%s/data", z->dir), *log = tl_path("%s/log", z->dir);
    cr_assert(mkdir(data, 0755) == 0 && mkdir(log, 0755) == 0, "%s: %s", data, strerror(errno));
    free(data), free(log);
    for (int attempt = 0; attempt < 3 && !z->pid; attempt++) {
        z->port = free_port();
        cr_assert_gt(z->port, 0);
        z->pid = try_start(z);
    }
    assert_started(z);
    snprintf(z->hosts, sizeof z->hosts, "127.0.0.1:%d", z->port);
}

void tl_zk_restart(tl_zk_t *z)
{
    tl_zk_stop(z);
    /* The same port: its clients find it again. The port may be in TIME_WAIT for a moment; a few tries. */
    for (int attempt = 0; attempt < 5 && !z->pid; attempt++) z->pid = try_start(z);
    assert_started(z);
}

void tl_zk_stop(tl_zk_t *z)
{
    if (z->pid <= 0) return;
    kill(z->pid, SIGTERM);
    bool timed_out = false;
    tl_wait(z->pid, STOP_S, &timed_out); /* SIGKILL past the bound */
    z->pid = 0;
}

void tl_zk_free(tl_zk_t *z)
{
    tl_zk_stop(z);
    if (z->dir) tl_rmtree(z->dir);
    free(z->dir);
    z->dir = NULL;
}

void tl_zk_dead_hosts(char *buf, size_t cap)
{
    tl_zk_t gone;
    tl_zk_start(&gone);
    snprintf(buf, cap, "%s", gone.hosts);
    tl_zk_free(&gone);
}
