/*
 * test_sr_file.c - the directory SR drivers ("file", "shared-file") on a
 * real directory: every op and every error, space checks that write
 * nothing, I/O and allocation, the VDI locks within a process and between
 * processes (two "hosts" racing for one VDI), and scan's repairs.
 */
#include "config.h"

#include <signal.h>
#include <sys/wait.h>

#include "sr_test.h"

#define MiB (1ull << 20)

static struct sr *attach_ok(struct sr_fixture *f)
{
    struct sr *sr = NULL;

    if (sr_attach(f->ctx, &f->spec, &sr) < 0)
        tap_bail("attach failed");
    return sr;
}

static void test_create_errors(void)
{
    struct sr_fixture f;
    struct sr_spec s;
    struct sr_kv bad[2];
    struct sr *sr = NULL;

    fixture_init(&f, "file", 0);
    tap_ok(sr_type_known("file") && sr_type_known("shared-file") &&
           !sr_type_known("lvm"), "drivers: file, shared-file");
    s = f.spec;
    s.type = "lvm";
    tap_is_int(sr_create(f.ctx, &s), -ENODEV, "unknown type: -ENODEV");
    tap_ok(strstr(f.ctx->err_msg, "'lvm'") != NULL, "error names it: %s",
           f.ctx->err_msg);
    s = f.spec;
    s.n_device_config = 0;
    tap_is_int(sr_create(f.ctx, &s), -EINVAL, "no location: -EINVAL");
    bad[0] = (struct sr_kv){ "location", "relative/dir" };
    s.device_config = bad;
    s.n_device_config = 1;
    tap_is_int(sr_create(f.ctx, &s), -EINVAL, "relative location: -EINVAL");
    bad[0] = (struct sr_kv){ "location", f.dir };
    bad[1] = (struct sr_kv){ "server", "nfs.example" };
    s.n_device_config = 2;
    tap_is_int(sr_create(f.ctx, &s), -EINVAL, "unknown key: -EINVAL");
    tap_ok(strstr(f.ctx->err_msg, "'server'") != NULL, "error names the "
           "key: %s", f.ctx->err_msg);
    bad[0] = (struct sr_kv){ "location", "/nonexistent/sr-dir" };
    s.n_device_config = 1;
    tap_is_int(sr_create(f.ctx, &s), -ENOENT, "missing directory: -ENOENT");
    s = f.spec;
    s.physical_size = 1ull << 62;
    tap_is_int(sr_create(f.ctx, &s), -ENOSPC, "larger than the "
               "filesystem: -ENOSPC");
    tap_is_int(dir_files(f.dir, NULL, 0), 0, "the failures wrote nothing");
    s.physical_size = 1000;
    tap_is_int(sr_create(f.ctx, &s), -EINVAL, "size not a multiple of 512");
    s = f.spec;
    xt_uuid_generate(&s.uuid);
    tap_is_int(sr_attach(f.ctx, &s, &sr), -ENOENT, "attach before create: "
               "-ENOENT");
    tap_is_int(sr_create(f.ctx, &f.spec), 0, "create");
    tap_is_int(sr_create(f.ctx, &f.spec), -EEXIST, "create again: -EEXIST");
    tap_is_int(sr_attach(f.ctx, &s, &sr), -EINVAL, "attach with another "
               "uuid: -EINVAL");
    s = f.spec;
    s.type = "shared-file";
    tap_is_int(sr_attach(f.ctx, &s, &sr), -EINVAL, "attach as another "
               "type: -EINVAL");
    tap_ok(sr == NULL, "failed attach returns no SR");
    fixture_done(&f);
}

