/*
 * zk.h: a session with ZooKeeper, where cluster mode keeps all of its state (docs/ARCHITECTURE.md, "Cluster mode").
 * The one file that talks to ZooKeeper's C client (libzookeeper_mt): nimbus and the supervisors use this.
 *
 * Threads. The client runs two threads of its own (I/O and completions). The calls below are its synchronous
 * ones, made on the caller's thread (a libuv loop's): each is one round trip to the ensemble, about a millisecond
 * on a LAN, bounded by the session timeout, as Storm's nimbus makes them through Curator. What ZooKeeper says by
 * itself (the session's state, watches firing) happens on the client's completion thread: it is queued and handed
 * to the caller's loop through a uv_async_t, so that every callback of this module runs on that loop, between the
 * caller's own work, and needs no lock.
 *
 * Security. With a secret, the session authenticates with ZooKeeper's digest scheme as user "gale" with a password
 * derived from the secret (an HMAC, so the secret itself never travels), and every node it creates carries the ACL
 * "all rights for that identity, nothing for anyone else" (ZOO_CREATOR_ALL_ACL: the server derives the identity
 * from the session). A client without the secret can then neither read nor change gale's nodes. A folder that
 * exists already is used only if it carries that ACL (gale_zk_create_all): one that someone else made first, a root
 * open to all say, would let them replace what gale keeps under it. Without a secret (tests of the module only),
 * nodes are open to all.
 *
 * Errors: GALE_ENOENT (no such node), GALE_EEXIST (it exists already), GALE_EAGAIN (the node's version is not the
 * one given: someone changed it first; read it again), -ENOTEMPTY (it has children), -EACCES (its ACL refuses this
 * session), GALE_ETIMEDOUT (the ensemble did not answer in time, or the connection is lost: the client reconnects
 * by itself within the session timeout), GALE_ESTATE (the session expired: its ephemeral nodes are gone, open a new
 * session), GALE_EINVAL (a bad path), GALE_EIO (anything else, logged with ZooKeeper's words).
 */
#ifndef GALE_ZK_H
#define GALE_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gale_zk gale_zk_t;

typedef enum gale_zk_state {
    GALE_ZK_CONNECTED = 1, /* connected (again): calls work */
    GALE_ZK_CONNECTING,    /* the connection was lost; the client is reconnecting, the session may still live */
    GALE_ZK_EXPIRED,       /* the session is gone, with its ephemeral nodes and its watches: final */
    GALE_ZK_AUTH_FAILED,   /* the ensemble refused the credentials: final */
} gale_zk_state_t;

typedef enum gale_zk_event {
    GALE_ZK_NODE_CREATED = 1,
    GALE_ZK_NODE_DELETED,
    GALE_ZK_NODE_CHANGED, /* its data */
    GALE_ZK_CHILDREN_CHANGED,
} gale_zk_event_t;

/* Called on the caller's loop. Either may be NULL. `path` is borrowed for the call. A watch fires once: set it
   again (a get, exists or children call with `watch`) to hear of the next change. */
typedef struct gale_zk_callbacks {
    void (*state)(void *arg, gale_zk_state_t state);
    void (*watch)(void *arg, gale_zk_event_t event, const char *path);
    void *arg;
} gale_zk_callbacks_t;

typedef struct gale_zk_opts {
    const char *hosts;      /* "HOST:PORT[,HOST:PORT...][/chroot]", as ZooKeeper's clients take it */
    int session_timeout_ms; /* 0: 10000; the ensemble bounds it to 2..20 times its tickTime */
    int connect_timeout_ms; /* how long gale_zk_open waits for the first connection; 0: the session timeout, at
                               least 10 s */
    const void *secret;     /* NULL: no authentication, open ACLs */
    size_t secret_len;
    gale_zk_callbacks_t cb;
} gale_zk_opts_t;

