/*
 * testlib.h: fixtures shared by the tests: paths into the build folder, temporary folders and files, and running
 * a child process (the gale binary) with a bounded wait that kills it by pid when it overstays.
 */
#ifndef GALE_TESTLIB_H
#define GALE_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The build folder the tests were built in ($GALE_BUILD, default "build"). */
const char *tl_build(void);
/* A malloc'd path formatted like printf; the caller frees it. */
char *tl_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A new empty folder under /tmp; malloc'd; removed with tl_rmtree. */
char *tl_tmpdir(void);
void tl_rmtree(const char *dir);
/* Whole file as a NUL-terminated malloc'd string (NULL if unreadable); *len gets its size when not NULL. */
char *tl_read_file(const char *path, size_t *len);
/* The size of what `path` holds now (0 when it cannot be read). */
size_t tl_file_size(const char *path);
/* Writes `text` to `path`, replacing it; returns 0 or -errno. */
int tl_write_file(const char *path, const char *text);

typedef struct tl_result {
    int status;      /* exit code, or 128 + signal number */
    bool timed_out;  /* killed after the timeout */
    char *out;       /* stdout, malloc'd */
    char *err;       /* stderr, malloc'd */
} tl_result_t;

/* Runs argv (NULL-terminated; argv[0] is a path) with stdin from `stdin_path` (NULL: /dev/null), waits at most
   `timeout_s`, then SIGKILLs it. Returns 0 when it ran (see r->status), -errno when it could not start. */
int tl_run(const char *const *argv, const char *stdin_path, double timeout_s, tl_result_t *r);
/* Starts argv in the background with output to files in `dir` (out.txt, err.txt); returns its pid or -errno. */
pid_t tl_spawn(const char *const *argv, const char *dir);
/* Waits for pid at most timeout_s (then SIGKILLs and reaps it); returns the status as in tl_result_t. */
int tl_wait(pid_t pid, double timeout_s, bool *timed_out);
void tl_result_free(tl_result_t *r);

/* The gale binary in the build folder (static storage). */
const char *tl_gale(void);

void tl_sleep_ms(long ms);
/* The pid of `parent`'s live child started as `gale worker --index I`, or 0. */
pid_t tl_worker_pid(pid_t parent, int index);
/* Whether pid runs (a zombie does not). */
bool tl_alive(pid_t pid);
/* The TCP port `pid` listens on (its sockets in /proc/PID/fd, matched to LISTEN lines of /proc/net/tcp), or 0. */
int tl_listening_port(pid_t pid);
/* Waits up to `timeout_s` for `parent`'s worker `index` to listen: its port (and *worker its pid), or 0. */
int tl_worker_port(pid_t parent, int index, double timeout_s, pid_t *worker);
/* A "kB" line of /proc/PID/status ("VmRSS", "VmHWM"), or -1. */
long tl_status_kb(pid_t pid, const char *field);

/* The word fixture of the worker tests: 3000 lines of 5 words from TL_VOCAB (10 words) written to `path`, and how
   many times each word is in it. */
extern const char *const TL_VOCAB[10];
void tl_make_lines(const char *path, long counts[10]);
/* Seconds on the monotonic clock, to time what a test measures. */
double tl_now_s(void);
/* The first word of TL_VOCAB that `sink_out` (file_sink lines {"word": "..."}) has fewer times than `counts`, with
   *seen set to how often it has it; -1 when every word is there often enough. */
int tl_words_short(const char *sink_out, const long counts[10], long *seen);
/* Whether `text` (word_count's final counts as a sink writes them: {"word": "w", "count": n} lines, in any order,
   possibly split over several lines per word) differs from `counts`: 0 when it has exactly them (`at_least`: each at
   least), one line per word; else 1 and the first difference in why. `text` is not changed. */
int tl_word_counts_differ(const char *text, const long counts[10], bool at_least, char *why, size_t cap);

/* The connections the transport's log lines in `err` (a run's stderr) say were rejected: one per "closing" line
   plus the count of each "N connections rejected in the last 10 s" line; *lines gets how many lines that took. */
long tl_rejected_in_log(const char *err, long *lines);

/* `gale run --quiet EXTRA... CFG` (`extra` NULL-terminated, or NULL), waited for up to timeout_s: its result (the
   caller frees it with tl_result_free), asserting that it could be run. */
tl_result_t tl_gale_run(const char *cfg, const char *const *extra, double timeout_s);
/* argv in the background in the new folder DIR/NAME (its out.txt and err.txt there; *rundir gets the folder,
   malloc'd), remembered for tl_kill_remembered; its pid. */
