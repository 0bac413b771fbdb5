/*
 * pd_motion.c - storage motion of a running VM's disk on its host:
 * VDI.pool_migrate(vdi, sr, options) on the master, driving the agent of
 * the VM's host (host_local.vdi_motion_*), which drives the mirror inside
 * the disk's block service (vdi/mirror.h, docs/specs/mirror.md) and the
 * VMM's disk (hv_disk_retarget).  docs/design/storage-motion.md says why.
 *
 * The stages, kept in the source VDI's other_config (xm:motion-to = the
 * destination VDI, xm:motion-stage) and the destination's (xm:motion-of
 * = the source) before each begins, so that a restarted master knows
 * what to undo or finish (xa_motion_reconcile):
 *   prepare   the destination VDI exists, tagged       undo: destroy it
 *   copy      its backend and the mirror run           undo: cancel, stop
 *                                                      the backend, destroy
 *   synced    the mirror is write-blocking             undo: the same
 *   switched  the VM uses the destination (its VBD     finish: destroy the
 *             points there)                            source, drop tags
 *   sxm       with a VM migration (VM.migrate_send): its settling decides
 *   undo      an undo that could not reach a host      both tried again by
 *   finish    a finish that could not destroy the      xa_motion_retry once
 *             source                                   the hosts are live
 * A switch-over happens only on the agent, in one call: pause the VM (its
 * VMM hands its disks back), complete the mirror at the generation the
 * master saw (a mirror that failed since refuses), point the VMM's disk
 * at the destination, resume.  Any failure before the resume puts the VM
 * back on its source disk.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror_ctl.h"
#include "pd_xenapi.h"

#define MOTION_TO       "xm:motion-to"
#define MOTION_OF       "xm:motion-of"
#define MOTION_STAGE    "xm:motion-stage"
#define MOTION_OP       "xm:motion-op"      /* with a VM migration: its key */
#define MOTION_HOST     "xm:motion-host"    /* ... and the destination host,
                                             * which exports the new VDI */
#define MOTION_KEEP     "xm:motion-keep"    /* "true": the source stays */
#define MOTION_TO_UUID  "xm:motion-to-uuid" /* to another pool: the new
                                             * VDI's uuid there (instead of
                                             * MOTION_TO) */
#define AGENT_TIMEOUT_S 60
#define CTL_TIMEOUT_MS  30000
#define WAIT_MS         1000
#define MAX_RESUMES     3       /* a failed mirror is resumed so often */

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* ---- the agent's side ------------------------------------------------ */

/* One mirror control exchange with the backend of (vm, device, vdi). */
static int ctl(struct api_call_ctx *call, const char *vm, unsigned device,
               const char *vdi, const char *req, char *reply, size_t size)
{
    struct xa *xa = xa_call_of(call)->xa;
    char path[PATH_MAX];
    int rc = xa_blk_path(xa, call->xt, vm, device, vdi, "ctl", path,
                         sizeof(path));

    return rc ?: mirror_ctl_call(call->xt, path, req, reply, size,
                                 CTL_TIMEOUT_MS);
}

/* The mirror status line as an API struct. */
static int status_value(struct api_call_ctx *call, const char *line,
                        struct api_value **v_r)
{
    struct mirror_status st;
    struct api_value *v;
    int rc;

    if (mirror_ctl_parse_status(line, &st) < 0)
        return xt_error(call->xt, -EPROTO, "mirror status: '%.100s'", line);
    v = api_struct();
    rc = api_struct_add(v, "state", api_string(mirror_state_name(st.state)));
    rc = rc ?: api_struct_add(v, "gen", api_int((int64_t)st.gen));
    rc = rc ?: api_struct_add(v, "size", api_int((int64_t)st.size));
    rc = rc ?: api_struct_add(v, "dirty", api_int((int64_t)st.dirty_bytes));
    rc = rc ?: api_struct_add(v, "sent", api_int((int64_t)st.sent_bytes));
    rc = rc ?: api_struct_add(v, "synced", api_bool(st.actively_synced));
    rc = rc ?: api_struct_add(v, "reason", api_string(st.reason));
    /* the guest's writes through the mirror, mean latency per phase */
    rc = rc ?: api_struct_add(v, "wlat_copying_us", api_int((int64_t)(
        st.writes[0] ? st.write_ns[0] / st.writes[0] / 1000 : 0)));
    rc = rc ?: api_struct_add(v, "wlat_synced_us", api_int((int64_t)(
        st.writes[1] ? st.write_ns[1] / st.writes[1] / 1000 : 0)));
    if (rc < 0) {
        api_value_free(v);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    *v_r = v;
    return 0;
}

struct motion_args {
    const char *vm;             /* uuid */
    int64_t device;
    const char *src, *dst;      /* VDI uuids */
};

/* (secret, vm, device, src_vdi, dst_vdi, ...): the common arguments. */
static int motion_args(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct motion_args *a, struct api_value **result_r)
{
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    a->vm = xa_param_str(params, 1);
    a->src = xa_param_str(params, 3);
    a->dst = xa_param_str(params, 4);
    if (!a->vm || !a->src || !a->dst ||
        api_value_get_int64(api_array_get(params, 2), &a->device) < 0 ||
        a->device < 0 || a->device >= HV_MAX_DISKS)
        return xt_error(call->xt, -EINVAL, "vdi_motion_*(secret, vm, "
                        "device, src_vdi, dst_vdi, ...)");
    return 0;
}

/*
 * The mirror's target when it is another host's export of the VDI
 * (remote: { address, port, psk_identity, psk }): its key in a file
 * beside the source's control socket, VM.N.TAG.psk, and an nbds:// URI
 * naming it.
 */
static int remote_target(struct api_call_ctx *call, const struct motion_args *a,
                         const struct api_value *remote, char *uri,
                         size_t size)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *addr = api_value_string(api_struct_get(remote, "address"));
    const char *id = api_value_string(api_struct_get(remote,
                                                     "psk_identity"));
    const char *psk = api_value_string(api_struct_get(remote, "psk"));
    char path[PATH_MAX];
    int64_t port = 0;
    int fd, rc;

    api_value_get_int64(api_struct_get(remote, "port"), &port);
    if (!addr || !id || !psk || port <= 0 || port > 65535 ||
        strpbrk(addr, "/?@ ") || strpbrk(id, ":/@ "))
        return xt_error(call->xt, -EINVAL, "remote: { address, port, "
                        "psk_identity, psk }");
    rc = xa_blk_path(xa, call->xt, a->vm, (unsigned)a->device, a->src,
                     "psk", path, sizeof(path));
    if (rc < 0)
        return rc;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dprintf(fd, "%s:%s\n", id, psk) < 0)
        rc = xt_error(call->xt, -errno, "%s", path);
    if (fd >= 0)
        close(fd);
    if (rc == 0 && (size_t)snprintf(uri, size, "nbds://%s@%s%s%s:%lld/?"
                                    "tls-psk-file=%s", id,
                                    strchr(addr, ':') ? "[" : "", addr,
                                    strchr(addr, ':') ? "]" : "",
                                    (long long)port, path) >= size)
        rc = xt_error(call->xt, -ENAMETOOLONG, "the target's URI");
    return rc;
}

/*
 * host_local.vdi_motion_start(secret, vm, device, src_vdi, dst_vdi,
 * dst_disk, max_bps[, remote]): the mirror from the source's backend to
 * the destination: a backend started here for dst_disk (an entry as
 * xa_vm_disks gives), or, with remote, another host's export of it.
 */
