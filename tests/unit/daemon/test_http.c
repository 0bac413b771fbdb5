/*
 * test_http.c - the daemon's HTTPS and HTTP server, in-process on
 * 127.0.0.1 with ports picked by the kernel, spoken to with libcurl: echo,
 * 404/405/500, max_body and 413, concurrency, the self-signed certificate
 * (its fingerprint as the client sees it, public-key pinning, reuse after a
 * restart) and TLS versions.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "poold.h"
#include "../../tap.h"

#define MAX_BODY        65536
#define SLOW_MS         300
#define NCONCURRENT     8

/* What the test handler records, shared with the server's threads. */
struct handler_state {
    atomic_int calls;
    atomic_int inflight;
    atomic_int max_inflight;
};

static const char *const test_paths[] = {
    "/", "/jsonrpc", "/fail", "/slow", NULL,
};

/*
 * "/" echoes the body with the request's content type; "/jsonrpc" says
 * what it saw; "/fail" fails; "/slow" sleeps SLOW_MS, counting overlap.
 */
static int test_handler(void *opaque, const char *path,
                        const char *content_type, const char *body,
                        size_t len, const char *peer_addr,
                        struct pd_response *resp)
{
    struct handler_state *hs = opaque;
    struct timespec ts = { 0, SLOW_MS * 1000000L };
    int now, max;

    atomic_fetch_add(&hs->calls, 1);
    if (strcmp(path, "/fail") == 0)
        return -EIO;
    if (strcmp(path, "/slow") == 0) {
        now = atomic_fetch_add(&hs->inflight, 1) + 1;
        max = atomic_load(&hs->max_inflight);
        while (now > max &&
               !atomic_compare_exchange_weak(&hs->max_inflight, &max, now))
            ;
        nanosleep(&ts, NULL);
        atomic_fetch_sub(&hs->inflight, 1);
        return 0;
    }
    if (strcmp(path, "/jsonrpc") == 0) {
        if (asprintf(&resp->body, "peer=%s ctype=%s len=%zu nul=%d",
                     peer_addr, content_type ? content_type : "(none)", len,
                     body[len] == '\0') < 0)
            return -ENOMEM;
        resp->len = strlen(resp->body);
        resp->content_type = "text/plain";
        return 0;
    }
    resp->status = 200;
    resp->content_type = "application/octet-stream";
    if (len) {
        resp->body = malloc(len);
        if (!resp->body)
            return -ENOMEM;
        memcpy(resp->body, body, len);
        resp->len = len;
    }
    return 0;
}

/* ---- a small libcurl client -------------------------------------------- */

struct request {
    /* in */
    const char *url;
    const char *method;         /* NULL: POST */
    const char *body;
    size_t len;
    const char *ctype;
    uint64_t stream_len;        /* > 0: a generated body of this size */
    bool chunked;               /* stream it chunked (no length) */
    bool no_expect;             /* without "Expect: 100-continue" */
    const char *pin;            /* CURLOPT_PINNEDPUBLICKEY */
    long sslversion;            /* CURLOPT_SSLVERSION, 0 = default */
    /* out */
    CURLcode res;
    long status;
    char *out;
    size_t out_len;
    uint64_t streamed;          /* bytes of the generated body sent */
    char fp[PD_FINGERPRINT_STRLEN + 1];     /* as the client saw it */
    double secs;
};

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
    struct request *r = ud;
    char *grown;

    grown = realloc(r->out, r->out_len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->out_len, data, size * n);
    r->out = grown;
    r->out_len += size * n;
    r->out[r->out_len] = '\0';
    return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct request *r = ud;
    uint64_t left = r->stream_len - r->streamed;
    size_t k = size * n < left ? size * n : (size_t)left;

    memset(buf, 'x', k);
    r->streamed += k;
    return k;
}

/* The fingerprint of a PEM certificate, "" when it does not parse. */
static void pem_fingerprint(const char *pem, size_t len,
                            char fp[PD_FINGERPRINT_STRLEN + 1])
{
    gnutls_datum_t d = { (unsigned char *)pem, (unsigned int)len };
    gnutls_x509_crt_t crt;
    unsigned char md[32];
    size_t mdlen = sizeof(md), i;

    fp[0] = '\0';
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) == 0 &&
        gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md,
                                        &mdlen) == 0) {
        for (i = 0; i < mdlen; i++)
            sprintf(fp + i * 3, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
    }
    gnutls_x509_crt_deinit(crt);
}

