/*
 * pd_auth.c - who may use the API: users with yescrypt password hashes in
 * users_file, sessions in memory with an idle timeout, and the pool secret
 * other members present.
 *
 * One mutex guards users, sessions and the secret.  Hashing (tens of
 * milliseconds and megabytes each) runs outside it, at most HASH_SLOTS at
 * a time so that a burst of logins cannot exhaust memory.  A failed login
 * costs the same whether the user exists or not (unknown users are checked
 * against a dummy hash) and returns no sooner than login_delay_ms.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "pd_internal.h"

#define HASH_SLOTS          2
#define USERS_FILE_MAX      (1024 * 1024)
#define SECRET_BYTES        (PD_POOL_SECRET_LEN / 2)

struct user {
    char name[PD_USER_NAME_MAX + 1];
    char *hash;
};

struct session {
    struct xt_uuid id;
    char user[PD_USER_NAME_MAX + 1];
    bool pool;
    uint64_t created;
    uint64_t last_active;
};

struct pd_auth {
    pthread_mutex_t lock;
    pthread_cond_t slot_free;
    unsigned int hashing;           /* hashes running, <= HASH_SLOTS */

    char *users_file;
    char *secret_file;
    unsigned int cost;
    unsigned int delay_ms;
    uint64_t timeout_ns;
    char *dummy_hash;               /* checked for unknown users */
    uint64_t (*now)(void *);
    void *now_opaque;

    /* Under lock: */
    struct user *users;
    size_t nusers;
    struct session *sessions;
    size_t nsessions, cap, max_sessions;
    char secret[PD_POOL_SECRET_LEN + 1];
};

/* ---- passwords --------------------------------------------------------- */

int pd_password_hash(struct xt_ctx *ctx, const char *password,
                     unsigned int cost, char **hash_r)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *data = NULL;
    const char *out;
    int rc;

    *hash_r = NULL;
    if (!crypt_gensalt_rn("$y$", cost, NULL, 0, setting, sizeof(setting)))
        return xt_error(ctx, errno ? -errno : -EINVAL,
                        "cannot make a yescrypt setting (cost %u)", cost);
    data = calloc(1, sizeof(*data));
    if (!data)
        return xt_error(ctx, -ENOMEM, "out of memory");
    out = crypt_r(password, setting, data);
    if (!out || out[0] == '*') {
        rc = xt_error(ctx, errno ? -errno : -EINVAL,
                      "cannot hash a password");
        goto out;
    }
    *hash_r = strdup(out);
    rc = *hash_r ? 0 : xt_error(ctx, -ENOMEM, "out of memory");

out:
    pd_wipe(data, sizeof(*data));
    free(data);
    return rc;
}

bool pd_password_verify(const char *password, const char *hash)
{
    struct crypt_data *data;
    const char *out;
    bool ok = false;
    size_t n;

    if (!password || !hash || hash[0] != '$')
        return false;
    data = calloc(1, sizeof(*data));
    if (!data)
        return false;
    out = crypt_r(password, hash, data);
    if (out && out[0] != '*') {
        n = strlen(hash);
        ok = strlen(out) == n && pd_ct_equal(out, hash, n);
    }
    pd_wipe(data, sizeof(*data));
    free(data);
    return ok;
}

static void acquire_slot(struct pd_auth *auth)
{
    pthread_mutex_lock(&auth->lock);
    while (auth->hashing >= HASH_SLOTS)
        pthread_cond_wait(&auth->slot_free, &auth->lock);
    auth->hashing++;
    pthread_mutex_unlock(&auth->lock);
}

static void release_slot(struct pd_auth *auth)
{
    pthread_mutex_lock(&auth->lock);
    auth->hashing--;
    pthread_cond_signal(&auth->slot_free);
    pthread_mutex_unlock(&auth->lock);
}

/* The hash of password with the store's cost, one slot taken. */
static int hash_limited(struct pd_auth *auth, struct xt_ctx *ctx,
                        const char *password, char **hash_r)
{
    int rc;

    acquire_slot(auth);
    rc = pd_password_hash(ctx, password, auth->cost, hash_r);
    release_slot(auth);
    return rc;
}