int xa_local_vdi_motion_start(struct api_call_ctx *call,
                              const struct api_value *params,
                              struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const struct api_value *disk = api_array_get(params, 5);
    char uri[PATH_MAX + 32], req[MIRROR_CTL_LINE_MAX];
    char reply[MIRROR_CTL_LINE_MAX];
    char state[PATH_MAX];
    struct hv_disk hd = { 0 };
    struct motion_args a;
    int64_t bps = 0;
    int rc = motion_args(call, params, &a, result_r);

    if (rc < 0)
        return rc;
    api_value_get_int64(api_array_get(params, 6), &bps);
    /* the state file beside the control socket: VM.N.TAG.mirror */
    rc = xa_blk_path(xa, call->xt, a.vm, (unsigned)a.device, a.src,
                     "mirror", state, sizeof(state));
    if (rc < 0)
        return rc;
    if (api_value_count(params) > 7) {
        rc = remote_target(call, &a, api_array_get(params, 7), uri,
                           sizeof(uri));
    } else {
        pthread_mutex_lock(&xa->blk_lock);
        rc = xa_blk_start_disk(xa, call->xt, a.vm, disk, &hd, uri,
                               sizeof(uri));
        pthread_mutex_unlock(&xa->blk_lock);
    }
    if (rc < 0)
        return rc;
    unlink(state);              /* a fresh copy: never an old bitmap */
    if ((size_t)snprintf(req, sizeof(req), "start uri=%s target_zeroed=1 "
                         "max_bps=%lld state_file=%s", uri,
                         (long long)(bps > 0 ? bps : 0), state) >=
        sizeof(req))
        rc = xt_error(call->xt, -ENAMETOOLONG, "run_dir too long for the "
                      "mirror's request");
    rc = rc ?: ctl(call, a.vm, (unsigned)a.device, a.src, req, reply,
                   sizeof(reply));
    if (rc < 0) {
        char r2[MIRROR_CTL_LINE_MAX];
        struct xt_err e = { 0 };

        xt_err_take(&e, call->xt, rc);
        ctl(call, a.vm, (unsigned)a.device, a.src, "stop", r2, sizeof(r2));
        xa_blk_stop_vdi(xa, call->xt, a.vm, (unsigned)a.device, a.dst);
        return xt_err_put(&e, call->xt);
    }
    xt_info(call->xt, "VM %s disk %lld: mirroring VDI %s to %s", a.vm,
            (long long)a.device, a.src, a.dst);
    return status_value(call, reply, result_r);
}

/* host_local.vdi_motion_status(secret, vm, device, src, dst, state, gen,
 * synced): the mirror's status once it differs from what the master saw
 * last, or after 1 s. */
int xa_local_vdi_motion_status(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    const char *state = xa_param_str(params, 5);
    char req[128], reply[MIRROR_CTL_LINE_MAX];
    struct motion_args a;
    int64_t gen = 0;
    bool synced = false;
    int rc = motion_args(call, params, &a, result_r);

    if (rc < 0)
        return rc;
    api_value_get_int64(api_array_get(params, 6), &gen);
    api_value_get_bool(api_array_get(params, 7), &synced);
    if (state && *state)
        snprintf(req, sizeof(req), "wait state=%.16s gen=%lld synced=%d "
                 "timeout_ms=%d", state, (long long)gen, synced, WAIT_MS);
    else
        snprintf(req, sizeof(req), "status");
    rc = ctl(call, a.vm, (unsigned)a.device, a.src, req, reply,
             sizeof(reply));
    return rc ?: status_value(call, reply, result_r);
}

/*
 * host_local.vdi_motion_resume(secret, vm, device, src, dst, dst_disk):
 * after the mirror failed, the destination's backend (started again: it
 * may be the one that died) and the mirror going on from its bitmap.
 */
int xa_local_vdi_motion_resume(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const struct api_value *disk = api_array_get(params, 5);
    char uri[PATH_MAX + 32], reply[MIRROR_CTL_LINE_MAX];
    char req[PATH_MAX + 64] = "resume";
    struct hv_disk hd = { 0 };
    struct motion_args a;
    int rc = motion_args(call, params, &a, result_r);

    if (rc < 0)
        return rc;
    /* A remote target is the other host's to export again (a new port
     * and key: the mirror reconnects there); a local one is started here
     * again in its place. */
    if (api_struct_get(disk, "psk")) {
        rc = remote_target(call, &a, disk, uri, sizeof(uri));
        if (rc == 0)
            snprintf(req, sizeof(req), "resume uri=%s", uri);
    } else if (api_value_type(disk) == API_STRUCT) {
        pthread_mutex_lock(&xa->blk_lock);
        rc = xa_blk_start_disk(xa, call->xt, a.vm, disk, &hd, uri,
                               sizeof(uri));
        pthread_mutex_unlock(&xa->blk_lock);
    }
    rc = rc ?: ctl(call, a.vm, (unsigned)a.device, a.src, req, reply,
                   sizeof(reply));
    if (rc < 0)
        return rc;
    xt_info(call->xt, "VM %s disk %lld: the mirror to VDI %s resumed", a.vm,
            (long long)a.device, a.dst);
    return status_value(call, reply, result_r);
}

/*
 * The switch-over's journal on the agent, VM.N.DSTTAG.switch: how far a
 * switch got, so that the cancel that follows an agent killed mid-switch
 * knows which disk the VMM holds and leaves the VM running on it
 * (switch_recover).  "retargeted" is written before the retarget, "done"
 * once the VM runs on the destination.
 */
enum switch_step { SW_NONE, SW_PAUSED, SW_RETARGETED, SW_DONE };
static const char *const switch_steps[] = {
    "none", "paused", "retargeted", "done"
};

static int switch_path(struct api_call_ctx *call, const struct motion_args *a,
                       char *path, size_t size)
{
    return xa_blk_path(xa_call_of(call)->xa, call->xt, a->vm,
                       (unsigned)a->device, a->dst, "switch", path, size);
}

/* Notes step (SW_NONE: the journal goes), atomically. */
static void switch_note(struct api_call_ctx *call, const struct motion_args *a,
                        enum switch_step step)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    FILE *f;

    if (switch_path(call, a, path, sizeof(path)) < 0)
        return;
    if (step == SW_NONE) {
        unlink(path);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    f = fopen(tmp, "we");
    if (!f || fprintf(f, "%s\n", switch_steps[step]) < 0 || fclose(f) != 0 ||
        rename(tmp, path) < 0)
        xt_warn(call->xt, "switch journal %s: %s", path, strerror(errno));
}

static enum switch_step switch_read(struct api_call_ctx *call,
                                    const struct motion_args *a)
{
    char path[PATH_MAX], line[32] = "";
    enum switch_step i;
    FILE *f;

    if (switch_path(call, a, path, sizeof(path)) < 0 ||
        !(f = fopen(path, "re")))
        return SW_NONE;
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    for (i = SW_PAUSED; i <= SW_DONE; i++)
        if (!strcmp(line, switch_steps[i]))
            return i;
    return SW_PAUSED;           /* unreadable: assume the earliest */
}

/* The switch-over proper, the VM paused: the mirror completed at gen,
 * the VMM's disk pointed at the destination.  On failure the VMM's disk
 * is the source's again. */
static int switch_paused(struct api_call_ctx *call, struct hv_handle *h,
                         uint32_t domid, const struct motion_args *a,
                         int64_t gen, struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    char req[64], reply[MIRROR_CTL_LINE_MAX], dst_uri[PATH_MAX + 32];
    char src_uri[PATH_MAX + 32], path[PATH_MAX];
    unsigned slot = (unsigned)a->device + 1;
    int rc;

    rc = xa_blk_path(xa, call->xt, a->vm, (unsigned)a->device, a->dst,
                     "sock", path, sizeof(path));
    if (rc < 0)
        return rc;
    snprintf(dst_uri, sizeof(dst_uri), "nbd+unix:///?socket=%s", path);
    xa_blk_path(xa, call->xt, a->vm, (unsigned)a->device, a->src, "sock",
                path, sizeof(path));
    snprintf(src_uri, sizeof(src_uri), "nbd+unix:///?socket=%s", path);
    switch_note(call, a, SW_PAUSED);
    xt_fault(call->xt, "pd.motion.paused");
    snprintf(req, sizeof(req), "complete gen=%lld", (long long)gen);
    rc = ctl(call, a->vm, (unsigned)a->device, a->src, req, reply,
             sizeof(reply));
    if (rc < 0) {
        *result_r = api_failure("MIRROR_FAILED", a->src, call->xt->err_msg,
                                NULL);
        return rc;
    }
    switch_note(call, a, SW_RETARGETED);
    rc = hv_disk_retarget(h, domid, slot, dst_uri);
    if (rc < 0)
        return rc;
    rc = hv_unpause(h, domid);
    if (rc < 0) {
        /* The destination's backend would not take the VMM: back to the
         * source (the mirror is over, the motion must start again). */
        struct xt_err e = { 0 };

        xt_err_take(&e, call->xt, rc);
        hv_disk_retarget(h, domid, slot, src_uri);
        return xt_err_put(&e, call->xt);
    }
    switch_note(call, a, SW_DONE);
    xt_fault(call->xt, "pd.motion.resumed");
    return 1;                   /* running on the destination */
}

