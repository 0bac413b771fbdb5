/*
 * test_auth.c - the authentication store on real files in a temporary
 * state directory: password hashes, the first start and its root password,
 * the users file (mode, atomic rewrite), logins and their delay, sessions
 * on an injected clock, the pool secret, and logins from several threads.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "poold.h"
#include "../../tap.h"

#define DELAY_MS    100
#define TIMEOUT_S   60
#define MAX_SESS    4
#define NTHREADS    4

struct fake_clock {
    uint64_t ns;
};

static uint64_t fake_now(void *opaque)
{
    return ((struct fake_clock *)opaque)->ns;
}

static char *path_in(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        tap_bail("out of memory");
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        tap_bail("cannot write a test file");
}

static char *read_text(const char *path)
{
    char *buf = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");
    ssize_t n;

    if (!f)
        return NULL;
    n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    if (n < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

static struct pd_config *make_config(struct xt_ctx *ctx, const char *dir)
{
    struct xt_config *raw = NULL;
    struct pd_config *cfg = NULL;
    char text[1024];

    snprintf(text, sizeof(text),
             "state_dir = %s\n"
             "run_dir = %s/run\n"
             "password_cost = 1\n"
             "login_delay_ms = %d\n"
             "session_timeout = %d\n"
             "max_sessions = %d\n",
             dir, dir, DELAY_MS, TIMEOUT_S, MAX_SESS);
    if (xt_config_parse(ctx, "test.conf", text, &raw) < 0 ||
        pd_config_from(ctx, raw, NULL, &cfg) < 0)
        tap_bail("cannot build the configuration");
    return cfg;
}

/* Whether dir holds a leftover temporary file. */
static bool has_temp_files(const char *dir)
{
    struct dirent *e;
    bool found = false;
    DIR *d = opendir(dir);

    if (!d)
        return false;
    while ((e = readdir(d)))
        found |= strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return found;
}

static double ms_since(uint64_t t0)
{
    return (double)(xt_now_ns() - t0) / 1e6;
}

static void test_hash(struct xt_ctx *ctx)
{
    char *h1 = NULL, *h2 = NULL;

    tap_is_int(pd_password_hash(ctx, "s3cret", 1, &h1), 0, "hash");
    tap_ok(h1 && strncmp(h1, "$y$", 3) == 0, "yescrypt format: %s",
           h1 ? h1 : "(null)");
    tap_is_int(pd_password_hash(ctx, "s3cret", 1, &h2), 0, "hash again");
    tap_ok(h1 && h2 && strcmp(h1, h2) != 0, "fresh salt each time");
    tap_ok(pd_password_verify("s3cret", h1), "right password verifies");
    tap_ok(!pd_password_verify("s3cret ", h1), "wrong password does not");
    tap_ok(!pd_password_verify("", h1), "empty password does not");
    tap_ok(!pd_password_verify("s3cret", "$y$garbage"),
           "a broken hash verifies nothing");
    tap_ok(!pd_password_verify("s3cret", "*"), "a locked hash neither");
    free(h1);
    free(h2);
}

static void test_first_start(struct xt_ctx *ctx, const char *dir)
{
    struct pd_config *cfg = make_config(ctx, dir);
    struct pd_auth *auth = NULL;
    char ref[PD_SESSION_REF_SIZE];
    struct stat st;
    char *users, *pwfile = path_in(dir, "root-password");
    int rc;

    unsetenv("XM_POOL_ROOT_PASSWORD");
    ctx->quiet_errors = true;
    rc = pd_auth_open(ctx, cfg, &auth);
    ctx->quiet_errors = false;
    tap_is_int(rc, -ENOENT, "first start without a root password fails");
    tap_ok(strstr(ctx->err_msg, pwfile) &&
           strstr(ctx->err_msg, "XM_POOL_ROOT_PASSWORD"),
           "error says where to put it: %s", ctx->err_msg);
    tap_ok(access(cfg->users_file, F_OK) < 0, "no users file left behind");

    write_text(pwfile, "first-root-pw\nignored line\n");
    rc = pd_auth_open(ctx, cfg, &auth);
    tap_is_int(rc, 0, "first start with root_password_file");
    tap_ok(stat(cfg->users_file, &st) == 0 && (st.st_mode & 0777) == 0600,
           "users file is 0600");
    users = read_text(cfg->users_file);
    tap_ok(users && strncmp(users, "root:$y$", 8) == 0 &&
           strchr(users, '\n') == users + strlen(users) - 1,
           "users file: one line root:$y$...");
    free(users);
    tap_is_int(pd_auth_login(auth, ctx, "root", "first-root-pw", ref), 0,
               "root logs in with the first line of the file");
    pd_auth_free(auth);

    /* Second start: the root password file is not read again. */
    write_text(pwfile, "another\n");
    tap_is_int(pd_auth_open(ctx, cfg, &auth), 0, "second start");
    tap_is_int(pd_auth_login(auth, ctx, "root", "first-root-pw", ref), 0,
               "root password unchanged by root_password_file");
    pd_auth_free(auth);
    unlink(pwfile);
    free(pwfile);
    pd_config_free(cfg);
}

