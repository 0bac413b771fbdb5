/*
 * cli_rpc.c - XML-RPC over HTTPS (or plain HTTP with --http) with libcurl:
 * login, calls, logout.
 *
 * TLS: xm-poold's certificate is self-signed, so it is trusted on first
 * use by its SHA-256 fingerprint: the first connection to a server:port
 * prints the fingerprint and records it in the rc file as
 * "fingerprint.<server>:<port>=AB:CD:..."; compare it with the one
 * `xm-poold --print-fingerprint` shows on the server.  Later runs must
 * meet the same certificate or are refused.  --no-verify skips all this.
 *
 * No byte of a request may reach another server, so the check is made in
 * the TLS handshake of every connection, before libcurl writes anything:
 *
 *  1. pin_server() first connects on a handle of its own with
 *     CURLOPT_CONNECT_ONLY: TCP and the handshake, then the connection is
 *     closed without a byte written.  The certificate it saw must have the
 *     recorded fingerprint (none recorded: first use, print and record
 *     it), or the run stops there with both fingerprints.
 *  2. From that certificate it derives the pin of its public key,
 *     "sha256//<base64 of SHA-256(SubjectPublicKeyInfo)>", and gives it to
 *     the request handle as CURLOPT_PINNEDPUBLICKEY.  libcurl compares it
 *     right after each handshake, on every connection the handle opens
 *     (reconnections included), and refuses a mismatch with
 *     CURLE_SSL_PINNEDPUBKEYNOTMATCH before sending the request: the
 *     password of session.login_with_password never leaves for a peer
 *     that did not prove, in the handshake, that it holds the key of the
 *     certificate checked in 1.
 *
 * Why a key pin and not a verification callback: libcurl on GnuTLS (what
 * we link) offers none (CURLOPT_SSL_CTX_FUNCTION is for other TLS
 * libraries), and the pin is what the pool daemons already use between
 * themselves.  A key pin accepts a certificate that differs from the
 * checked one only if it carries the same key, which only the server's
 * owner can use; the certificate itself was checked by fingerprint in 1.
 * The rc file keeps only the fingerprint line, as before: the key pin is
 * derived afresh on each run, so rc files written by older versions work
 * unchanged.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cli.h"

#define RESPONSE_MAX (64u << 20)
#define FP_MAX 96               /* "AB:CD:...", 32 bytes, and a NUL */
#define PIN_MAX 64              /* "sha256//", 44 base64 chars, a NUL */

struct cli_conn {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    char *session;          /* OpaqueRef:... once logged in */
    char pinned[FP_MAX];    /* the trusted fingerprint, or "" */
    char key_pin[PIN_MAX];  /* its key's pin, set on curl, or "" */
};

struct buf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *opaque)
{
    struct buf *b = opaque;
    size_t n = size * nmemb;
    char *d;

    if (b->len + n > RESPONSE_MAX) {
        b->too_big = true;
        return 0;
    }
    d = realloc(b->data, b->len + n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, n);
    b->data = d;
    b->len += n;
    d[b->len] = '\0';
    return n;
}

int cli_fingerprint_der(const void *der, size_t len, char buf[96])
{
    unsigned char md[32];
    size_t i;

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der, len, md) < 0)
        return -EIO;
    for (i = 0; i < sizeof(md); i++)
        sprintf(buf + 3 * i, "%02X%s", md[i], i + 1 < sizeof(md) ? ":" : "");
    return 0;
}

/*
 * The pin CURLOPT_PINNEDPUBLICKEY takes for the key of a DER certificate:
 * "sha256//" and the base64 of the SHA-256 of its SubjectPublicKeyInfo.
 */
static int key_pin_der(const void *der, size_t len, char pin[PIN_MAX])
{
    gnutls_datum_t d = { (unsigned char *)der, (unsigned int)len };
    gnutls_datum_t spki = { NULL, 0 }, b64 = { NULL, 0 };
    unsigned char md[32];
    gnutls_datum_t mdd = { md, sizeof(md) };
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    int r, rc = -EIO;

    r = gnutls_x509_crt_init(&crt);
    if (r < 0) {
        crt = NULL;
        goto out;
    }
    r = gnutls_pubkey_init(&pub);
    if (r < 0) {
        pub = NULL;
        goto out;
    }
    r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
    if (r >= 0)
        r = gnutls_pubkey_import_x509(pub, crt, 0);
    if (r >= 0)
        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
    if (r >= 0)
        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, md);
    if (r >= 0)
        r = gnutls_base64_encode2(&mdd, &b64);
    if (r >= 0 && b64.size == 44) {
        snprintf(pin, PIN_MAX, "sha256//%.*s", (int)b64.size,
                 (const char *)b64.data);
        rc = 0;
    }