/* After a switch: the source's backend is done with, its mirror, then
 * itself. */
static void switch_source_stop(struct api_call_ctx *call,
                               const struct motion_args *a)
{
    struct xa *xa = xa_call_of(call)->xa;
    char reply[MIRROR_CTL_LINE_MAX];
    bool quiet = call->xt->quiet_errors;

    call->xt->quiet_errors = true;
    ctl(call, a->vm, (unsigned)a->device, a->src, "stop", reply,
        sizeof(reply));
    call->xt->quiet_errors = quiet;
    xt_error_clear(call->xt);
    pthread_mutex_lock(&xa->blk_lock);
    xa_blk_stop_vdi(xa, call->xt, a->vm, (unsigned)a->device, a->src);
    pthread_mutex_unlock(&xa->blk_lock);
}

/* host_local.vdi_motion_switch(secret, vm, device, src, dst, gen). */
int xa_local_vdi_motion_switch(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    struct hv_handle *h = NULL;
    struct motion_args a;
    uint32_t domid;
    int64_t gen = -1;
    int rc = motion_args(call, params, &a, result_r);

    if (rc < 0)
        return rc;
    api_value_get_int64(api_array_get(params, 5), &gen);
    rc = xa_domain_here(call, a.vm, HV_CAP_DISK_RETARGET,
                        "switch a running VM's disk", &h, &domid, result_r);
    if (rc < 0)
        return rc;
    rc = hv_pause(h, domid);
    if (rc == 0) {
        rc = switch_paused(call, h, domid, &a, gen, result_r);
        if (rc < 0) {
            struct xt_err e = { 0 };

            xt_err_take(&e, call->xt, rc);
            hv_unpause(h, domid);   /* on the source disk still */
            switch_note(call, &a, SW_NONE);
            xt_err_put(&e, call->xt);
        }
    }
    if (rc < 0)
        goto out;
    switch_source_stop(call, &a);
    xt_info(call->xt, "VM %s disk %lld: switched from VDI %s to %s", a.vm,
            (long long)a.device, a.src, a.dst);
    *result_r = api_void();
    rc = 0;
out:
    hv_close(h);
    return rc;
}

/*
 * After an agent died mid-switch (a journal is left): the VM is left
 * running on the source disk, unless it already ran on the destination:
 * then 1, the motion is switched.  No journal: 0.
 */
static int switch_recover(struct api_call_ctx *call,
                          const struct motion_args *a,
                          struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    enum switch_step step = switch_read(call, a);
    char path[PATH_MAX], uri[PATH_MAX + 32];
    struct hv_handle *h = NULL;
    uint32_t domid;
    int rc;

    if (step == SW_NONE)
        return 0;
    rc = xa_domain_here(call, a->vm, HV_CAP_DISK_RETARGET,
                        "switch a running VM's disk", &h, &domid, result_r);
    if (rc < 0) {               /* no VM here: no disk held */
        api_value_free(*result_r);
        *result_r = NULL;
        xt_error_clear(call->xt);
        switch_note(call, a, SW_NONE);
        return 0;
    }
    rc = xa_blk_path(xa, call->xt, a->vm, (unsigned)a->device, a->src,
                     "sock", path, sizeof(path));
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", path);
    /* Paused (the switch never resumed it): back onto the source.  A
     * running VM was resumed by the switch itself: on the destination if
     * it had got to the retarget. */
    if (rc == 0 && step != SW_DONE)
        rc = hv_disk_retarget(h, domid, (unsigned)a->device + 1, uri);
    if (rc == -EBUSY && step == SW_RETARGETED)
        step = SW_DONE;
    if (step == SW_DONE || rc == -EBUSY) {
        xt_error_clear(call->xt);
        rc = 0;
    } else if (rc == 0) {
        rc = hv_unpause(h, domid);
    }
    hv_close(h);
    if (rc < 0)
        return rc;
    if (step == SW_DONE) {
        xt_info(call->xt, "VM %s disk %lld: an interrupted switch had put "
                "it on VDI %s", a->vm, (long long)a->device, a->dst);
        return 1;
    }
    switch_note(call, a, SW_NONE);
    xt_info(call->xt, "VM %s disk %lld: an interrupted switch is undone: "
            "it runs on VDI %s", a->vm, (long long)a->device, a->src);
    return 0;
}

/* host_local.vdi_motion_cancel(secret, vm, device, src, dst): the mirror
 * cancelled and forgotten, the destination's backend stopped; what is
 * not there any more is not an error.  MOTION_SWITCHED when an
 * interrupted switch-over had put the VM on the destination: nothing is
 * cancelled, the master finishes the motion instead. */
int xa_local_vdi_motion_cancel(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    char reply[MIRROR_CTL_LINE_MAX], path[PATH_MAX];
    struct motion_args a;
    bool quiet = call->xt->quiet_errors;
    int rc = motion_args(call, params, &a, result_r);

    rc = rc ?: switch_recover(call, &a, result_r);
    if (rc == 1) {
        /* What the switch did not get to: the source's backend goes. */
        switch_source_stop(call, &a);
        *result_r = api_failure("MOTION_SWITCHED", a.src, a.dst, NULL);
        return xt_error(call->xt, -EALREADY, "VM %s disk %lld runs on VDI "
                        "%s: not cancelled", a.vm, (long long)a.device,
                        a.dst);
    }
    if (rc < 0)
        return rc;
    call->xt->quiet_errors = true;
    ctl(call, a.vm, (unsigned)a.device, a.src, "cancel", reply,
        sizeof(reply));
    ctl(call, a.vm, (unsigned)a.device, a.src, "stop", reply, sizeof(reply));
    call->xt->quiet_errors = quiet;
    xt_error_clear(call->xt);
    pthread_mutex_lock(&xa->blk_lock);
    xa_blk_stop_vdi(xa, call->xt, a.vm, (unsigned)a.device, a.dst);
    pthread_mutex_unlock(&xa->blk_lock);
    if (xa_blk_path(xa, call->xt, a.vm, (unsigned)a.device, a.src, "psk",
                    path, sizeof(path)) == 0)
        unlink(path);
    *result_r = api_void();
    return 0;
}

/* ---- the master's side: VDI.pool_migrate ----------------------------- */

struct motion {
    struct api_call_ctx *call;
    char *vm, *vm_uuid, *vbd, *host, *url, *mode;
    char *src, *src_uuid, *src_sr, *dst, *dst_uuid;
    int num;
    int64_t max_bps;
    bool keep;                  /* the source stays (MOTION_KEEP) */
    struct api_value *dst_disk; /* the destination as the agent serves it */
    unsigned resumes;
    char *dst_host;             /* with a VM migration: where it goes */
    /* To another pool: dst is NULL and dst_host a ref there; that pool's
     * import makes, exports and ends the new VDI (pd_xpool.c). */
    bool remote;
    const struct xa_xpool *xp;  /* while the migration runs */
};

static void motion_clear(struct motion *mo)
{
    free(mo->vm);
    free(mo->vm_uuid);
    free(mo->vbd);
    free(mo->host);
    free(mo->url);
    free(mo->mode);
    free(mo->src);
    free(mo->src_uuid);
    free(mo->src_sr);
    free(mo->dst);
    free(mo->dst_uuid);
    api_value_free(mo->dst_disk);
    free(mo->dst_host);
}

