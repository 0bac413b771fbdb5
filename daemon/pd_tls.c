/*
 * pd_tls.c - the daemon's TLS certificate: generated self-signed on first
 * start, loaded afterwards, identified by its SHA-256 fingerprint (what
 * pool members and clients pin).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "pd_internal.h"

#define PEM_MAX             (64 * 1024)
#define CERT_VALID_DAYS     3653        /* 10 years */
#define CERT_BACKDATE_SECS  3600        /* tolerate clocks an hour behind */

struct pd_tls {
    char *cert_pem;
    char *key_pem;
    size_t key_len;
    char fingerprint[PD_FINGERPRINT_STRLEN + 1];
};

void pd_tls_free(struct pd_tls *tls)
{
    if (!tls)
        return;
    free(tls->cert_pem);
    if (tls->key_pem)
        pd_wipe(tls->key_pem, tls->key_len);
    free(tls->key_pem);
    free(tls);
}

const char *pd_tls_fingerprint(const struct pd_tls *tls)
{
    return tls->fingerprint;
}

/* Reports a GnuTLS failure r while doing what. */
static int tls_error(struct xt_ctx *ctx, int r, const char *what)
{
    return xt_error(ctx, r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO,
                    "%s: %s", what, gnutls_strerror(r));
}

static void format_fingerprint(const unsigned char *md, size_t n,
                               char fp[PD_FINGERPRINT_STRLEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n && i < 32; i++) {
        fp[i * 3] = hex[md[i] >> 4];
        fp[i * 3 + 1] = hex[md[i] & 15];
        fp[i * 3 + 2] = i + 1 < n ? ':' : '\0';
    }
    fp[PD_FINGERPRINT_STRLEN] = '\0';
}

/* The fingerprint of a PEM certificate; name is used in messages. */
static int pem_fingerprint(struct xt_ctx *ctx, const char *name,
                           const char *pem, char fp[PD_FINGERPRINT_STRLEN + 1])
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = { (unsigned char *)pem, (unsigned int)strlen(pem) };
    unsigned char md[32];
    size_t mdlen = sizeof(md);
    time_t expires;
    int r, rc;

    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        rc = tls_error(ctx, r, "cannot allocate a certificate");
        goto out;
    }
    r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        rc = xt_error(ctx, -EINVAL, "%s: not a PEM certificate: %s", name,
                      gnutls_strerror(r));
        goto out;
    }
    r = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md, &mdlen);
    if (r < 0 || mdlen != sizeof(md)) {
        rc = tls_error(ctx, r < 0 ? r : GNUTLS_E_INTERNAL_ERROR, name);
        goto out;
    }
    format_fingerprint(md, mdlen, fp);
    expires = gnutls_x509_crt_get_expiration_time(crt);
    if (expires != (time_t)-1 && expires < time(NULL))
        xt_warn(ctx, "%s: certificate expired", name);
    rc = 0;

out:
    if (crt)
        gnutls_x509_crt_deinit(crt);
    return rc;
}

int pd_tls_fingerprint_file(struct xt_ctx *ctx, const char *path,
                            char fp[PD_FINGERPRINT_STRLEN + 1])
{
    char *pem = NULL;
    int rc;

    rc = pd_read_file(ctx, path, PEM_MAX, false, &pem, NULL);
    if (rc < 0)
        return rc;
    rc = pem_fingerprint(ctx, path, pem, fp);
    free(pem);
    return rc;
}

int pd_tls_pin_pem(struct xt_ctx *ctx, const char *name, const char *pem,
                   char pin[PD_TLS_PIN_STRLEN + 1])
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t d = { (unsigned char *)pem, (unsigned int)strlen(pem) };
    gnutls_datum_t spki = { NULL, 0 };
    unsigned char md[32];
    char *o;
    size_t i;
    int r, rc;

    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        rc = tls_error(ctx, r, "cannot allocate a certificate");
        goto out;
    }
    r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        rc = xt_error(ctx, -EINVAL, "%s: not a PEM certificate: %s", name,
                      gnutls_strerror(r));
        goto out;
    }
    r = gnutls_pubkey_init(&pub);
    if (r < 0) {
        pub = NULL;
        rc = tls_error(ctx, r, "cannot allocate a public key");
        goto out;
    }
    r = gnutls_pubkey_import_x509(pub, crt, 0);
    if (r >= 0)
        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
    if (r >= 0)
        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, md);
    if (r < 0) {
        rc = tls_error(ctx, r, name);
        goto out;
    }
    /* 32 bytes: ten groups of three, then two bytes and one '='. */
    o = pin + sprintf(pin, "sha256//");
    for (i = 0; i + 3 <= sizeof(md); i += 3) {
        *o++ = b64[md[i] >> 2];
        *o++ = b64[((md[i] & 3) << 4) | (md[i + 1] >> 4)];
        *o++ = b64[((md[i + 1] & 15) << 2) | (md[i + 2] >> 6)];
        *o++ = b64[md[i + 2] & 63];
    }
    *o++ = b64[md[30] >> 2];
    *o++ = b64[((md[30] & 3) << 4) | (md[31] >> 4)];
    *o++ = b64[(md[31] & 15) << 2];
    *o++ = '=';
    *o = '\0';
    rc = 0;
