/*
 * sr_test.h - what the SR tests share: a scratch directory, a spec for it,
 * the files a directory SR holds.
 */
#ifndef SR_TEST_H
#define SR_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sr.h"
#include "xt.h"
#include "../../tap.h"

struct sr_fixture {
    char dir[256];
    struct sr_kv dc[1];
    struct sr_spec spec;
    struct xt_ctx *ctx;
};

static inline void fixture_init(struct sr_fixture *f, const char *type,
                                uint64_t physical_size)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/sr-test.XXXXXX", tmp);
    if (!mkdtemp(f->dir))
        tap_bail("mkdtemp failed");
    f->dc[0] = (struct sr_kv){ "location", f->dir };
    f->spec = (struct sr_spec){ .type = type, .device_config = f->dc,
                                .n_device_config = 1,
                                .physical_size = physical_size };
    if (xt_uuid_generate(&f->spec.uuid) < 0)
        tap_bail("uuid");
    f->ctx = xt_ctx_new("test-sr");
    if (!f->ctx)
        tap_bail("out of memory");
    f->ctx->quiet_errors = true;
}

/* Removes the directory and everything in it (flat). */
static inline void fixture_done(struct sr_fixture *f)
{
    char path[512];
    struct dirent *de;
    DIR *d = opendir(f->dir);

    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] ||
            (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    xt_ctx_free(f->ctx);
}

/* The number of entries of the directory (without . and ..), and in
 * names (if not NULL) their names, sorted, separated by blanks. */
static inline int dir_files(const char *dir, char *names, size_t size)
{
    struct dirent **list;
    int n, i, count = 0;

    n = scandir(dir, &list, NULL, alphasort);
    if (names && size)
        names[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *s = list[i]->d_name;

        if (!(s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))) {
            count++;
            if (names && strlen(names) + strlen(s) + 2 < size) {
                if (names[0])
                    strcat(names, " ");
                strcat(names, s);
            }
        }
        free(list[i]);
    }
    free(list);
    return count;
}

static inline struct xt_uuid new_uuid(void)
{
    struct xt_uuid u;

    if (xt_uuid_generate(&u) < 0)
        tap_bail("uuid");
    return u;
}

/* Size of <dir>/<uuid><ext>, or -1. */
static inline long long file_size(const char *dir, const struct xt_uuid *u,
                                  const char *ext)
{
    char s[XT_UUID_STRLEN + 1], path[512];
    struct stat st;

    xt_uuid_format(u, s);
    snprintf(path, sizeof(path), "%s/%s%s", dir, s, ext);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

#endif /* SR_TEST_H */