/* Opens a session and waits until it is connected (and authenticated). 0 and *out; GALE_ETIMEDOUT when no server
   answered within the connect timeout, -EACCES when the credentials were refused, GALE_EINVAL for bad options,
   GALE_ENOMEM. `why` (may be NULL) gets a sentence naming the hosts. `loop` is borrowed: the callbacks run on it.
   It holds a handle on the loop, on failure too until the loop has run once more (uv_run) to close it. */
int gale_zk_open(uv_loop_t *loop, const gale_zk_opts_t *opts, gale_zk_t **out, char *why, size_t why_cap);

/* Ends the session at once (its ephemeral nodes go now, not after the timeout) and stops the callbacks. The memory
   is freed once the loop has run the close of the async handle: keep running the loop after it. NULL is a no-op. */
void gale_zk_close(gale_zk_t *zk);

/* Flags of gale_zk_create. */
#define GALE_ZK_EPHEMERAL 1u  /* the node goes with the session */
#define GALE_ZK_SEQUENTIAL 2u /* the server appends a ten-digit counter to the name */

/* Creates `path` with `len` bytes of `data` (NULL and 0: empty). With `created` (cap bytes), the name the server
   gave it, which SEQUENTIAL makes differ from `path`. */
int gale_zk_create(gale_zk_t *zk, const char *path, const void *data, size_t len, unsigned flags, char *created,
                   size_t cap);

/* Creates `path` and every missing node above it, empty and persistent, as `mkdir -p`. 0 also when it exists, but
   with a secret only if it carries the cluster's ACL and no other: -EACCES (logged, with the ACL found) for a node
   someone else made first, which gale must not build on (the nodes above it are not judged). */
int gale_zk_create_all(gale_zk_t *zk, const char *path);

/* The data of `path`: malloc'd into *data (NUL-terminated, *len bytes before the NUL; the caller frees it), and its
   version (may be NULL). `watch`: tell the watch callback when it changes or is deleted. */
int gale_zk_get(gale_zk_t *zk, const char *path, bool watch, char **data, size_t *len, int32_t *version);

/* Replaces the data of `path` if its version is still `version` (-1: whatever it is). */
int gale_zk_set(gale_zk_t *zk, const char *path, const void *data, size_t len, int32_t version);

/* Whether `path` exists: 0 and its version (may be NULL), or GALE_ENOENT. `watch` watches it also while it does
   not exist (for its creation). */
int gale_zk_exists(gale_zk_t *zk, const char *path, bool watch, int32_t *version);

/* The session timeout the ensemble granted, in ms (it bounds what was asked); 0 for NULL. */
int gale_zk_session_ms(const gale_zk_t *zk);

/* The names (not paths) of the children of `path`, sorted: a malloc'd array of *n malloc'd strings, freed with
   gale_zk_free_names. `watch`: tell the watch callback when a child comes or goes. */
int gale_zk_children(gale_zk_t *zk, const char *path, bool watch, char ***names, size_t *n);
void gale_zk_free_names(char **names, size_t n);

/* Deletes `path` if its version is still `version` (-1: whatever it is). */
int gale_zk_delete(gale_zk_t *zk, const char *path, int32_t version);

/* The digest identity "gale:PASSWORD" (NUL-terminated) a session with `secret` authenticates as, for programs that
   use ZooKeeper's own client on gale's nodes (a test, an operator's zkCli.sh `addauth digest ...`). */
#define GALE_ZK_CREDENTIALS_LEN (5 + 64 + 1)
int gale_zk_credentials(const void *secret, size_t len, char out[GALE_ZK_CREDENTIALS_LEN]); /* 0, or GALE_EIO */

/* This session's id, as ZooKeeper's logs print it. */
int64_t gale_zk_session_id(const gale_zk_t *zk);
/* Its id and its password (16 bytes): with them another client may take the session over, which ends it here
   (how a test makes ZooKeeper expire a session, as Curator's KillSession does). */
void gale_zk_session_credentials(const gale_zk_t *zk, int64_t *id, char password[16]);

#endif
