/*
 * pd_main.c - the life of xm-poold: options, configuration, log, state
 * directory, certificate, detaching, pid file, authentication store, the
 * service and its server, then signals until SIGTERM or SIGINT.
 *
 * Signals are blocked before any thread exists and taken synchronously
 * with sigtimedwait() by the main thread, so no handler (and no flag) is
 * needed; the timeout also paces the expiry of idle sessions.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pd_internal.h"

#define PROG                "xm-poold"
#define EXPIRE_INTERVAL_S   60

/* What main() owns, released in reverse order by daemon_fini(). */
struct daemon {
    struct xt_ctx *ctx;
    const struct pd_service *svc;
    struct pd_config *cfg;
    struct pd_log *log;
    struct pd_tls *tls;
    struct pd_auth *auth;
    struct pd_server *srv;
    void *svc_opaque;
    bool svc_started;
    int pid_fd;                 /* locked pid file, -1 */
    int ready_fd;               /* to the parent waiting for us, -1 */
    bool detached;              /* we are the detached daemon */
    char *notify_socket;        /* $NOTIFY_SOCKET, taken from the
                                 * environment of our children */
};

struct options {
    const char *config;
    const char *state_dir;
    bool foreground;
    bool print_fingerprint;
};

static void usage(FILE *f)
{
    fprintf(f,
"Usage: " PROG " [OPTION]...\n"
"The per-host daemon of an xm-pool pool: serves the XenAPI-compatible API\n"
"over HTTPS.\n"
"\n"
"  -c, --config PATH        configuration file (default $XM_POOL_CONF, else\n"
"                           " XT_CONFIG_DEFAULT_PATH ")\n"
"  -s, --state-dir DIR      overrides state_dir of the configuration\n"
"  -f, --foreground         do not detach (for systemd and tests)\n"
"  -p, --print-fingerprint  print the SHA-256 fingerprint of the TLS\n"
"                           certificate and exit\n"
"  -V, --version            print the version and exit\n"
"  -h, --help               print this help and exit\n"
"\n"
"Signals: SIGTERM and SIGINT stop the daemon, SIGHUP reopens its log file.\n"
"See xm-poold(8) and xm-pool.conf(5).\n");
}

/* 0 to run, 1 when done (help, version), 2 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "state-dir", required_argument, NULL, 's' },
        { "foreground", no_argument, NULL, 'f' },
        { "print-fingerprint", no_argument, NULL, 'p' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:fpVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'p':
            o->print_fingerprint = true;
            break;
        case 'V':
            printf(PROG " %s\n", PACKAGE_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n"
                "Try '" PROG " --help'.\n", argv[optind]);
        return 2;
    }
    return 0;
}

/*
 * Detaches: fork, setsid, fork again.  The original process waits on a
 * pipe until the daemon says it is ready (exit 0) or why it failed (its
 * message, exit 1).  Returns 0 in the daemon, 1 in the original process
 * with its exit status in *status_r, a negative errno if it could not
 * fork.
 */
static int detach(struct daemon *d, int *status_r)
{
    char msg[XT_ERRMSG_MAX + 2];
    size_t n = 0;
    pid_t pid;
    int p[2], null_fd, st;

    if (pipe2(p, O_CLOEXEC) < 0)
        return xt_error(d->ctx, -errno, "cannot create a pipe");
    pid = fork();
    if (pid < 0) {
        st = xt_error(d->ctx, -errno, "cannot fork");
        close(p[0]);
        close(p[1]);
        return st;
    }
    if (pid > 0) {
        close(p[1]);
        waitpid(pid, &st, 0);
        /* Up to the end of file: the daemon closes the pipe after its
         * status, or dies. */
        if (xt_read_full(p[0], msg, sizeof(msg) - 1, -1, &n) == 0)
            n = sizeof(msg) - 1;
        close(p[0]);
        msg[n] = '\0';
        if (n > 0 && msg[0] == '0') {
            *status_r = 0;
        } else {
            fprintf(stderr, PROG ": error: %s\n", n > 1 ? msg + 1 :
                    "the daemon exited during startup");
            *status_r = 1;
        }
        return 1;
    }

    close(p[0]);
    setsid();
    pid = fork();
    if (pid != 0)
        _exit(pid < 0 ? 1 : 0);
    if (chdir("/") < 0)
        _exit(1);
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        if (d->cfg->log_target != PD_LOG_STDERR)
            dup2(null_fd, STDERR_FILENO);
        if (null_fd > STDERR_FILENO)
            close(null_fd);
    }
    d->ready_fd = p[1];
    d->detached = true;
    return 0;
}

