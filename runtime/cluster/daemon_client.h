/*
 * daemon_client.h: the client half of the supervisor daemon's control protocol (daemon.h), for `gale ctl` and for
 * whatever drives daemons from a program (nimbus). It dials HOST:PORT, answers the challenge with the cluster
 * secret, then sends commands one at a time and reads each one's data lines, the events that come meanwhile, and
 * the final "ok ..." or "error ..." line.
 *
 * Every wait is bounded by the caller's timeout (connect, challenge, each reply), every line by
 * GALE_DAEMON_CLIENT_LINE_MAX bytes, so that a daemon that hangs, floods or closes cannot hang its client.
 * Blocking calls, on the calling thread; one client is used by one thread at a time. SIGPIPE is never raised.
 *
 * Errors are negative codes with a message in the caller's gale_diag_t:
 *   GALE_EIO        cannot connect, or the daemon closed the connection or failed mid-reply ("no reply: ...")
 *   GALE_ETIMEDOUT  no whole reply within the timeout ("no reply: ...")
 *   GALE_ELIMIT     a line longer than GALE_DAEMON_CLIENT_LINE_MAX ("no reply: ...")
 *   GALE_ENOTSUP    the peer is not a supervisor daemon of this protocol version
 *   GALE_EINVAL     the daemon answered "error MESSAGE" (the message is the diag, e.g. "authentication failed"),
 *                   refused the connection before the challenge ("refused: MESSAGE"), or the command is not one
 *                   line (it holds a newline or is longer than the protocol allows)
 * After any error but GALE_EINVAL from an "error" reply the connection is unusable: free the client.
 */
#ifndef GALE_DAEMON_CLIENT_H
#define GALE_DAEMON_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* The longest line the client accepts from a daemon, '\n' excluded (a `stats` line may exceed the 16 KiB the daemon
   takes from clients). */
#define GALE_DAEMON_CLIENT_LINE_MAX 65535
/* The longest command the client sends, '\n' excluded: what the daemon accepts (daemon.h). */
#define GALE_DAEMON_COMMAND_MAX 16383

typedef struct gale_daemon_client gale_daemon_client_t;

/* What a line before the reply is. */
typedef enum gale_daemon_line_kind {
    GALE_DAEMON_DATA,  /* a data line of the reply */
    GALE_DAEMON_EVENT, /* "event ...", whole; it may arrive before any reply */
} gale_daemon_line_kind_t;

/* Called for each line before the reply; `line` is NUL-terminated and borrowed for the call only. */
typedef void (*gale_daemon_line_fn)(void *arg, gale_daemon_line_kind_t kind, const char *line);

struct gale_tls_ctx;
/* Every client this process opens from now on speaks TLS 1.3 with `tls`'s certificate (borrowed: it must outlive
   them), before the challenge; NULL: in clear. A server that TLS refuses, or that does not speak it, is an error
   naming TLS's reason ("TLS: TLS handshake: ..."). Set it once, before the first client. */
void gale_daemon_client_use_tls(struct gale_tls_ctx *tls);

/* Dials `target` ("HOST:PORT"), reads the challenge and authenticates with `secret` (borrowed), all within
   `timeout_ms` (< 0: no bound). 0 with *out set to a client the caller frees with gale_daemon_client_free; on failure
   a negative code (above), the reason in `d`, *out untouched and nothing left open. */
int gale_daemon_client_new(const char *target, const void *secret, size_t secret_len, int timeout_ms,
                         gale_daemon_client_t **out, gale_diag_t *d);

/* The same with a peer of another `role`: "nimbus" expects nimbus's challenge ("gale-nimbus 1 challenge ...",
   nimbus.h); gale_daemon_client_new is "supervisor". GALE_ENOTSUP then says "not a gale ROLE of this version". */
int gale_daemon_client_open(const char *target, const char *role, const void *secret, size_t secret_len, int timeout_ms,
                            gale_daemon_client_t **out, gale_diag_t *d);

/* Sends one line that gets no reply of its own (the data lines of an upload, nimbus.h), within `timeout_ms`. 0 or a
   negative code (the connection is then unusable). */
int gale_daemon_client_send(gale_daemon_client_t *c, const char *line, int timeout_ms, gale_diag_t *d);

/* Reads the reply of what was sent last (after gale_daemon_client_send), as gale_daemon_client_call does. */
int gale_daemon_client_reply(gale_daemon_client_t *c, int timeout_ms, gale_daemon_line_fn on_line, void *arg,
                             const char **ok_text, gale_diag_t *d);

/* Sends `command` (one line, without its '\n') and reads until its reply, within `timeout_ms` (< 0: no bound; a
   `wait` may take as long as the topology runs). Data lines and events are handed to `on_line` (NULL: dropped) as
   they come. 0 on "ok": *ok_text (when not NULL) then points at the text after "ok " ("" for a bare "ok"), valid
   until the next call on `c`. Otherwise a negative code, the reason in `d`. */
int gale_daemon_client_call(gale_daemon_client_t *c, const char *command, int timeout_ms, gale_daemon_line_fn on_line,
                          void *arg, const char **ok_text, gale_diag_t *d);

/* Closes the connection and frees the client; NULL is a no-op. */
void gale_daemon_client_free(gale_daemon_client_t *c);

#endif