static void test_env_password(struct xt_ctx *ctx, const char *top)
{
    struct pd_config *cfg;
    struct pd_auth *auth = NULL;
    char ref[PD_SESSION_REF_SIZE];
    char *dir = path_in(top, "env");

    if (mkdir(dir, 0700) < 0)
        tap_bail("mkdir failed");
    cfg = make_config(ctx, dir);
    setenv("XM_POOL_ROOT_PASSWORD", "from-env", 1);
    tap_is_int(pd_auth_open(ctx, cfg, &auth), 0,
               "first start with XM_POOL_ROOT_PASSWORD");
    unsetenv("XM_POOL_ROOT_PASSWORD");
    tap_is_int(pd_auth_login(auth, ctx, "root", "from-env", ref), 0,
               "root logs in with it");
    pd_auth_free(auth);
    pd_config_free(cfg);
    free(dir);
}

static void test_login(struct xt_ctx *ctx, struct pd_auth *auth)
{
    char ref[PD_SESSION_REF_SIZE], msg1[XT_ERRMSG_MAX];
    struct pd_session_info info;
    struct xt_uuid u;
    uint64_t t0;
    double ms;
    int rc;

    ctx->quiet_errors = true;
    t0 = xt_now_ns();
    rc = pd_auth_login(auth, ctx, "root", "wrong", ref);
    ms = ms_since(t0);
    tap_is_int(rc, -EACCES, "wrong password: -EACCES");
    tap_ok(ms >= DELAY_MS, "after the delay (%.0f ms >= %d)", ms, DELAY_MS);
    snprintf(msg1, sizeof(msg1), "%s", ctx->err_msg);

    t0 = xt_now_ns();
    rc = pd_auth_login(auth, ctx, "nobody", "wrong", ref);
    ms = ms_since(t0);
    tap_is_int(rc, -EACCES, "unknown user: -EACCES");
    tap_ok(ms >= DELAY_MS, "after the delay too (%.0f ms)", ms);
    tap_ok(strstr(msg1, "unknown user or wrong password") &&
           strstr(ctx->err_msg, "unknown user or wrong password"),
           "the same words either way");
    tap_is_int(pd_auth_login(auth, ctx, "bad name!", "x", ref), -EACCES,
               "invalid name: -EACCES");
    tap_is_int(pd_auth_login(auth, ctx, "root", NULL, ref), -EACCES,
               "NULL password: -EACCES");
    ctx->quiet_errors = false;

    t0 = xt_now_ns();
    rc = pd_auth_login(auth, ctx, "root", "first-root-pw", ref);
    tap_is_int(rc, 0, "right password logs in");
    tap_ok(ms_since(t0) < DELAY_MS, "without the delay");
    tap_ok(strncmp(ref, "OpaqueRef:", 10) == 0 &&
           strlen(ref) == PD_SESSION_REF_SIZE - 1 &&
           xt_uuid_parse(ref + 10, &u) == 0,
           "session is OpaqueRef:<uuid> (%s)", ref);
    rc = pd_auth_validate(auth, ctx, ref, &info);
    tap_is_int(rc, 0, "session validates");
    tap_is_str(info.user, "root", "session of root");
    tap_ok(!info.pool, "not a pool session");
    tap_is_int(pd_auth_logout(auth, ctx, ref), 0, "logout");
    ctx->quiet_errors = true;
    tap_is_int(pd_auth_validate(auth, ctx, ref, NULL), -ENOENT,
               "logged-out session is invalid");
    tap_is_int(pd_auth_logout(auth, ctx, ref), -ENOENT, "logout twice");
    tap_is_int(pd_auth_validate(auth, ctx, NULL, NULL), -ENOENT, "NULL");
    tap_is_int(pd_auth_validate(auth, ctx, "OpaqueRef:xyz", NULL), -ENOENT,
               "malformed reference");
    tap_is_int(pd_auth_validate(auth, ctx, "OpaqueRef:00000000-0000-4000-"
                                "8000-000000000000", NULL), -ENOENT,
               "unknown reference");
    ctx->quiet_errors = false;
}

