/*
 * daemon.h: `gale supervisor`, the supervisor daemon of a host. It owns a number of worker slots and runs, in them,
 * the topologies it is assigned over its control port; the same supervisor that `gale run --workers N` embeds
 * (supervisor.h) does the work. Whoever drives it (a person with `gale ctl`, or nimbus once cluster mode exists)
 * speaks the control protocol below.
 *
 * The control protocol: text lines over TCP, each ended by '\n', at most 16 KiB; tokens are separated by spaces.
 * The framing, the challenge and the bounds below are ctl_server.h's, which nimbus listens with too.
 *   On connect the daemon sends   "gale-supervisor 1 challenge NONCE"   (NONCE: 64 hex digits, 32 random bytes).
 *   The client answers            "auth PROOF"   PROOF = hex of HMAC-SHA256(key = the cluster secret,
 *                                                message = the 32 nonce bytes, the byte 'C', four zero bytes)
 *   and gets "ok authenticated", or "error authentication failed" and the connection closed. Anything else before
 *   that is refused the same way. At most 64 connections are open: over that, the oldest one that has not
 *   authenticated is closed with "error too many control connections ...", so idle ones cannot lock clients out.
 *   Refusals before authentication are logged at most once per 10 s, with a count.
 * Then each command gets zero or more data lines and then exactly one line "ok ..." or "error MESSAGE". Lines
 * starting with "event " may come at any time, between replies too: a client that only wants replies skips them.
 *   slots                               ok slots=N free=M
 *   assign ID FILE workers=N [slots=I,J,..] [threads=T] [secret=HEX] [set=COMPONENT.KEY=VALUE]...
 *                                       runs slots I,J,.. (default: all N) of the topology in FILE (a path on this
 *                                       host; its plugins are resolved from there) under the name ID. The workers
 *                                       of one topology share its secret: give the same secret= to every
 *                                       supervisor that runs part of it (default: a new one, fine when all slots
 *                                       are here). "ok assigned ID"; a bad file is "error FILE:LINE: ...".
 *                                       What an assignment names must lie in the daemon's folder (its working
 *                                       folder) or an --allow-path folder: FILE, plugin paths, the journal and
 *                                       every string setting that is an absolute path or holds "..", and a shell
 *                                       component's cwd and program; else "error WHAT: not allowed". Its plugins
 *                                       are loaded in a child process first (a crash there fails the assign, not
 *                                       the daemon), so the reply may take a moment.
 *   peers ID ADDR0 ADDR1 ...            every slot's HOST:PORT, in slot order, when not every slot is here: the
 *                                       local workers start once they have them. "ok". A daemon started with a
 *                                       ZooKeeper ensemble (zk_hosts) publishes its workers' addresses there and
 *                                       follows the other slots' by itself: no `peers` is needed then.
 *   kill ID [wait=S]                    deactivate the spouts, drain for up to S seconds (default 30; when every
 *                                       slot is here, the bolts finish in order once drained), stop. "ok killing ID"
 *                                       at once; the end comes as an event. A second kill stops at once.
 *   activate ID | deactivate ID         Storm's: a deactivated topology's spouts are not called (the trees in
 *                                       flight finish, bolts and ticks go on) until it is activated. "ok ID
 *                                       active|inactive". In cluster mode nimbus says it through ZooKeeper.
 *   wait ID                             the reply comes when ID has ended: "ok ended ID status=ok|failed". The
 *                                       connection takes no other command meanwhile.
 *   status                              data lines "topology ID state=running|ended status=ok|failed
 *                                       active=yes|no slots=I,J"
 *                                       and, per running worker, "worker ID SLOT state=.. pid=.. addr=..
 *                                       restarts=N last_exit=.."; then "ok".
 *   stats ID                            one data line: the metrics of a topology, merged over this host's workers,
 *                                       as `gale run --stats` writes them; then "ok". While it runs, as each
 *                                       worker last reported them (every config.metrics_interval_s).
 *   forget ID                           drops an ended topology's record (its ID may then be assigned again).
 *   swap ID COMPONENT PATH              hot swap of bolt COMPONENT of ID (assigned here, running) to the plugin
 *                                       file PATH (inside the allowed folders), one worker at a time
 *                                       (supervisor.h, gale_sup_swap): "ok swapped ID COMPONENT", or "error ID:
 *                                       COMPONENT not swapped: worker N: WHY" with every worker back on the plugin
 *                                       it had. The connection takes no other command meanwhile.
 * Events:
 *   event address ID SLOT HOST:PORT     a local worker (re)started there: pass it on to the other supervisors
 *   event restarting ID SLOT signal=S|status=N backoff_ms=MS
 *   event ended ID status=ok|failed
 *
 * SIGINT/SIGTERM kill every topology (drain up to 10 s) and end the daemon once they have ended; a second signal
 * stops them at once.
 */
#ifndef GALE_DAEMON_H
#define GALE_DAEMON_H

#include <stddef.h>

typedef struct gale_daemon_opts {
    const char *host;        /* the address to listen on (control port and workers); NULL: 127.0.0.1 */
    int port;                /* 0: any, printed on stdout as "listening HOST:PORT" */
    int slots;               /* worker slots on this host */
    int cores;               /* the cores its workers share (--cores); 0: the host's online cores */
    const void *secret;      /* the cluster secret (borrowed) */
    size_t secret_len;
    const char *exe;         /* the gale binary to start workers with */
    const char *const *allow; /* folders assignments may name besides the daemon's own (--allow-path), borrowed */
    int n_allow;
    /* Cluster mode: with zk_hosts, the daemon publishes itself in ZooKeeper (sup_node.h) before it says where it
       listens, and a ZooKeeper it cannot reach makes the start fail. */
    const char *zk_hosts;
    const char *zk_root; /* NULL: "/gale" */
    int zk_session_ms;   /* 0: 20000 */
    const char *version; /* gale's, for the node */
    const char *data_dir; /* cluster mode: the cache of what nimbus ships, and the run folders; NULL: "gale-data" */
    const char *tls;      /* DIR/NAME: the workers it starts speak TLS to every other worker (tls.h); NULL: clear */
    struct gale_tls_ctx *tls_ctx; /* the same files loaded: its control port speaks TLS too (borrowed) */
    const char *audit_log; /* the audit log (audit.h); NULL: DATA_DIR/supervisor-HOST-PORT-audit.log in cluster
                              mode, else none */
} gale_daemon_opts_t;

/* Runs the daemon until it is signalled and its topologies have ended. 0, or a negative code when it could not
   listen or publish itself in ZooKeeper. */
int gale_daemon_run(const gale_daemon_opts_t *opts);

#endif
