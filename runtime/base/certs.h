/*
 * certs.h: a cluster's certificate authority and the certificates it issues, made with OpenSSL's API (what
 * `openssl req -x509` and `openssl x509 -req` would make), for `gale certs init|issue`.
 *
 * Keys are EC P-256. The CA is DIR/ca.crt and DIR/ca.key; a node or a user NAME gets DIR/NAME.crt and DIR/NAME.key,
 * its common name NAME, its subjectAltName DNS:NAME plus each --host (an IPv4 address as IP:, else DNS:), and
 * extendedKeyUsage serverAuth and clientAuth, since every process is both ends of some connection. Key files are
 * made with mode 600 and never replace a file: a key lost by an overwrite is a cluster that cannot be reached.
 * Serial numbers are 128 random bits. Signatures are ECDSA with SHA-256.
 */
#ifndef GALE_CERTS_H
#define GALE_CERTS_H

#include <stddef.h>

#include "diag.h"

/* Makes DIR (mode 700, if missing), DIR/ca.key and DIR/ca.crt, valid for `days`. 0, or a negative errno code with
   the reason in diag (GALE_EEXIST when a CA is there already). */
int gale_certs_init(const char *dir, int days, gale_diag_t *diag);
/* Issues NAME's key and certificate from DIR's CA, valid from now + not_before_s (negative: in the past) for `days`
   (0 days and a negative start make one that has expired, for tests), with the role "node". 0, or a negative errno
   code with diag. */
int gale_certs_issue(const char *dir, const char *name, const char *const *hosts, size_t n_hosts, long not_before_s,
                     int days, gale_diag_t *diag);
/* The same with `role` (gale_certs_role_ok) as the certificate's organizational unit: what its holder may do on a
   cluster's control ports (admin, deployer, viewer; node for nimbus and the supervisors), signed by the CA. */
int gale_certs_issue_as(const char *dir, const char *name, const char *role, const char *const *hosts, size_t n_hosts,
                        long not_before_s, int days, gale_diag_t *diag);
/* Whether `role` is admin, deployer, viewer or node. */
int gale_certs_role_ok(const char *role);
/* Whether `name` may name a certificate's files: 1 to 64 of a-z, A-Z, 0-9, '.', '-', '_', not starting with '.'. */
int gale_certs_name_ok(const char *name);

#endif