/* The server certificate from CURLINFO_CERTINFO. */
static void client_fingerprint(CURL *c, struct request *r)
{
    struct curl_certinfo *ci = NULL;
    struct curl_slist *s;
    const char *pem;

    if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1)
        return;
    for (s = ci->certinfo[0]; s; s = s->next) {
        if (strncmp(s->data, "Cert:", 5) == 0) {
            pem = s->data + 5;
            pem_fingerprint(pem, strlen(pem), r->fp);
        }
    }
}

static void perform(struct request *r)
{
    struct curl_slist *hdrs = NULL;
    char hdr[256];
    uint64_t t0 = xt_now_ns();
    CURL *c;

    c = curl_easy_init();
    if (!c)
        tap_bail("curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    /* No CA store: nothing is verified against it, and loading it for
     * each handle costs more than the whole exchange. */
    curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (r->pin)
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, r->pin);
    if (r->sslversion)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, r->sslversion);
    if (r->method) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (r->stream_len) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        if (r->chunked)
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)r->stream_len);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)r->len);
    }
    if (r->ctype) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", r->ctype);
        hdrs = curl_slist_append(hdrs, hdr);
    }
    if (r->no_expect)
        hdrs = curl_slist_append(hdrs, "Expect:");
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    r->res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->res == CURLE_OK && strncmp(r->url, "https:", 6) == 0)
        client_fingerprint(c, r);
    r->secs = (double)(xt_now_ns() - t0) / 1e9;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

static void request_done(struct request *r)
{
    free(r->out);
    r->out = NULL;
    r->out_len = 0;
}

/* "sha256//BASE64" of the certificate's public key, for pinning. */
static char *pin_of(const char *cert_path)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t pem = { NULL, 0 }, der = { NULL, 0 }, b64 = { NULL, 0 };
    gnutls_datum_t md_d;
    unsigned char md[32];
    char *pin = NULL;

    if (gnutls_load_file(cert_path, &pem) < 0 ||
        gnutls_x509_crt_init(&crt) < 0 ||
        gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_pubkey_init(&pub) < 0 ||
        gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, md) < 0)
        tap_bail("cannot compute the public key pin");
    md_d.data = md;
    md_d.size = sizeof(md);
    if (gnutls_base64_encode2(&md_d, &b64) < 0 ||
        asprintf(&pin, "sha256//%.*s", (int)b64.size, b64.data) < 0)
        tap_bail("cannot encode the public key pin");
    gnutls_free(b64.data);
    gnutls_free(der.data);
    gnutls_free(pem.data);
    gnutls_pubkey_deinit(pub);
    gnutls_x509_crt_deinit(crt);
    return pin;
}

/* ---- set-up ------------------------------------------------------------ */

struct fixture {
    struct xt_ctx *ctx;
    char dir[256];
    struct pd_config *cfg;
    struct pd_tls *tls;
    struct pd_server *srv;
    struct handler_state hs;
    char https[128];            /* base URLs */
    char http[128];
};

static void make_config(struct fixture *f)
{
    struct xt_config *raw = NULL;
    char text[1024];

    snprintf(text, sizeof(text),
             "state_dir = %s\n"
             "run_dir = %s/run\n"
             "listen_address = 127.0.0.1\n"
             "http_port = 1\n"
             "max_body = %d\n"
             "connection_timeout = 10\n",
             f->dir, f->dir, MAX_BODY);
    if (xt_config_parse(f->ctx, "test.conf", text, &raw) < 0 ||
        pd_config_from(f->ctx, raw, NULL, &f->cfg) < 0)
        tap_bail("cannot build the configuration");
    /* Ports the kernel picks. */
    f->cfg->port = 0;
    f->cfg->http_port = 0;
}