static void test_sessions(struct xt_ctx *ctx, struct pd_auth *auth)
{
    struct fake_clock clk = { 1000ull * 1000000000ull };
    char a[PD_SESSION_REF_SIZE], b[PD_SESSION_REF_SIZE];
    char refs[MAX_SESS + 1][PD_SESSION_REF_SIZE];
    const uint64_t s = 1000000000ull;
    int i, valid;

    pd_auth_set_clock(auth, fake_now, &clk);
    if (pd_auth_login(auth, ctx, "root", "first-root-pw", a) < 0 ||
        pd_auth_login(auth, ctx, "root", "first-root-pw", b) < 0)
        tap_bail("login failed");
    clk.ns += (TIMEOUT_S - 1) * s;
    tap_is_int(pd_auth_validate(auth, ctx, a, NULL), 0,
               "idle just under the timeout: valid (and refreshed)");
    clk.ns += 2 * s;
    tap_is_int(pd_auth_validate(auth, ctx, a, NULL), 0,
               "activity restarted the idle time");
    tap_is_int(pd_auth_expire(auth), 1, "expire drops the other one");
    ctx->quiet_errors = true;
    tap_is_int(pd_auth_validate(auth, ctx, b, NULL), -ENOENT,
               "idle past the timeout: invalid");
    clk.ns += TIMEOUT_S * s;
    tap_is_int(pd_auth_validate(auth, ctx, a, NULL), -ENOENT,
               "expired on validation");
    ctx->quiet_errors = false;
    tap_is_int(pd_auth_session_count(auth), 0, "no session left");

    /* pd_auth_peek looks without making the session active. */
    if (pd_auth_login(auth, ctx, "root", "first-root-pw", a) < 0)
        tap_bail("login failed");
    clk.ns += (TIMEOUT_S - 1) * s;
    {
        struct pd_session_info info;

        tap_ok(pd_auth_peek(auth, a, &info) == 0 &&
               !strcmp(info.user, "root") && !info.pool,
               "peek: an open session, its account");
    }
    clk.ns += 2 * s;
    tap_is_int(pd_auth_peek(auth, a, NULL), -ENOENT,
               "peek did not restart the idle time: expired now");

    /* max_sessions: the one idle longest makes room. */
    for (i = 0; i <= MAX_SESS; i++) {
        clk.ns += s;
        if (pd_auth_login(auth, ctx, "root", "first-root-pw", refs[i]) < 0)
            tap_bail("login failed");
    }
    tap_is_int(pd_auth_session_count(auth), MAX_SESS,
               "never more than max_sessions");
    ctx->quiet_errors = true;
    tap_is_int(pd_auth_validate(auth, ctx, refs[0], NULL), -ENOENT,
               "the oldest was closed");
    ctx->quiet_errors = false;
    for (valid = 0, i = 1; i <= MAX_SESS; i++)
        valid += pd_auth_validate(auth, ctx, refs[i], NULL) == 0;
    tap_is_int(valid, MAX_SESS, "the newer ones stay");
    for (i = 1; i <= MAX_SESS; i++)
        pd_auth_logout(auth, ctx, refs[i]);
    pd_auth_set_clock(auth, NULL, NULL);
}