/* Calls host_local.METHOD(vm, device, src, dst, extra...) on the VM's
 * host; extra (an array, taken) may be NULL. */
static int agent(struct motion *mo, const char *method,
                 struct api_value *extra, struct api_value **v_r,
                 struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(mo->call);
    struct api_value *p = api_array(), *v = NULL;
    char name[64];
    size_t i;
    int rc;

    snprintf(name, sizeof(name), "host_local.vdi_motion_%s", method);
    rc = api_array_append(p, api_string(mo->vm_uuid));
    rc = rc ?: api_array_append(p, api_int(mo->num));
    rc = rc ?: api_array_append(p, api_string(mo->src_uuid));
    rc = rc ?: api_array_append(p, api_string(mo->dst_uuid));
    for (i = 0; rc == 0 && extra && i < api_value_count(extra); i++)
        rc = api_array_append(p, api_value_copy(api_array_get(extra, i)));
    api_value_free(extra);
    if (rc < 0) {
        api_value_free(p);
        return xt_error(mo->call->xt, -ENOMEM, "out of memory");
    }
    rc = xa_host_call(xc->xa, mo->call->xt, mo->url, name, p,
                      AGENT_TIMEOUT_S, &v, result_r);
    if (v_r)
        *v_r = v;
    else
        api_value_free(v);
    return rc;
}

/* The running VM whose attached VBD holds src: mo's VM, VBD, host. */
static int motion_find(struct motion *mo, struct api_value **result_r)
{
    struct pool_db *db = dbof(mo->call);
    struct pool_strv vbds = { 0 };
    char *ud = NULL, *ps = NULL;
    size_t i;
    int rc;

    rc = xa_field_str(db, POOL_CLASS_VDI, mo->src, "SR", &mo->src_sr);
    rc = xa_db_fail(mo->call, rc, "VDI", mo->src, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, mo->src, "uuid",
                            &mo->src_uuid);
    rc = rc ?: pool_db_find(db, POOL_CLASS_VBD, "VDI", &POOL_V_REF(mo->src),
                            &vbds);
    for (i = 0; rc == 0 && i < vbds.n && !mo->vbd; i++) {
        int64_t att = 0;

        rc = xa_field_int(db, POOL_CLASS_VBD, vbds.v[i],
                          "currently_attached", &att);
        if (rc == 0 && att && !(mo->vbd = strdup(vbds.v[i])))
            rc = -ENOMEM;
    }
    pool_strv_free(&vbds);
    if (rc == 0 && !mo->vbd) {
        *result_r = api_failure("VDI_NOT_IN_MAP", mo->src, NULL);
        rc = xt_error(mo->call->xt, -EINVAL, "VDI %s is not a running VM's "
                      "disk: VDI.pool_migrate moves those (VDI.copy the "
                      "others)", mo->src);
    }
    rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, mo->vbd, "VM", &mo->vm);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, mo->vbd, "mode", &mo->mode);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, mo->vbd, "userdevice", &ud);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, mo->vm, "uuid", &mo->vm_uuid);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, mo->vm, "resident_on",
                            &mo->host);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, mo->vm, "power_state", &ps);
    if (rc == 0 && strcmp(ps, "Running") != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", mo->vm, "Running", ps,
                                NULL);
        rc = xt_error(mo->call->xt, -EPERM, "VM %s is %s", mo->vm, ps);
    }
    if (rc == 0 && !strcmp(mo->mode, "RO")) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "a read-only disk "
                                "has no writes to mirror: VDI.copy it",
                                NULL);
        rc = xt_error(mo->call->xt, -EROFS, "VDI %s is read-only here",
                      mo->src);
    }
    mo->num = ud ? atoi(ud) : 0;
    free(ud);
    free(ps);
    return rc;
}

static int set_stage(struct motion *mo, const char *stage)
{
    xt_debug(mo->call->xt, "VDI %s: motion stage %s", mo->src, stage);
    return pool_db_map_put(dbof(mo->call), POOL_CLASS_VDI, mo->src,
                           "other_config", MOTION_STAGE, stage,
                           POOL_DB_INTERNAL);
}

bool xa_opt_keep_source(const struct api_value *opts)
{
    const struct api_value *v = api_struct_get(opts, "keep_source");
    const char *s = api_value_string(v);
    bool b = false;

    if (v && api_value_type(v) == API_BOOL)
        api_value_get_bool(v, &b);
    return b || (s && !strcmp(s, "true"));
}

/* The source kept after the switch, when asked: said on the source. */
static int tag_keep(struct motion *mo)
{
    if (!mo->keep)
        return 0;
    return pool_db_map_put(dbof(mo->call), POOL_CLASS_VDI, mo->src,
                           "other_config", MOTION_KEEP, "true",
                           POOL_DB_INTERNAL);
}

/* Stage prepare: the destination VDI on sr, tagged both ways. */
static int motion_prepare(struct motion *mo, const char *sr,
                          struct api_value **result_r)
{
    struct pool_db *db = dbof(mo->call);
    char *name = NULL;
    int64_t size = 0;
    int rc;

    if (!strcmp(sr, mo->src_sr)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "the VDI is on "
                                "that SR already", NULL);
        return xt_error(mo->call->xt, -EEXIST, "VDI %s is on SR %s",
                        mo->src, sr);
    }
    rc = xa_field_int(db, POOL_CLASS_VDI, mo->src, "virtual_size", &size);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, mo->src, "name_label",
                            &name);
    rc = rc ?: set_stage(mo, "prepare");
    rc = rc ?: tag_keep(mo);
    rc = rc ?: xa_vdi_create(mo->call, sr, size, name, &mo->dst, result_r);
    free(name);
    if (rc < 0)
        return rc;
    rc = pool_db_map_put(db, POOL_CLASS_VDI, mo->src, "other_config",
                         MOTION_TO, mo->dst, POOL_DB_INTERNAL);
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VDI, mo->dst, "other_config",
                               MOTION_OF, mo->src, POOL_DB_INTERNAL);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, mo->dst, "uuid",
                            &mo->dst_uuid);
    return rc;
}

/* Stage copy: the destination's backend and the mirror, on the host. */
static int motion_copy(struct motion *mo, struct api_value **result_r)
{
    struct api_value *disk = NULL, *extra;
    int rc;

    rc = xa_disk_value(mo->call, mo->vm, mo->dst, "RW", mo->num, mo->host,
                       "pool_migrate", &disk, result_r);
    rc = rc ?: set_stage(mo, "copy");
    if (rc < 0) {
        api_value_free(disk);
        return rc;
    }
    mo->dst_disk = disk;
    extra = api_array();
    api_array_append(extra, api_value_copy(disk));
    api_array_append(extra, api_int(mo->max_bps));
    return agent(mo, "start", extra, NULL, result_r);
}

/* The mirror's figures on the task, for GUIs and the CLI's progress bar
 * (the keys a migration's source writes, and the mirror's own). */
static void task_figures(struct motion *mo, const char *state, int64_t sent,
                         int64_t dirty, bool synced, uint64_t t0,
                         const struct api_value *st)
{
    struct xa_call *xc = xa_call_of(mo->call);
    double s = (double)(xt_now_ns() - t0) / 1e9;
    double rate = s > 0 ? (double)sent / s : 0;
    char v[8][32];
    const char *k[8] = { "mig:bytes", "mig:total_bytes", "mig:rate",
                         "mig:eta", "mig:phase", "mirror:actively_synced",
                         "mirror:write_latency_copying_us",
                         "mirror:write_latency_synced_us" };
    int64_t l0 = 0, l1 = 0;
    unsigned i;

    if (!xc->task)
        return;
    api_value_get_int64(api_struct_get(st, "wlat_copying_us"), &l0);
    api_value_get_int64(api_struct_get(st, "wlat_synced_us"), &l1);
    snprintf(v[6], sizeof(v[6]), "%lld", (long long)l0);
    snprintf(v[7], sizeof(v[7]), "%lld", (long long)l1);
    snprintf(v[0], sizeof(v[0]), "%lld", (long long)sent);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)(sent + dirty));
    snprintf(v[2], sizeof(v[2]), "%.0f", rate);
    snprintf(v[3], sizeof(v[3]), "%.3f", rate > 0 ? dirty / rate : 0);
    snprintf(v[4], sizeof(v[4]), "%.16s", state);
    snprintf(v[5], sizeof(v[5]), "%s", synced ? "true" : "false");
    for (i = 0; i < 8; i++)
        pool_db_map_put(xc->db, POOL_CLASS_TASK, xc->task, "other_config",
                        k[i], v[i], POOL_DB_INTERNAL);
    if (sent + dirty > 0)
        xa_task_progress(xc->xa, xc->db, xc->task,
                         0.05 + 0.9 * (double)sent / (double)(sent + dirty));
}