/* Tells the waiting parent (if any): '0' ready, '1' + message failed. */
static void report_ready(struct daemon *d, bool ok)
{
    char buf[XT_ERRMSG_MAX + 2];
    int n;

    if (d->ready_fd < 0)
        return;
    n = snprintf(buf, sizeof(buf), "%c%s", ok ? '0' : '1',
                 ok ? "" : d->ctx->err_msg);
    (void)xt_write_full(d->ready_fd, buf,
                        n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
                        -1);
    close(d->ready_fd);
    d->ready_fd = -1;
}

static int pidfile_open(struct daemon *d)
{
    const char *path = d->cfg->pid_file;
    char buf[32];
    ssize_t n;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return xt_error(d->ctx, -errno, "cannot open pid file %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int rc = -errno;

        n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        close(fd);
        if (rc == -EWOULDBLOCK)
            return xt_error(d->ctx, -EBUSY, "another " PROG " (pid %s) "
                            "holds %s", buf[0] ? buf : "?", path);
        return xt_error(d->ctx, rc, "cannot lock pid file %s", path);
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 ||
        pwrite(fd, buf, (size_t)n, 0) != n) {
        xt_error(d->ctx, -errno, "cannot write pid file %s", path);
        close(fd);
        return -EIO;
    }
    d->pid_fd = fd;
    return 0;
}

static void pidfile_remove(struct daemon *d)
{
    if (d->pid_fd < 0)
        return;
    unlink(d->cfg->pid_file);
    close(d->pid_fd);
    d->pid_fd = -1;
}

/* Waits for signals: SIGHUP reopens the log, SIGTERM/SIGINT return. */
static void serve(struct daemon *d, const sigset_t *set)
{
    struct timespec ts = { EXPIRE_INTERVAL_S, 0 };
    unsigned int n;
    int sig;

    for (;;) {
        sig = sigtimedwait(set, NULL, &ts);
        if (sig < 0) {
            if (errno == EAGAIN) {
                n = pd_auth_expire(d->auth);
                if (n)
                    xt_debug(d->ctx, "%u idle sessions expired", n);
            }
            continue;
        }
        if (sig == SIGHUP) {
            if (pd_log_reopen(d->log) == 0)
                xt_info(d->ctx, "SIGHUP: log reopened");
            continue;
        }
        xt_info(d->ctx, "%s: shutting down", sig == SIGTERM ? "SIGTERM" :
                "SIGINT");
        return;
    }
}

/* The configuration file with the command line's overrides. */
static int load_config(struct daemon *d, const struct options *o)
{
    const char *overrides[2] = { NULL, NULL };
    char *state_override = NULL;
    int rc;

    if (o->state_dir &&
        asprintf(&state_override, "state_dir=%s", o->state_dir) < 0)
        return xt_error(d->ctx, -ENOMEM, "out of memory");
    overrides[0] = state_override;
    rc = pd_config_load(d->ctx, o->config, overrides, d->svc->config_keys,
                        &d->cfg);
    free(state_override);
    return rc;
}

