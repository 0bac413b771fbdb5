/*
 * cli_rpc.c - XML-RPC over HTTPS (or plain HTTP with --http) with libcurl:
 * login, calls, logout.
 *
 * TLS: xm-poold's certificate is self-signed, so it is checked by its
 * SHA-256 fingerprint, trust-on-first-use: the first connection to a
 * server:port prints the fingerprint and records it in the rc file as
 * "fingerprint.<server>:<port>=AB:CD:..."; later connections must present
 * the same certificate or are refused.  The check is made on a probe
 * request that carries no secret, before the password is sent, and again
 * after every request (a new connection could bring another certificate).
 * Compare the printed fingerprint with the one `xm-poold
 * --print-fingerprint` shows on the server.  --no-verify skips the check.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "cli.h"

#define RESPONSE_MAX (64u << 20)

struct cli_conn {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    char *session;          /* OpaqueRef:... once logged in */
    char pinned[96];        /* fingerprint from the rc file, or "" */
    bool checked;           /* the certificate was checked once */
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

/* The pinned fingerprint of server:port from the rc file, into pin. */
static void pin_read(struct cli_ctx *cli, char pin[96])
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
            snprintf(pin, 96, "%.*s", (int)strcspn(line + strlen(key),
                                                   " \t\r\n"),
                     line + strlen(key));
        }
    fclose(f);
}

/* The fingerprint of the leaf certificate of the last transfer. */
static int peer_fingerprint(struct cli_ctx *cli, char fp[96])
{
    struct curl_certinfo *ci = NULL;
    struct curl_slist *s;
    gnutls_datum_t pem, der = { NULL, 0 };
    const char *p;
    int rc = -EIO;

    if (curl_easy_getinfo(cli->conn->curl, CURLINFO_CERTINFO, &ci) !=
            CURLE_OK || !ci || ci->num_of_certs < 1)
        return -ENOENT;
    for (s = ci->certinfo[0]; s; s = s->next) {
        if (strncmp(s->data, "Cert:", 5))
            continue;
        p = s->data + 5;
        pem.data = (unsigned char *)p;
        pem.size = (unsigned)strlen(p);
        if (gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) < 0)
            break;
        rc = cli_fingerprint_der(der.data, der.size, fp);
        gnutls_free(der.data);
        break;
    }
    return rc;
}

static int check_peer(struct cli_ctx *cli)
{
    struct cli_conn *c = cli->conn;
    char fp[96];
    FILE *f;
    int rc;

    if (cli->opts.http || cli->opts.no_verify)
        return 0;
    rc = peer_fingerprint(cli, fp);
    if (rc == -ENOENT && c->checked)
        return 0;   /* connection reused: no new certificate */
    if (rc)
        return cli_conn_error(cli, -EPROTO, "%s:%u: cannot read the "
                              "server's certificate (use --no-verify to "
                              "skip the check)", server_of(cli),
                              port_of(cli));
    if (c->pinned[0]) {
        if (strcasecmp(c->pinned, fp))
            return cli_conn_error(cli, -EPROTO, "%s:%u: the certificate "
                                  "changed!\n  expected %s\n  received %s\n"
                                  "If the server was reinstalled, remove its "
                                  "fingerprint line from %s", server_of(cli),
                                  port_of(cli), c->pinned, fp,
                                  cli->opts.rc_path ? cli->opts.rc_path :
                                  "~/" CLI_RC_NAME);
        c->checked = true;
        return 0;
    }
    /* first use: trust, print, record */
    fprintf(cli->err, "xm-pool: first connection to %s:%u; trusting its "
            "certificate\n  fingerprint %s\n", server_of(cli), port_of(cli),
            fp);
    snprintf(c->pinned, sizeof(c->pinned), "%s", fp);
    c->checked = true;
    if (cli->opts.rc_path && (f = fopen(cli->opts.rc_path, "a"))) {
        fprintf(f, "fingerprint.%s:%u=%s\n", server_of(cli), port_of(cli),
                fp);
        fclose(f);
        fprintf(cli->err, "  recorded in %s\n", cli->opts.rc_path);
    }
    return 0;
}

/* POSTs body; *resp_r (free()) the answer.  Reports its errors. */
static int post(struct cli_ctx *cli, const char *body, size_t len,
                struct buf *resp)
{
    struct cli_conn *c = cli->conn;
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
        if (resp->too_big)
            return cli_conn_error(cli, -EMSGSIZE, "%s:%u: response larger "
                                  "than %u bytes", server_of(cli),
                                  port_of(cli), RESPONSE_MAX);
        return cli_conn_error(cli, -ECONNREFUSED, "cannot talk to %s port "
                              "%u (%s): %s", server_of(cli), port_of(cli),
                              cli->opts.http ? "http" : "https",
                              curl_easy_strerror(cr));
    }
    if (check_peer(cli)) {
        free(resp->data);
        resp->data = NULL;
        return -EPROTO;
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
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "xm-pool/" PACKAGE_VERSION);
    if (!cli->opts.http) {
        /* checked by fingerprint instead, see check_peer() */
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c->curl, CURLOPT_CERTINFO, 1L);
    }
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
        /* a probe without secrets, to see the certificate first */
        params = api_array();
        rc = api_array_append(params, api_string(POOL_NULL_REF));
        if (!rc)
            rc = raw_call(cli, "session.get_this_host", params, &env);
        api_value_free(params);
        api_value_free(env);
        env = NULL;
        if (rc)
            return rc;
    }
    if (!cli->opts.password)
        return cli_conn_error(cli, -EACCES, "no password: give -pw, -pwf or "
                              "password_file= in %s", cli->opts.rc_path ?
                              cli->opts.rc_path : "~/" CLI_RC_NAME);
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