static void test_users(struct xt_ctx *ctx, struct pd_auth *auth,
                       const struct pd_config *cfg)
{
    char ref[PD_SESSION_REF_SIZE];
    struct stat before, after;
    char *users;
    int rc;

    if (stat(cfg->users_file, &before) < 0)
        tap_bail("stat failed");
    rc = pd_auth_user_add(auth, ctx, "alice@example", "alice-pw");
    tap_is_int(rc, 0, "add a user");
    tap_ok(stat(cfg->users_file, &after) == 0 &&
           after.st_ino != before.st_ino,
           "users file replaced by rename (new inode)");
    tap_ok((after.st_mode & 0777) == 0600, "still 0600");
    tap_ok(!has_temp_files(cfg->state_dir), "no temporary file left");
    users = read_text(cfg->users_file);
    tap_ok(users && strstr(users, "root:$y$") &&
           strstr(users, "\nalice@example:$y$"), "both users in the file");
    free(users);
    tap_ok(pd_auth_user_exists(auth, "alice@example"), "user exists");

    ctx->quiet_errors = true;
    tap_is_int(pd_auth_user_add(auth, ctx, "alice@example", "x"), -EEXIST,
               "adding again: -EEXIST");
    tap_is_int(pd_auth_user_add(auth, ctx, "bad:name", "x"), -EINVAL,
               "':' in a name: -EINVAL");
    tap_is_int(pd_auth_user_add(auth, ctx, "carol", ""), -EINVAL,
               "empty password: -EINVAL");
    tap_is_int(pd_auth_user_set_password(auth, ctx, "ghost", "x"), -ENOENT,
               "password of an unknown user: -ENOENT");
    ctx->quiet_errors = false;

    tap_is_int(pd_auth_login(auth, ctx, "alice@example", "alice-pw", ref), 0,
               "the new user logs in");
    tap_is_int(pd_auth_user_set_password(auth, ctx, "alice@example",
                                         "new-pw"), 0, "change password");
    ctx->quiet_errors = true;
    tap_is_int(pd_auth_login(auth, ctx, "alice@example", "alice-pw", ref),
               -EACCES, "old password refused");
    ctx->quiet_errors = false;
    tap_is_int(pd_auth_login(auth, ctx, "alice@example", "new-pw", ref), 0,
               "new password accepted");
    tap_is_int(pd_auth_user_remove(auth, ctx, "alice@example"), 0,
               "remove the user");
    ctx->quiet_errors = true;
    tap_is_int(pd_auth_validate(auth, ctx, ref, NULL), -ENOENT,
               "its sessions closed");
    tap_is_int(pd_auth_user_remove(auth, ctx, "alice@example"), -ENOENT,
               "remove again: -ENOENT");
    ctx->quiet_errors = false;
    users = read_text(cfg->users_file);
    tap_ok(users && !strstr(users, "alice"), "gone from the file");
    free(users);
}

static void test_corrupt_users(struct xt_ctx *ctx, const char *top)
{
    struct pd_config *cfg;
    struct pd_auth *auth = NULL;
    char *dir = path_in(top, "corrupt");
    char *frag;
    int rc;

    if (mkdir(dir, 0700) < 0)
        tap_bail("mkdir failed");
    cfg = make_config(ctx, dir);
    write_text(cfg->users_file, "root:$y$j75$abc$def\n\nbob has no colon\n");
    ctx->quiet_errors = true;
    rc = pd_auth_open(ctx, cfg, &auth);
    ctx->quiet_errors = false;
    tap_is_int(rc, -EINVAL, "malformed users file refused");
    if (asprintf(&frag, "%s:3:", cfg->users_file) < 0)
        tap_bail("out of memory");
    tap_ok(strstr(ctx->err_msg, frag) != NULL, "error names file:line (%s)",
           ctx->err_msg);
    free(frag);
    pd_auth_free(auth);
    pd_config_free(cfg);
    free(dir);
}

