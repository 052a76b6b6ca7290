#include "shell_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "gale.h"
#include "json.h"
#include "json_parse.h"
#include "metrics.h"
#include "mpread.h"

#define POLL_MS 100
#define TAIL_MAX 2048
#define STOP_GRACE_NS 300000000ull
#define WHY_MAX 256

struct gale_child {
    gale_child_opts_t o;
    pid_t pid;
    int in_fd, out_fd, err_fd;
    pthread_t reader;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gale_child_msg_t *head, *tail; /* under mu */
    size_t queued;                 /* bytes, under mu */
    bool ended, reaped;            /* under mu; reaped: waitpid returned it, so its pid may be anyone's now */
    int wstatus;                   /* under mu, once reaped */
    char why[WHY_MAX];             /* under mu */
    char err_tail[TAIL_MAX];       /* under mu: the last bytes of stderr */
    size_t err_len;
    atomic_bool dead;              /* ended, readable without the lock */
    atomic_bool stopping;
    atomic_uint_fast64_t stop_at_ns;
    atomic_uint_fast64_t owed_since_ns, last_heard_ns;
    atomic_bool spoke; /* it has sent a message: it is past its start */
    atomic_uint_fast64_t writing_since_ns; /* a write to its stdin in progress since then (0: none) */
    atomic_bool killed;
    gale_buf_t out;                /* executor thread only: what goes to stdin next */
};

/* ---- starting -------------------------------------------------------------------------------------------------- */

static void set_why(gale_child_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(gale_child_t *c, const char *fmt, ...)
{
    pthread_mutex_lock(&c->mu);
    if (!c->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof c->why, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&c->mu);
}

/* In the forked child, before exec: only async-signal-safe calls. */
static void exec_child(const gale_child_opts_t *o, char *const *envp, int in, int out, int err)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a worker that dies takes its children along */
    setpgid(0, 0); /* its own process group: a kill reaches what it started too (`sh -c`, a subprocess) */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    if (o->cwd && chdir(o->cwd)) {
        static const char msg[] = "gale: cannot enter the shell component's cwd\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    execvpe(o->argv[0], (char *const *)o->argv, envp);
    static const char msg[] = "gale: cannot run the shell component's command\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

static void *reader_main(void *arg);

int gale_child_start(const gale_child_opts_t *o, gale_child_t **out, char *why, size_t why_cap)
{
    int in[2] = {-1, -1}, so[2] = {-1, -1}, se[2] = {-1, -1};
    gale_child_t *c = calloc(1, sizeof *c);
    if (!c || pipe2(in, O_CLOEXEC) || pipe2(so, O_CLOEXEC) || pipe2(se, O_CLOEXEC)) {
        snprintf(why, why_cap, "cannot make pipes: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (so[i] >= 0) close(so[i]);
            if (se[i] >= 0) close(se[i]);
        }
        free(c);
        return GALE_EIO;
    }
    /* A child that dies makes our writes fail with EPIPE; the default action would kill the whole process. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    c->o = *o;
    /* Ours, plus the serializer: made before fork, since the child may only make async-signal-safe calls. */
    extern char **environ;
    size_t n_env = 0;
    while (environ[n_env]) n_env++;
    char **envp = calloc(n_env + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; envp && i < n_env; i++)
        if (strncmp(environ[i], "GALE_MULTILANG_SERIALIZER=", 26)) envp[k++] = environ[i];
    if (envp) envp[k] = o->msgpack ? "GALE_MULTILANG_SERIALIZER=msgpack" : "GALE_MULTILANG_SERIALIZER=json";
    pid_t pid = envp ? fork() : -1;
    if (pid == 0) exec_child(o, envp, in[0], so[1], se[1]);
    free(envp);
    close(in[0]), close(so[1]), close(se[1]);
    if (pid < 0) {
        snprintf(why, why_cap, "cannot fork: %s", strerror(errno));
        close(in[1]), close(so[0]), close(se[0]);
        free(c);
        return GALE_EIO;
    }
    c->pid = pid;
    c->in_fd = in[1], c->out_fd = so[0], c->err_fd = se[0];
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_store(&c->last_heard_ns, gale_now_ns());
    if (pthread_create(&c->reader, NULL, reader_main, c)) {
        snprintf(why, why_cap, "cannot start the reader thread");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(c->in_fd), close(c->out_fd), close(c->err_fd);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return GALE_EIO;
    }
    *out = c;
    return 0;
}

/* ---- the reader thread ------------------------------------------------------------------------------------------ */

static void enqueue(gale_child_t *c, const char *mp, size_t len)
{
    gale_child_msg_t *m = malloc(sizeof *m + len);
    if (!m) return;
    m->next = NULL;
    m->len = len;
    memcpy(m->mp, mp, len);
    pthread_mutex_lock(&c->mu);
    if (c->tail) c->tail->next = m;
    else c->head = m;
    c->tail = m;
    c->queued += len;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->last_heard_ns, gale_now_ns());
    atomic_store(&c->spoke, true);
}

static bool queue_full(gale_child_t *c)
{
    pthread_mutex_lock(&c->mu);
    bool full = c->queued > GALE_CHILD_QUEUE_MAX;
    pthread_mutex_unlock(&c->mu);
    return full;
}

/* The whole process group, so that no grandchild keeps its stdout open (the reader would wait for it forever).
   Under the lock that reaping takes: a reaped pid may belong to another process already. */
static void kill_child(gale_child_t *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->reaped && kill(-c->pid, SIGKILL) != 0) kill(c->pid, SIGKILL);
    atomic_store(&c->killed, true);
    pthread_mutex_unlock(&c->mu);
}

