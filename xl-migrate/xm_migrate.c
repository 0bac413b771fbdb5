/*
 * xm_migrate.c - xm-migrate, the low-level migration command for tests and
 * benchmarks, and a few domain helpers around it:
 *
 *   xm-migrate send --to HOST:PORT --domid N (--tls-pin PIN | --plain) ...
 *   xm-migrate receive --listen [HOST:]PORT (--tls-cert F --tls-key F |
 *                      --plain) [options]
 *   xm-migrate tls-pin --tls-cert F
 *   xm-migrate boot --mem-mib N [--cmdline STR] [--guest ELF]
 *   xm-migrate stats|destroy|pause|unpause --domid N
 *   xm-migrate list
 *
 * send and receive print one JSON stats line on stdout at the end.
 * Exit codes: 0 success; 1 failure (a failed send leaves the VM running
 * on the source); 2 usage; 3 commit in doubt (source left paused).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"

#define EXIT_USAGE  2
#define EXIT_DOUBT  3

struct cli {
    struct xt_ctx *ctx;
    const char *driver;
    const char *driver_args;
    struct hv_handle *h;
    uint32_t domid;
    bool have_domid;
    bool progress;
    uint64_t last_progress_ns;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xm-migrate COMMAND [options]\n"
"  send --to HOST:PORT --domid N   migrate domain N to a receiver\n"
"      [--streams N] [--compress none|zlib|zstd] [--level N]\n"
"      [--downtime-ms N] [--max-rounds N] [--max-time-s N]\n"
"      [--max-bandwidth MiB/s]\n"
"      [--no-auto-converge] [--no-digest] [--no-checksum] [--token T]\n"
"      (--tls-pin sha256//... | --plain) [--progress]\n"
"  receive --listen [HOST:]PORT    receive one migration\n"
"      (--tls-cert PEM --tls-key PEM | --plain) [--token T]\n"
"      [--vm-uuid UUID] [--nr-pages N] [--accept-ms N] [--linger-ms N]\n"
"  tls-pin --tls-cert PEM          the pin of a certificate's key\n"
"  boot --mem-mib N [--cmdline STR] [--guest ELF] [--name NAME]\n"
"  stats|destroy|pause|unpause|dirty --domid N\n"
"  list\n"
"common: [--driver kvm|sim|xen] [--driver-args K=V,...] [--timeout-ms N]\n"
"        [--log-level error|warn|info|debug]\n"
"--plain: plain TCP, between loopback addresses only (tests)\n"
"faults (tests): XM_FAULT=POINT=kill|wait|fail|drop|corrupt (xt.h)\n"
"exit: 0 ok, 1 failed (source still running), 2 usage, 3 commit in doubt\n");
}

static int split_hostport(const char *s, char *host, size_t hsize,
                          char *port, size_t psize)
{
    const char *colon = strrchr(s, ':');

    if (!colon) {
        snprintf(host, hsize, "%s", "");
        snprintf(port, psize, "%s", s);
        return 0;
    }
    if ((size_t)(colon - s) >= hsize || strlen(colon + 1) >= psize ||
        !colon[1])
        return -EINVAL;
    memcpy(host, s, colon - s);
    host[colon - s] = '\0';
    snprintf(port, psize, "%s", colon + 1);
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || *v > max)
        return -EINVAL;
    return 0;
}

static void on_progress(const struct mig_progress *p, void *opaque)
{
    struct cli *c = opaque;
    uint64_t now = xt_now_ns();

    if (!c->progress || (now - c->last_progress_ns < 200000000ull &&
                         p->phase == MIG_PHASE_PRECOPY))
        return;
    c->last_progress_ns = now;
    fprintf(stderr, "%-13s round %u  %5.1f%%  sent %llu MiB  remaining "
            "%llu pages  dirty %.0f pages/s  %.0f MiB/s  throttle %u%%\n",
            mig_phase_name(p->phase), p->round, p->percent,
            (unsigned long long)(p->bytes_sent >> 20),
            (unsigned long long)p->remaining_pages, p->dirty_pages_s,
            p->bandwidth_bytes_s / 1048576.0, p->throttle_pct);
}

static int print_stats(const struct mig_stats *st, const char *role)
{
    char buf[2048];

    if (mig_stats_json(st, role, buf, sizeof(buf)) < 0)
        return -ENOSPC;
    printf("%s\n", buf);
    fflush(stdout);
    return 0;
}

static int cmd_send(struct cli *c, const char *to, uint64_t max_bw_mib,
                    struct mig_send_opts *o)
{
    char host[256], port[32];
    struct mig_stats st;
    int rc;

    if (!to || !c->have_domid) {
        fprintf(stderr, "xm-migrate send: --to and --domid are needed\n");
        return EXIT_USAGE;
    }
    if (split_hostport(to, host, sizeof(host), port, sizeof(port)) < 0 ||
        !host[0]) {
        fprintf(stderr, "xm-migrate send: --to '%s' is not HOST:PORT\n", to);
        return EXIT_USAGE;
    }
    o->progress = on_progress;
    o->opaque = c;
    if (max_bw_mib && !(o->limit = mig_limit_new(max_bw_mib << 20))) {
        fprintf(stderr, "xm-migrate send: out of memory\n");
        return 1;
    }
    rc = mig_send(c->ctx, c->h, c->domid, host, port, o, &st);
    mig_limit_free(o->limit);
    o->limit = NULL;
    print_stats(&st, "send");
    if (st.in_doubt)
        return EXIT_DOUBT;
    return rc < 0 ? 1 : 0;
}

static int cmd_receive(struct cli *c, const char *listen_at,
                       struct mig_recv_opts *o)
{
    char host[256], port[32];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct mig_stats st;
    int fd = -1, rc;
    unsigned p = 0;

    if (!listen_at || split_hostport(listen_at, host, sizeof(host), port,
                                     sizeof(port)) < 0) {
        fprintf(stderr, "xm-migrate receive: --listen [HOST:]PORT is "
                "needed\n");
        return EXIT_USAGE;
    }
    rc = mig_listen(c->ctx, host[0] ? host : NULL, port, &fd);
    if (rc < 0)
        return 1;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        p = ntohs(ss.ss_family == AF_INET6 ?
                  ((struct sockaddr_in6 *)&ss)->sin6_port :
                  ((struct sockaddr_in *)&ss)->sin_port);
    /* Tests and scripts wait for this line to know where to connect. */
    printf("{\"event\":\"listening\",\"port\":%u}\n", p);
    fflush(stdout);
    rc = mig_receive(c->ctx, c->h, fd, o, &st);
    close(fd);
    print_stats(&st, "receive");
    return rc < 0 ? 1 : 0;
}