out:
    gnutls_free(spki.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    return rc;
}

int pd_tls_pin_file(struct xt_ctx *ctx, const char *path,
                    char pin[PD_TLS_PIN_STRLEN + 1])
{
    char *pem = NULL;
    int rc;

    rc = pd_read_file(ctx, path, PEM_MAX, false, &pem, NULL);
    if (rc < 0)
        return rc;
    rc = pd_tls_pin_pem(ctx, path, pem, pin);
    free(pem);
    return rc;
}

/* Adds the binary form of a numeric address to the subjectAltName. */
static int add_san_ip(gnutls_x509_crt_t crt, const char *addr)
{
    unsigned char buf[sizeof(struct in6_addr)];
    unsigned int len;

    if (inet_pton(AF_INET, addr, buf) == 1)
        len = 4;
    else if (inet_pton(AF_INET6, addr, buf) == 1)
        len = 16;
    else
        return 0;
    return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
                                                buf, len,
                                                GNUTLS_FSAN_APPEND);
}

static bool is_wildcard(const char *addr)
{
    return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

/* Fills crt: names, validity, extensions; then signs it with key. */
static int make_cert(struct xt_ctx *ctx, gnutls_x509_crt_t crt,
                     gnutls_x509_privkey_t key, const char *host,
                     const char *listen_address)
{
    unsigned char serial[16], keyid[64];
    size_t keyid_len = sizeof(keyid);
    time_t now = time(NULL);
    int r;

    r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    if (r < 0)
        goto fail;
    serial[0] = (serial[0] & 0x7f) | 0x01;  /* positive, 16 bytes */
    if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (r = gnutls_x509_crt_set_activation_time(crt, now -
                                                 CERT_BACKDATE_SECS)) < 0 ||
        (r = gnutls_x509_crt_set_expiration_time(crt, now +
                                                 CERT_VALID_DAYS *
                                                 86400LL)) < 0 ||
        (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
                                           0, host, strlen(host))) < 0 ||
        (r = gnutls_x509_crt_set_key(crt, key)) < 0)
        goto fail;

    r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
                                             (unsigned int)strlen(host),
                                             GNUTLS_FSAN_APPEND);
    if (r >= 0 && strcmp(host, "localhost") != 0)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME,
                                                 "localhost", 9,
                                                 GNUTLS_FSAN_APPEND);
    if (r >= 0)
        r = add_san_ip(crt, "127.0.0.1");
    if (r >= 0)
        r = add_san_ip(crt, "::1");
    if (r >= 0 && !is_wildcard(listen_address) &&
        strcmp(listen_address, "127.0.0.1") != 0 &&
        strcmp(listen_address, "::1") != 0)
        r = add_san_ip(crt, listen_address);
    if (r < 0)
        goto fail;

    if ((r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (r = gnutls_x509_crt_set_key_usage(crt,
                                           GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
                                                 0)) < 0 ||
        (r = gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len)) < 0 ||
        (r = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len)) < 0 ||
        (r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0)
        goto fail;
    return 0;

fail:
    return tls_error(ctx, r, "cannot make the certificate");
}