/* Reaps the child if it has exited; true once it is reaped. */
static bool try_reap(gale_child_t *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->reaped && waitpid(c->pid, &c->wstatus, WNOHANG) == c->pid) c->reaped = true;
    bool reaped = c->reaped;
    pthread_mutex_unlock(&c->mu);
    return reaped;
}

typedef struct inbuf {
    char *p;
    size_t len, cap, scan, start; /* start: where the message being read begins; scan: the next line to look at */
    msgpack_sbuffer sb;
} inbuf_t;

/* JSON documents, each followed by a line "end" (Storm's framing). false: malformed, the child is killed. */
static bool cut_json(gale_child_t *c, inbuf_t *b)
{
    char *nl;
    while ((nl = memchr(b->p + b->scan, '\n', b->len - b->scan))) {
        size_t line = b->scan, line_len = (size_t)(nl - (b->p + line));
        b->scan = (size_t)(nl - b->p) + 1;
        if (line_len && b->p[line + line_len - 1] == '\r') line_len--;
        if (line_len != 3 || memcmp(b->p + line, "end", 3)) continue;
        msgpack_sbuffer_clear(&b->sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b->sb, msgpack_sbuffer_write);
        size_t at = 0;
        const char *what = NULL;
        int rc = gale_json_parse(b->p + b->start, line - b->start, &pk, &at, &what);
        if (rc) {
            int shown = (int)(line - b->start < 60 ? line - b->start : 60);
            set_why(c, "malformed output: %s at byte %zu of a message starting '%.*s'", what ? what : gale_strerror(rc),
                    at, shown, b->p + b->start);
            return false;
        }
        /* JSON may nest deeper than a tuple may (mpread.h's limit): refused here, as a MessagePack frame would be. */
        gale_value_t v;
        size_t used;
        if (gale_mp_read(b->sb.data, b->sb.size, &v, &used) || v.type != GALE_MAP) {
            set_why(c, "malformed output: a message that is not one map within the nesting limit");
            return false;
        }
        enqueue(c, b->sb.data, b->sb.size);
        b->start = b->scan;
    }
    if (b->len - b->start > c->o.max_message) {
        set_why(c, "malformed output: a message longer than %zu bytes, or no line 'end' after it", c->o.max_message);
        return false;
    }
    return true;
}

/* A 4-byte big-endian length, then one MessagePack map. */
static bool cut_msgpack(gale_child_t *c, inbuf_t *b)
{
    while (b->len - b->start >= 4) {
        const unsigned char *h = (const unsigned char *)b->p + b->start;
        size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (n > c->o.max_message) {
            set_why(c, "malformed output: a message of %zu bytes, more than %zu", n, c->o.max_message);
            return false;
        }
        if (b->len - b->start - 4 < n) break;
        gale_value_t v;
        size_t used;
        if (gale_mp_read(b->p + b->start + 4, n, &v, &used) || used != n || v.type != GALE_MAP) {
            set_why(c, "malformed output: a frame that is not one MessagePack map");
            return false;
        }
        enqueue(c, b->p + b->start + 4, n);
        b->start += 4 + n;
    }
    b->scan = b->len;
    return true;
}

