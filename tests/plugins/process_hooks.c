/*
 * process_hooks: a test bolt with process hooks. Its process_init opens the file named by $GALE_TEST_HOOKS (an
 * environment variable: a process hook sees no settings) once per process, and every hook and task appends a line
 * with the pid to it: "init PID I/N TOPOLOGY", "prepare PID", "cleanup PID", "exit PID". With
 * $GALE_TEST_HOOKS_FAIL set, process_init fails. It forwards each input's first value as (n).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gale.h"

static int hooks_fd = -1; /* the process's own: what process_init is for */

static void line(const char *what, const char *rest)
{
    char buf[256];
    int len = snprintf(buf, sizeof buf, "%s %d%s%s\n", what, (int)getpid(), rest ? " " : "", rest ? rest : "");
    if (hooks_fd >= 0 && write(hooks_fd, buf, (size_t)len) != len) return;
}

static int process_init(const gale_process_info_t *info)
{
    if (getenv("GALE_TEST_HOOKS_FAIL")) {
        info->log(info, GALE_LOG_ERROR, "told to fail process_init");
        return GALE_EIO;
    }
    const char *path = getenv("GALE_TEST_HOOKS");
    hooks_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    char rest[160];
    snprintf(rest, sizeof rest, "%u/%u %s", info->worker_index, info->worker_count, info->topology);
    line("init", rest);
    return 0;
}

static void process_exit(void)
{
    line("exit", NULL);
    if (hooks_fd >= 0) close(hooks_fd);
    hooks_fd = -1;
}

static int prepare(gale_ctx_t *ctx)
{
    if (hooks_fd < 0) return GALE_ESTATE; /* process_init did not run first */
    line("prepare", NULL);
    return 0;
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    if (gale_get(ctx, in, 0, &v)) return GALE_ETYPE;
    return gale_emit(ctx, &v, 1);
}

static void cleanup(gale_ctx_t *ctx) { line("cleanup", NULL); }

GALE_PLUGIN(.kind = GALE_BOLT, .name = "process_hooks", .description = "test bolt that records its process hooks",
            .flags = GALE_BOLT_BASIC,
            .streams = (const gale_stream_decl_t[]){{"default", (const char *[]){"n", NULL}}, {NULL, NULL}},
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup}, .process_init = process_init,
            .process_exit = process_exit);
