/*
 * testlib_proxy.h: a TCP proxy on 127.0.0.1 in a child process of its own, that forwards every connection to a
 * target port and appends every byte it forwards, both ways, to a file: what an attacker on the path between two
 * processes would see. Stopped by pid.
 */
#ifndef GALE_TESTLIB_PROXY_H
#define GALE_TESTLIB_PROXY_H

#include <sys/types.h>

typedef struct tl_proxy {
    pid_t pid;
    int port; /* where it listens */
} tl_proxy_t;

/* Starts a proxy to 127.0.0.1:target recording into `record` (made or appended to). Criterion asserts on failure. */
void tl_proxy_start(tl_proxy_t *p, int target, const char *record);
/* SIGKILL by pid, and reaped. */
void tl_proxy_stop(tl_proxy_t *p);

#endif