static void keep_tail(gale_child_t *c, const char *p, size_t n)
{
    pthread_mutex_lock(&c->mu);
    if (n >= TAIL_MAX) {
        p += n - (TAIL_MAX - 1);
        n = TAIL_MAX - 1;
    }
    if (c->err_len + n >= TAIL_MAX) {
        size_t drop = c->err_len + n - (TAIL_MAX - 1);
        memmove(c->err_tail, c->err_tail + drop, c->err_len - drop);
        c->err_len -= drop;
    }
    memcpy(c->err_tail + c->err_len, p, n);
    c->err_len += n;
    c->err_tail[c->err_len] = '\0';
    pthread_mutex_unlock(&c->mu);
}

static bool read_stderr(gale_child_t *c)
{
    char tmp[4096];
    ssize_t n = read(c->err_fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    keep_tail(c, tmp, (size_t)n);
    return true;
}

/* false at the end of stdout (or a malformed message). */
static bool read_stdout(gale_child_t *c, inbuf_t *b)
{
    if (b->start) { /* what was cut out is gone: move the rest to the front */
        memmove(b->p, b->p + b->start, b->len - b->start);
        b->len -= b->start, b->scan -= b->start, b->start = 0;
    }
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? 2 * b->cap : 65536;
        char *p = realloc(b->p, cap);
        if (!p) {
            set_why(c, "out of memory reading its output");
            return false;
        }
        b->p = p, b->cap = cap;
    }
    ssize_t n = read(c->out_fd, b->p + b->len, b->cap - b->len);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    b->len += (size_t)n;
    return c->o.msgpack ? cut_msgpack(c, b) : cut_json(c, b);
}

/* The child owes an answer and has been silent for the heartbeat timeout, or has not read its stdin for as long
   (the executor is then blocked writing to it, and no heartbeat can even be sent). */
static void watch(gale_child_t *c, uint64_t now)
{
    uint64_t owed = atomic_load(&c->owed_since_ns), heard = atomic_load(&c->last_heard_ns);
    uint64_t since = owed > heard ? owed : heard, limit = (uint64_t)(c->o.heartbeat_timeout_s * 1e9);
    uint64_t writing = atomic_load(&c->writing_since_ns);
    /* A child that has said nothing yet is still starting (an interpreter on a busy host can take seconds). */
    bool starting = !atomic_load(&c->spoke);
    uint64_t answer_limit = starting && limit < GALE_CHILD_START_NS ? GALE_CHILD_START_NS : limit;
    if (owed && now > since && now - since > answer_limit) {
        if (starting) set_why(c, "no answer for %.1f s after its start", (double)answer_limit / 1e9);
        else set_why(c, "no answer for %.1f s (heartbeat_timeout_s)", c->o.heartbeat_timeout_s);
        kill_child(c);
    } else if (writing && now > writing && now - writing > limit) {
        set_why(c, "did not read its input for %.1f s (heartbeat_timeout_s)", c->o.heartbeat_timeout_s);
        kill_child(c);
    }
    if (atomic_load(&c->stopping) && now > atomic_load(&c->stop_at_ns)) kill_child(c);
}

static void reap(gale_child_t *c)
{
    struct timespec ts = {0, 10000000};
    for (int i = 0; i < 100 && !try_reap(c); i++) nanosleep(&ts, NULL); /* it closed stdout: give it 1 s */
    if (!try_reap(c)) kill_child(c);
    while (!try_reap(c)) nanosleep(&ts, NULL); /* SIGKILL cannot be ignored: this ends */
    int status = c->wstatus; /* reaped: nobody writes it any more */
    if (WIFSIGNALED(status)) set_why(c, "killed by signal %d", WTERMSIG(status));
    else set_why(c, "exited with status %d", WEXITSTATUS(status));
}

