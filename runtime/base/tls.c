#include "tls.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"
#include "keyfile.h"

#define KEY_FILE_MAX 16384 /* a PEM private key; an RSA-8192 one is under 7 KiB */

struct gale_tls_ctx {
    SSL_CTX *ssl;
    char name[256]; /* the common name of our own certificate */
};

struct gale_tls {
    SSL *ssl;
    BIO *in, *out; /* memory BIOs: network -> in -> SSL -> plaintext; plaintext -> SSL -> out -> network */
    bool ready;
    char peer[256];
    char peer_role[32];
    char error[256];
};

/* OpenSSL's error queue, as one line: the first reason, and the verify result when that is what failed. */
static void take_error(char *buf, size_t cap, const char *what, long verify)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "";
    if (e) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    if (verify != X509_V_OK && verify != -1)
        snprintf(buf, cap, "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(verify));
    else snprintf(buf, cap, "%s%s%s", what, reason[0] ? ": " : "", reason);
}

static void name_entry(X509 *x, int nid, char *out, size_t cap)
{
    out[0] = '\0';
    if (!x) return;
    X509_NAME *n = X509_get_subject_name(x);
    if (n && X509_NAME_get_text_by_NID(n, nid, out, (int)cap) < 0) out[0] = '\0';
}

static void common_name(X509 *x, char *out, size_t cap) { name_entry(x, NID_commonName, out, cap); }