pid_t tl_spawn_in(const char *dir, const char *name, const char *const *argv, char **rundir);

/* The lines of `text` sorted (a new malloc'd text; NULL reads as none), *n their count: the output of a run with
   tasks in parallel, or of a restored one, compared with another's. */
char *tl_sorted_lines(const char *text, long *n);

/* `gale validate` of a topology file_lines -> `plugin` (its block's settings = { `settings` }) fails, and its stderr
   holds `says`: how a bolt's bad settings are tested. */
void tl_validate_refuses(const char *plugin, const char *settings, const char *says);

/* `gale journal ls --json [--cause CAUSE] JOURNAL`'s output (malloc'd: one JSON line per record), asserting that it
   succeeded; *n gets the number of records. `cause` NULL: every record. */
char *tl_journal_json(const char *journal, const char *cause, long *n);

/* Whether `text` is exactly one valid JSON value (RFC 8259), with optional whitespace around it. */
bool tl_json_valid(const char *text);
/* The number after the first `"key": ` in a metrics document from `from` on (NULL: none), -1 when absent. */
long tl_json_number(const char *from, const char *key);
/* Whether s[0..n) is well-formed UTF-8 (glibc's iconv: no overlong forms, surrogates or code points over U+10FFFF). */
bool tl_utf8_valid(const char *s, size_t n);

/* Points GALE_PLUGIN_PATH at the built test plugins (BUILD/tests/plugins): a suite's .init. */
void tl_use_test_plugins(void);

/* One HTTP/1.1 request to 127.0.0.1:port (`headers`: more header lines, each ended by \r\n, or NULL; `body` or
   NULL), read until the server closes (at most 10 s). The body of the answer (malloc'd) with *status, or NULL
   (*status -1) when there was no HTTP answer. */
char *tl_http(int port, const char *method, const char *path, const char *headers, const char *body, int *status);
/* The port of the "... at http://HOST:PORT/" line that appears in the log at err_path within timeout_s, while
   process `pid` lives; -1. */
int tl_http_port(const char *err_path, pid_t pid, double timeout_s);
/* A `gale run --http 0` of a test: its folder (its output and --stats there), its pid and where it answers. */
typedef struct tl_http_run {
    char *dir, *stats, *err_path, *url; /* url: "http://127.0.0.1:PORT" */
    pid_t pid;
    int port;
} tl_http_run_t;
/* `gale run --http 0 --stats DIR/stats.json EXTRA... CFG` (`extra` NULL-terminated, or NULL), up to its "at
   http://..." line (asserted within 30 s); its pid is remembered (tl_remember). */
void tl_http_run_start(tl_http_run_t *r, const char *cfg, const char *const *extra);
/* SIGINT, and its exit status (0: it drained and stopped); asserted to end within 60 s. */
int tl_http_run_stop(tl_http_run_t *r);
/* Kills it if it still runs, removes its folder, frees `r`'s strings. */
void tl_http_run_free(tl_http_run_t *r);
/* A process a test started, killed by tl_kill_remembered (a suite's .fini) whether the test passed or not: a
   failed assertion leaves the test at once. Up to 32. */
void tl_remember(pid_t pid);
void tl_kill_remembered(void);

/* `gale token --secret-file SECRET PATH` as a header line ("Authorization: Gale-HMAC ...\r\n"), malloc'd. */
char *tl_token_header(const char *secret, const char *path);

/* Asserts that `promtool check metrics` (Debian's prometheus) accepts `text`, written to a file in `dir`. */
void tl_promtool_ok(const char *dir, const char *text);

/* A redis-server of the test's own (Debian's): 127.0.0.1 at a free port, its append-only file fsynced on every write
   in `dir`, so that a server killed and started again (tl_redis_start on the same struct) has what it had. */
typedef struct tl_redis {
    pid_t pid;
    int port;
    char dir[512];
} tl_redis_t;
/* Starts it (a port is chosen the first time), asserted to answer PING within 10 s; its pid is remembered. */
void tl_redis_start(tl_redis_t *r, const char *dir);
/* SIGKILL, reaped. */
void tl_redis_kill(tl_redis_t *r);
/* One command (argv, NULL-terminated) over RESP: the reply's first line, or for a bulk string its bytes (malloc'd;
   "" for nil), NULL when there is no answer. */
char *tl_redis_call(int port, const char *const *argv);

#endif
