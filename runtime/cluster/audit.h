/*
 * audit.h: the audit log of a nimbus or a supervisor: who did what to the cluster, one JSON line per event,
 * appended, each line chained to the one before by a SHA-256, so that a line changed, inserted or taken out of the
 * middle is found by `gale audit verify`.
 *
 *   {"seq": 7, "time": "2026-12-08T03:20:00.123Z", "by": "nimbus 127.0.0.1:6627", "identity": "cluster-secret",
 *    "source": "127.0.0.1:40312", "action": "kill", "target": "wc", "result": "ok", "detail": "ok killed wc",
 *    "prev": "<64 hex>", "hash": "<64 hex>"}
 *
 * `hash` is SHA-256 of the line's text up to the comma before "hash" (so it covers prev: the chain); `prev` is the
 * hash of the line before, 64 zeros on the first. seq counts from 1 with no gap. identity is who was authenticated
 * (the cluster secret's holder; a certificate's name once TLS names users), null when no one was; source is the
 * peer's address, or what acted from inside ("zookeeper" for an assignment nimbus wrote there). result is "ok",
 * "error" or "refused". Each line is one write(2) and an fdatasync: an action is on disk before its answer is.
 *
 * A log has one writer: the open takes its lock (flock), and a second process opening it is refused. A reopened log
 * goes on with its chain: its last line's hash and seq are read back. A torn last line (a crash in
 * mid-write: the file does not end with a newline) is cut, and the first new line says how many bytes went; a last
 * line that is not an audit line stops the open (the log was changed: verify it). What a chain cannot show alone:
 * lines cut from the end, or a whole log rewritten with new hashes; keep a copy of the last hash elsewhere
 * (`gale audit verify` prints it) to catch those.
 */
#ifndef GALE_AUDIT_H
#define GALE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

typedef struct gale_audit gale_audit_t;

typedef struct gale_audit_event {
    const char *identity; /* NULL: no one authenticated */
    const char *source;   /* "HOST:PORT", "zookeeper", "http HOST:PORT" */
    const char *action;   /* "submit", "kill", "rebalance", "activate", "deactivate", "assign", "authenticate", ... */
    const char *target;   /* the topology; NULL: none */
    const char *result;   /* "ok", "error", "refused" */
    const char *detail;   /* the answer or the reason (secrets redacted); NULL: none */
    uint64_t count;       /* 0 or 1: one event; N: N alike (refusals counted over an interval) */
} gale_audit_event_t;

/* Opens (creating, mode 600) the log at `path` for `by` ("nimbus HOST:PORT", copied). *out is the caller's
   (gale_audit_close). 0, or a negative errno code with the reason in diag. */
int gale_audit_open(const char *path, const char *by, gale_audit_t **out, gale_diag_t *diag);
/* Appends one event. 0, or a negative errno code (the caller logs it: an action is not undone for its audit). */
int gale_audit_append(gale_audit_t *a, const gale_audit_event_t *e);
void gale_audit_close(gale_audit_t *a); /* NULL is a no-op */

/* The text of an action line fit for the log: a token secret=..., token=... or key=... becomes KEY=[redacted].
   Writes at most cap bytes, NUL-terminated. */
void gale_audit_redact(const char *line, char *out, size_t cap);

/* Checks the chain of the log at `path`: 0 with *lines and `last` (the last hash, 65 bytes) set, or
   GALE_ECORRUPT with `why` saying "line N: what is wrong", or another negative errno code (cannot read it). */
int gale_audit_verify(const char *path, size_t *lines, char last[65], char *why, size_t cap);

#endif