static void test_space(void)
{
    struct sr_fixture f;
    struct sr_stat st;
    struct xt_uuid a = new_uuid(), b = new_uuid(), c = new_uuid();
    struct sr_vdi_info info;
    char before[1024], after[1024];
    struct sr *sr;

    fixture_init(&f, "file", 64 * MiB);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    tap_is_int(sr_stat(sr, &st), 0, "stat");
    tap_ok(st.physical_size == 64 * MiB && st.virtual_allocation == 0 &&
           st.free == 64 * MiB && !st.shared, "empty SR: 64 MiB free");
    tap_is_int(sr_vdi_create(sr, &a, 40 * MiB + 1), 0, "create 40 MiB + 1");
    tap_is_int(sr_vdi_info(sr, &a, &info), 0, "info");
    tap_is_u64(info.virtual_size, 40 * MiB + 512, "rounded up to a sector");
    tap_ok(info.physical_utilisation < MiB && !info.is_a_snapshot &&
           !info.missing, "sparse: %llu bytes allocated",
           (unsigned long long)info.physical_utilisation);
    tap_is_int(sr_vdi_create(sr, &a, MiB), -EEXIST, "same uuid: -EEXIST");
    dir_files(f.dir, before, sizeof(before));
    tap_is_int(sr_vdi_create(sr, &b, 30 * MiB), -ENOSPC, "30 MiB more: "
               "-ENOSPC (SR_FULL)");
    tap_ok(strstr(f.ctx->err_msg, "full") != NULL, "says why: %s",
           f.ctx->err_msg);
    dir_files(f.dir, after, sizeof(after));
    tap_is_str(after, before, "SR_FULL wrote nothing");
    sr_stat(sr, &st);
    tap_ok(st.virtual_allocation == 40 * MiB + 512 &&
           st.free == 24 * MiB - 512, "stat: allocation %llu, free %llu",
           (unsigned long long)st.virtual_allocation,
           (unsigned long long)st.free);
    tap_is_int(sr_vdi_create(sr, &b, st.free), 0, "exactly the free space "
               "fits");
    tap_is_int(sr_vdi_create(sr, &c, 512), -ENOSPC, "then one sector is "
               "too much");
    tap_is_int(sr_vdi_resize(sr, &a, 41 * MiB), -ENOSPC, "growing past the "
               "space: -ENOSPC");
    tap_is_int(sr_vdi_snapshot(sr, &a, &c), -ENOSPC, "a snapshot that does "
               "not fit: -ENOSPC");
    dir_files(f.dir, after, sizeof(after));
    tap_ok(dir_files(f.dir, NULL, 0) == 5, "marker and two VDIs only (%s)",
           after);
    sr_detach(sr);
    fixture_done(&f);

    /* Whole-filesystem SR: what the filesystem cannot hold is refused. */
    fixture_init(&f, "file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_stat(sr, &st);
    tap_is_int(sr_vdi_create(sr, &a, st.physical_size), -ENOSPC,
               "whole-filesystem SR: a VDI the size of the filesystem does "
               "not fit its free space");
    tap_is_int(dir_files(f.dir, NULL, 0), 1, "and wrote nothing");
    sr_detach(sr);
    fixture_done(&f);
}

struct ext_log {
    char s[256];
};

static int log_extent(void *opaque, uint64_t off, uint64_t len, bool hole)
{
    struct ext_log *l = opaque;
    size_t n = strlen(l->s);

    snprintf(l->s + n, sizeof(l->s) - n, "%s%c%llu+%llu", n ? " " : "",
             hole ? 'h' : 'd', (unsigned long long)(off / 4096),
             (unsigned long long)(len / 4096));
    return 0;
}

static const char *extents_of(struct sr_vdi *v, struct ext_log *l)
{
    l->s[0] = '\0';
    if (sr_vdi_extents(v, 0, sr_vdi_size(v), log_extent, l) < 0)
        snprintf(l->s, sizeof(l->s), "error");
    return l->s;
}

static void test_io(void)
{
    struct sr_fixture f;
    struct xt_uuid a = new_uuid();
    struct sr_vdi *v = NULL, *r = NULL;
    struct ext_log l;
    char buf[8192], want[8192];
    struct sr *sr;

    fixture_init(&f, "file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_vdi_create(sr, &a, 1 * MiB);
    tap_is_int(sr_vdi_open(sr, &a, false, &v), 0, "open read-write");
    tap_is_u64(sr_vdi_size(v), MiB, "size");
    tap_is_str(extents_of(v, &l), "h0+256", "fresh VDI: one hole");
    memset(want, 0x5a, sizeof(want));
    tap_is_int(sr_vdi_pwrite(v, want, 8192, 64 * 4096, false), 0, "write");
    tap_is_int(sr_vdi_pread(v, buf, 8192, 64 * 4096), 0, "read");
    tap_ok(memcmp(buf, want, 8192) == 0, "reads what was written");
    tap_is_str(extents_of(v, &l), "h0+64 d64+2 h66+190", "allocation "
               "shows the write");
    tap_is_int(sr_vdi_pwrite(v, want, 4096, 128 * 4096, true), 0,
               "write with FUA");
    tap_is_int(sr_vdi_flush(v), 0, "flush");
    tap_is_int(sr_vdi_pwrite(v, want, 4096, MiB - 2048, false), -EINVAL,
               "write across the end: -EINVAL");
    tap_is_int(sr_vdi_pread(v, buf, 1, MiB), -EINVAL, "read past the end: "
               "-EINVAL");
    tap_is_int(sr_vdi_zero(v, 64 * 4096, 4096, true), 0, "zero, may trim");
    tap_is_int(sr_vdi_zero(v, 65 * 4096, 4096, false), 0, "zero, no hole");
    sr_vdi_pread(v, buf, 8192, 64 * 4096);
    memset(want, 0, sizeof(want));
    tap_ok(memcmp(buf, want, 8192) == 0, "both read as zeros");
    tap_is_str(extents_of(v, &l), "h0+65 d65+1 h66+62 d128+1 h129+127",
               "the trimmed block is a hole, the zeroed one allocated");
    tap_is_int(sr_vdi_trim(v, 128 * 4096, 4096), 0, "trim");
    tap_is_str(extents_of(v, &l), "h0+65 d65+1 h66+190", "trim frees");
    tap_is_int(sr_vdi_open(sr, &a, true, &r), -EBUSY, "a reader while "
               "open read-write: -EBUSY");
    sr_vdi_close(v);
    v = NULL;
    tap_is_int(sr_vdi_open(sr, &a, true, &r), 0, "open read-only");
    tap_is_int(sr_vdi_pwrite(r, want, 512, 0, false), -EROFS, "writes "
               "refused: -EROFS");
    tap_is_int(sr_vdi_zero(r, 0, 512, true), -EROFS, "zeroing refused");
    tap_is_int(sr_vdi_trim(r, 0, 512), -EROFS, "trim refused");
    sr_vdi_close(r);
    sr_detach(sr);
    fixture_done(&f);
}

/* A child that attaches and opens the VDI, reports the result on fd, and
 * holds it until the parent closes go (so holders overlap for sure). */
static pid_t opener(struct sr_fixture *f, const struct xt_uuid *u,
                    bool read_only, int report, const int go[2])
{
    pid_t pid = fork();
    struct sr_vdi *v = NULL;
    struct sr *sr = NULL;
    char c;
    int rc;

    if (pid != 0)
        return pid;
    close(go[1]);       /* the parent's close is the signal */
    rc = sr_attach(f->ctx, &f->spec, &sr);
    if (rc == 0)
        rc = sr_vdi_open(sr, u, read_only, &v);
    c = rc == 0 ? 'y' : rc == -EBUSY ? 'b' : 'e';
    if (write(report, &c, 1) != 1)
        _exit(2);
    while (read(go[0], &c, 1) < 0 && errno == EINTR)
        ;
    sr_vdi_close(v);
    sr_detach(sr);
    _exit(0);
}

/* n children open u at once; the answers, sorted ("bbyy" ...). */
static void race(struct sr_fixture *f, const struct xt_uuid *u,
                 bool read_only, int n, char *out)
{
    int rep[2], go[2], i, j;
    pid_t pid[8];
    char c;

    if (pipe(rep) < 0 || pipe(go) < 0)
        tap_bail("pipe");
    for (i = 0; i < n; i++)
        pid[i] = opener(f, u, read_only, rep[1], go);
    for (i = 0; i < n; i++) {
        if (read(rep[0], &c, 1) != 1)
            c = '?';
        for (j = i; j > 0 && out[j - 1] > c; j--)
            out[j] = out[j - 1];
        out[j] = c;
    }
    out[n] = '\0';
    close(go[1]);
    for (i = 0; i < n; i++)
        waitpid(pid[i], NULL, 0);
    close(go[0]);
    close(rep[0]);
    close(rep[1]);
}

static void test_locks(void)
{
    struct sr_fixture f;
    struct xt_uuid a = new_uuid();
    struct sr_vdi *v = NULL, *w = NULL, *r1 = NULL, *r2 = NULL;
    struct sr *sr;
    char res[9];

    fixture_init(&f, "shared-file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_vdi_create(sr, &a, MiB);
    tap_is_int(sr_vdi_open(sr, &a, false, &v), 0, "open read-write");
    tap_is_int(sr_vdi_open(sr, &a, false, &w), -EBUSY, "second writer in "
               "the same process: -EBUSY (VDI_IN_USE)");
    tap_ok(strstr(f.ctx->err_msg, "in use") != NULL, "says so: %s",
           f.ctx->err_msg);
    tap_is_int(sr_vdi_open(sr, &a, true, &r1), -EBUSY, "a reader against "
               "the writer: -EBUSY");
    tap_is_int(sr_vdi_destroy(sr, &a), -EBUSY, "destroy while open: "
               "-EBUSY");
    tap_ok(file_size(f.dir, &a, ".raw") == (long long)MiB &&
           file_size(f.dir, &a, ".meta") > 0, "the VDI is intact");
    race(&f, &a, false, 2, res);
    tap_is_str(res, "bb", "other processes cannot open it either");
    sr_vdi_close(v);
    v = NULL;
    race(&f, &a, false, 4, res);
    tap_is_str(res, "bbby", "four hosts race for one VDI: exactly one "
               "gets it");
    race(&f, &a, true, 3, res);
    tap_is_str(res, "yyy", "three readers share it");
    tap_is_int(sr_vdi_open(sr, &a, true, &r1), 0, "reader");
    tap_is_int(sr_vdi_open(sr, &a, true, &r2), 0, "second reader");
    tap_is_int(sr_vdi_open(sr, &a, false, &w), -EBUSY, "a writer against "
               "readers: -EBUSY");
    race(&f, &a, false, 2, res);
    tap_is_str(res, "bb", "in other processes too");
    sr_vdi_close(r1);
    sr_vdi_close(r2);
    tap_is_int(sr_vdi_destroy(sr, &a), 0, "destroy once closed");
    sr_detach(sr);
    fixture_done(&f);
}

static void test_resize_copy(void)
{
    struct sr_fixture f;
    struct xt_uuid a = new_uuid(), s = new_uuid(), c = new_uuid();
    struct sr_vdi_info info;
    struct sr_vdi *v = NULL;
    struct ext_log l;
    char buf[4096], want[4096];
    struct sr *sr;

    fixture_init(&f, "file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_vdi_create(sr, &a, MiB);
    sr_vdi_open(sr, &a, false, &v);
    memset(want, 0xa5, sizeof(want));
    sr_vdi_pwrite(v, want, 4096, 10 * 4096, true);
    sr_vdi_close(v);
    v = NULL;
    tap_is_int(sr_vdi_resize(sr, &a, MiB / 2), -EINVAL, "shrink: -EINVAL");
    tap_is_int(sr_vdi_resize(sr, &a, 2 * MiB), 0, "grow to 2 MiB");
    sr_vdi_info(sr, &a, &info);
    tap_is_u64(info.virtual_size, 2 * MiB, "new size");
    tap_is_int((int)file_size(f.dir, &a, ".raw"), 2 * MiB, "data file "
               "grown");
    sr_vdi_open(sr, &a, true, &v);
    sr_vdi_pread(v, buf, 4096, 10 * 4096);
    tap_ok(memcmp(buf, want, 4096) == 0, "data kept");
    sr_vdi_pread(v, buf, 4096, MiB + 4096);
    memset(want, 0, sizeof(want));
    tap_ok(memcmp(buf, want, 4096) == 0, "new bytes read as zeros");
    sr_vdi_close(v);
    v = NULL;
    tap_is_int(sr_vdi_resize(sr, &c, 2 * MiB), -ENOENT, "resize a VDI "
               "that is not there: -ENOENT");

    tap_is_int(sr_vdi_snapshot(sr, &a, &s), 0, "snapshot");
    sr_vdi_info(sr, &s, &info);
    tap_ok(info.is_a_snapshot && xt_uuid_equal(&info.snapshot_of, &a) &&
           info.virtual_size == 2 * MiB, "snapshot_of the source, same "
           "size");
    tap_is_int(sr_vdi_clone(sr, &s, &c), 0, "clone the snapshot");
    sr_vdi_info(sr, &c, &info);
    tap_ok(!info.is_a_snapshot, "a clone is no snapshot");
    sr_vdi_open(sr, &c, true, &v);
    memset(want, 0xa5, sizeof(want));
    sr_vdi_pread(v, buf, 4096, 10 * 4096);
    tap_ok(memcmp(buf, want, 4096) == 0, "the clone holds the data");
    tap_is_str(extents_of(v, &l), "h0+10 d10+1 h11+501", "and is as sparse "
               "as its source");
    sr_vdi_close(v);
    tap_is_int(sr_vdi_snapshot(sr, &a, &c), -EEXIST, "copy onto an existing "
               "VDI: -EEXIST");
    tap_is_int(sr_vdi_clone(sr, &a, &a), -EINVAL, "copy onto itself: "
               "-EINVAL");
    sr_detach(sr);
    fixture_done(&f);
}

/* Writes a file named for u into the SR's directory. */
static void put(struct sr_fixture *f, const struct xt_uuid *u,
                const char *ext, const char *text, long long size)
{
    char s[XT_UUID_STRLEN + 1], path[512];
    int fd;

    xt_uuid_format(u, s);
    snprintf(path, sizeof(path), "%s/%s%s", f->dir, s, ext);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (text && write(fd, text, strlen(text)) < 0) ||
        (size >= 0 && ftruncate(fd, size) < 0))
        tap_bail("cannot write a test file");
    close(fd);
}

static void test_scan(void)
{
    struct sr_fixture f;
    struct xt_uuid a = new_uuid(), stray = new_uuid(), dead = new_uuid();
    struct xt_uuid grow = new_uuid(), lost = new_uuid();
    struct sr_vdi_info *v = NULL;
    char names[1024];
    size_t n = 0, i;
    bool missing_ok = false, grow_ok = false;
    struct sr *sr;

    fixture_init(&f, "file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_vdi_create(sr, &a, MiB);
    put(&f, &stray, ".raw", NULL, 4096);              /* undone create */
    put(&f, &a, ".meta.tmp", "half", -1);             /* undone resize */
    put(&f, &dead, ".raw", NULL, 4096);               /* committed destroy */
    put(&f, &dead, ".meta.dead", "xm-vdi 1\nvirtual_size 4096\n"
        "snapshot_of -\n", -1);
    put(&f, &grow, ".raw", NULL, 4096);               /* committed resize */
    put(&f, &grow, ".meta", "xm-vdi 1\nvirtual_size 8192\n"
        "snapshot_of -\n", -1);
    put(&f, &lost, ".meta", "xm-vdi 1\nvirtual_size 4096\n"
        "snapshot_of -\n", -1);                       /* data gone */
    tap_is_int(sr_scan(sr, &v, &n), 0, "scan");
    tap_is_int((int)n, 3, "three VDIs");
    for (i = 0; i < n; i++) {
        if (xt_uuid_equal(&v[i].uuid, &lost))
            missing_ok = v[i].missing;
        if (xt_uuid_equal(&v[i].uuid, &grow))
            grow_ok = !v[i].missing && v[i].virtual_size == 8192;
    }
    tap_ok(missing_ok, "metadata without data is reported missing");
    tap_ok(grow_ok, "the interrupted resize is there at its new size");
    tap_is_int((int)file_size(f.dir, &grow, ".raw"), 8192, "and its data "
               "file grown");
    tap_ok(dir_files(f.dir, names, sizeof(names)) == 6, "leftovers "
           "removed: %s", names);
    tap_ok(file_size(f.dir, &stray, ".raw") < 0 &&
           file_size(f.dir, &dead, ".raw") < 0 &&
           file_size(f.dir, &dead, ".meta.dead") < 0 &&
           file_size(f.dir, &a, ".meta.tmp") < 0, "undone create, finished "
           "destroy, stale .tmp: gone");
    free(v);
    tap_is_int(sr_vdi_destroy(sr, &lost), 0, "a missing VDI can be "
               "destroyed");
    tap_ok(file_size(f.dir, &lost, ".meta") < 0, "its metadata is gone");
    put(&f, &a, ".meta", "not metadata\n", -1);
    tap_is_int(sr_scan(sr, &v, &n), -EBADMSG, "foreign metadata: -EBADMSG");
    tap_ok(strstr(f.ctx->err_msg, ".meta") != NULL, "names the file: %s",
           f.ctx->err_msg);
    sr_detach(sr);
    fixture_done(&f);
}

static void test_destroy(void)
{
    struct sr_fixture f;
    struct xt_uuid a = new_uuid(), b = new_uuid();
    struct sr *sr, *again = NULL;

    fixture_init(&f, "shared-file", 0);
    sr_create(f.ctx, &f.spec);
    sr = attach_ok(&f);
    sr_vdi_create(sr, &a, MiB);
    sr_vdi_create(sr, &b, MiB);
    tap_is_int(sr_vdi_destroy(sr, &a), 0, "destroy a VDI");
    tap_ok(file_size(f.dir, &a, ".raw") < 0 &&
           file_size(f.dir, &a, ".meta") < 0, "its files are gone");
    tap_is_int(sr_vdi_destroy(sr, &a), -ENOENT, "again: -ENOENT");
    tap_is_int(sr_destroy(sr), -ENOTEMPTY, "SR with a VDI: -ENOTEMPTY");
    tap_is_int(sr_vdi_destroy(sr, &b), 0, "destroy the last VDI");
    tap_is_int(sr_destroy(sr), 0, "destroy the empty SR");
    tap_is_int(dir_files(f.dir, NULL, 0), 0, "nothing left");
    tap_is_int(sr_attach(f.ctx, &f.spec, &again), -ENOENT, "attach: no SR "
               "there");
    fixture_done(&f);
}

int main(void)
{
    tap_plan(105);
    test_create_errors();
    test_space();
    test_io();
    test_locks();
    test_resize_copy();
    test_scan();
    test_destroy();
    return tap_done();
}