/* ---- names ------------------------------------------------------------- */

static bool valid_name(const char *name)
{
    size_t i;

    if (!name || !name[0])
        return false;
    for (i = 0; name[i]; i++) {
        char c = name[i];

        if (i >= PD_USER_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
              c == '-'))
            return false;
    }
    return true;
}

static int check_user_args(struct xt_ctx *ctx, const char *name,
                           const char *password)
{
    if (!valid_name(name))
        return xt_error(ctx, -EINVAL, "invalid user name (1 to %d of "
                        "A-Z a-z 0-9 . _ @ -)", PD_USER_NAME_MAX);
    if (!password || !password[0] ||
        strnlen(password, PD_PASSWORD_MAX + 1) > PD_PASSWORD_MAX)
        return xt_error(ctx, -EINVAL, "password of user %s is empty or "
                        "longer than %d bytes", name, PD_PASSWORD_MAX);
    return 0;
}

/* ---- the users file ---------------------------------------------------- */

static struct user *find_user(struct pd_auth *auth, const char *name)
{
    size_t i;

    for (i = 0; i < auth->nusers; i++) {
        if (strcmp(auth->users[i].name, name) == 0)
            return &auth->users[i];
    }
    return NULL;
}

/* Writes users (under lock) to users_file, atomically, 0600. */
static int save_users(struct pd_auth *auth, struct xt_ctx *ctx,
                      const struct user *users, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0, i;
    FILE *f;
    int rc;

    f = open_memstream(&buf, &cap);
    if (!f)
        return xt_error(ctx, -ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        fprintf(f, "%s:%s\n", users[i].name, users[i].hash);
    if (fclose(f) != 0) {
        free(buf);
        return xt_error(ctx, -ENOMEM, "out of memory");
    }
    len = strlen(buf);
    rc = pd_write_file_atomic(ctx, auth->users_file, buf, len, 0600);
    free(buf);
    return rc;
}

static void free_users(struct user *users, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(users[i].hash);
    free(users);
}

/* Parses "name:hash" lines into auth->users. */
static int parse_users(struct pd_auth *auth, struct xt_ctx *ctx, char *text)
{
    struct user *users = NULL, *grown;
    size_t n = 0, cap = 0;
    unsigned int lineno = 0;
    char *line, *nl, *colon;
    int rc;

    for (line = text; *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = '\0';
        else
            nl = line + strlen(line);
        lineno++;
        if (!line[0])
            continue;
        colon = strchr(line, ':');
        if (colon)
            *colon = '\0';
        if (!colon || !valid_name(line) || colon[1] != '$' ||
            strpbrk(colon + 1, ": \t\r")) {
            rc = xt_error(ctx, -EINVAL, "%s:%u: not \"name:$y$hash\"",
                          auth->users_file, lineno);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(users[i].name, line) == 0) {
                rc = xt_error(ctx, -EINVAL, "%s:%u: user %s again",
                              auth->users_file, lineno, line);
                goto out;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            grown = realloc(users, cap * sizeof(*users));
            if (!grown) {
                rc = xt_error(ctx, -ENOMEM, "out of memory");
                goto out;
            }
            users = grown;
        }
        strcpy(users[n].name, line);
        users[n].hash = strdup(colon + 1);
        if (!users[n].hash) {
            rc = xt_error(ctx, -ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    auth->users = users;
    auth->nusers = n;
    users = NULL;
    rc = 0;

out:
    if (users)
        free_users(users, n);
    return rc;
}

/* The root password for a first start: the environment, else the first
 * line of root_password_file. */
static int root_password(struct xt_ctx *ctx, const struct pd_config *cfg,
                         char **pw_r, const char **source_r)
{
    const char *env = getenv("XM_POOL_ROOT_PASSWORD");
    char *text = NULL;
    size_t len;
    int rc;

    if (env && env[0]) {
        *pw_r = strdup(env);
        *source_r = "$XM_POOL_ROOT_PASSWORD";
        return *pw_r ? 0 : xt_error(ctx, -ENOMEM, "out of memory");
    }
    rc = pd_read_file(ctx, cfg->root_password_file, PD_PASSWORD_MAX + 2,
                      true, &text, &len);
    if (rc == -ENOENT)
        return xt_error(ctx, -ENOENT, "first start (no %s) but no root "
                        "password: write it to %s or set "
                        "XM_POOL_ROOT_PASSWORD", cfg->users_file,
                        cfg->root_password_file);
    if (rc < 0)
        return rc;
    text[strcspn(text, "\r\n")] = '\0';
    *pw_r = text;
    *source_r = cfg->root_password_file;
    return 0;
}

static int first_start(struct pd_auth *auth, struct xt_ctx *ctx,
                       const struct pd_config *cfg)
{
    const char *source = NULL;
    struct user root = { .name = "root" };
    char *pw = NULL;
    int rc;

    rc = root_password(ctx, cfg, &pw, &source);
    if (rc < 0)
        goto out;
    rc = check_user_args(ctx, "root", pw);
    if (rc < 0)
        goto out;
    rc = pd_password_hash(ctx, pw, auth->cost, &root.hash);
    if (rc < 0)
        goto out;
    rc = save_users(auth, ctx, &root, 1);
    if (rc < 0)
        goto out;
    auth->users = calloc(1, sizeof(*auth->users));
    if (!auth->users) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    auth->users[0] = root;
    auth->nusers = 1;
    root.hash = NULL;
    xt_info(ctx, "created %s with the user root, password from %s",
            cfg->users_file, source);
    if (source == cfg->root_password_file)
        xt_info(ctx, "%s is not read again: it may be removed", source);

out:
    free(root.hash);
    if (pw) {
        pd_wipe(pw, strlen(pw));
        free(pw);
    }
    return rc;
}

static int load_users(struct pd_auth *auth, struct xt_ctx *ctx,
                      const struct pd_config *cfg)
{
    struct stat st;
    char *text = NULL;
    int rc;

    rc = pd_read_file(ctx, auth->users_file, USERS_FILE_MAX, true, &text,
                      NULL);
    if (rc == -ENOENT)
        return first_start(auth, ctx, cfg);
    if (rc < 0)
        return rc;
    rc = parse_users(auth, ctx, text);
    free(text);
    if (rc < 0)
        return rc;
    if (stat(auth->users_file, &st) == 0 && (st.st_mode & 077))
        xt_warn(ctx, "%s is readable by others than its owner (mode %04o)",
                auth->users_file, (unsigned int)(st.st_mode & 07777));
    if (auth->nusers == 0)
        xt_warn(ctx, "%s holds no user: nobody can log in",
                auth->users_file);
    return 0;
}

/* ---- the pool secret --------------------------------------------------- */

static bool valid_secret(const char *s, size_t len)
{
    size_t i;

    if (len != PD_POOL_SECRET_LEN)
        return false;
    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static int write_secret(struct pd_auth *auth, struct xt_ctx *ctx,
                        const char *secret)
{
    char line[PD_POOL_SECRET_LEN + 2];

    memcpy(line, secret, PD_POOL_SECRET_LEN);
    line[PD_POOL_SECRET_LEN] = '\n';
    line[PD_POOL_SECRET_LEN + 1] = '\0';
    return pd_write_file_atomic(ctx, auth->secret_file, line,
                                PD_POOL_SECRET_LEN + 1, 0600);
}

static int load_secret(struct pd_auth *auth, struct xt_ctx *ctx)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[SECRET_BYTES];
    char *text = NULL;
    size_t len, i;
    ssize_t r;
    int rc;

    rc = pd_read_file(ctx, auth->secret_file, 4096, true, &text, &len);
    if (rc == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        if (!valid_secret(text, len)) {
            rc = xt_error(ctx, -EINVAL, "%s: not a pool secret (%d "
                          "lowercase hexadecimal digits)", auth->secret_file,
                          PD_POOL_SECRET_LEN);
            goto out;
        }
        memcpy(auth->secret, text, PD_POOL_SECRET_LEN);
        goto out;
    }
    if (rc != -ENOENT)
        goto out;

    r = getrandom(raw, sizeof(raw), 0);
    if (r != (ssize_t)sizeof(raw)) {
        rc = xt_error(ctx, r < 0 ? -errno : -EIO, "getrandom failed");
        goto out;
    }
    for (i = 0; i < sizeof(raw); i++) {
        auth->secret[i * 2] = hex[raw[i] >> 4];
        auth->secret[i * 2 + 1] = hex[raw[i] & 15];
    }
    rc = write_secret(auth, ctx, auth->secret);
    if (rc == 0)
        xt_info(ctx, "created the pool secret %s", auth->secret_file);

out:
    pd_wipe(raw, sizeof(raw));
    if (text) {
        pd_wipe(text, strlen(text));
        free(text);
    }
    return rc;
}

bool pd_pool_secret_check(struct pd_auth *auth, const char *presented)
{
    char copy[PD_POOL_SECRET_LEN + 1];
    bool ok;

    if (!presented ||
        strnlen(presented, PD_POOL_SECRET_LEN + 1) != PD_POOL_SECRET_LEN)
        return false;
    pthread_mutex_lock(&auth->lock);
    memcpy(copy, auth->secret, sizeof(copy));
    pthread_mutex_unlock(&auth->lock);
    ok = pd_ct_equal(copy, presented, PD_POOL_SECRET_LEN);
    pd_wipe(copy, sizeof(copy));
    return ok;
}

void pd_pool_secret_get(struct pd_auth *auth,
                        char secret_r[PD_POOL_SECRET_LEN + 1])
{
    pthread_mutex_lock(&auth->lock);
    memcpy(secret_r, auth->secret, PD_POOL_SECRET_LEN + 1);
    pthread_mutex_unlock(&auth->lock);
}

int pd_pool_secret_set(struct pd_auth *auth, struct xt_ctx *ctx,
                       const char *secret)
{
    int rc;

    if (!secret || !valid_secret(secret, strlen(secret)))
        return xt_error(ctx, -EINVAL, "not a pool secret (%d lowercase "
                        "hexadecimal digits)", PD_POOL_SECRET_LEN);
    pthread_mutex_lock(&auth->lock);
    rc = write_secret(auth, ctx, secret);
    if (rc == 0)
        memcpy(auth->secret, secret, PD_POOL_SECRET_LEN);
    pthread_mutex_unlock(&auth->lock);
    return rc;
}

/* ---- sessions ---------------------------------------------------------- */

static uint64_t default_now(void *opaque)
{
    return xt_now_ns();
}

void pd_auth_set_clock(struct pd_auth *auth, uint64_t (*now_ns)(void *),
                       void *opaque)
{
    pthread_mutex_lock(&auth->lock);
    auth->now = now_ns ? now_ns : default_now;
    auth->now_opaque = now_ns ? opaque : NULL;
    pthread_mutex_unlock(&auth->lock);
}

static void drop_session(struct pd_auth *auth, size_t i)
{
    auth->sessions[i] = auth->sessions[--auth->nsessions];
    pd_wipe(&auth->sessions[auth->nsessions],
            sizeof(auth->sessions[0]));
}

/* Index of the session named by ref, or -1; the scan takes the same time
 * wherever (or whether) it matches. */
static ssize_t find_session(struct pd_auth *auth, const char *ref)
{
    static const size_t plen = sizeof(PD_SESSION_PREFIX) - 1;
    struct xt_uuid id;
    ssize_t found = -1;
    size_t i;

    if (!ref || strncmp(ref, PD_SESSION_PREFIX, plen) != 0 ||
        strlen(ref + plen) != XT_UUID_STRLEN ||
        xt_uuid_parse(ref + plen, &id) < 0)
        return -1;
    for (i = 0; i < auth->nsessions; i++) {
        bool eq = pd_ct_equal(auth->sessions[i].id.b, id.b, sizeof(id.b));

        found = eq ? (ssize_t)i : found;
    }
    return found;
}

static bool expired(const struct pd_auth *auth, const struct session *s,
                    uint64_t now)
{
    return now >= s->last_active && now - s->last_active >= auth->timeout_ns;
}

static int open_session(struct pd_auth *auth, struct xt_ctx *ctx,
                        const char *user, bool pool,
                        char ref_r[PD_SESSION_REF_SIZE])
{
    char uuid[XT_UUID_STRLEN + 1];
    struct session s = { .pool = pool }, *grown;
    size_t i, oldest;
    int rc;

    rc = xt_uuid_generate(&s.id);
    if (rc < 0)
        return xt_error(ctx, rc, "cannot make a session reference");
    snprintf(s.user, sizeof(s.user), "%s", user);

    pthread_mutex_lock(&auth->lock);
    s.created = s.last_active = auth->now(auth->now_opaque);
    if (auth->nsessions == auth->max_sessions) {
        oldest = 0;
        for (i = 1; i < auth->nsessions; i++) {
            if (auth->sessions[i].last_active <
                auth->sessions[oldest].last_active)
                oldest = i;
        }
        xt_info(ctx, "%zu sessions open: closing the one of %s idle "
                "longest", auth->nsessions, auth->sessions[oldest].user);
        drop_session(auth, oldest);
    }
    if (auth->nsessions == auth->cap) {
        size_t cap = auth->cap ? auth->cap * 2 : 16;

        if (cap > auth->max_sessions)
            cap = auth->max_sessions;
        grown = realloc(auth->sessions, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&auth->lock);
            return xt_error(ctx, -ENOMEM, "out of memory");
        }
        auth->sessions = grown;
        auth->cap = cap;
    }
    auth->sessions[auth->nsessions++] = s;
    pthread_mutex_unlock(&auth->lock);

    xt_uuid_format(&s.id, uuid);
    snprintf(ref_r, PD_SESSION_REF_SIZE, "%s%s", PD_SESSION_PREFIX, uuid);
    pd_wipe(&s, sizeof(s));
    return 0;
}

/* Waits out the rest of the delay of a failed login begun at start. */
static void delay_failure(const struct pd_auth *auth, uint64_t start)
{
    uint64_t until = start + (uint64_t)auth->delay_ms * 1000000ull, now;
    struct timespec ts;

    while ((now = xt_now_ns()) < until) {
        ts.tv_sec = (time_t)((until - now) / 1000000000ull);
        ts.tv_nsec = (long)((until - now) % 1000000000ull);
        nanosleep(&ts, NULL);
    }
}

int pd_auth_login(struct pd_auth *auth, struct xt_ctx *ctx, const char *name,
                  const char *password, char ref_r[PD_SESSION_REF_SIZE])
{
    uint64_t start = xt_now_ns();
    const struct user *u;
    char *hash = NULL;
    bool ok;

    ref_r[0] = '\0';
    if (valid_name(name)) {
        pthread_mutex_lock(&auth->lock);
        u = find_user(auth, name);
        if (u)
            hash = strdup(u->hash);
        pthread_mutex_unlock(&auth->lock);
    }
    if (!password ||
        strnlen(password, PD_PASSWORD_MAX + 1) > PD_PASSWORD_MAX)
        password = "";
    /* The same work for an unknown user as for a known one. */
    acquire_slot(auth);
    ok = pd_password_verify(password, hash ? hash : auth->dummy_hash);
    release_slot(auth);
    ok = ok && hash;
    free(hash);
    if (!ok) {
        delay_failure(auth, start);
        return xt_error(ctx, -EACCES, "login of user '%s' failed: unknown "
                        "user or wrong password",
                        valid_name(name) ? name : "(invalid name)");
    }
    return open_session(auth, ctx, name, false, ref_r);
}

int pd_auth_login_pool(struct pd_auth *auth, struct xt_ctx *ctx,
                       const char *secret, char ref_r[PD_SESSION_REF_SIZE])
{
    uint64_t start = xt_now_ns();

    ref_r[0] = '\0';
    if (!pd_pool_secret_check(auth, secret)) {
        delay_failure(auth, start);
        return xt_error(ctx, -EACCES, "pool login failed: wrong pool "
                        "secret");
    }
    return open_session(auth, ctx, PD_POOL_USER, true, ref_r);
}

int pd_auth_logout(struct pd_auth *auth, struct xt_ctx *ctx, const char *ref)
{
    ssize_t i;

    pthread_mutex_lock(&auth->lock);
    i = find_session(auth, ref);
    if (i >= 0)
        drop_session(auth, (size_t)i);
    pthread_mutex_unlock(&auth->lock);
    if (i < 0)
        return xt_error(ctx, -ENOENT, "logout: no such session");
    return 0;
}

/* The session ref names, unless expired (then dropped): its index, or
 * -1.  touch: it is active now.  Caller holds auth->lock. */
static ssize_t lookup(struct pd_auth *auth, const char *ref, bool touch,
                      struct pd_session_info *info_r)
{
    uint64_t now = auth->now(auth->now_opaque);
    struct session *s;
    ssize_t i = find_session(auth, ref);

    if (i >= 0 && expired(auth, &auth->sessions[i], now)) {
        drop_session(auth, (size_t)i);
        i = -1;
    }
    if (i >= 0) {
        s = &auth->sessions[i];
        if (touch)
            s->last_active = now;
        if (info_r) {
            memcpy(info_r->user, s->user, sizeof(info_r->user));
            info_r->pool = s->pool;
            info_r->created_ns = s->created;
            info_r->last_active_ns = s->last_active;
        }
    }
    return i;
}

int pd_auth_validate(struct pd_auth *auth, struct xt_ctx *ctx,
                     const char *ref, struct pd_session_info *info_r)
{
    ssize_t i;

    pthread_mutex_lock(&auth->lock);
    i = lookup(auth, ref, true, info_r);
    pthread_mutex_unlock(&auth->lock);
    if (i < 0)
        return xt_error(ctx, -ENOENT, "invalid or expired session");
    return 0;
}

int pd_auth_peek(struct pd_auth *auth, const char *ref,
                 struct pd_session_info *info_r)
{
    ssize_t i;

    pthread_mutex_lock(&auth->lock);
    i = lookup(auth, ref, false, info_r);
    pthread_mutex_unlock(&auth->lock);
    return i < 0 ? -ENOENT : 0;
}

unsigned int pd_auth_expire(struct pd_auth *auth)
{
    unsigned int dropped = 0;
    uint64_t now;
    size_t i;

    pthread_mutex_lock(&auth->lock);
    now = auth->now(auth->now_opaque);
    for (i = 0; i < auth->nsessions; ) {
        if (expired(auth, &auth->sessions[i], now)) {
            drop_session(auth, i);
            dropped++;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&auth->lock);
    return dropped;
}

unsigned int pd_auth_session_count(struct pd_auth *auth)
{
    unsigned int n;

    pthread_mutex_lock(&auth->lock);
    n = (unsigned int)auth->nsessions;
    pthread_mutex_unlock(&auth->lock);
    return n;
}

/* ---- users ------------------------------------------------------------- */

int pd_auth_user_add(struct pd_auth *auth, struct xt_ctx *ctx,
                     const char *name, const char *password)
{
    struct user *grown;
    char *hash = NULL;
    int rc;

    rc = check_user_args(ctx, name, password);
    if (rc < 0)
        return rc;
    rc = hash_limited(auth, ctx, password, &hash);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&auth->lock);
    if (find_user(auth, name)) {
        rc = xt_error(ctx, -EEXIST, "user %s exists", name);
        goto out;
    }
    grown = realloc(auth->users, (auth->nusers + 1) * sizeof(*grown));
    if (!grown) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    auth->users = grown;
    snprintf(grown[auth->nusers].name, sizeof(grown->name), "%s", name);
    grown[auth->nusers].hash = hash;
    rc = save_users(auth, ctx, auth->users, auth->nusers + 1);
    if (rc < 0)
        goto out;
    auth->nusers++;
    hash = NULL;

out:
    pthread_mutex_unlock(&auth->lock);
    free(hash);
    return rc;
}

int pd_auth_user_set_password(struct pd_auth *auth, struct xt_ctx *ctx,
                              const char *name, const char *password)
{
    struct user *u;
    char *hash = NULL, *old;
    int rc;

    rc = check_user_args(ctx, name, password);
    if (rc < 0)
        return rc;
    rc = hash_limited(auth, ctx, password, &hash);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&auth->lock);
    u = find_user(auth, name);
    if (!u) {
        rc = xt_error(ctx, -ENOENT, "no user %s", name);
        goto out;
    }
    old = u->hash;
    u->hash = hash;
    rc = save_users(auth, ctx, auth->users, auth->nusers);
    if (rc < 0) {
        u->hash = old;      /* the file still has the old one */
        goto out;
    }
    hash = old;

out:
    pthread_mutex_unlock(&auth->lock);
    free(hash);
    return rc;
}

int pd_auth_user_remove(struct pd_auth *auth, struct xt_ctx *ctx,
                        const char *name)
{
    struct user *u, saved;
    size_t i;
    int rc;

    if (!valid_name(name))
        return xt_error(ctx, -EINVAL, "invalid user name");
    pthread_mutex_lock(&auth->lock);
    u = find_user(auth, name);
    if (!u) {
        rc = xt_error(ctx, -ENOENT, "no user %s", name);
        goto out;
    }
    /* Move it last, write the others, then drop it. */
    saved = *u;
    *u = auth->users[auth->nusers - 1];
    auth->users[auth->nusers - 1] = saved;
    rc = save_users(auth, ctx, auth->users, auth->nusers - 1);
    if (rc < 0)
        goto out;
    auth->nusers--;
    free(saved.hash);
    for (i = 0; i < auth->nsessions; ) {
        if (!auth->sessions[i].pool &&
            strcmp(auth->sessions[i].user, name) == 0)
            drop_session(auth, i);
        else
            i++;
    }

out:
    pthread_mutex_unlock(&auth->lock);
    return rc;
}

bool pd_auth_user_exists(struct pd_auth *auth, const char *name)
{
    bool found;

    if (!valid_name(name))
        return false;
    pthread_mutex_lock(&auth->lock);
    found = find_user(auth, name) != NULL;
    pthread_mutex_unlock(&auth->lock);
    return found;
}

/* ---- the store --------------------------------------------------------- */

int pd_auth_open(struct xt_ctx *ctx, const struct pd_config *cfg,
                 struct pd_auth **auth_r)
{
    struct pd_auth *auth = NULL;
    int rc;

    *auth_r = NULL;
    auth = calloc(1, sizeof(*auth));
    if (!auth)
        return xt_error(ctx, -ENOMEM, "out of memory");
    pthread_mutex_init(&auth->lock, NULL);
    pthread_cond_init(&auth->slot_free, NULL);
    auth->now = default_now;
    auth->cost = cfg->password_cost;
    auth->delay_ms = cfg->login_delay_ms;
    auth->timeout_ns = cfg->session_timeout * 1000000000ull;
    auth->max_sessions = cfg->max_sessions ? cfg->max_sessions : 1;
    auth->users_file = strdup(cfg->users_file);
    auth->secret_file = strdup(cfg->pool_secret_file);
    if (!auth->users_file || !auth->secret_file) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }

    rc = pd_password_hash(ctx, "not a password", auth->cost,
                          &auth->dummy_hash);
    if (rc < 0)
        goto out;
    rc = load_users(auth, ctx, cfg);
    if (rc < 0)
        goto out;
    rc = load_secret(auth, ctx);
    if (rc < 0)
        goto out;

    *auth_r = auth;
    auth = NULL;

out:
    pd_auth_free(auth);
    return rc;
}

void pd_auth_free(struct pd_auth *auth)
{
    if (!auth)
        return;
    free_users(auth->users, auth->nusers);
    if (auth->sessions)
        pd_wipe(auth->sessions, auth->cap * sizeof(*auth->sessions));
    free(auth->sessions);
    pd_wipe(auth->secret, sizeof(auth->secret));
    free(auth->dummy_hash);
    free(auth->users_file);
    free(auth->secret_file);
    pthread_cond_destroy(&auth->slot_free);
    pthread_mutex_destroy(&auth->lock);
    free(auth);
}
