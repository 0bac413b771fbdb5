/*
 * pd_dom0.c - each host's control domain as a VM record, as XAPI
 * presents it: is_control_domain, resident on its host, Running, domid 0,
 * named "Control domain on host: HOSTNAME".  GUIs list it with the VMs and
 * show a host's own domain from it.
 *
 * Nothing of ours runs it: it stands for the host's daemon and hypervisor
 * themselves.  So no VM operation applies to it (its allowed_operations
 * is empty and xa_vm_claim refuses it), it takes none of the memory the
 * host offers VMs (memory_total is that memory already), and evacuation,
 * the master's reconciliation, pool.join and pool.eject leave it out.  It
 * is made with its host's record (a first start, a join; a master's start
 * makes any missing) and goes with it (pool.eject).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

#define DOM0_LABEL "Control domain on host: "
#define DOM0_DESCRIPTION \
    "The domain which manages physical devices and manages other domains"

int xa_control_domain_of(struct pool_db *db, const char *host, char **vm_r)
{
    struct pool_strv on = { 0 };
    int64_t dom0;
    size_t i;
    int rc;

    *vm_r = NULL;
    rc = pool_db_find(db, POOL_CLASS_VM, "resident_on", &POOL_V_REF(host),
                      &on);
    for (i = 0; rc == 0 && !*vm_r && i < on.n; i++)
        if (xa_field_int(db, POOL_CLASS_VM, on.v[i], "is_control_domain",
                         &dom0) == 0 && dom0 && !(*vm_r = strdup(on.v[i])))
            rc = xt_error(pool_db_ctx(db), -ENOMEM, "out of memory");
    pool_strv_free(&on);
    return rc;
}

bool xa_is_control_domain(struct pool_db *db, const char *vm)
{
    int64_t dom0 = 0;

    return xa_field_int(db, POOL_CLASS_VM, vm, "is_control_domain",
                        &dom0) == 0 && dom0;
}

int xa_control_domain_sync(struct pool_db *db, const char *host)
{
    struct pool_field_init init[7];
    char *vm = NULL, *hostname = NULL, *label = NULL;
    int rc;

    rc = xa_control_domain_of(db, host, &vm);
    if (rc < 0 || vm)
        goto out;
    rc = xa_field_str(db, POOL_CLASS_HOST, host, "hostname", &hostname);
    if (rc == 0 && asprintf(&label, DOM0_LABEL "%s", hostname) < 0) {
        label = NULL;
        rc = xt_error(pool_db_ctx(db), -ENOMEM, "out of memory");
    }
    if (rc < 0)
        goto out;
    init[0] = (struct pool_field_init){ "name_label", POOL_V_STR(label) };
    init[1] = (struct pool_field_init){ "name_description",
                                        POOL_V_STR(DOM0_DESCRIPTION) };
    init[2] = (struct pool_field_init){ "is_control_domain",
                                        POOL_V_BOOL(true) };
    init[3] = (struct pool_field_init){ "power_state",
                                        POOL_V_ENUM("Running") };
    init[4] = (struct pool_field_init){ "resident_on", POOL_V_REF(host) };
    init[5] = (struct pool_field_init){ "domid", POOL_V_INT(0) };
    init[6] = (struct pool_field_init){ "memory_static_max",
                                        POOL_V_INT(0) };
    rc = pool_db_create(db, POOL_CLASS_VM, init, 7, &vm);
    rc = rc ?: xa_vm_metrics_sync(db, vm, true);
out:
    free(vm);
    free(hostname);
    free(label);
    return rc;
}
