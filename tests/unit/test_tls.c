/*
 * TLS sessions over memory (tls.h) with certificates from certs.h: two ends pumped by hand, no socket. Mutual
 * authentication, refusals by reason (another CA, expired, not yet valid, none), and what crosses in between.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "certs.h"
#include "gale.h"
#include "testlib.h"
#include "tls.h"

static char *dir, *other;

static void setup(void)
{
    dir = tl_tmpdir();
    other = tl_tmpdir();
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_certs_init(dir, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(dir, "node-a", (const char *const[]){"127.0.0.1"}, 1, 0, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(dir, "node-b", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(dir, "expired", NULL, 0, -2 * 86400, 1, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(dir, "future", NULL, 0, 86400, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_init(other, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(other, "stranger", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
}

static void teardown(void)
{
    tl_rmtree(dir), tl_rmtree(other);
    free(dir), free(other);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 30);

static gale_tls_ctx_t *ctx(const char *folder, const char *name)
{
    gale_tls_ctx_t *c;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_tls_ctx_from_dir(folder, name, &c, &d), 0, "%s", d.msg);
    return c;
}

/* Moves what `from` has for the network into `to`, recording it in `wire` (may be NULL). */
static void pump(gale_tls_t *from, gale_tls_t *to, gale_buf_t *wire)
{
    char buf[4096];
    size_t n;
    while ((n = gale_tls_take(from, buf, sizeof buf)) > 0) {
        cr_assert_eq(gale_tls_feed(to, buf, n), 0);
        if (wire) gale_buf_put(wire, buf, n);
    }
}

/* Runs the handshake to its end: 0 when both are ready, else the first failure (server's or client's). */
static int shake(gale_tls_t *server, gale_tls_t *client, gale_buf_t *wire)
{
    int rs = GALE_EAGAIN, rc = GALE_EAGAIN;
    for (int i = 0; i < 20 && (rs == GALE_EAGAIN || rc == GALE_EAGAIN); i++) {
        if (rc == GALE_EAGAIN) rc = gale_tls_handshake(client);
        pump(client, server, wire);
        if (rs == GALE_EAGAIN) rs = gale_tls_handshake(server);
        pump(server, client, wire);
        if (rs < 0 && rs != GALE_EAGAIN) return rs;
        if (rc < 0 && rc != GALE_EAGAIN) return rc;
    }
    /* TLS 1.3: the client is done before the server has seen its certificate; a read tells the rest. */
    return rs ? rs : rc;
}

Test(tls, two_nodes_of_one_ca_shake_hands_name_each_other_and_nothing_crosses_in_clear)
{
    gale_tls_ctx_t *a = ctx(dir, "node-a"), *b = ctx(dir, "node-b");
    cr_assert_str_eq(gale_tls_ctx_name(a), "node-a");
    gale_tls_t *server = gale_tls_new(a, true), *client = gale_tls_new(b, false);
    gale_buf_t wire = {0};
    cr_assert_eq(shake(server, client, &wire), 0, "%s / %s", gale_tls_error(server), gale_tls_error(client));
    cr_assert_str_eq(gale_tls_peer(server), "node-b");
    cr_assert_str_eq(gale_tls_peer(client), "node-a");
    static const char secret_words[] = "the quick brown fox jumps over the lazy dog, card 4111111111111111";
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(gale_tls_write(client, secret_words, sizeof secret_words), 0);
        pump(client, server, &wire);
        char got[256];
        size_t n = 0;
        cr_assert_eq(gale_tls_read(server, got, sizeof got, &n), 0, "%s", gale_tls_error(server));
        cr_assert_eq(n, sizeof secret_words);
        cr_assert_str_eq(got, secret_words);
        cr_assert_eq(gale_tls_read(server, got, sizeof got, &n), GALE_EAGAIN);
    }
    cr_assert_null(memmem(wire.p, wire.len, "quick brown", 11), "plaintext on the wire");
    cr_assert_null(memmem(wire.p, wire.len, "4111111111111111", 16), "plaintext on the wire");
    gale_buf_free(&wire);
    gale_tls_free(server), gale_tls_free(client);
    gale_tls_ctx_free(a), gale_tls_ctx_free(b);
}

