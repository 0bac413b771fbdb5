/*
 * hv_xen_boot.c - the Xen driver's boot op: a new domain started the way
 * Xen's own toolstack starts one, by `xl create` of a configuration
 * written from the hv_boot_spec.
 *
 * Why xl rather than libxenguest's domain builder: building a domain from
 * a kernel (memory layout, start info, console and xenstore rings, the
 * domain's xenstore tree, the backends of its devices) is libxl's job, and
 * a domain xl created is one xl knows afterwards (xl list, xl console,
 * xl destroy; libxl's record in /var/lib/xen).  The driver writes the
 * configuration, runs `xl create`, and finds the new domain by its UUID.
 *
 * The configuration: name, uuid, type (pv or pvh), kernel, ramdisk, extra
 * (the command line), memory (whole MiB), vcpus; for PVH the driver's hap
 * option (yes: hap = 1, no: hap = 0, auto: xl's default), and its tsc_mode
 * when one is set.  No disk and no network: the domains this driver can
 * migrate have none (hv_xen_check_devices).  xl's defaults stand for the
 * rest (on_poweroff, on_reboot, on_crash).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv_xen_priv.h"

/* xl create of a small domain takes seconds; under emulation (the Xen
 * lane) tens of seconds. */
#define BOOT_TIMEOUT_MS     180000u
#define XL_OUTPUT_MAX       8192u
#define MIB_PAGES           (1024u * 1024u / HV_PAGE_SIZE)

/* A string xl's configuration parser reads between double quotes as it
 * is: no quote, no backslash, no control character. */
static bool xl_quotable(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ||
            *s == 0x7f)
            return false;
    return true;
}

static const char *tsc_mode_name(uint32_t mode)
{
    switch (mode) {
    case HV_XEN_TSC_MODE_ALWAYS_EMULATE: return "always_emulate";
    case HV_XEN_TSC_MODE_NATIVE:         return "native";
    default:                             return "default";
    }
}

/* The spec's fields as xl will read them; -EINVAL reported otherwise.
 * *pvh_r: the guest type. */
static int check_spec(struct hv_handle *h, const struct hv_boot_spec *spec,
                      const char *name, bool *pvh_r)
{
    const char *type = spec->guest_type ? spec->guest_type : "pv";
    const char *what[] = { "name", "kernel", "ramdisk", "command line" };
    const char *val[] = { name, spec->kernel, spec->ramdisk, spec->cmdline };
    size_t i;

    if (strcmp(type, "pv") && strcmp(type, "pvh"))
        return xt_error(h->ctx, -EINVAL, "xen boot of %s: guest type '%s' "
                        "is not pv or pvh", name, type);
    *pvh_r = !strcmp(type, "pvh");
    if (!spec->kernel || !*spec->kernel)
        return xt_error(h->ctx, -EINVAL, "xen boot of %s: no kernel", name);
    if (spec->nr_pages % MIB_PAGES)
        return xt_error(h->ctx, -EINVAL, "xen boot of %s: %llu pages is not "
                        "a whole number of MiB", name,
                        (unsigned long long)spec->nr_pages);
    for (i = 0; i < sizeof(val) / sizeof(val[0]); i++)
        if (val[i] && !xl_quotable(val[i]))
            return xt_error(h->ctx, -EINVAL, "xen boot of %s: the %s holds "
                            "a quote, a backslash or a control character, "
                            "which this driver does not write into an xl "
                            "configuration", name, what[i]);
    if (access(spec->kernel, R_OK) < 0)
        return xt_error(h->ctx, -errno, "xen boot of %s: kernel %s: %s",
                        name, spec->kernel, strerror(errno));
    if (spec->ramdisk && access(spec->ramdisk, R_OK) < 0)
        return xt_error(h->ctx, -errno, "xen boot of %s: ramdisk %s: %s",
                        name, spec->ramdisk, strerror(errno));
    return 0;
}