out:
    gnutls_free(b64.data);
    gnutls_free(spki.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    return rc;
}

static unsigned port_of(const struct cli_ctx *cli)
{
    if (cli->opts.port)
        return cli->opts.port;
    return cli->opts.http ? CLI_DEFAULT_PORT_HTTP : CLI_DEFAULT_PORT_HTTPS;
}

static const char *server_of(const struct cli_ctx *cli)
{
    return cli->opts.server ? cli->opts.server : "localhost";
}

static const char *rc_name(const struct cli_ctx *cli)
{
    return cli->opts.rc_path ? cli->opts.rc_path : "~/" CLI_RC_NAME;
}

/* The pinned fingerprint of server:port from the rc file, into pin. */
static void pin_read(struct cli_ctx *cli, char pin[FP_MAX])
{
    char key[300], line[1024];
    FILE *f;

    pin[0] = '\0';
    if (!cli->opts.rc_path || !(f = fopen(cli->opts.rc_path, "r")))
        return;
    snprintf(key, sizeof(key), "fingerprint.%s:%u=", server_of(cli),
             port_of(cli));
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key))) {
            snprintf(pin, FP_MAX, "%.*s", (int)strcspn(line + strlen(key),
                                                       " \t\r\n"),
                     line + strlen(key));
        }
    fclose(f);
}

/*
 * The fingerprint and key pin of the leaf certificate that the last
 * connection of curl presented (CURLOPT_CERTINFO); -ENOENT when it
 * recorded none.
 */
static int peer_cert(CURL *curl, char fp[FP_MAX], char pin[PIN_MAX])
{
    struct curl_certinfo *ci = NULL;
    struct curl_slist *s;
    gnutls_datum_t pem, der = { NULL, 0 };
    int rc = -ENOENT;

    if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &ci) != CURLE_OK ||
        !ci || ci->num_of_certs < 1)
        return -ENOENT;
    for (s = ci->certinfo[0]; s; s = s->next) {
        if (strncmp(s->data, "Cert:", 5))
            continue;
        pem.data = (unsigned char *)s->data + 5;
        pem.size = (unsigned)strlen(s->data + 5);
        if (gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) < 0)
            return -EIO;
        rc = cli_fingerprint_der(der.data, der.size, fp);
        if (!rc)
            rc = key_pin_der(der.data, der.size, pin);
        gnutls_free(der.data);
        break;
    }
    return rc;
}

/* A certificate other than the trusted one: refused, nothing sent. */
static int changed_error(struct cli_ctx *cli, const char *presented)
{
    return cli_conn_error(cli, -EPROTO, "%s:%u: the certificate changed!\n"
                          "  expected %s\n  received %s\n"
                          "Refused at the TLS handshake, before any "
                          "request: nothing was sent to it.\n"
                          "If the server was reinstalled, remove its "
                          "fingerprint line from %s", server_of(cli),
                          port_of(cli), cli->conn->pinned, presented,
                          rc_name(cli));
}

static int transport_error(struct cli_ctx *cli, CURLcode cr)
{
    return cli_conn_error(cli, -ECONNREFUSED, "cannot talk to %s port %u "
                          "(%s): %s", server_of(cli), port_of(cli),
                          cli->opts.http ? "http" : "https",
                          curl_easy_strerror(cr));
}

