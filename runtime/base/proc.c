#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long gale_proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gale_proc_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child(const gale_proc_opts_t *o, pid_t parent, int log_fd)
{
    if (o->death_signal) prctl(PR_SET_PDEATHSIG, o->death_signal);
    if (getppid() != parent) _exit(125); /* the parent ended before the line above */
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    if (in < 0) _exit(126);
    dup2(in, 0), dup2(log_fd, 1), dup2(log_fd, 2);
    if (in > 2) close(in);
    if (log_fd > 2) close(log_fd);
    for (const char *const *e = o->env; e && *e; e++) {
        if (strchr(*e, '=')) putenv((char *)*e);
        else unsetenv(*e);
    }
    /* The signals the starter ignores or blocks are not the child's business. */
    signal(SIGPIPE, SIG_DFL), signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(o->argv[0], (char *const *)o->argv);
    dprintf(2, "cannot run %s: %s\n", o->argv[0], strerror(errno));
    _exit(127);
}

int gale_proc_spawn(const gale_proc_opts_t *o, pid_t *pid, gale_diag_t *d)
{
    int log_fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return gale__diag(d, GALE_EIO, "%s: %s", o->log, strerror(errno));
    fflush(stdout), fflush(stderr); /* nothing of ours printed twice */
    pid_t parent = getpid(), p = fork();
    if (p == 0) child(o, parent, log_fd);
    int e = errno;
    close(log_fd);
    if (p < 0) return gale__diag(d, GALE_EAGAIN, "cannot start %s: %s", o->argv[0], strerror(e));
    /* Its group, from this side too, so that a signal to the group cannot miss it before it runs. */
    setpgid(p, p);
    *pid = p;
    return 0;
}

int gale_proc_ended(pid_t pid, int *status)
{
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {}
    if (w < 0) return -errno;
    if (w == 0) return 0;
    if (status) *status = st;
    return 1;
}

int gale_proc_stop(pid_t pid, int timeout_ms, bool *killed)
{
    if (killed) *killed = false;
    int st = 0, rc = gale_proc_ended(pid, &st);
    if (rc < 0) return -1;
    if (rc) return st;
    kill(pid, SIGTERM);
    long long deadline = gale_proc_now_ms() + timeout_ms;
    while ((rc = gale_proc_ended(pid, &st)) == 0 && gale_proc_now_ms() < deadline) gale_proc_sleep_ms(10);
    if (rc < 0) return -1;
    if (rc == 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (killed) *killed = true;
    }
    return st;
}

void gale_proc_describe(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status)) snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, cap, "ended (status 0x%x)", (unsigned)status);
}

void gale_proc_log_tail(const char *path, int lines, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f || cap < 2) {
        if (f) fclose(f);
        return;
    }
    /* The last cap - 1 bytes at most, then from the start of the line `lines` lines from the end. */
    long want = (long)cap - 1;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        fseek(f, size > want ? size - want : 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && buf[n - 1] == '\n') buf[--n] = '\0';
    size_t start = n;
    for (int seen = 0; start > 0; start--)
        if (buf[start - 1] == '\n' && ++seen == lines) break;
    memmove(buf, buf + start, n - start + 1);
}

/* A socket bound to 127.0.0.1:port (0: the kernel's choice), or -1. */
static int bind_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int on = 1; /* a port in TIME_WAIT is free: servers bind with SO_REUSEADDR too */
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

int gale_proc_free_port(void)
{
    int fd = bind_local(0), port = 0;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0) port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

bool gale_proc_port_free(int port)
{
    int fd = bind_local(port);
    if (fd >= 0) close(fd);
    return fd >= 0;
}
