#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gale.h"

int gale_certs_role_ok(const char *role)
{
    return role &&
           (!strcmp(role, "admin") || !strcmp(role, "deployer") || !strcmp(role, "viewer") || !strcmp(role, "node"));
}

int gale_certs_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 64 || name[0] == '.') return 0;
    for (const char *p = name; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && !strchr(".-_", *p))
            return 0;
    return 1;
}

static int openssl_failed(gale_diag_t *diag, const char *what)
{
    char e[200] = "";
    unsigned long code = ERR_get_error();
    if (code) ERR_error_string_n(code, e, sizeof e);
    ERR_clear_error();
    return gale__diag(diag, GALE_EIO, "%s: %s", what, e[0] ? e : "OpenSSL failed");
}

/* Writes `pem` (len bytes) to a new file `path` with `mode`: never over an existing one. */
static int write_new(const char *path, const char *pem, size_t len, mode_t mode, gale_diag_t *diag)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        int err = -errno;
        return gale__diag(diag, err, "%s: %s", path,
                          err == -EEXIST ? "exists; it is kept (remove it first to make a new one)" : strerror(-err));
    }
    bool ok = write(fd, pem, len) == (ssize_t)len && fsync(fd) == 0;
    int err = ok ? 0 : -errno;
    close(fd);
    if (!ok) {
        unlink(path);
        return gale__diag(diag, err ? err : GALE_EIO, "%s: cannot write it: %s", path, strerror(err ? -err : EIO));
    }
    return 0;
}

/* A PEM of a key (private) or a certificate into a new file. */
static int save(const char *path, EVP_PKEY *key, X509 *cert, gale_diag_t *diag)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return gale__diag(diag, GALE_ENOMEM, "out of memory");
    int ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, cert);
    char *pem = NULL;
    long len = BIO_get_mem_data(b, &pem);
    int rc = ok && len > 0 ? write_new(path, pem, (size_t)len, key ? 0600 : 0644, diag)
                           : openssl_failed(diag, "cannot encode it as PEM");
    if (key && pem && len > 0) OPENSSL_cleanse(pem, (size_t)len);
    BIO_free(b);
    return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for `key` named `cn`, signed by issuer_key (issuer NULL: self-signed, the CA). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *role, X509 *issuer, EVP_PKEY *issuer_key,
                       long not_before_s, int days, const char *san)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    bool ok = x && RAND_bytes(serial, sizeof serial) == 1;
    serial[0] &= 0x7f; /* positive */
    ok = ok && (bn = BN_bin2bn(serial, sizeof serial, NULL)) && (sn = BN_to_ASN1_INTEGER(bn, NULL)) &&
         X509_set_version(x, 2) && X509_set_serialNumber(x, sn) &&
         X509_gmtime_adj(X509_getm_notBefore(x), not_before_s) &&
         X509_gmtime_adj(X509_getm_notAfter(x), not_before_s + (long)days * 86400) && X509_set_pubkey(x, key);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    X509_NAME *name = ok ? X509_get_subject_name(x) : NULL;
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"gale", -1, -1, 0) &&
         (!role || X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)role, -1, -1, 0)) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : x;
    if (ok && !issuer)
        ok = add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (ok && issuer)
        ok = add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, signer, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(x, signer, NID_subject_key_identifier, "hash") &&
             add_ext(x, signer, NID_authority_key_identifier, "keyid:always") &&
             add_ext(x, signer, NID_subject_alt_name, san);
    ok = ok && X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int paths(const char *dir, const char *name, char *crt, char *key, gale_diag_t *diag)
{
    if (snprintf(crt, PATH_MAX, "%s/%s.crt", dir, name) >= PATH_MAX ||
        snprintf(key, PATH_MAX, "%s/%s.key", dir, name) >= PATH_MAX)
        return gale__diag(diag, GALE_EINVAL, "%s: path too long", dir);
    return 0;
}