/* The options of every connection, the probe's and the requests'. */
static void setup_curl(struct cli_ctx *cli, CURL *curl)
{
    curl_easy_setopt(curl, CURLOPT_URL, cli->conn->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
    if (!cli->opts.http) {
        /* No CA vouches for the certificate: its key is pinned instead,
         * see pin_server(). */
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
    }
}

/*
 * Connects on a handle of its own that only connects
 * (CURLOPT_CONNECT_ONLY): TCP and the TLS handshake, nothing written, the
 * connection closed with the handle.  fp and pin: the certificate's.
 */
static int probe_cert(struct cli_ctx *cli, char fp[FP_MAX],
                      char pin[PIN_MAX])
{
    CURL *probe = curl_easy_init();
    CURLcode cr;
    int rc;

    if (!probe)
        return cli_conn_error(cli, -ENOMEM, "cannot set up a connection");
    setup_curl(cli, probe);
    curl_easy_setopt(probe, CURLOPT_CONNECT_ONLY, 1L);
    cr = curl_easy_perform(probe);
    if (cr != CURLE_OK)
        rc = transport_error(cli, cr);
    else if ((rc = peer_cert(probe, fp, pin)))
        rc = cli_conn_error(cli, -EPROTO, "%s:%u: cannot read the "
                            "server's certificate (use --no-verify to "
                            "skip the check)", server_of(cli),
                            port_of(cli));
    curl_easy_cleanup(probe);
    return rc;
}

/*
 * Trust on first use, then the key in every handshake (see the header):
 * checks the certificate of server:port against the recorded fingerprint,
 * or records it, and pins its key on the request handle.
 */
static int pin_server(struct cli_ctx *cli)
{
    struct cli_conn *c = cli->conn;
    char fp[FP_MAX], pin[PIN_MAX];
    FILE *f;
    int rc;

    rc = probe_cert(cli, fp, pin);
    if (rc)
        return rc;
    if (c->pinned[0] && strcasecmp(c->pinned, fp))
        return changed_error(cli, fp);
    if (!c->pinned[0]) {
        fprintf(cli->err, "xm-pool: first connection to %s:%u; trusting "
                "its certificate\n  fingerprint %s\n", server_of(cli),
                port_of(cli), fp);
        snprintf(c->pinned, sizeof(c->pinned), "%s", fp);
        if (cli->opts.rc_path && (f = fopen(cli->opts.rc_path, "a"))) {
            fprintf(f, "fingerprint.%s:%u=%s\n", server_of(cli),
                    port_of(cli), fp);
            fclose(f);
            fprintf(cli->err, "  recorded in %s\n", cli->opts.rc_path);
        }
    }
    snprintf(c->key_pin, sizeof(c->key_pin), "%s", pin);
    if (curl_easy_setopt(c->curl, CURLOPT_PINNEDPUBLICKEY, c->key_pin) !=
            CURLE_OK)
        return cli_conn_error(cli, -ENOTSUP, "%s:%u: this libcurl cannot "
                              "pin the server's key (use --no-verify to "
                              "skip the check)", server_of(cli),
                              port_of(cli));
    return 0;
}

/*
 * POSTs body; resp->data (free()) the answer.  Reports its errors.  Over
 * HTTPS every connection curl opens is refused in its handshake unless
 * the server presents the pinned key (pin_server()).
 */
static int post(struct cli_ctx *cli, const char *body, size_t len,
                struct buf *resp)
{
    struct cli_conn *c = cli->conn;
    char fp[FP_MAX], pin[PIN_MAX];
    CURLcode cr;
    long code = 0;

    memset(resp, 0, sizeof(*resp));
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, resp);
    cr = curl_easy_perform(c->curl);
    if (cr != CURLE_OK) {
        free(resp->data);
        resp->data = NULL;
        if (cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
            /* the refused certificate, unless curl kept none of it (a
             * certificate with the pinned key is an earlier one's) */
            if (peer_cert(c->curl, fp, pin) || !strcmp(pin, c->key_pin))
                snprintf(fp, sizeof(fp), "a certificate with another key");
            return changed_error(cli, fp);
        }
        if (resp->too_big)
            return cli_conn_error(cli, -EMSGSIZE, "%s:%u: response larger "
                                  "than %u bytes", server_of(cli),
                                  port_of(cli), RESPONSE_MAX);
        return transport_error(cli, cr);
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        free(resp->data);
        resp->data = NULL;
        return cli_conn_error(cli, -EPROTO, "%s:%u answered HTTP %ld",
                              server_of(cli), port_of(cli), code);
    }
    return 0;
}

/* Sends method(params...) as is; *env_r the envelope. */
static int raw_call(struct cli_ctx *cli, const char *method,
                    const struct api_value *params, struct api_value **env_r)
{
    char *body = NULL;
    size_t len = 0;
    struct buf resp;
    int rc;

    *env_r = NULL;
    rc = api_xmlrpc_format_call(cli->xt, method, params, &body, &len);
    if (rc)
        return cli_usage_error(cli, "cannot encode %s: %s", method,
                               cli->xt->err_msg);
    rc = post(cli, body, len, &resp);
    free(body);
    if (rc)
        return rc;
    rc = api_xmlrpc_parse_response(cli->xt, resp.data, resp.len, NULL,
                                   env_r);
    free(resp.data);
    if (rc)
        return cli_conn_error(cli, -EPROTO, "%s:%u: unreadable response to "
                              "%s: %s", server_of(cli), port_of(cli),
                              method, cli->xt->err_msg);
    if (!api_is_success(*env_r) && !api_failure_code(*env_r)) {
        api_value_free(*env_r);
        *env_r = NULL;
        return cli_conn_error(cli, -EPROTO, "%s:%u: %s answered no XenAPI "
                              "envelope", server_of(cli), port_of(cli),
                              method);
    }
    return 0;
}

