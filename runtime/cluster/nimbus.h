/*
 * nimbus.h: `gale nimbus`, the coordinator of a cluster. All of its state is in ZooKeeper under one root, none only
 * in its memory, so that any nimbus can take over from another; several run, one leads (election.h).
 *
 * Its parts: the session (re-opened when it expires), the root with the cluster's ACL and the election (nimbus.c);
 * blobs uploaded and served by digest, copied into ZooKeeper for the next leader (nimbus_blobs.c); topologies, their
 * placement, the moving of slots whose supervisor left, and the verbs submit, list, kill, activate, deactivate and
 * supervisors (nimbus_topos.c); rebalance (nimbus_rebalance.c). The control port speaks ctl_server.h's protocol;
 * a standby answers the verbs that change the cluster with "error not the leading nimbus: the leader is ...".
 */
#ifndef GALE_NIMBUS_H
#define GALE_NIMBUS_H

#include <stddef.h>

typedef struct gale_nimbus_opts {
    const char *zk_hosts;   /* "HOST:PORT[,HOST:PORT...]" */
    const char *root;       /* the folder of the cluster's nodes; NULL: "/gale" */
    const char *host;       /* how this nimbus is named to the others (its address) */
    int session_timeout_ms; /* 0: 20000, Storm's storm.zookeeper.session.timeout */
    const void *secret;     /* the cluster secret (borrowed): the ACL of every node, and the control port's */
    size_t secret_len;
    int port;             /* the control port; 0: any (printed as "listening HOST:PORT") */
    const char *data_dir; /* where the blobs live (blobs.h) */
} gale_nimbus_opts_t;

/* Runs until SIGINT or SIGTERM, then leaves the election at once (the next nimbus leads without waiting for the
   session to time out). 0; a negative code, logged, when ZooKeeper cannot be reached at the start or refuses it. */
int gale_nimbus_run(const gale_nimbus_opts_t *o);

#endif