static void *reader_main(void *arg)
{
    gale_child_t *c = arg;
    inbuf_t b = {0};
    msgpack_sbuffer_init(&b.sb);
    bool out_open = true;
    while (out_open) {
        struct pollfd fds[2] = {{.fd = queue_full(c) ? -1 : c->out_fd, .events = POLLIN},
                                {.fd = c->err_fd, .events = POLLIN}};
        int n = poll(fds, 2, POLL_MS);
        if (n < 0 && errno != EINTR) break;
        if (n > 0 && fds[1].revents && !read_stderr(c)) {
            close(c->err_fd);
            c->err_fd = -1;
        }
        if (n > 0 && fds[0].revents && !read_stdout(c, &b)) out_open = false;
        /* Killed, and gone: a process that escaped its group may still hold stdout open, so do not wait for EOF. */
        if (atomic_load(&c->killed) && try_reap(c)) out_open = false;
        watch(c, gale_now_ns());
        c->o.wake(c->o.wake_arg); /* messages, or only time: heartbeats and ticks are due on the executor */
    }
    kill_child(c); /* malformed output or stdout closed: either way this child is done */
    /* What it said last on stderr explains most deaths: read it to the end, briefly. */
    for (int i = 0; i < 10 && c->err_fd >= 0; i++) {
        struct pollfd p = {.fd = c->err_fd, .events = POLLIN};
        if (poll(&p, 1, 20) > 0 && !read_stderr(c)) break;
    }
    reap(c);
    free(b.p);
    msgpack_sbuffer_destroy(&b.sb);
    pthread_mutex_lock(&c->mu);
    c->ended = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->dead, true);
    c->o.wake(c->o.wake_arg);
    return NULL;
}

/* ---- the executor's side ---------------------------------------------------------------------------------------- */

int gale_child_send(gale_child_t *c, const char *mp, size_t len)
{
    if (atomic_load(&c->dead)) return GALE_EIO;
    if (c->o.msgpack) {
        unsigned char h[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                              (unsigned char)len};
        gale_buf_put(&c->out, (const char *)h, 4);
        gale_buf_put(&c->out, mp, len);
    } else {
        gale_value_t v;
        size_t used;
        if (gale_mp_read(mp, len, &v, &used)) return GALE_EINVAL;
        gale_json_value(&c->out, &v);
        gale_buf_put(&c->out, "\nend\n", 5);
    }
    if (c->out.failed) { /* a message cut short cannot be sent: the child restarts, its open tuples replay */
        gale_child_abandon(c, "out of memory writing to it");
        return GALE_ENOMEM;
    }
    return 0;
}

int gale_child_flush(gale_child_t *c)
{
    size_t off = 0;
    int rc = 0;
    if (c->out.len) atomic_store(&c->writing_since_ns, gale_now_ns()); /* the watchdog ends a write that hangs */
    while (off < c->out.len) {
        ssize_t n = write(c->in_fd, c->out.p + off, c->out.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = GALE_EIO;
            break;
        }
        off += (size_t)n;
    }
    atomic_store(&c->writing_since_ns, 0);
    c->out.len = 0;
    return rc;
}

gale_child_msg_t *gale_child_take(gale_child_t *c)
{
    pthread_mutex_lock(&c->mu);
    gale_child_msg_t *m = c->head;
    c->head = c->tail = NULL;
    c->queued = 0;
    pthread_mutex_unlock(&c->mu);
    return m;
}

gale_child_msg_t *gale_child_wait(gale_child_t *c, uint64_t timeout_ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + timeout_ns;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    pthread_mutex_lock(&c->mu);
    while (!c->head && !c->ended)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) == ETIMEDOUT) break;
    pthread_mutex_unlock(&c->mu);
    return gale_child_take(c);
}

void gale_child_expect(gale_child_t *c, bool owed)
{
    if (!owed) atomic_store(&c->owed_since_ns, 0);
    else if (!atomic_load(&c->owed_since_ns)) atomic_store(&c->owed_since_ns, gale_now_ns());
}

bool gale_child_ended(gale_child_t *c, char *why, size_t cap)
{
    if (!atomic_load(&c->dead)) return false;
    pthread_mutex_lock(&c->mu);
    size_t start = 0;
    while (start < c->err_len && strchr(" \n", c->err_tail[start])) start++;
    char *tail = c->err_tail + start;
    size_t n = strlen(tail);
    while (n && strchr(" \n", tail[n - 1])) tail[--n] = '\0';
    snprintf(why, cap, "%s; its stderr %s%s%s", c->why, n ? "ended with: \"" : "was empty", tail, n ? "\"" : "");
    pthread_mutex_unlock(&c->mu);
    return true;
}

void gale_child_abandon(gale_child_t *c, const char *why)
{
    set_why(c, "%s", why);
    kill_child(c);
}

void gale_child_stop(gale_child_t *c)
{
    if (!c) return;
    close(c->in_fd); /* a multilang child exits when its stdin ends */
    atomic_store(&c->stop_at_ns, gale_now_ns() + STOP_GRACE_NS);
    atomic_store(&c->stopping, true);
    pthread_join(c->reader, NULL);
    close(c->out_fd);
    if (c->err_fd >= 0) close(c->err_fd);
    for (gale_child_msg_t *m = c->head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    gale_buf_free(&c->out);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
