/*
 * pd_evac_sxm.c - an evacuation's VMs whose disks the destination cannot
 * reach (a disk on the evacuated host's local SR): they move with their
 * disks, by storage live migration (VM.migrate_send with a vdi_map), each
 * disk to an SR the destination has plugged with room for it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pd_xenapi.h"

#define RPC_TIMEOUT_S   60

/* Room left on sr, bytes (0 when it does not say). */
static int64_t sr_room(struct pool_db *db, const char *sr)
{
    int64_t size = 0, used = 0;

    xa_field_int(db, POOL_CLASS_SR, sr, "physical_size", &size);
    xa_field_int(db, POOL_CLASS_SR, sr, "physical_utilisation", &used);
    return size > used ? size - used : 0;
}

static bool plugged(struct pool_db *db, const char *sr, const char *host)
{
    char *pbd = NULL;
    bool on = xa_pbd_on(db, sr, host, &pbd) == 0 && pbd;

    free(pbd);
    return on;
}

/* Where on host a disk of size bytes goes, given[] what the disks placed
 * before took of each of the SRs in srs: the pool's default SR when host
 * has it plugged and it has room, else the plugged SR with most room.
 * Its index in srs, or -1. */
static int pick_sr(struct pool_db *db, const struct pool_strv *srs,
                   const int64_t *given, const char *def, const char *host,
                   int64_t size)
{
    int64_t best_room = -1;
    int best = -1;
    size_t i;

    for (i = 0; i < srs->n; i++) {
        int64_t room = sr_room(db, srs->v[i]) - given[i];

        if (room < size || !plugged(db, srs->v[i], host))
            continue;
        if (def && !strcmp(srs->v[i], def))
            return (int)i;
        if (room > best_room) {
            best_room = room;
            best = (int)i;
        }
    }
    return best;
}

int xa_evac_vdi_map(struct pool_db *db, const char *vm, const char *host,
                    struct api_value **map_r, int64_t *bytes_r)
{
    struct pool_strv vbds = { 0 }, srs = { 0 }, pools = { 0 };
    struct api_value *map = NULL;
    int64_t *given = NULL, bytes = 0;
    char *def = NULL;
    size_t i;
    int rc;

    *map_r = NULL;
    rc = pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(vm), &vbds);
    rc = rc ?: pool_db_get_all(db, POOL_CLASS_SR, &srs);
    if (rc == 0 && pool_db_get_all(db, POOL_CLASS_POOL, &pools) == 0 &&
        pools.n)
        xa_field_str(db, POOL_CLASS_POOL, pools.v[0], "default_SR", &def);
    given = calloc(srs.n ? srs.n : 1, sizeof(*given));
    if (rc == 0 && !given)
        rc = -ENOMEM;
    for (i = 0; rc == 0 && i < vbds.n; i++) {
        char *vdi = NULL, *sr = NULL;
        int64_t att = 0, size = 0, used = 0;
        int to;

        xa_field_int(db, POOL_CLASS_VBD, vbds.v[i], "currently_attached",
                     &att);
        if (!att || xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "VDI",
                                 &vdi) < 0 || pool_ref_is_null(vdi) ||
            xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr) < 0 ||
            plugged(db, sr, host))
            goto next;
        xa_field_int(db, POOL_CLASS_VDI, vdi, "virtual_size", &size);
        xa_field_int(db, POOL_CLASS_VDI, vdi, "physical_utilisation", &used);
        to = pick_sr(db, &srs, given, def, host, size);
        if (to < 0) {
            rc = -ENOENT;
            goto next;
        }
        given[to] += size;
        bytes += used > 0 ? used : size;
        if (!map)
            map = api_struct();
        if (api_struct_add(map, vdi, api_string(srs.v[to])) < 0)
            rc = -ENOMEM;
next:
        free(vdi);
        free(sr);
    }
    if (rc == 0) {
        *map_r = map;
        map = NULL;
        if (bytes_r)
            *bytes_r = bytes;
    }
    api_value_free(map);
    free(given);
    free(def);
    pool_strv_free(&vbds);
    pool_strv_free(&srs);
    pool_strv_free(&pools);
    return rc;
}

int xa_evac_start_sxm(struct api_call_ctx *call, const char *session,
                      const char *vm, const char *host, const char *net,
                      struct api_value *map, const char *rollback_of,
                      char **task_r, struct api_value **fail_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct api_value *p = api_array(), *dest = NULL, *o;
    int rc;

    *task_r = NULL;
    api_array_append(p, api_string(session));
    api_array_append(p, api_string(host));
    api_array_append(p, api_string(net ? net : POOL_NULL_REF));
    api_array_append(p, api_struct());
    rc = xa_rpc(call->xt, xa->self_url, "Host.migrate_receive", p,
                RPC_TIMEOUT_S, &dest, fail_r);
    if (rc < 0) {
        api_value_free(map);
        return rc;
    }
    p = api_array();
    o = api_struct();
    if (rollback_of)
        api_struct_add(o, XA_EVAC_ROLLBACK_OF, api_string(rollback_of));
    api_array_append(p, api_string(session));
    api_array_append(p, api_string(vm));
    api_array_append(p, dest);
    api_array_append(p, api_bool(true));
    api_array_append(p, map);
    api_array_append(p, api_struct());
    api_array_append(p, o);
    return xa_rpc_task(call->xt, xa->self_url, "Async.VM.migrate_send", p,
                       RPC_TIMEOUT_S, task_r, fail_r);
}