static void start(struct fixture *f, bool expect_created)
{
    bool created = !expect_created;
    int rc;

    rc = pd_tls_load_or_create(f->ctx, f->cfg, &f->tls, &created);
    tap_is_int(rc, 0, expect_created ? "certificate generated" :
               "certificate loaded");
    tap_ok(created == expect_created, "created is %s",
           expect_created ? "true" : "false");
    if (rc < 0)
        tap_bail(f->ctx->err_msg);
    rc = pd_server_start(f->ctx, f->ctx, f->cfg, f->tls, test_paths,
                         test_handler, &f->hs, &f->srv);
    if (!tap_is_int(rc, 0, "server started"))
        tap_bail(f->ctx->err_msg);
    tap_ok(pd_server_https_port(f->srv) != 0 &&
           pd_server_http_port(f->srv) != 0 &&
           pd_server_https_port(f->srv) != pd_server_http_port(f->srv),
           "ephemeral ports bound (https %u, http %u)",
           pd_server_https_port(f->srv), pd_server_http_port(f->srv));
    snprintf(f->https, sizeof(f->https), "https://127.0.0.1:%u",
             pd_server_https_port(f->srv));
    snprintf(f->http, sizeof(f->http), "http://127.0.0.1:%u",
             pd_server_http_port(f->srv));
}

static void stop(struct fixture *f)
{
    pd_server_stop(f->srv);
    f->srv = NULL;
    pd_tls_free(f->tls);
    f->tls = NULL;
}

static char *url(const char *base, const char *path)
{
    static __thread char buf[256];

    snprintf(buf, sizeof(buf), "%s%s", base, path);
    return buf;
}

/* ---- tests ------------------------------------------------------------- */

static void test_files(struct fixture *f)
{
    struct stat st;

    tap_ok(stat(f->cfg->tls_key, &st) == 0 && (st.st_mode & 0777) == 0600,
           "key file is 0600");
    tap_ok(stat(f->cfg->tls_cert, &st) == 0 && (st.st_mode & 0777) == 0644,
           "certificate file is 0644");
}

static void test_echo(struct fixture *f)
{
    static const char body[] = "<?xml version=\"1.0\"?><methodCall/>";
    struct request r = { .body = body, .len = sizeof(body) - 1,
                         .ctype = "text/xml" };
    char fp[PD_FINGERPRINT_STRLEN + 1];

    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200, "HTTPS POST / answers "
           "200 (%s, %ld)", curl_easy_strerror(r.res), r.status);
    tap_ok(r.out_len == r.len && memcmp(r.out, body, r.len) == 0,
           "HTTPS POST / echoes the body");
    tap_is_str(r.fp, pd_tls_fingerprint(f->tls),
               "client sees the certificate of pd_tls_fingerprint()");
    tap_is_int(pd_tls_fingerprint_file(f->ctx, f->cfg->tls_cert, fp), 0,
               "fingerprint of the certificate file");
    tap_is_str(fp, pd_tls_fingerprint(f->tls), "same fingerprint");
    request_done(&r);

    r = (struct request){ .body = "{\"x\":1}", .len = 7,
                          .ctype = "application/json" };
    r.url = url(f->http, "/jsonrpc");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200, "HTTP POST /jsonrpc 200");
    tap_is_str(r.out, "peer=127.0.0.1 ctype=application/json len=7 nul=1",
               "handler got peer, content type, length, NUL terminator");
    request_done(&r);

    r = (struct request){ .len = 0 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200 && r.out_len == 0,
           "empty body: 200, empty answer");
    request_done(&r);
}

static void test_errors(struct fixture *f)
{
    struct request r = { .method = "GET" };

    r.url = url(f->https, "/");
    perform(&r);
    tap_is_int(r.status, 405, "HTTPS GET / is 405");
    request_done(&r);

    r = (struct request){ .method = "PUT" };
    r.url = url(f->http, "/jsonrpc");
    perform(&r);
    tap_is_int(r.status, 405, "HTTP PUT /jsonrpc is 405");
    request_done(&r);

    r = (struct request){ .body = "x", .len = 1 };
    r.url = url(f->https, "/nope");
    perform(&r);
    tap_is_int(r.status, 404, "POST to an unknown path is 404");
    request_done(&r);

    r = (struct request){ .method = "GET" };
    r.url = url(f->http, "/jsonrpc/x");
    perform(&r);
    tap_is_int(r.status, 404, "GET under a known path is 404");
    request_done(&r);

    r = (struct request){ .body = "x", .len = 1 };
    r.url = url(f->https, "/fail");
    perform(&r);
    tap_is_int(r.status, 500, "a failing handler gives 500");
    request_done(&r);
}