/* The private key through keyfile.h's rule (this user's, no one else's), then parsed from memory and wiped. */
static EVP_PKEY *load_key(const char *path, gale_diag_t *diag, int *rc)
{
    unsigned char *buf = malloc(KEY_FILE_MAX + 1);
    char why[4200];
    size_t len = 0;
    *rc = buf ? gale_keyfile_read(path, buf, KEY_FILE_MAX + 1, 1, KEY_FILE_MAX, &len, why, sizeof why) : GALE_ENOMEM;
    if (*rc) {
        gale__diag(diag, *rc, "TLS key %s", buf ? why : "out of memory");
        free(buf);
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    explicit_bzero(buf, len);
    free(buf);
    if (!k) {
        char e[256];
        take_error(e, sizeof e, "not a PEM private key", -1);
        *rc = gale__diag(diag, GALE_EINVAL, "TLS key %s: %s", path, e);
    }
    return k;
}

int gale_tls_ctx_new(const gale_tls_files_t *f, gale_tls_ctx_t **out, gale_diag_t *diag)
{
    gale_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c || !(c->ssl = SSL_CTX_new(TLS_method()))) {
        free(c);
        return gale__diag(diag, GALE_ENOMEM, "out of memory");
    }
    char e[256];
    int rc = 0;
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(c->ssl, TLS1_3_VERSION);
    /* Mutual: a peer without a certificate of our CA is refused on both sides (HTTPS: clients need none). */
    SSL_CTX_set_verify(c->ssl, f->web ? SSL_VERIFY_NONE : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c->ssl, 0);
    SSL_CTX_clear_mode(c->ssl, SSL_MODE_AUTO_RETRY);
    if (SSL_CTX_load_verify_locations(c->ssl, f->ca, NULL) != 1) {
        take_error(e, sizeof e, "not a CA certificate", -1);
        rc = gale__diag(diag, GALE_EINVAL, "TLS CA %s: %s", f->ca, e);
    } else if (SSL_CTX_use_certificate_chain_file(c->ssl, f->cert) != 1) {
        take_error(e, sizeof e, "not a certificate", -1);
        rc = gale__diag(diag, GALE_EINVAL, "TLS certificate %s: %s", f->cert, e);
    } else {
        EVP_PKEY *k = load_key(f->key, diag, &rc);
        if (k && SSL_CTX_use_PrivateKey(c->ssl, k) != 1) {
            take_error(e, sizeof e, "OpenSSL", -1);
            rc = gale__diag(diag, GALE_EINVAL, "TLS key %s is not the key of %s (%s)", f->key, f->cert, e);
        } else if (k && SSL_CTX_check_private_key(c->ssl) != 1) {
            rc = gale__diag(diag, GALE_EINVAL, "TLS key %s is not the key of %s", f->key, f->cert);
        }
        EVP_PKEY_free(k);
    }
    if (!rc) common_name(SSL_CTX_get0_certificate(c->ssl), c->name, sizeof c->name);
    ERR_clear_error();
    if (rc) {
        gale_tls_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int from_dir(const char *dir, const char *name, bool web, gale_tls_ctx_t **out, gale_diag_t *diag);

int gale_tls_ctx_from_dir(const char *dir, const char *name, gale_tls_ctx_t **out, gale_diag_t *diag)
{
    return from_dir(dir, name, false, out, diag);
}

int gale_tls_ctx_from_dir_web(const char *dir, const char *name, gale_tls_ctx_t **out, gale_diag_t *diag)
{
    return from_dir(dir, name, true, out, diag);
}

static int from_dir(const char *dir, const char *name, bool web, gale_tls_ctx_t **out, gale_diag_t *diag)
{
    char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    if (snprintf(ca, sizeof ca, "%s/ca.crt", dir) >= (int)sizeof ca ||
        snprintf(cert, sizeof cert, "%s/%s.crt", dir, name) >= (int)sizeof cert ||
        snprintf(key, sizeof key, "%s/%s.key", dir, name) >= (int)sizeof key)
        return gale__diag(diag, GALE_EINVAL, "%s: path too long", dir);
    gale_tls_files_t f = {.ca = ca, .cert = cert, .key = key, .web = web};
    return gale_tls_ctx_new(&f, out, diag);
}

void gale_tls_ctx_free(gale_tls_ctx_t *c)
{
    if (!c) return;
    SSL_CTX_free(c->ssl); /* OpenSSL counts its references: sessions keep it alive */
    free(c);
}

const char *gale_tls_ctx_name(const gale_tls_ctx_t *c) { return c->name; }

gale_tls_t *gale_tls_new(gale_tls_ctx_t *c, bool server)
{
    gale_tls_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ssl = SSL_new(c->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        SSL_free(t->ssl);
        BIO_free(t->in);
        BIO_free(t->out);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->in, -1);  /* empty is "wait for more", not the end of the stream */
    SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both now */
    if (server) SSL_set_accept_state(t->ssl);
    else SSL_set_connect_state(t->ssl);
    return t;
}

void gale_tls_free(gale_tls_t *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    free(t);
}

int gale_tls_feed(gale_tls_t *t, const void *data, size_t len)
{
    while (len) {
        int n = BIO_write(t->in, data, len > INT_MAX ? INT_MAX : (int)len);
        if (n <= 0) return GALE_ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

/* What an SSL call's result means for the caller. */
static int result(gale_tls_t *t, int r, const char *what)
{
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return GALE_EAGAIN;
    }
    long verify = SSL_get_verify_result(t->ssl);
    unsigned long first = ERR_peek_error();
    if (e == SSL_ERROR_ZERO_RETURN) snprintf(t->error, sizeof t->error, "%s: the peer closed the session", what);
    else if (!t->ready && ERR_GET_LIB(first) == ERR_LIB_SSL &&
             (ERR_GET_REASON(first) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST)) {
        ERR_clear_error();
        snprintf(t->error, sizeof t->error, "%s: the peer does not speak TLS (is TLS off there?)", what);
    } else take_error(t->error, sizeof t->error, what, t->ready ? -1 : verify);
    return t->ready ? GALE_EIO : GALE_EPERM;
}

int gale_tls_handshake(gale_tls_t *t)
{
    if (t->ready) return 0;
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) return result(t, r, "TLS handshake");
    t->ready = true;
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    common_name(peer, t->peer, sizeof t->peer);
    name_entry(peer, NID_organizationalUnitName, t->peer_role, sizeof t->peer_role);
    X509_free(peer);
    return 0;
}

bool gale_tls_ready(const gale_tls_t *t) { return t->ready; }

int gale_tls_read(gale_tls_t *t, void *out, size_t cap, size_t *got)
{
    int rc = gale_tls_handshake(t);
    if (rc) return rc;
    size_t n = 0;
    int r = SSL_read_ex(t->ssl, out, cap, &n);
    if (r != 1) return result(t, r, "TLS read");
    *got = n;
    return 0;
}

int gale_tls_write(gale_tls_t *t, const void *data, size_t len)
{
    if (!t->ready) return GALE_EAGAIN;
    while (len) {
        size_t n = 0;
        /* Memory BIOs grow: a write is taken whole, never partly. */
        int r = SSL_write_ex(t->ssl, data, len, &n);
        if (r != 1) {
            result(t, r, "TLS write");
            return GALE_EIO;
        }
        data = (const char *)data + n;
        len -= n;
    }
    return 0;
}

size_t gale_tls_pending(const gale_tls_t *t) { return BIO_ctrl_pending(t->out); }

size_t gale_tls_take(gale_tls_t *t, void *buf, size_t cap)
{
    int n = BIO_read(t->out, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

const char *gale_tls_peer(const gale_tls_t *t) { return t->peer; }
const char *gale_tls_peer_role(const gale_tls_t *t) { return t->peer_role; }
const char *gale_tls_error(const gale_tls_t *t) { return t->error; }
