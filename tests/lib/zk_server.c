/* The tests' ZooKeeper: runtime/cluster/zk_local.h (what `gale dev-cluster` starts too), with short ticks. */
#include "zk_server.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "testlib.h"
#include "zk_local.h"

#define STOP_MS 15000

/* One start on `port` (0: any): 0, or the module's code with the reason in `d`. */
static int start_on(tl_zk_t *z, int port, gale_diag_t *d)
{
    gale_zk_local_opts_t o = {
        .dir = z->dir, .port = port, .tick_ms = 100, .min_session_ms = 200, .max_session_ms = 20000};
    gale_zk_local_t s;
    int rc = gale_zk_local_start(&o, &s, d);
    if (rc) return rc;
    z->pid = s.pid, z->port = s.port;
    snprintf(z->hosts, sizeof z->hosts, "%s", s.hosts);
    return 0;
}

static void assert_started(const tl_zk_t *z, int rc, const gale_diag_t *d)
{
    if (!rc) return;
    char *log = tl_path("%s/zookeeper.log", z->dir), tail[4096];
    gale_proc_log_tail(log, 30, tail, sizeof tail);
    free(log);
    cr_assert_fail("%s\n%s", d->msg, tail);
}

bool tl_zk_ok(const tl_zk_t *z) { return gale_zk_local_ok(z->port); }

void tl_zk_start(tl_zk_t *z)
{
    memset(z, 0, sizeof *z);
    z->dir = tl_tmpdir();
    cr_assert_not_null(z->dir);
    gale_diag_t d = {""};
    assert_started(z, start_on(z, 0, &d), &d);
}

void tl_zk_restart(tl_zk_t *z)
{
    tl_zk_stop(z);
    /* The same port: its clients find it again. The port may be in TIME_WAIT for a moment; a few tries. */
    gale_diag_t d = {""};
    int rc = GALE_EIO;
    for (int attempt = 0; attempt < 5 && rc; attempt++)
        if ((rc = start_on(z, z->port, &d))) tl_sleep_ms(200);
    assert_started(z, rc, &d);
}

void tl_zk_stop(tl_zk_t *z)
{
    if (z->pid <= 0) return;
    gale_proc_stop(z->pid, STOP_MS, NULL);
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