int gale_certs_init(const char *dir, int days, gale_diag_t *diag)
{
    if (days < 1) return gale__diag(diag, GALE_EINVAL, "a CA must be valid for a day at least");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return gale__diag(diag, -errno, "%s: %s", dir, strerror(errno));
    char crt[PATH_MAX], keyp[PATH_MAX];
    int rc = paths(dir, "ca", crt, keyp, diag);
    if (rc) return rc;
    if (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0)
        return gale__diag(diag, GALE_EEXIST, "%s: a CA is there already (ca.crt or ca.key); it is kept", dir);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *cert = key ? make_cert(key, "gale cluster CA", NULL, NULL, NULL, 0, days, NULL) : NULL;
    rc = cert ? save(keyp, key, NULL, diag) : openssl_failed(diag, "cannot make the CA");
    if (!rc && (rc = save(crt, NULL, cert, diag))) unlink(keyp);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static X509 *read_cert(const char *path, gale_diag_t *diag, int *rc)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!x) *rc = gale__diag(diag, GALE_ENOENT, "%s: no CA certificate (gale certs init DIR makes one)", path);
    return x;
}

static EVP_PKEY *read_key(const char *path, gale_diag_t *diag, int *rc)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        *rc = gale__diag(diag, GALE_EPERM, "%s: readable by others (mode %04o): chmod 600 %s", path,
                         (unsigned)(st.st_mode & 07777), path);
        return NULL;
    }
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!k) *rc = gale__diag(diag, GALE_ENOENT, "%s: no CA key", path);
    return k;
}

int gale_certs_issue(const char *dir, const char *name, const char *const *hosts, size_t n_hosts, long not_before_s,
                     int days, gale_diag_t *diag)
{
    return gale_certs_issue_as(dir, name, "node", hosts, n_hosts, not_before_s, days, diag);
}

int gale_certs_issue_as(const char *dir, const char *name, const char *role, const char *const *hosts, size_t n_hosts,
                        long not_before_s, int days, gale_diag_t *diag)
{
    if (!gale_certs_role_ok(role))
        return gale__diag(diag, GALE_EINVAL, "--role '%s': admin, deployer, viewer or node", role ? role : "");
    if (!gale_certs_name_ok(name) || !strcmp(name, "ca"))
        return gale__diag(diag, GALE_EINVAL, "'%s': a name is 1 to 64 of a-z, A-Z, 0-9, . - _ (and not 'ca')", name);
    if (days < 0) return gale__diag(diag, GALE_EINVAL, "--days cannot be negative");
    char san[4096];
    int used = snprintf(san, sizeof san, "DNS:%s", name);
    for (size_t i = 0; i < n_hosts; i++) {
        struct in_addr a;
        bool ip = inet_pton(AF_INET, hosts[i], &a) == 1;
        if (!ip && !gale_certs_name_ok(hosts[i]))
            return gale__diag(diag, GALE_EINVAL, "--host '%s': an IPv4 address or a host name", hosts[i]);
        used += snprintf(san + used, sizeof san - (size_t)used, ",%s:%s", ip ? "IP" : "DNS", hosts[i]);
        if ((size_t)used >= sizeof san) return gale__diag(diag, GALE_EINVAL, "too many --host names");
    }
    char ca_crt[PATH_MAX], ca_key[PATH_MAX], crt[PATH_MAX], keyp[PATH_MAX];
    int rc = paths(dir, "ca", ca_crt, ca_key, diag);
    if (!rc) rc = paths(dir, name, crt, keyp, diag);
    if (rc) return rc;
    if (access(crt, F_OK) == 0 || access(keyp, F_OK) == 0)
        return gale__diag(diag, GALE_EEXIST, "%s: %s.crt or %s.key is there already; it is kept", dir, name, name);
    X509 *ca = read_cert(ca_crt, diag, &rc);
    EVP_PKEY *ca_k = ca ? read_key(ca_key, diag, &rc) : NULL;
    EVP_PKEY *key = ca_k ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : NULL;
    X509 *cert = key ? make_cert(key, name, role, ca, ca_k, not_before_s, days, san) : NULL;
    if (ca_k && !cert) rc = openssl_failed(diag, "cannot make the certificate");
    if (cert && !(rc = save(keyp, key, NULL, diag)) && (rc = save(crt, NULL, cert, diag))) unlink(keyp);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_k);
    X509_free(ca);
    return rc;
}