/* The xl configuration of the spec, into the open file f. */
static int write_config(struct hv_handle *h, FILE *f,
                        const struct hv_boot_spec *spec, const char *name,
                        const char *uuid, bool pvh)
{
    const struct hv_xen_opts *o = &hv_xen_priv(h)->opts;

    fprintf(f, "# written by xm-pool's xen driver (hv_xen_boot.c)\n");
    fprintf(f, "name = \"%s\"\n", name);
    fprintf(f, "uuid = \"%s\"\n", uuid);
    fprintf(f, "type = \"%s\"\n", pvh ? "pvh" : "pv");
    fprintf(f, "kernel = \"%s\"\n", spec->kernel);
    if (spec->ramdisk)
        fprintf(f, "ramdisk = \"%s\"\n", spec->ramdisk);
    if (spec->cmdline)
        fprintf(f, "extra = \"%s\"\n", spec->cmdline);
    fprintf(f, "memory = %llu\n",
            (unsigned long long)(spec->nr_pages / MIB_PAGES));
    fprintf(f, "vcpus = %u\n", spec->nr_vcpus);
    if (pvh && o->hap != HV_XEN_HAP_AUTO)
        fprintf(f, "hap = %d\n", o->hap == HV_XEN_HAP_YES);
    if (o->tsc_mode_set)
        fprintf(f, "tsc_mode = \"%s\"\n", tsc_mode_name(o->tsc_mode));
    if (fflush(f) != 0 || ferror(f))
        return xt_error(h->ctx, -EIO, "xen boot of %s: writing the xl "
                        "configuration", name);
    return 0;
}

/* The last non-empty line of what xl printed (xl's own reason, after
 * libxl's lines), into buf. */
static void last_line(int fd, char *buf, size_t size)
{
    char out[XL_OUTPUT_MAX + 1];
    ssize_t r = pread(fd, out, XL_OUTPUT_MAX, 0);
    char *end, *start;

    snprintf(buf, size, "no output");
    if (r <= 0)
        return;
    out[r] = '\0';
    end = out + r;
    while (end > out && (end[-1] == '\n' || end[-1] == ' '))
        *--end = '\0';
    start = strrchr(out, '\n');
    start = start ? start + 1 : out;
    if (*start)
        snprintf(buf, size, "%.*s", (int)(size - 1), start);
}

/* Runs `xl create -q PATH`, its output into out_fd; 0 when it exits 0.
 * xl's monitoring child (it daemonises for the domain's lifetime) writes
 * into its own log, not into out_fd. */
static int run_xl_create(struct hv_handle *h, const char *name,
                         const char *path, int out_fd)
{
    uint64_t deadline = xt_now_ns() + BOOT_TIMEOUT_MS * 1000000ull;
    struct timespec nap = { 0, 50 * 1000 * 1000 };
    char why[256];
    int status = 0;
    pid_t pid, r;

    pid = fork();
    if (pid < 0)
        return xt_error(h->ctx, -errno, "xen boot of %s: fork", name);
    if (pid == 0) {
        char *const argv[] = { "xl", "create", "-q", (char *)path, NULL };
        int null = open("/dev/null", O_RDWR);

        if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 ||
            dup2(out_fd, 2) < 0)
            _exit(127);
        /* Nothing of ours for xl's monitor, which outlives us. */
        close_range(3, ~0u, 0);
        execvp("xl", argv);
        _exit(127);
    }
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
           xt_now_ns() < deadline)
        nanosleep(&nap, NULL);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return xt_error(h->ctx, -ETIMEDOUT, "xen boot of %s: xl create "
                        "did not finish in %u s", name,
                        BOOT_TIMEOUT_MS / 1000);
    }
    if (r < 0)
        return xt_error(h->ctx, -errno, "xen boot of %s: waiting for xl "
                        "create", name);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    last_line(out_fd, why, sizeof(why));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return xt_error(h->ctx, -ENOENT, "xen boot of %s: xl could not be "
                        "run (is xen-utils installed, xl on PATH?): %s",
                        name, why);
    if (WIFEXITED(status))
        return xt_error(h->ctx, -EIO, "xen boot of %s: xl create failed "
                        "(exit %d): %s", name, WEXITSTATUS(status), why);
    return xt_error(h->ctx, -EIO, "xen boot of %s: xl create died of "
                    "signal %d", name, WTERMSIG(status));
}