static int conn_open(struct cli_ctx *cli)
{
    struct cli_conn *c = calloc(1, sizeof(*c));
    const char *host = server_of(cli);
    bool v6 = strchr(host, ':') != NULL;

    if (!c)
        return -ENOMEM;
    cli->conn = c;
    c->curl = curl_easy_init();
    if (!c->curl ||
        asprintf(&c->url, "%s://%s%s%s:%u/", cli->opts.http ? "http" :
                 "https", v6 ? "[" : "", host, v6 ? "]" : "",
                 port_of(cli)) < 0) {
        c->url = NULL;
        return -ENOMEM;
    }
    c->headers = curl_slist_append(NULL, "Content-Type: text/xml");
    setup_curl(cli, c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "xm-pool/" PACKAGE_VERSION);
    pin_read(cli, c->pinned);
    return 0;
}

int cli_rpc_login(struct cli_ctx *cli)
{
    struct api_value *params = NULL, *env = NULL;
    const char *user = cli->opts.user ? cli->opts.user : "root";
    int rc;

    rc = conn_open(cli);
    if (rc)
        return cli_conn_error(cli, rc, "cannot set up a connection");
    if (!cli->opts.http && !cli->opts.no_verify) {
        rc = pin_server(cli);
        if (rc)
            return rc;
    }
    if (!cli->opts.password)
        return cli_conn_error(cli, -EACCES, "no password: give -pw, -pwf or "
                              "password_file= in %s", rc_name(cli));
    params = api_array();
    rc = api_array_append(params, api_string(user));
    if (!rc)
        rc = api_array_append(params, api_string(cli->opts.password));
    if (!rc)
        rc = api_array_append(params, api_string("1.0"));
    if (!rc)
        rc = api_array_append(params, api_string("xm-pool"));
    if (!rc)
        rc = raw_call(cli, "session.login_with_password", params, &env);
    api_value_free(params);
    if (rc)
        return rc;
    if (!api_is_success(env)) {
        cli->status = CLI_EXIT_CONN;
        fprintf(cli->err, "xm-pool: login as %s on %s:%u refused\n", user,
                server_of(cli), port_of(cli));
        rc = cli_server_error(cli, env);
        api_value_free(env);
        return -EACCES;
    }
    cli->conn->session = strdup(api_value_string(api_struct_get(env,
                                                                "Value")) ?:
                                "");
    api_value_free(env);
    return cli->conn->session ? 0 : -ENOMEM;
}

int cli_rpc_call_env(struct cli_ctx *cli, const char *method,
                     struct api_value *params, struct api_value **env_r)
{
    struct api_value *all = api_array();
    size_t i, n = params ? api_value_count(params) : 0;
    int rc;

    *env_r = NULL;
    rc = api_array_append(all, api_string(cli->conn && cli->conn->session ?
                                          cli->conn->session : ""));
    for (i = 0; i < n && !rc; i++)
        rc = api_array_append(all, api_value_copy(api_array_get(params, i)));
    api_value_free(params);
    if (rc) {
        api_value_free(all);
        return rc;
    }
    rc = raw_call(cli, method, all, env_r);
    api_value_free(all);
    return rc;
}

int cli_rpc_call(struct cli_ctx *cli, const char *method,
                 struct api_value *params, struct api_value **value_r)
{
    struct api_value *env = NULL;
    int rc;

    *value_r = NULL;
    rc = cli_rpc_call_env(cli, method, params, &env);
    if (rc)
        return rc;
    if (!api_is_success(env)) {
        rc = cli_server_error(cli, env);
        api_value_free(env);
        return rc;
    }
    *value_r = api_value_copy(api_struct_get(env, "Value"));
    api_value_free(env);
    return *value_r ? 0 : -ENOMEM;
}

void cli_rpc_logout(struct cli_ctx *cli)
{
    struct cli_conn *c = cli->conn;
    struct api_value *env = NULL;

    if (!c)
        return;
    if (c->session && c->curl) {
        /* best effort, silent: the command's outcome is already known */
        FILE *err = cli->err, *null = fopen("/dev/null", "w");
        int status = cli->status;

        if (null) {
            cli->err = null;
            cli_rpc_call_env(cli, "session.logout", NULL, &env);
            api_value_free(env);
            cli->err = err;
            fclose(null);
        }
        cli->status = status;
    }
    free(c->session);
    free(c->url);
    curl_slist_free_all(c->headers);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c);
    cli->conn = NULL;
}