static int cmd_boot(struct cli *c, uint64_t mib, const char *cmdline,
                    const char *guest, const char *name)
{
    struct hv_boot_spec spec = {
        .name = name ? name : "guest",
        .nr_pages = mib << 8,
        .nr_vcpus = 1,
        .cmdline = cmdline,
    };
    char path[4096];
    const char *bdir = getenv("XM_BUILDDIR");
    uint32_t domid;

    if (!mib) {
        fprintf(stderr, "xm-migrate boot: --mem-mib is needed\n");
        return EXIT_USAGE;
    }
    if (!guest) {
        if (bdir && *bdir)
            snprintf(path, sizeof(path), "%s/guest/xm-guest.elf", bdir);
        else
            snprintf(path, sizeof(path), "%s/xm-guest.elf", XM_PKGDATADIR);
        guest = path;
    }
    spec.kernel = guest;
    xt_uuid_generate(&spec.uuid);
    if (hv_boot(c->h, &spec, &domid) < 0)
        return 1;
    printf("%u\n", domid);
    return 0;
}

/*
 * Exercises a driver's dirty tracking on a running domain (a check of the
 * driver, used by the Xen lane): log-dirty on and a harvest to start
 * clean; a second later two peeks (a peek does not clear, so the second
 * sees at least the first's pages), a harvest (at least as many) and at
 * once another (only what was written in between); log-dirty off.  Prints
 * the counts as one JSON line.
 */
static int cmd_dirty(struct cli *c)
{
    struct hv_domain_info info;
    uint64_t *bm = NULL, n[5] = { 0 };
    bool on = false;
    int rc = 1;

    if (hv_info(c->h, c->domid, &info) < 0)
        return 1;
    bm = xt_bitmap_alloc(info.nr_pages);
    if (!bm) {
        fprintf(stderr, "xm-migrate dirty: no memory for a bitmap of %llu "
                "pages\n", (unsigned long long)info.nr_pages);
        return 1;
    }
    if (hv_logdirty(c->h, c->domid, true) < 0)
        goto out;
    on = true;
    if (hv_dirty_harvest(c->h, c->domid, bm, info.nr_pages, &n[0]) < 0)
        goto out;
    sleep(1);
    if (hv_dirty_peek(c->h, c->domid, bm, info.nr_pages, &n[1]) < 0 ||
        hv_dirty_peek(c->h, c->domid, bm, info.nr_pages, &n[2]) < 0 ||
        hv_dirty_harvest(c->h, c->domid, bm, info.nr_pages, &n[3]) < 0 ||
        hv_dirty_harvest(c->h, c->domid, bm, info.nr_pages, &n[4]) < 0)
        goto out;
    printf("{\"domid\":%u,\"nr_pages\":%llu,\"first_harvest\":%llu,"
           "\"peek1\":%llu,\"peek2\":%llu,\"harvest1\":%llu,"
           "\"harvest2\":%llu}\n", c->domid,
           (unsigned long long)info.nr_pages, (unsigned long long)n[0],
           (unsigned long long)n[1], (unsigned long long)n[2],
           (unsigned long long)n[3], (unsigned long long)n[4]);
    rc = 0;
out:
    if (on && hv_logdirty(c->h, c->domid, false) < 0)
        rc = 1;
    free(bm);
    return rc;
}