static void test_max_body(struct fixture *f)
{
    struct request r = { 0 };
    int calls;
    char *body;

    body = malloc(MAX_BODY + 1);
    if (!body)
        tap_bail("out of memory");
    memset(body, 'b', MAX_BODY + 1);

    r.url = url(f->https, "/");
    r.body = body;
    r.len = MAX_BODY;
    perform(&r);
    tap_ok(r.status == 200 && r.out_len == MAX_BODY,
           "a body of exactly max_body is served (%ld, %zu)", r.status,
           r.out_len);
    request_done(&r);

    calls = atomic_load(&f->hs.calls);
    r = (struct request){ .body = body, .len = MAX_BODY + 1 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_is_int(r.status, 413, "max_body + 1 is 413");
    if (r.out && r.out_len && r.out[r.out_len - 1] == '\n')
        r.out[--r.out_len] = '\0';
    tap_ok(r.out && strstr(r.out, "max_body") && strstr(r.out, "65536"),
           "413 says why: \"%s\"", r.out ? r.out : "(nothing)");
    request_done(&r);
    free(body);

    /* Over by less than the discard window, sent without waiting for
     * "100 Continue": the body is read and dropped, so the client gets the
     * 413 rather than a reset connection. */
    r = (struct request){ .stream_len = MAX_BODY + (512u << 10),
                          .no_expect = true };
    r.url = url(f->http, "/");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 413,
           "max_body + 512 KiB without Expect: 413 (%ld, %s)", r.status,
           curl_easy_strerror(r.res));
    request_done(&r);

    /* 100 MiB announced: refused before the body is read. */
    r = (struct request){ .stream_len = 100ull << 20 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_is_int(r.status, 413, "100 MiB with Content-Length: 413");
    tap_ok(r.secs < 3.0 && r.streamed < (8ull << 20),
           "refused quickly (%.2f s, %llu bytes sent)", r.secs,
           (unsigned long long)r.streamed);
    request_done(&r);

    /* The same without "Expect: 100-continue": the client sends at once;
     * the server answers 413 and closes, reading none of it. */
    r = (struct request){ .stream_len = 100ull << 20, .no_expect = true };
    r.url = url(f->http, "/");
    perform(&r);
    tap_ok(r.status == 413 || r.res != CURLE_OK,
           "100 MiB without Expect: 413 or closed (%ld, %s)", r.status,
           curl_easy_strerror(r.res));
    tap_ok(r.secs < 3.0 && r.streamed < (64ull << 20),
           "stopped quickly (%.2f s, %llu bytes sent)", r.secs,
           (unsigned long long)r.streamed);
    request_done(&r);

    /* Chunked: no length to refuse up front; dropped once past max_body. */
    r = (struct request){ .stream_len = 100ull << 20, .chunked = true };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.status != 200, "100 MiB chunked: not served (%ld, %s)",
           r.status, curl_easy_strerror(r.res));
    tap_ok(r.secs < 3.0 && r.streamed < (64ull << 20),
           "dropped quickly (%.2f s, %llu bytes sent)", r.secs,
           (unsigned long long)r.streamed);
    request_done(&r);
    tap_is_int(atomic_load(&f->hs.calls), calls,
               "the handler never saw an oversized body");

    r = (struct request){ .body = "after", .len = 5 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.status == 200 && r.out_len == 5,
           "server still serves after the refusals");
    request_done(&r);
}

static void *slow_request(void *arg)
{
    struct request *r = arg;

    perform(r);
    return NULL;
}

static void test_concurrency(struct fixture *f)
{
    struct request r[NCONCURRENT];
    pthread_t th[NCONCURRENT];
    uint64_t t0 = xt_now_ns();
    double secs;
    int i, ok = 0;

    for (i = 0; i < NCONCURRENT; i++) {
        r[i] = (struct request){ .body = "s", .len = 1 };
        r[i].url = strdup(url(i % 2 ? f->http : f->https, "/slow"));
        if (pthread_create(&th[i], NULL, slow_request, &r[i]) != 0)
            tap_bail("pthread_create failed");
    }
    for (i = 0; i < NCONCURRENT; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].res == CURLE_OK && r[i].status == 200;
        free((char *)r[i].url);
        request_done(&r[i]);
    }
    secs = (double)(xt_now_ns() - t0) / 1e9;
    tap_is_int(ok, NCONCURRENT, "concurrent requests all served");
    tap_ok(atomic_load(&f->hs.max_inflight) > 1,
           "handlers ran concurrently (up to %d at once)",
           atomic_load(&f->hs.max_inflight));
    tap_ok(secs < NCONCURRENT * SLOW_MS / 1000.0 * 0.75,
           "%d requests of %d ms took %.2f s", NCONCURRENT, SLOW_MS, secs);
}