/* Everything up to listening; each failure reported into d->ctx. */
static int startup(struct daemon *d, const struct options *o,
                   const sigset_t *set, int *status_r)
{
    bool created = false;
    int rc;

    rc = load_config(d, o);
    if (rc < 0)
        return rc;
    rc = pd_log_open(d->ctx, d->cfg, &d->log);
    if (rc < 0)
        return rc;
    rc = pd_mkdir_p(d->ctx, d->cfg->state_dir, 0700);
    if (rc < 0)
        return rc;
    rc = pd_mkdir_p(d->ctx, d->cfg->run_dir, 0755);
    if (rc < 0)
        return rc;
    rc = pd_tls_load_or_create(d->ctx, d->cfg, &d->tls, &created);
    if (rc < 0)
        return rc;
    if (created) {
        xt_info(d->ctx, "generated a self-signed certificate %s",
                d->cfg->tls_cert);
        printf("certificate fingerprint: %s\n", pd_tls_fingerprint(d->tls));
        fflush(stdout);
    }
    xt_info(d->ctx, "certificate fingerprint: %s",
            pd_tls_fingerprint(d->tls));

    /* Taken by sigtimedwait() only; a shell may have left SIGINT
     * ignored, which would discard it. */
    if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
        return xt_error(d->ctx, -EINVAL, "cannot block signals");
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    if (!o->foreground) {
        rc = detach(d, status_r);
        if (rc != 0)
            return rc;
    }
    /* Before any thread exists: the environment is not thread-safe. */
    if (getenv("NOTIFY_SOCKET")) {
        d->notify_socket = strdup(getenv("NOTIFY_SOCKET"));
        unsetenv("NOTIFY_SOCKET");
    }

    rc = pidfile_open(d);
    if (rc < 0)
        return rc;
    rc = pd_auth_open(d->ctx, d->cfg, &d->auth);
    if (rc < 0)
        return rc;
    if (d->svc->init) {
        rc = d->svc->init(d->ctx, d->cfg, d->auth, &d->svc_opaque);
        if (rc < 0)
            return rc;
    }
    d->svc_started = true;
    return pd_server_start(d->ctx, d->ctx, d->cfg, d->tls, d->svc->paths,
                           d->svc->handler, d->svc_opaque, &d->srv);
}

static void daemon_fini(struct daemon *d)
{
    /* Wake what the handlers wait for, so that stopping the server (which
     * waits for them) does not wait for their timeouts. */
    if (d->svc_started && d->svc->stop)
        d->svc->stop(d->svc_opaque);
    pd_server_stop(d->srv);
    if (d->svc_started && d->svc->fini)
        d->svc->fini(d->svc_opaque);
    pd_auth_free(d->auth);
    pd_tls_free(d->tls);
    pidfile_remove(d);
    pd_log_close(d->log);
    pd_config_free(d->cfg);
    free(d->notify_socket);
    xt_ctx_free(d->ctx);
}

int pd_main(int argc, char **argv, const struct pd_service *svc)
{
    struct daemon d = { .svc = svc, .pid_fd = -1, .ready_fd = -1 };
    struct options o = { 0 };
    sigset_t set;
    int status = 1, rc;
    char fp[PD_FINGERPRINT_STRLEN + 1];

    rc = parse_options(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    d.ctx = xt_ctx_new(PROG);
    if (!d.ctx) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    if (!svc || !svc->handler) {
        xt_error(d.ctx, -EINVAL, "no service handler");
        goto out;
    }

    if (o.print_fingerprint) {
        rc = load_config(&d, &o);
        if (rc == 0)
            rc = pd_tls_fingerprint_file(d.ctx, d.cfg->tls_cert, fp);
        if (rc == 0) {
            printf("%s\n", fp);
            status = 0;
        }
        goto out;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    rc = startup(&d, &o, &set, &status);
    if (rc == 1) {              /* the parent of a detached daemon */
        d.ready_fd = -1;
        goto out;
    }
    if (rc < 0) {
        report_ready(&d, false);
        /* Still attached to where it was started and the log went
         * elsewhere: say it there too. */
        if (!d.detached && d.log && (d.cfg->log_target == PD_LOG_SYSLOG ||
                                     d.cfg->log_target == PD_LOG_FILE))
            fprintf(stderr, PROG ": error: %s\n", d.ctx->err_msg);
        status = 1;
        goto out;
    }

    xt_info(d.ctx, "ready");
    pd_sd_notify(d.notify_socket, "READY=1");
    report_ready(&d, true);
    serve(&d, &set);
    pd_sd_notify(d.notify_socket, "STOPPING=1");
    status = 0;

out:
    daemon_fini(&d);
    return status;
}