/* Follows the mirror until it is actively synced (*gen_r its
 * generation), the task's progress going with it.  A failed mirror ends
 * the motion: MIRROR_FAILED [vdi, reason]. */
static int sxm_export(struct motion *mo, struct api_value **remote_r,
                      struct api_value **result_r);
static void unexport(struct motion *mo);

/* A failed mirror resumed: its local destination backend started again in
 * its place, or (with a VM migration) the destination host's export made
 * again, the mirror reconnecting to the new one. */
static int motion_resume(struct motion *mo, struct api_value **result_r)
{
    struct api_value *extra = api_array(), *v = NULL, *remote = NULL;
    int rc = 0;

    if (mo->dst_host) {
        unexport(mo);
        rc = sxm_export(mo, &remote, result_r);
    }
    if (rc < 0) {
        api_value_free(extra);
        return rc;
    }
    api_array_append(extra, remote ? remote : api_value_copy(mo->dst_disk));
    rc = agent(mo, "resume", extra, &v, result_r);
    api_value_free(v);
    return rc;
}

static int motion_sync(struct motion *mo, int64_t *gen_r,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(mo->call);
    uint64_t t0 = xt_now_ns();
    char state[16] = "";
    int64_t gen = 0;
    int rc = 0;

    for (;;) {
        struct api_value *extra = api_array(), *v = NULL;
        const char *s, *why;
        int64_t dirty = 0, sent = 0;
        bool synced = false;

        api_array_append(extra, api_string(state));
        api_array_append(extra, api_int(gen));
        api_array_append(extra, api_bool(false));
        rc = agent(mo, "status", extra, &v, result_r);
        if (rc < 0)
            return rc;
        s = api_value_string(api_struct_get(v, "state"));
        why = api_value_string(api_struct_get(v, "reason"));
        api_value_get_int64(api_struct_get(v, "gen"), &gen);
        api_value_get_int64(api_struct_get(v, "dirty"), &dirty);
        api_value_get_int64(api_struct_get(v, "sent"), &sent);
        api_value_get_bool(api_struct_get(v, "synced"), &synced);
        snprintf(state, sizeof(state), "%s", s ? s : "");
        task_figures(mo, state, sent, dirty, synced, t0, v);
        if (s && !strcmp(s, "failed") && mo->resumes < MAX_RESUMES) {
            /* A dropped link, a dead destination backend: go on from the
             * bitmap rather than start over. */
            mo->resumes++;
            xt_warn(mo->call->xt, "mirror of VDI %s failed (%s): resuming "
                    "(%u of %u)", mo->src, why ? why : "?", mo->resumes,
                    MAX_RESUMES);
            api_value_free(v);
            v = NULL;
            rc = motion_resume(mo, result_r);
            if (rc < 0) {
                /* The next status says failed again: the last resume's
                 * failure is the mirror's (MIRROR_FAILED below). */
                api_value_free(*result_r);
                *result_r = NULL;
                xt_error_clear(mo->call->xt);
                rc = 0;
            }
            state[0] = '\0';
            continue;
        }
        if (!s || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0) {
            *result_r = api_failure("MIRROR_FAILED", mo->src,
                                    why && *why ? why : "the mirror ended",
                                    NULL);
            rc = xt_error(mo->call->xt, -EIO, "mirror of VDI %s: %s",
                          mo->src, why ? why : "ended");
        }
        api_value_free(v);
        if (rc < 0 || synced)
            break;
        if (xa_task_cancelling(xc->db, xc->task)) {
            *result_r = api_failure("TASK_CANCELLED", xc->task, NULL);
            return xt_error(mo->call->xt, -ECANCELED, "VDI.pool_migrate "
                            "cancelled");
        }
    }
    *gen_r = gen;
    return rc;
}

/* Stage switched: the VM on the destination, the VBD pointing there. */
static int motion_switch(struct motion *mo, int64_t gen,
                         struct api_value **result_r)
{
    struct pool_db *db = dbof(mo->call);
    struct api_value *extra = api_array();
    int rc;

    xt_fault(mo->call->xt, "pd.motion.synced");
    api_array_append(extra, api_int(gen));
    rc = agent(mo, "switch", extra, NULL, result_r);
    if (rc < 0)
        return rc;
    rc = pool_db_begin(db);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VBD, mo->vbd, "VDI",
                                 &POOL_V_REF(mo->dst), POOL_DB_INTERNAL);
    rc = rc ?: set_stage(mo, "switched");
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

/* With a VM migration: the destination host stops exporting the new
 * VDI (best effort: an export left over serves nobody, only the source
 * host may connect, and its key is gone with the motion). */
static void unexport(struct motion *mo)
{
    struct xa *xa = xa_call_of(mo->call)->xa;
    struct api_value *p, *ignored = NULL, *v = NULL;
    char *url = NULL;

    if (mo->remote || !mo->dst_host || !mo->dst_uuid ||
        xa_host_url(xa, dbof(mo->call), mo->dst_host, &url) < 0)
        return;
    p = api_array();
    api_array_append(p, api_string(mo->dst_uuid));
    xa_host_call(xa, mo->call->xt, url, "host_local.vdi_unexport", p,
                 AGENT_TIMEOUT_S, &v, &ignored);
    api_value_free(v);
    api_value_free(ignored);
    free(url);
}

/* The source's motion tags go, in one transaction. */
static void untag(struct pool_db *db, const char *src)
{
    static const char *const keys[] = {
        MOTION_TO, MOTION_STAGE, MOTION_OP, MOTION_HOST, MOTION_TO_UUID,
        MOTION_KEEP, NULL
    };
    size_t i;
    int rc = pool_db_begin(db);

    for (i = 0; rc == 0 && keys[i]; i++)
        rc = pool_db_map_remove(db, POOL_CLASS_VDI, src, "other_config",
                                keys[i], POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
}

/* After the switch: the source goes, the tags with it (the source stays
 * untagged when it is to be kept). */
static int motion_finish(struct motion *mo)
{
    struct api_value *ignored = NULL;
    int rc;

    xt_fault(mo->call->xt, "pd.motion.switched");
    unexport(mo);
    if (mo->dst)
        pool_db_map_remove(dbof(mo->call), POOL_CLASS_VDI, mo->dst,
                           "other_config", MOTION_OF, POOL_DB_INTERNAL);
    if (mo->keep) {
        untag(dbof(mo->call), mo->src);
        xt_info(mo->call->xt, "VDI %s: kept, as asked; its copy %s is the "
                "VM's disk now", mo->src, mo->dst ? mo->dst :
                mo->dst_uuid ? mo->dst_uuid : "-");
        return 0;
    }
    rc = xa_vdi_destroy(mo->call, mo->src, &ignored);
    api_value_free(ignored);
    if (rc < 0) {
        /* Left to xa_motion_retry. */
        pool_db_map_put(dbof(mo->call), POOL_CLASS_VDI, mo->src,
                        "other_config", MOTION_STAGE, "finish",
                        POOL_DB_INTERNAL);
        xt_warn(mo->call->xt, "VDI %s: the motion's source stays (%s): "
                "destroyed once its host answers", mo->src,
                mo->call->xt->err_msg);
    }
    return 0;
}

/* An agent's cancel found the VM switched by a switch-over it had not
 * answered (MOTION_SWITCHED): the database follows, then the finish. */
static void motion_switched_late(struct motion *mo)
{
    struct pool_db *db = dbof(mo->call);
    int rc = pool_db_begin(db);

    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VBD, mo->vbd, "VDI",
                                 &POOL_V_REF(mo->dst), POOL_DB_INTERNAL);
    rc = rc ?: set_stage(mo, "switched");
    rc = rc ?: pool_db_commit(db);
    if (rc < 0) {
        pool_db_rollback(db);
        return;                 /* tagged still: the next pass */
    }
    xt_info(mo->call->xt, "VDI %s: the VM runs on %s already; finishing "
            "its motion", mo->src, mo->dst);
    motion_finish(mo);
}