static void test_pool_secret(struct xt_ctx *ctx, struct pd_auth *auth,
                             const struct pd_config *cfg)
{
    char secret[PD_POOL_SECRET_LEN + 1], other[PD_POOL_SECRET_LEN + 1];
    char ref[PD_SESSION_REF_SIZE];
    struct pd_session_info info;
    struct pd_auth *again = NULL;
    struct stat st;
    char *text;
    uint64_t t0;
    size_t i;
    bool hex = true;

    pd_pool_secret_get(auth, secret);
    for (i = 0; secret[i]; i++)
        hex &= (secret[i] >= '0' && secret[i] <= '9') ||
               (secret[i] >= 'a' && secret[i] <= 'f');
    tap_ok(strlen(secret) == 64 && hex, "pool secret: 64 hex digits");
    tap_ok(stat(cfg->pool_secret_file, &st) == 0 &&
           (st.st_mode & 0777) == 0600, "pool secret file is 0600");
    text = read_text(cfg->pool_secret_file);
    tap_ok(text && strncmp(text, secret, 64) == 0 && text[64] == '\n',
           "file holds it");
    free(text);

    tap_ok(pd_pool_secret_check(auth, secret), "right secret accepted");
    memcpy(other, secret, sizeof(other));
    other[63] = other[63] == '0' ? '1' : '0';
    tap_ok(!pd_pool_secret_check(auth, other), "last digit wrong: refused");
    tap_ok(!pd_pool_secret_check(auth, NULL), "NULL refused");
    tap_ok(!pd_pool_secret_check(auth, ""), "empty refused");
    other[63] = '\0';
    memcpy(other, secret, 63);
    tap_ok(!pd_pool_secret_check(auth, other), "a prefix refused");

    tap_is_int(pd_auth_login_pool(auth, ctx, secret, ref), 0,
               "pool login with the secret");
    tap_ok(pd_auth_validate(auth, ctx, ref, &info) == 0 && info.pool &&
           strcmp(info.user, PD_POOL_USER) == 0, "a pool session");
    pd_auth_logout(auth, ctx, ref);
    ctx->quiet_errors = true;
    t0 = xt_now_ns();
    tap_is_int(pd_auth_login_pool(auth, ctx, "00", ref), -EACCES,
               "pool login with a wrong secret: -EACCES");
    tap_ok(ms_since(t0) >= DELAY_MS, "after the delay");
    tap_is_int(pd_pool_secret_set(auth, ctx, "ABC"), -EINVAL,
               "setting a malformed secret: -EINVAL");
    ctx->quiet_errors = false;

    for (i = 0; i < 64; i++)
        other[i] = "0123456789abcdef"[(i * 7) % 16];
    other[64] = '\0';
    tap_is_int(pd_pool_secret_set(auth, ctx, other), 0, "adopt a secret");
    tap_ok(pd_pool_secret_check(auth, other) &&
           !pd_pool_secret_check(auth, secret), "the new one counts");
    tap_is_int(pd_auth_open(ctx, cfg, &again), 0, "reopen");
    tap_ok(again && pd_pool_secret_check(again, other),
           "the new secret persists");
    pd_auth_free(again);
}

struct worker {
    struct pd_auth *auth;
    int failures;
};

static void *login_loop(void *arg)
{
    struct worker *w = arg;
    struct xt_ctx *ctx = xt_ctx_new("worker");
    char ref[PD_SESSION_REF_SIZE];
    int i;

    if (!ctx) {
        w->failures++;
        return NULL;
    }
    for (i = 0; i < 20; i++) {
        if (pd_auth_login(w->auth, ctx, "root", "first-root-pw", ref) < 0 ||
            pd_auth_validate(w->auth, ctx, ref, NULL) < 0 ||
            pd_auth_logout(w->auth, ctx, ref) < 0)
            w->failures++;
        pd_auth_expire(w->auth);
    }
    xt_ctx_free(ctx);
    return NULL;
}

static void test_threads(struct pd_auth *auth)
{
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    int i, failures = 0;

    for (i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){ .auth = auth };
        if (pthread_create(&th[i], NULL, login_loop, &w[i]) != 0)
            tap_bail("pthread_create failed");
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    tap_is_int(failures, 0, "logins from 4 threads at once");
    tap_is_int(pd_auth_session_count(auth), 0, "all logged out");
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_auth");
    struct pd_config *cfg;
    struct pd_auth *auth = NULL;
    char dir[256], cmd[300];

    if (!ctx)
        tap_bail("out of memory");
    ctx->level = XT_LOG_ERROR;
    snprintf(dir, sizeof(dir), "%s/pd-auth-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp failed");

    test_hash(ctx);
    test_first_start(ctx, dir);
    test_env_password(ctx, dir);
    test_corrupt_users(ctx, dir);

    cfg = make_config(ctx, dir);
    if (pd_auth_open(ctx, cfg, &auth) < 0)
        tap_bail(ctx->err_msg);
    test_login(ctx, auth);
    test_sessions(ctx, auth);
    test_users(ctx, auth, cfg);
    test_pool_secret(ctx, auth, cfg);
    test_threads(auth);
    pd_auth_free(auth);
    pd_auth_free(NULL);
    pd_config_free(cfg);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    xt_ctx_free(ctx);
    return tap_done();
}