static int cmd_stats(struct cli *c)
{
    struct hv_domain_info info;
    struct hv_guest_stats gs;

    if (hv_info(c->h, c->domid, &info) < 0 ||
        hv_guest_stats(c->h, c->domid, &gs) < 0)
        return 1;
    printf("{\"domid\":%u,\"state\":\"%s\",\"nr_pages\":%llu,"
           "\"test_guest\":%s,\"ready\":%s,\"hb_count\":%llu,"
           "\"hb_first_seq\":%llu,\"hb_last_seq\":%llu,\"hb_last_ns\":%llu,"
           "\"hb_max_gap_ms\":%.3f,\"hb_seq_breaks\":%llu,"
           "\"mismatches\":%llu,\"pages_written\":%llu,\"exited\":%s}\n",
           c->domid, hv_run_state_name(info.state),
           (unsigned long long)info.nr_pages,
           gs.is_test_guest ? "true" : "false", gs.ready ? "true" : "false",
           (unsigned long long)gs.hb_count,
           (unsigned long long)gs.hb_first_seq,
           (unsigned long long)gs.hb_last_seq,
           (unsigned long long)gs.hb_last_ns, gs.hb_max_gap_ns / 1e6,
           (unsigned long long)gs.hb_seq_breaks,
           (unsigned long long)gs.mismatches,
           (unsigned long long)gs.pages_written,
           gs.exited ? "true" : "false");
    return 0;
}

static int cmd_list(struct cli *c)
{
    struct hv_domain_info *list = NULL;
    size_t n = 0, i;

    if (hv_list(c->h, &list, &n) < 0)
        return 1;
    for (i = 0; i < n; i++) {
        char u[XT_UUID_STRLEN + 1];

        xt_uuid_format(&list[i].uuid, u);
        printf("%u %s %s %llu %s\n", list[i].domid, u,
               list[i].name[0] ? list[i].name : "-",
               (unsigned long long)list[i].nr_pages,
               hv_run_state_name(list[i].state));
    }
    free(list);
    return 0;
}