/*
 * Before the switch: the mirror and the destination go, the VM keeps its
 * source disk.  The agent's cancel comes first and must be answered
 * while the VM runs: after an agent died mid-switch only it knows which
 * disk the VMM holds.  1 when it said the VM runs on the destination
 * (the motion is finished instead), else 0 (undone, or left tagged at
 * stage undo for xa_motion_retry).
 */
static int motion_undo(struct motion *mo)
{
    struct pool_db *db = dbof(mo->call);
    struct api_value *ignored = NULL;
    struct xt_err e = { 0 };
    bool quiet = mo->call->xt->quiet_errors;
    int rc = 0;

    xt_err_take(&e, mo->call->xt, mo->call->xt->err_rc);
    mo->call->xt->quiet_errors = true;
    if (mo->dst_uuid && mo->url)
        rc = agent(mo, "cancel", NULL, NULL, &ignored);
    if (rc < 0 && mo->vbd && ignored && api_failure_code(ignored) &&
        !strcmp(api_failure_code(ignored), "MOTION_SWITCHED")) {
        api_value_free(ignored);
        mo->call->xt->quiet_errors = quiet;
        xt_error_clear(mo->call->xt);
        motion_switched_late(mo);
        return 1;
    }
    api_value_free(ignored);
    ignored = NULL;
    if (rc == 0)
        unexport(mo);
    if (rc < 0 || (mo->dst && xa_vdi_destroy(mo->call, mo->dst,
                                             &ignored) < 0)) {
        /* Still tagged both ways, left to xa_motion_retry. */
        api_value_free(ignored);
        mo->call->xt->quiet_errors = quiet;
        pool_db_map_put(db, POOL_CLASS_VDI, mo->src, "other_config",
                        MOTION_STAGE, "undo", POOL_DB_INTERNAL);
        xt_warn(mo->call->xt, "VDI %s: the motion to %s is not undone yet "
                "(%s); it stays tagged", mo->src, mo->dst ? mo->dst : "-",
                rc < 0 ? "the VM's host did not cancel" :
                "its destination is not destroyed");
        if (e.rc)
            xt_err_put(&e, mo->call->xt);
        return 0;
    }
    api_value_free(ignored);
    mo->call->xt->quiet_errors = quiet;
    untag(db, mo->src);
    if (e.rc)
        xt_err_put(&e, mo->call->xt);
    return 0;
}

/* The motion itself, the VM claimed: prepare, copy, synced, switched,
 * finished. */
static int motion_run(struct motion *mo, const char *sr,
                      struct api_value **result_r)
{
    struct pool_db *db = dbof(mo->call);
    int64_t gen = 0;
    int rc;

    rc = xa_host_usable(mo->call, mo->host, result_r);
    rc = rc ?: xa_host_url(xa_call_of(mo->call)->xa, db, mo->host,
                           &mo->url);
    rc = rc ?: motion_prepare(mo, sr, result_r);
    rc = rc ?: motion_copy(mo, result_r);
    rc = rc ?: motion_sync(mo, &gen, result_r);
    rc = rc ?: set_stage(mo, "synced");
    rc = rc ?: motion_switch(mo, gen, result_r);
    if (rc < 0) {
        if (motion_undo(mo) == 0)
            return rc;
        /* The switch it did not answer had happened. */
        api_value_free(*result_r);
        xt_error_clear(mo->call->xt);
        *result_r = api_string(mo->dst);
        return 0;
    }
    motion_finish(mo);
    *result_r = api_string(mo->dst);
    return 0;
}

/* VDI.pool_migrate(session, vdi, sr, options): a running VM's disk to
 * another SR its host has plugged, the VM staying where it is.  options:
 * max_bps (the copy's bandwidth cap, bytes/s).  Returns the new VDI. */
static int vdi_pool_migrate(struct api_call_ctx *call,
                            const struct api_value *params,
                            struct api_value **result_r)
{
    const char *vdi = xa_param_str(params, 1), *sr = xa_param_str(params, 2);
    const struct api_value *opts = api_array_get(params, 3);
    const char *bps = api_value_string(api_struct_get(opts, "max_bps"));
    struct motion mo = { .call = call };
    char key[POOL_REF_STRLEN + 1];
    bool claimed = false;
    int rc;

    if (!vdi || !sr)
        return xt_error(call->xt, -EINVAL, "VDI.pool_migrate(session, vdi, "
                        "sr, options)");
    mo.src = strdup(vdi);
    mo.max_bps = bps ? atoll(bps) : 0;
    mo.keep = xa_opt_keep_source(opts);
    rc = mo.src ? 0 : xt_error(call->xt, -ENOMEM, "out of memory");
    rc = rc ?: xa_db_fail(call, pool_db_check_ref(dbof(call), POOL_CLASS_SR,
                                                  sr), "SR", sr, result_r);
    rc = rc ?: motion_find(&mo, result_r);
    if (rc == 0) {
        xa_op_key(call, key);
        rc = xa_vm_claim(call, mo.vm, "Running", "VDI.pool_migrate", key,
                         NULL, NULL, result_r);
        claimed = rc == 0;
    }
    rc = rc ?: motion_run(&mo, sr, result_r);
    if (claimed)
        pool_db_map_remove(dbof(call), POOL_CLASS_VM, mo.vm,
                           "current_operations", key, POOL_DB_INTERNAL);
    motion_clear(&mo);
    return rc;
}

const struct api_method xa_motion_methods[] = {
    { "VDI.pool_migrate", 4, 0, 0, vdi_pool_migrate },
    { NULL, 0, 0, 0, NULL },
};

/* ---- with a VM migration to another host (VM.migrate_send) ---------- */

struct xa_sxm {
    unsigned n;
    struct motion mo[HV_MAX_DISKS];
    int64_t gen[HV_MAX_DISKS];
};

/* The destination host exports mo's new VDI to the source host: the
 * mirror's remote target { address, port, psk_identity, psk }. */
static int sxm_export(struct motion *mo, struct api_value **remote_r,
                      struct api_value **result_r)
{
    struct xa *xa = xa_call_of(mo->call)->xa;
    struct pool_db *db = dbof(mo->call);
    struct api_value *p = api_array(), *v = NULL;
    char *durl = NULL, *daddr = NULL, *saddr = NULL;
    int rc;

    if (mo->xp) {
        api_value_free(p);
        return xa_xpool_export(mo->call, mo->xp, mo->num, remote_r,
                               result_r);
    }
    rc = xa_host_url(xa, db, mo->dst_host, &durl);
    rc = rc ?: xa_field_str(db, POOL_CLASS_HOST, mo->dst_host, "address",
                            &daddr);
    rc = rc ?: xa_field_str(db, POOL_CLASS_HOST, mo->host, "address",
                            &saddr);
    if (rc == 0) {
        api_array_append(p, api_value_copy(mo->dst_disk));
        api_array_append(p, api_string(daddr));
        /* The peer let in is the source host; hosts on one machine's
         * loopback (tests, a demo) all connect from 127.0.0.1. */
        api_array_append(p, api_string(!strncmp(saddr, "127.", 4) ?
                                       "127.0.0.1" : saddr));
        rc = xa_host_call(xa, mo->call->xt, durl, "host_local.vdi_export",
                          p, AGENT_TIMEOUT_S, &v, result_r);
        p = NULL;
    }
    if (rc == 0 && api_struct_add(v, "address", api_string(daddr)) < 0)
        rc = xt_error(mo->call->xt, -ENOMEM, "out of memory");
    if (rc == 0) {
        *remote_r = v;
        v = NULL;
    }
    api_value_free(p);
    api_value_free(v);
    free(durl);
    free(daddr);
    free(saddr);
    return rc;
}

