/*
 * pd_allowed.c - allowed_operations, as XAPI keeps it on each class: what
 * a client may ask of an object now (GUIs enable their buttons from it).
 *
 * It is derived from the record's own fields (power_state,
 * current_operations, currently_attached, status, ...) each time a record
 * is read, never stored: whatever changes it changes the record, so the
 * record's mod event carries the new value too.  Only operations this
 * daemon serves are listed, spelled as XAPI's enums spell them.  It is a
 * hint, as in XAPI: the call itself checks again (a VDI another VM holds,
 * a guest without a shutdown protocol).
 */
#include "config.h"

#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

static const char *const NONE[] = { NULL };

static bool busy(const struct pool_record *rec)
{
    const struct pool_value *ops = pool_record_get(rec, "current_operations");

    return ops && ops->map.n > 0;
}

static bool flag(const struct pool_record *rec, const char *field)
{
    const struct pool_value *v = pool_record_get(rec, field);

    return v && v->b;
}

static const char *str(const struct pool_record *rec, const char *field)
{
    const struct pool_value *v = pool_record_get(rec, field);

    return v && v->s ? v->s : "";
}

static const char *const *vm_ops(const struct pool_record *rec)
{
    static const char *const halted[] = {
        "start", "start_on", "destroy", "provision", NULL
    };
    static const char *const running[] = {
        "clean_shutdown", "hard_shutdown", "pool_migrate", "migrate_send",
        NULL
    };
    static const char *const stopped[] = { "hard_shutdown", NULL };
    const char *ps = str(rec, "power_state");

    if (flag(rec, "is_control_domain") || flag(rec, "is_a_template") ||
        busy(rec))
        return NONE;
    if (!strcmp(ps, "Halted"))
        return halted;
    if (!strcmp(ps, "Running"))
        return running;
    return stopped;                 /* Paused, Suspended */
}

static const char *const *host_ops(const struct pool_record *rec)
{
    static const char *const enabled[] = {
        "provision", "evacuate", "vm_start", "vm_migrate", NULL
    };
    static const char *const disabled[] = { "evacuate", NULL };

    if (!flag(rec, "live") || busy(rec))
        return NONE;
    return flag(rec, "enabled") ? enabled : disabled;
}

static const char *const *sr_ops(const struct pool_record *rec)
{
    static const char *const empty[] = {
        "scan", "destroy", "forget", "plug", "unplug", "vdi_create", NULL
    };
    static const char *const used[] = {
        "scan", "forget", "plug", "unplug", "vdi_create", "vdi_destroy",
        "vdi_resize", "vdi_clone", "vdi_snapshot", "vdi_mirror", NULL
    };
    const struct pool_value *vdis = pool_record_get(rec, "VDIs");

    if (busy(rec))
        return NONE;
    return vdis && vdis->set.n ? used : empty;
}

static const char *const *vdi_ops(const struct pool_record *rec)
{
    static const char *const all[] = {
        "clone", "copy", "resize", "snapshot", "destroy", "mirror", NULL
    };

    return busy(rec) || flag(rec, "missing") ? NONE : all;
}

static const char *const *vbd_ops(const struct pool_record *rec)
{
    static const char *const plugged[] = { "unplug", "unplug_force", NULL };
    static const char *const unplugged[] = { "plug", NULL };

    if (busy(rec))
        return NONE;
    return flag(rec, "currently_attached") ? plugged : unplugged;
}

static const char *const *task_ops(const struct pool_record *rec)
{
    static const char *const cancel[] = { "cancel", NULL };
    static const char *const destroy[] = { "destroy", NULL };
    const struct pool_value *oc = pool_record_get(rec, "other_config");
    const char *st = str(rec, "status");

    if (strcmp(st, "pending") != 0 && strcmp(st, "cancelling") != 0)
        return destroy;
    if (!strcmp(st, "pending") && oc &&
        (pool_value_map_get(oc, "xm:source") ||
         pool_value_map_get(oc, XA_TASK_CANCELLABLE)))
        return cancel;
    return NONE;
}

struct api_value *xa_allowed_ops(const struct pool_record *rec)
{
    const char *const *ops;
    struct api_value *r;

    switch (rec->cls->id) {
    case POOL_CLASS_VM:
        ops = vm_ops(rec);
        break;
    case POOL_CLASS_HOST:
        ops = host_ops(rec);
        break;
    case POOL_CLASS_SR:
        ops = sr_ops(rec);
        break;
    case POOL_CLASS_VDI:
        ops = vdi_ops(rec);
        break;
    case POOL_CLASS_VBD:
        ops = vbd_ops(rec);
        break;
    case POOL_CLASS_TASK:
        ops = task_ops(rec);
        break;
    default:
        ops = NONE;                 /* network, VIF: nothing we serve */
        break;
    }
    r = api_array();
    for (; r && *ops; ops++)
        if (api_array_append(r, api_string(*ops)) < 0) {
            api_value_free(r);
            return NULL;
        }
    return r;
}