/* Generates a key and a self-signed certificate, in PEM, into tls. */
static int generate(struct xt_ctx *ctx, const struct pd_config *cfg,
                    struct pd_tls *tls)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cert_pem = { NULL, 0 }, key_pem = { NULL, 0 };
    char host[256];
    int r, rc;

    if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';

    r = gnutls_x509_privkey_init(&key);
    if (r < 0) {
        key = NULL;
        rc = tls_error(ctx, r, "cannot allocate a key");
        goto out;
    }
    r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(
                                         GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (r < 0) {
        rc = tls_error(ctx, r, "cannot generate an ECDSA P-256 key");
        goto out;
    }
    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        rc = tls_error(ctx, r, "cannot allocate a certificate");
        goto out;
    }
    rc = make_cert(ctx, crt, key, host, cfg->listen_address);
    if (rc < 0)
        goto out;

    r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem);
    if (r >= 0)
        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                              GNUTLS_PKCS_PLAIN, &key_pem);
    if (r < 0) {
        rc = tls_error(ctx, r, "cannot export the certificate");
        goto out;
    }
    tls->cert_pem = strndup((char *)cert_pem.data, cert_pem.size);
    tls->key_pem = strndup((char *)key_pem.data, key_pem.size);
    tls->key_len = key_pem.size;
    if (!tls->cert_pem || !tls->key_pem) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }

    /* The key first: a certificate is never on disk without its key. */
    rc = pd_write_file_atomic(ctx, cfg->tls_key, tls->key_pem, tls->key_len,
                              0600);
    if (rc < 0)
        goto out;
    rc = pd_write_file_atomic(ctx, cfg->tls_cert, tls->cert_pem,
                              strlen(tls->cert_pem), 0644);

out:
    gnutls_free(cert_pem.data);
    if (key_pem.data) {
        pd_wipe(key_pem.data, key_pem.size);
        gnutls_free(key_pem.data);
    }
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

/* Checks that the key of tls is the certificate's (as GnuTLS would when
 * serving). */
static int check_pair(struct xt_ctx *ctx, const struct pd_config *cfg,
                      const struct pd_tls *tls)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_datum_t c = { (unsigned char *)tls->cert_pem,
                         (unsigned int)strlen(tls->cert_pem) };
    gnutls_datum_t k = { (unsigned char *)tls->key_pem,
                         (unsigned int)tls->key_len };
    int r, rc = 0;

    r = gnutls_certificate_allocate_credentials(&cred);
    if (r < 0)
        return tls_error(ctx, r, "cannot allocate TLS credentials");
    r = gnutls_certificate_set_x509_key_mem2(cred, &c, &k,
                                             GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0)
        rc = xt_error(ctx, -EINVAL, "%s and %s do not make a usable pair: %s",
                      cfg->tls_cert, cfg->tls_key, gnutls_strerror(r));
    gnutls_certificate_free_credentials(cred);
    return rc;
}

int pd_tls_load_or_create(struct xt_ctx *ctx, const struct pd_config *cfg,
                          struct pd_tls **tls_r, bool *created_r)
{
    struct pd_tls *tls = NULL;
    bool created = false;
    struct stat st;
    int rc, rk;

    *tls_r = NULL;
    tls = calloc(1, sizeof(*tls));
    if (!tls)
        return xt_error(ctx, -ENOMEM, "out of memory");

    rc = pd_read_file(ctx, cfg->tls_cert, PEM_MAX, true, &tls->cert_pem,
                      NULL);
    if (rc < 0 && rc != -ENOENT)
        goto out;
    rk = pd_read_file(ctx, cfg->tls_key, PEM_MAX, true, &tls->key_pem,
                      &tls->key_len);
    if (rk < 0 && rk != -ENOENT) {
        rc = rk;
        goto out;
    }
    if (rc == -ENOENT && rk == -ENOENT) {
        rc = generate(ctx, cfg, tls);
        if (rc < 0)
            goto out;
        created = true;
    } else if (rc == -ENOENT || rk == -ENOENT) {
        rc = xt_error(ctx, -EEXIST, "%s exists but %s does not: provide "
                      "both, or remove it to have a new pair generated",
                      rc == -ENOENT ? cfg->tls_key : cfg->tls_cert,
                      rc == -ENOENT ? cfg->tls_cert : cfg->tls_key);
        goto out;
    } else if (stat(cfg->tls_key, &st) == 0 && (st.st_mode & 077)) {
        xt_warn(ctx, "%s is readable by others than its owner (mode %04o)",
                cfg->tls_key, (unsigned int)(st.st_mode & 07777));
    }

    rc = check_pair(ctx, cfg, tls);
    if (rc < 0)
        goto out;
    rc = pem_fingerprint(ctx, cfg->tls_cert, tls->cert_pem,
                         tls->fingerprint);
    if (rc < 0)
        goto out;

    if (created_r)
        *created_r = created;
    *tls_r = tls;
    tls = NULL;

out:
    pd_tls_free(tls);
    return rc;
}

const char *pd_tls_cert_pem(const struct pd_tls *tls)
{
    return tls->cert_pem;
}

const char *pd_tls_key_pem(const struct pd_tls *tls)
{
    return tls->key_pem;
}