/* The server refuses a client with `folder`/`name`'s certificate that trusts our CA (so that it is the server that
   judges): the server's error holds `why`. */
static void server_refuses(const char *folder, const char *name, const char *why)
{
    gale_tls_ctx_t *a = ctx(dir, "node-a"), *bad;
    char *ca = tl_path("%s/ca.crt", dir), *crt = tl_path("%s/%s.crt", folder, name),
         *key = tl_path("%s/%s.key", folder, name);
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_tls_ctx_new(&(gale_tls_files_t){.ca = ca, .cert = crt, .key = key}, &bad, &d), 0, "%s", d.msg);
    free(ca), free(crt), free(key);
    gale_tls_t *server = gale_tls_new(a, true), *client = gale_tls_new(bad, false);
    int rc = shake(server, client, NULL);
    if (rc == 0) { /* the client may think itself done: the server's answer is the refusal */
        char buf[64];
        size_t n;
        rc = gale_tls_read(server, buf, sizeof buf, &n);
    }
    cr_assert_eq(rc, GALE_EPERM, "a %s client got in (%d)", name, rc);
    const char *e = *gale_tls_error(server) ? gale_tls_error(server) : gale_tls_error(client);
    cr_assert_not_null(strstr(e, why), "%s: %s / %s", name, gale_tls_error(server), gale_tls_error(client));
    gale_tls_free(server), gale_tls_free(client);
    gale_tls_ctx_free(a), gale_tls_ctx_free(bad);
}

Test(tls, a_client_of_another_ca_an_expired_one_and_a_future_one_are_refused_by_reason)
{
    server_refuses(other, "stranger", "unable to get local issuer certificate");
    server_refuses(dir, "expired", "certificate has expired");
    server_refuses(dir, "future", "certificate is not yet valid");
}

Test(tls, a_client_without_a_certificate_is_refused)
{
    gale_tls_ctx_t *a = ctx(dir, "node-a");
    gale_tls_t *server = gale_tls_new(a, true);
    /* A plain OpenSSL-less client: a TLS 1.3 ClientHello would need a library; garbage instead of one is refused
       too, as any bytes that are not a handshake are. The no-certificate case is covered over sockets in
       test_transport. */
    cr_assert_eq(gale_tls_feed(server, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    cr_assert_eq(gale_tls_handshake(server), GALE_EPERM);
    cr_assert_neq(gale_tls_error(server)[0], '\0');
    gale_tls_free(server);
    gale_tls_ctx_free(a);
}

Test(tls, files_that_are_not_what_they_say_are_refused_by_name)
{
    gale_tls_ctx_t *c;
    gale_diag_t d = {{0}};
    char *key = tl_path("%s/node-a.key", dir);
    chmod(key, 0644);
    cr_assert_eq(gale_tls_ctx_from_dir(dir, "node-a", &c, &d), GALE_EPERM);
    cr_assert_not_null(strstr(d.msg, "readable by others (mode 0644)"), "%s", d.msg);
    chmod(key, 0600);
    free(key);
    cr_assert_lt(gale_tls_ctx_from_dir(dir, "nobody", &c, &d), 0);
    cr_assert_not_null(strstr(d.msg, "nobody.crt"), "%s", d.msg);
    /* node-b's certificate with node-a's key */
    char *bcrt = tl_path("%s/node-b.crt", dir), *akey = tl_path("%s/node-a.key", dir), *ca = tl_path("%s/ca.crt", dir);
    gale_tls_files_t f = {.ca = ca, .cert = bcrt, .key = akey};
    cr_assert_eq(gale_tls_ctx_new(&f, &c, &d), GALE_EINVAL);
    cr_assert_not_null(strstr(d.msg, "is not the key of"), "%s", d.msg);
    free(bcrt), free(akey), free(ca);
    /* a second init or issue keeps what is there */
    cr_assert_eq(gale_certs_init(dir, 30, &d), GALE_EEXIST);
    cr_assert_eq(gale_certs_issue(dir, "node-a", NULL, 0, 0, 30, &d), GALE_EEXIST);
    cr_assert_eq(gale_certs_issue(dir, "../x", NULL, 0, 0, 30, &d), GALE_EINVAL);
}