/* To another pool: the new VDI of mo's disk that pool's import made,
 * from exports [{ device, vdi, remote }...]; *remote_r its export. */
static int sxm_import(struct motion *mo, const struct api_value *exports,
                      struct api_value **remote_r)
{
    struct pool_db *db = dbof(mo->call);
    size_t i;
    int rc = 0;

    for (i = 0; i < api_value_count(exports); i++) {
        const struct api_value *e = api_array_get(exports, i);
        const char *uuid = api_value_string(api_struct_get(e, "vdi"));
        int64_t dev = -1;

        api_value_get_int64(api_struct_get(e, "device"), &dev);
        if (dev != mo->num || !uuid)
            continue;
        mo->dst_uuid = strdup(uuid);
        *remote_r = api_value_copy(api_struct_get(e, "remote"));
        rc = mo->dst_uuid && *remote_r ? 0 : -ENOMEM;
        rc = rc ?: pool_db_map_put(db, POOL_CLASS_VDI, mo->src,
                                   "other_config", MOTION_TO_UUID, uuid,
                                   POOL_DB_INTERNAL);
        return rc < 0 ? xt_error(mo->call->xt, rc, "VDI %s", mo->src) : 0;
    }
    return xt_error(mo->call->xt, -ENOENT, "the import made no disk %d",
                    mo->num);
}

/* One disk of the motion: its new VDI on sr (to another pool: the one
 * its import made), tagged with the migration, exported by the
 * destination host, mirrored to from the source's. */
static int sxm_one(struct motion *mo, const char *vm, const char *op,
                   const char *sr, const struct api_value *exports,
                   struct api_value **result_r)
{
    struct pool_db *db = dbof(mo->call);
    struct api_value *remote = NULL, *extra;
    int rc;

    rc = motion_find(mo, result_r);
    if (rc == 0 && strcmp(mo->vm, vm) != 0) {
        *result_r = api_failure("VDI_NOT_IN_MAP", mo->src, NULL);
        rc = xt_error(mo->call->xt, -EINVAL, "VDI %s is not a disk of VM "
                      "%s", mo->src, vm);
    }
    rc = rc ?: xa_host_url(xa_call_of(mo->call)->xa, db, mo->host,
                           &mo->url);
    if (mo->remote) {
        rc = rc ?: set_stage(mo, "prepare");
        rc = rc ?: tag_keep(mo);
        rc = rc ?: sxm_import(mo, exports, &remote);
    } else {
        rc = rc ?: motion_prepare(mo, sr, result_r);
    }
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VDI, mo->src, "other_config",
                               MOTION_OP, op, POOL_DB_INTERNAL);
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VDI, mo->src, "other_config",
                               MOTION_HOST, mo->dst_host, POOL_DB_INTERNAL);
    rc = rc ?: set_stage(mo, "sxm");
    if (!mo->remote) {
        rc = rc ?: xa_disk_value(mo->call, mo->vm, mo->dst, "RW", mo->num,
                                 mo->dst_host, "migrate_send",
                                 &mo->dst_disk, result_r);
        rc = rc ?: sxm_export(mo, &remote, result_r);
    }
    if (rc < 0)
        return rc;
    extra = api_array();
    api_array_append(extra, api_string(""));    /* no disk here */
    api_array_append(extra, api_int(mo->max_bps));
    api_array_append(extra, remote);
    return agent(mo, "start", extra, NULL, result_r);
}

int xa_sxm_start(struct api_call_ctx *call, const char *vm,
                 const char *dst_host, const char *op,
                 const struct api_value *vdi_map,
                 const struct xa_sxm_opts *o, struct xa_sxm **sxm_r,
                 struct api_value **result_r)
{
    struct xa_sxm *x = calloc(1, sizeof(*x));
    size_t i, n = api_value_count(vdi_map);
    int rc = x ? 0 : xt_error(call->xt, -ENOMEM, "out of memory");

    *sxm_r = NULL;
    if (rc == 0 && n > HV_MAX_DISKS)
        rc = xt_error(call->xt, -E2BIG, "vdi_map: %zu disks", n);
    for (i = 0; rc == 0 && i < n; i++) {
        struct motion *mo = &x->mo[x->n++];
        const char *sr = api_value_string(api_struct_value(vdi_map, i));

        mo->call = call;
        mo->max_bps = o->max_bps;
        mo->keep = o->keep_source;
        mo->xp = o->xp;
        mo->remote = o->xp != NULL;
        mo->src = strdup(api_struct_key(vdi_map, i));
        mo->dst_host = strdup(dst_host);
        rc = mo->src && mo->dst_host && sr ? 0 :
             xt_error(call->xt, -EINVAL, "vdi_map: VDI -> SR");
        rc = rc ?: sxm_one(mo, vm, op, sr, o->exports, result_r);
    }
    /* All mirrors run at once; each is followed until actively synced. */
    for (i = 0; rc == 0 && i < x->n; i++)
        rc = motion_sync(&x->mo[i], &x->gen[i], result_r);
    if (rc == 0)
        xt_fault(call->xt, "pd.sxm.synced");
    if (rc < 0 && x) {
        xa_sxm_abort(call, x);
        xa_sxm_free(x);
        return rc;
    }
    *sxm_r = x;
    return 0;
}

int xa_sxm_recheck(struct api_call_ctx *call, struct xa_sxm *x,
                   struct api_value **result_r)
{
    unsigned i;
    int rc = 0;

    for (i = 0; rc == 0 && x && i < x->n; i++) {
        x->mo[i].call = call;
        rc = motion_sync(&x->mo[i], &x->gen[i], result_r);
    }
    return rc;
}

void xa_sxm_abort(struct api_call_ctx *call, struct xa_sxm *x)
{
    unsigned i;

    for (i = 0; x && i < x->n; i++) {
        x->mo[i].call = call;
        if (x->mo[i].dst || x->mo[i].dst_uuid)
            motion_undo(&x->mo[i]);
    }
}

void xa_sxm_free(struct xa_sxm *x)
{
    unsigned i;

    for (i = 0; x && i < x->n; i++)
        motion_clear(&x->mo[i]);
    free(x);
}

int xa_sxm_disks(const struct xa_sxm *x, struct api_value *disks)
{
    unsigned i;

    for (i = 0; x && i < x->n; i++)
        if (x->mo[i].dst_disk &&
            api_array_append(disks, api_value_copy(x->mo[i].dst_disk)) < 0)
            return -ENOMEM;
    return 0;
}

struct api_value *xa_sxm_mirrors(const struct xa_sxm *x)
{
    struct api_value *a = api_array();
    unsigned i;

    for (i = 0; x && i < x->n; i++) {
        struct api_value *m = api_struct();

        api_struct_add(m, "device", api_int(x->mo[i].num));
        api_struct_add(m, "vdi", api_string(x->mo[i].src_uuid));
        api_struct_add(m, "gen", api_int(x->gen[i]));
        api_array_append(a, m);
    }
    return a;
}

/* The VDIs a migration moves: its key in their xm:motion-op. */
static int sxm_vdis(struct pool_db *db, const char *op,
                    struct pool_record ***recs_r, size_t *n_r)
{
    struct pool_record **all = NULL;
    size_t n = 0, i, k = 0;
    int rc = pool_db_get_all_records(db, POOL_CLASS_VDI, &all, &n);