static void test_tls(struct fixture *f)
{
    struct request r = { .body = "p", .len = 1 };
    char *pin = pin_of(f->cfg->tls_cert);
    char plain[128];

    r.url = url(f->https, "/");
    r.pin = pin;
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200,
           "pinned public key accepted (%s)", curl_easy_strerror(r.res));
    request_done(&r);

    r = (struct request){ .body = "p", .len = 1,
        .pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res == CURLE_SSL_PINNEDPUBKEYNOTMATCH,
           "another pin is refused (%s)", curl_easy_strerror(r.res));
    request_done(&r);

    r = (struct request){ .body = "p", .len = 1,
        .sslversion = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res != CURLE_OK, "TLS 1.1 and older refused (%s)",
           curl_easy_strerror(r.res));
    request_done(&r);

    r = (struct request){ .body = "p", .len = 1,
        .sslversion = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2 };
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200, "TLS 1.2 works (%s)",
           curl_easy_strerror(r.res));
    request_done(&r);

    /* Plain HTTP to the HTTPS port. */
    r = (struct request){ .body = "p", .len = 1 };
    snprintf(plain, sizeof(plain), "http://127.0.0.1:%u/",
             pd_server_https_port(f->srv));
    r.url = plain;
    perform(&r);
    tap_ok(r.status != 200, "plain HTTP to the HTTPS port is not served "
           "(%ld, %s)", r.status, curl_easy_strerror(r.res));
    request_done(&r);
    free(pin);
}

static void test_restart(struct fixture *f)
{
    char fp[PD_FINGERPRINT_STRLEN + 1];
    struct request r = { .body = "again", .len = 5 };

    snprintf(fp, sizeof(fp), "%s", pd_tls_fingerprint(f->tls));
    stop(f);
    start(f, false);
    tap_is_str(pd_tls_fingerprint(f->tls), fp,
               "restart: same certificate, same fingerprint");
    r.url = url(f->https, "/");
    perform(&r);
    tap_ok(r.res == CURLE_OK && r.status == 200, "restarted server serves");
    tap_is_str(r.fp, fp, "client sees the same fingerprint");
    request_done(&r);
}

static void test_half_pair(struct fixture *f)
{
    struct pd_tls *tls = NULL;
    char *saved;
    int rc;

    if (asprintf(&saved, "%s.saved", f->cfg->tls_cert) < 0)
        tap_bail("out of memory");
    if (rename(f->cfg->tls_cert, saved) < 0)
        tap_bail("rename failed");
    f->ctx->quiet_errors = true;
    rc = pd_tls_load_or_create(f->ctx, f->cfg, &tls, NULL);
    f->ctx->quiet_errors = false;
    tap_is_int(rc, -EEXIST, "key without certificate: -EEXIST, nothing "
               "overwritten");
    tap_ok(strstr(f->ctx->err_msg, f->cfg->tls_cert) != NULL,
           "error names the missing certificate");
    pd_tls_free(tls);
    if (rename(saved, f->cfg->tls_cert) < 0)
        tap_bail("rename failed");
    free(saved);
}

static void cleanup(struct fixture *f)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", f->dir);
}

int main(void)
{
    struct fixture f = { 0 };

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        tap_bail("curl_global_init failed");
    f.ctx = xt_ctx_new("test_http");
    if (!f.ctx)
        tap_bail("out of memory");
    f.ctx->level = XT_LOG_ERROR;
    snprintf(f.dir, sizeof(f.dir), "%s/pd-http-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(f.dir))
        tap_bail("mkdtemp failed");

    make_config(&f);
    start(&f, true);
    test_files(&f);
    test_echo(&f);
    test_errors(&f);
    test_max_body(&f);
    test_concurrency(&f);
    test_tls(&f);
    test_restart(&f);
    test_half_pair(&f);
    stop(&f);
    pd_server_stop(NULL);

    pd_config_free(f.cfg);
    cleanup(&f);
    xt_ctx_free(f.ctx);
    curl_global_cleanup();
    return tap_done();
}