/* The live (not dying, not shut down) domain whose handle is uuid:
 * 0 and *domid_r, or -ENOENT (silent). */
static int find_uuid(struct hv_handle *h, const struct xt_uuid *uuid,
                     uint32_t *domid_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    xc_domaininfo_t di[64];
    uint32_t next = 1;
    int r, i;

    while (next < DOMID_FIRST_RESERVED) {
        r = xc_domain_getinfolist(p->xch, next, 64, di);
        if (r < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen boot: "
                            "xc_domain_getinfolist from domain %u failed",
                            next);
        for (i = 0; i < r; i++) {
            if (memcmp(di[i].handle, uuid->b, sizeof(uuid->b)) == 0 &&
                !(di[i].flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown))) {
                *domid_r = di[i].domain;
                return 0;
            }
        }
        if (r < 64)
            break;
        next = (uint32_t)di[r - 1].domain + 1;
    }
    return -ENOENT;
}

int hv_xen_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
                uint32_t *domid_r)
{
    char uuid_s[XT_UUID_STRLEN + 1], name[HV_NAME_MAX + 8];
    char cfg_path[] = "/tmp/xm-xen-boot.XXXXXX";
    char out_path[] = "/tmp/xm-xen-boot-out.XXXXXX";
    struct xt_uuid uuid = spec->uuid;
    int cfg_fd = -1, out_fd = -1, rc;
    FILE *f = NULL;
    uint32_t domid;
    bool pvh = false;

    if (xt_uuid_is_nil(&uuid) && xt_uuid_generate(&uuid) < 0)
        return xt_error(h->ctx, -EIO, "xen boot: no uuid for the domain");
    xt_uuid_format(&uuid, uuid_s);
    if (spec->name && *spec->name)
        snprintf(name, sizeof(name), "%s", spec->name);
    else
        snprintf(name, sizeof(name), "xm-%s", uuid_s);
    rc = check_spec(h, spec, name, &pvh);
    if (rc < 0)
        return rc;
    rc = find_uuid(h, &uuid, &domid);
    if (rc == 0)
        return xt_error(h->ctx, -EEXIST, "xen boot of %s: domain %u "
                        "already has uuid %s", name, domid, uuid_s);
    if (rc != -ENOENT)
        return rc;
    cfg_fd = mkstemp(cfg_path);
    out_fd = cfg_fd < 0 ? -1 : mkstemp(out_path);
    if (cfg_fd < 0 || out_fd < 0) {
        rc = xt_error(h->ctx, -errno, "xen boot of %s: a temporary file "
                      "in /tmp", name);
        goto out;
    }
    unlink(out_path);
    f = fdopen(cfg_fd, "w");
    if (!f) {
        rc = xt_error(h->ctx, -errno, "xen boot of %s: fdopen", name);
        goto out;
    }
    cfg_fd = -1;
    rc = write_config(h, f, spec, name, uuid_s, pvh);
    if (rc < 0)
        goto out;
    xt_debug(h->ctx, "xen boot of %s: xl create %s (%s, %llu MiB, %u "
             "vCPUs, kernel %s)", name, cfg_path, pvh ? "pvh" : "pv",
             (unsigned long long)(spec->nr_pages / MIB_PAGES),
             spec->nr_vcpus, spec->kernel);
    rc = run_xl_create(h, name, cfg_path, out_fd);
    if (rc == 0) {
        rc = find_uuid(h, &uuid, &domid);
        if (rc == -ENOENT)
            rc = xt_error(h->ctx, -ENOENT, "xen boot of %s: xl create "
                          "succeeded but no domain has uuid %s", name,
                          uuid_s);
    } else if (find_uuid(h, &uuid, &domid) == 0) {
        /* xl was stopped half-way: nothing may be left. */
        hv_destroy(h, domid);
    }
    if (rc < 0)
        goto out;
    xt_info(h->ctx, "xen boot of %s: domain %u", name, domid);
    *domid_r = domid;
out:
    if (f)
        fclose(f);
    if (cfg_fd >= 0)
        close(cfg_fd);
    if (out_fd >= 0)
        close(out_fd);
    unlink(cfg_path);
    return rc;
}