    for (i = 0; rc == 0 && i < n; i++) {
        const char *o = pool_value_map_get(pool_record_get(all[i],
                                           "other_config"), MOTION_OP);

        if (o && !strcmp(o, op))
            all[k++] = all[i];
        else
            pool_record_free(all[i]);
    }
    *recs_r = all;
    *n_r = rc == 0 ? k : 0;
    return rc;
}

int xa_sxm_apply_db(struct pool_db *db, const char *op, bool on_dest)
{
    struct pool_record **vdis = NULL;
    size_t n = 0, i;
    int rc = sxm_vdis(db, op, &vdis, &n);

    for (i = 0; rc == 0 && i < n; i++) {
        const struct pool_value *oc = pool_record_get(vdis[i],
                                                      "other_config");
        const char *dst = pool_value_map_get(oc, MOTION_TO);
        bool moved = dst || pool_value_map_get(oc, MOTION_TO_UUID);
        struct pool_strv vbds = { 0 };
        size_t k;

        if (on_dest && dst)
            rc = pool_db_find(db, POOL_CLASS_VBD, "VDI",
                              &POOL_V_REF(vdis[i]->ref), &vbds);
        for (k = 0; rc == 0 && k < vbds.n; k++)
            rc = pool_db_set_field(db, POOL_CLASS_VBD, vbds.v[k], "VDI",
                                   &POOL_V_REF(dst), POOL_DB_INTERNAL);
        pool_strv_free(&vbds);
        rc = rc ?: pool_db_map_put(db, POOL_CLASS_VDI, vdis[i]->ref,
                                   "other_config", MOTION_STAGE,
                                   on_dest && moved ? "switched" : "undo",
                                   POOL_DB_INTERNAL);
    }
    pool_records_free(vdis, n);
    return rc;
}

static void reconcile_fill(struct motion *mo, const struct pool_record *rec);
static void reconcile_one(struct motion *mo, const char *stage);

void xa_sxm_settled(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                    const char *op)
{
    struct xa_call xc = { .api = { .xt = ctx }, .xa = xa, .db = db };
    struct pool_record **vdis = NULL;
    size_t n = 0, i;

    xc.api.daemon = &xc;
    if (sxm_vdis(db, op, &vdis, &n) < 0)
        return;
    for (i = 0; i < n; i++) {
        struct motion mo = { .call = &xc.api };
        const char *stage = pool_value_map_get(
            pool_record_get(vdis[i], "other_config"), MOTION_STAGE);

        reconcile_fill(&mo, vdis[i]);
        reconcile_one(&mo, stage ? stage : "undo");
        motion_clear(&mo);
    }
    pool_records_free(vdis, n);
}

/* ---- the master's restart -------------------------------------------- */

/* One motion a stopped master left: finished if the VM was switched to
 * the destination, else undone. */
static void reconcile_one(struct motion *mo, const char *stage)
{
    struct pool_db *db = dbof(mo->call);
    char *vbd_vdi = NULL;

    if (mo->vbd)
        xa_field_str(db, POOL_CLASS_VBD, mo->vbd, "VDI", &vbd_vdi);
    if (!strcmp(stage, "switched") || !strcmp(stage, "finish") ||
        (vbd_vdi && mo->dst && !strcmp(vbd_vdi, mo->dst))) {
        xt_info(mo->call->xt, "VDI %s: its motion to %s%s was switched; "
                "finishing it", mo->src, mo->remote ? "another pool's " : "",
                mo->dst ? mo->dst : mo->dst_uuid ? mo->dst_uuid : "-");
        motion_finish(mo);
    } else {
        xt_info(mo->call->xt, "VDI %s: its motion to %s stopped at stage "
                "%s; undoing it", mo->src, mo->dst ? mo->dst : "-", stage);
        motion_undo(mo);
    }
    free(vbd_vdi);
}

/* Fills mo for the motion whose source VDI record is rec. */
static void reconcile_fill(struct motion *mo, const struct pool_record *rec)
{
    struct pool_db *db = dbof(mo->call);
    const struct pool_value *oc = pool_record_get(rec, "other_config");
    const char *dst = pool_value_map_get(oc, MOTION_TO);
    struct api_value *ignored = NULL;

    const char *host = pool_value_map_get(oc, MOTION_HOST);
    const char *there = pool_value_map_get(oc, MOTION_TO_UUID);
    bool quiet;

    mo->src = strdup(rec->ref);
    mo->src_uuid = strdup(pool_record_get(rec, "uuid")->s);
    mo->dst = dst ? strdup(dst) : NULL;
    mo->dst_host = host ? strdup(host) : NULL;
    mo->remote = there != NULL;
    mo->keep = pool_value_map_get(oc, MOTION_KEEP) != NULL;
    if (there)
        mo->dst_uuid = strdup(there);
    if (mo->dst && xa_field_str(db, POOL_CLASS_VDI, mo->dst, "uuid",
                                &mo->dst_uuid) < 0) {
        free(mo->dst);          /* never made, or gone */
        mo->dst = NULL;
    }
    /* Where the VM runs, for the agent's cancel (best effort: once
     * switched, no running VM has the source, and that is no error). */
    quiet = mo->call->xt->quiet_errors;
    mo->call->xt->quiet_errors = true;
    if (motion_find(mo, &ignored) == 0)
        xa_host_url(xa_call_of(mo->call)->xa, db, mo->host, &mo->url);
    mo->call->xt->quiet_errors = quiet;
    api_value_free(ignored);
    xt_error_clear(mo->call->xt);
}

/* Whether the migration the motion of VDI rec goes with still has its
 * record on a VM (then pd_settle.c has it to settle). */
static bool sxm_unsettled(struct pool_db *db, const struct pool_record *rec)
{
    const char *op = pool_value_map_get(pool_record_get(rec, "other_config"),
                                        MOTION_OP);

    return op && xa_mig_recorded(db, op) > 0;
}

/* Whether a left-over motion may be tried now: its hosts answer. */
static bool motion_hosts_live(struct motion *mo)
{
    const char *host[2] = { mo->host, mo->dst_host };
    int64_t live;
    unsigned i;

    for (i = 0; i < 2; i++)
        if (host[i] && (xa_field_int(dbof(mo->call), POOL_CLASS_HOST,
                                     host[i], "live", &live) < 0 || !live))
            return false;
    return true;
}

/* Every tagged motion (left_over: only those whose owner gave them up,
 * stages undo and finish, with their hosts live) is finished or undone. */
static void reconcile_all(struct xa *xa, struct pool_db *db,
                          struct xt_ctx *ctx, bool left_over)
{
    struct xa_call xc = { .api = { .xt = ctx }, .xa = xa, .db = db };
    struct pool_record **vdis = NULL;
    size_t n = 0, i;

    xc.api.daemon = &xc;        /* a call of our own, for the helpers */
    if (pool_db_get_all_records(db, POOL_CLASS_VDI, &vdis, &n) < 0)
        return;
    for (i = 0; i < n && !xa->stopping; i++) {
        const struct pool_value *oc = pool_record_get(vdis[i],
                                                      "other_config");
        const char *stage = pool_value_map_get(oc, MOTION_STAGE);
        struct motion mo = { .call = &xc.api };

        if (!stage || (left_over && strcmp(stage, "undo") &&
                       strcmp(stage, "finish")))
            continue;
        /* A motion with a VM migration that is not settled yet: the
         * migration's settling finishes or undoes it. */
        if (sxm_unsettled(db, vdis[i]) &&
            (left_over || !strcmp(stage, "sxm")))
            continue;
        reconcile_fill(&mo, vdis[i]);
        if (!left_over || motion_hosts_live(&mo))
            reconcile_one(&mo, stage);
        motion_clear(&mo);
    }
    pool_records_free(vdis, n);
}

void xa_motion_reconcile(struct xa *xa, struct pool_db *db,
                         struct xt_ctx *ctx)
{
    reconcile_all(xa, db, ctx, false);
}

void xa_motion_retry(struct xa *xa, struct pool_db *db, struct xt_ctx *ctx)
{
    reconcile_all(xa, db, ctx, true);
}