/* A whole small file (a PEM certificate or key) into *text_r. */
static int read_text(const char *path, char **text_r)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n;

    *text_r = NULL;
    if (!f) {
        fprintf(stderr, "xm-migrate: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    buf = calloc(1, 1 << 16);
    n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (!buf || !n) {
        fprintf(stderr, "xm-migrate: %s: empty or unreadable\n", path);
        free(buf);
        return -EINVAL;
    }
    *text_r = buf;
    return 0;
}

/* The TLS side of a command: the receiver's credentials from files, or
 * plain TCP; the sender's pin comes as it is. */
static int load_tls(struct mig_chan_opts *o, const char *cert,
                    const char *key, char **cert_r, char **key_r)
{
    if (o->plain)
        return 0;
    if (!cert || !key) {
        fprintf(stderr, "xm-migrate receive: --tls-cert and --tls-key are "
                "needed (or --plain, between loopback addresses)\n");
        return -EINVAL;
    }
    if (read_text(cert, cert_r) < 0 || read_text(key, key_r) < 0)
        return -EINVAL;
    o->cert_pem = *cert_r;
    o->key_pem = *key_r;
    return 0;
}

static int cmd_tls_pin(struct cli *c, const char *cert)
{
    char *pem = NULL, pin[MIG_PIN_STRLEN + 1];
    int rc;

    if (!cert) {
        fprintf(stderr, "xm-migrate tls-pin: --tls-cert is needed\n");
        return EXIT_USAGE;
    }
    rc = read_text(cert, &pem);
    if (rc == 0)
        rc = mig_tls_pin(c->ctx, pem, pin);
    if (rc == 0)
        printf("%s\n", pin);
    free(pem);
    return rc < 0 ? 1 : 0;
}

/* What the command line asks for. */
struct args {
    const char *cmd, *to, *listen_at, *cmdline, *guest, *name;
    const char *cert, *key;
    uint64_t mem_mib;
    uint64_t max_bw_mib;        /* --max-bandwidth, 0: none */
    struct mig_send_opts so;
    struct mig_recv_opts ro;
};

static const struct option long_opts[] = {
    { "to", required_argument, NULL, 't' },
    { "listen", required_argument, NULL, 'L' },
    { "domid", required_argument, NULL, 'd' },
    { "driver", required_argument, NULL, 'D' },
    { "driver-args", required_argument, NULL, 'A' },
    { "streams", required_argument, NULL, 's' },
    { "compress", required_argument, NULL, 'c' },
    { "level", required_argument, NULL, 'v' },
    { "downtime-ms", required_argument, NULL, 'm' },
    { "max-rounds", required_argument, NULL, 'r' },
    { "max-time-s", required_argument, NULL, 'T' },
    { "max-bandwidth", required_argument, NULL, 'B' },
    { "no-auto-converge", no_argument, NULL, 'n' },
    { "no-digest", no_argument, NULL, 'g' },
    { "no-checksum", no_argument, NULL, 'k' },
    { "token", required_argument, NULL, 'o' },
    { "plain", no_argument, NULL, 'P' },
    { "tls-pin", required_argument, NULL, 'y' },
    { "tls-cert", required_argument, NULL, 'e' },
    { "tls-key", required_argument, NULL, 'K' },
    { "vm-uuid", required_argument, NULL, 'u' },
    { "nr-pages", required_argument, NULL, 'R' },
    { "accept-ms", required_argument, NULL, 'W' },
    { "linger-ms", required_argument, NULL, 'l' },
    { "timeout-ms", required_argument, NULL, 'i' },
    { "progress", no_argument, NULL, 'p' },
    { "mem-mib", required_argument, NULL, 'M' },
    { "cmdline", required_argument, NULL, 'C' },
    { "guest", required_argument, NULL, 'G' },
    { "name", required_argument, NULL, 'N' },
    { "log-level", required_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int parse_compression(const char *s, enum mig_compression *c_r)
{
    if (!strcmp(s, "none"))
        *c_r = MIG_COMP_NONE;
    else if (!strcmp(s, "zlib"))
        *c_r = MIG_COMP_ZLIB;
    else if (!strcmp(s, "zstd"))
        *c_r = MIG_COMP_ZSTD;
    else
        return -EINVAL;
    return 0;
}

/* The options with a number: -EINVAL when v is out of range. */
static int number_opt(struct args *a, struct cli *c, int opt, uint64_t v)
{
    static const struct {
        int opt;
        uint64_t max;
        bool nonzero;
    } lim[] = {
        { 'd', UINT32_MAX, false }, { 's', MIG_MAX_STREAMS, true },
        { 'v', 19, false }, { 'm', 3600000, false }, { 'r', 100000, true },
        { 'T', 86400, true }, { 'R', UINT64_MAX >> 12, true },
        { 'W', 3600000, true }, { 'l', 3600000, false },
        { 'i', 3600000, true }, { 'M', 1 << 20, true },
        { 'B', 1 << 20, true },
    };
    size_t i;

    for (i = 0; i < sizeof(lim) / sizeof(lim[0]) && lim[i].opt != opt; i++)
        ;
    if (v > lim[i].max || (lim[i].nonzero && !v))
        return -EINVAL;
    switch (opt) {
    case 'd': c->domid = v; c->have_domid = true; break;
    case 's': a->so.nstreams = v; break;
    case 'v': a->so.level = v; break;
    case 'm': a->so.downtime_target_ns = v * 1000000ull; break;
    case 'r': a->so.max_rounds = v; break;
    case 'T': a->so.max_time_ns = v * 1000000000ull; break;
    case 'R': a->ro.nr_pages = v; break;
    case 'W': a->ro.accept_ms = v; break;
    case 'l': a->ro.linger_ms = v; break;
    case 'i': a->so.timeout_ms = a->ro.timeout_ms = v; break;
    case 'M': a->mem_mib = v; break;
    case 'B': a->max_bw_mib = v; break;
    }
    return 0;
}

/* One option: 0, -EINVAL for a bad value, 1 for an unknown option. */
static int one_opt(struct args *a, struct cli *c, int opt, const char *arg)
{
    enum xt_log_level level;
    uint64_t v;

    switch (opt) {
    case 't': a->to = arg; return 0;
    case 'L': a->listen_at = arg; return 0;
    case 'D': c->driver = arg; return 0;
    case 'A': c->driver_args = arg; return 0;
    case 'o': a->so.token = a->ro.token = arg; return 0;
    case 'p': c->progress = true; return 0;
    case 'n': a->so.auto_converge = false; return 0;
    case 'g': a->so.verify_digest = false; return 0;
    case 'k': a->so.checksum = false; return 0;
    case 'C': a->cmdline = arg; return 0;
    case 'G': a->guest = arg; return 0;
    case 'N': a->name = arg; return 0;
    case 'P': a->so.chan.plain = a->ro.chan.plain = true; return 0;
    case 'y': a->so.chan.pin = arg; return 0;
    case 'e': a->cert = arg; return 0;
    case 'K': a->key = arg; return 0;
    case 'c': return parse_compression(arg, &a->so.compression);
    case 'u': return xt_uuid_parse(arg, &a->ro.vm_uuid);
    case 'V':
        if (xt_log_level_parse(arg, &level) < 0)
            return -EINVAL;
        c->ctx->level = level;
        return 0;
    case 'd': case 's': case 'v': case 'm': case 'r': case 'T': case 'R':
    case 'W': case 'l': case 'i': case 'M': case 'B':
        return parse_uint(arg, UINT64_MAX, &v) < 0 ? -EINVAL
                                                  : number_opt(a, c, opt, v);
    }
    return 1;
}

/* 0 to run the command, else the exit status (help: 0, usage: 2). */
static int parse_args(struct args *a, struct cli *c, int argc, char **argv)
{
    int opt, li = 0, rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : -1;
    }
    a->cmd = argv[1];
    optind = 2;
    while ((opt = getopt_long(argc, argv, "", long_opts, &li)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return -1;
        }
        rc = opt == '?' ? 1 : one_opt(a, c, opt, optarg);
        if (rc == 1) {
            usage(stderr);
            return EXIT_USAGE;
        }
        if (rc < 0) {
            fprintf(stderr, "xm-migrate: bad value '%s' for --%s\n",
                    optarg, long_opts[li].name);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "xm-migrate: unexpected argument '%s'\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    return 0;
}

static bool needs_domid(const char *cmd)
{
    static const char *const with[] = {
        "stats", "dirty", "destroy", "pause", "unpause", NULL,
    };
    size_t i;

    for (i = 0; with[i]; i++)
        if (!strcmp(cmd, with[i]))
            return true;
    return false;
}

/* The command, once the driver is open: its exit status. */
static int run(struct cli *c, struct args *a)
{
    const char *cmd = a->cmd;

    if (!strcmp(cmd, "send"))
        return cmd_send(c, a->to, a->max_bw_mib, &a->so);
    if (!strcmp(cmd, "receive"))
        return cmd_receive(c, a->listen_at, &a->ro);
    if (!strcmp(cmd, "boot"))
        return cmd_boot(c, a->mem_mib, a->cmdline, a->guest, a->name);
    if (!strcmp(cmd, "list"))
        return cmd_list(c);
    if (needs_domid(cmd) && !c->have_domid) {
        fprintf(stderr, "xm-migrate %s: --domid is needed\n", cmd);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "stats"))
        return cmd_stats(c);
    if (!strcmp(cmd, "dirty"))
        return cmd_dirty(c);
    if (!strcmp(cmd, "destroy"))
        return hv_destroy(c->h, c->domid) < 0;
    if (!strcmp(cmd, "pause"))
        return hv_pause(c->h, c->domid) < 0;
    if (!strcmp(cmd, "unpause"))
        return hv_unpause(c->h, c->domid) < 0;
    fprintf(stderr, "xm-migrate: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct cli c;
    struct args a;
    char *cert_pem = NULL, *key_pem = NULL;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&a, 0, sizeof(a));
    c.driver = "kvm";
    c.ctx = xt_ctx_new("xm-migrate");
    if (!c.ctx)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    mig_send_opts_init(&a.so);
    mig_recv_opts_init(&a.ro);
    rc = parse_args(&a, &c, argc, argv);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    if (!strcmp(a.cmd, "tls-pin")) {
        rc = cmd_tls_pin(&c, a.cert);
        goto out;
    }
    rc = EXIT_USAGE;
    if (!strcmp(a.cmd, "receive") &&
        load_tls(&a.ro.chan, a.cert, a.key, &cert_pem, &key_pem) < 0)
        goto out;
    rc = 1;
    if (hv_open(c.ctx, c.driver, c.driver_args, &c.h) == 0)
        rc = run(&c, &a);
out:
    hv_close(c.h);
    xt_ctx_free(c.ctx);
    free(cert_pem);
    free(key_pem);
    return rc;
}
