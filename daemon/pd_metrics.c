/*
 * pd_metrics.c - what XAPI keeps about hosts and VMs beside their
 * records, for management GUIs (issue 14; docs/specs/api-wire.md):
 *   host_metrics  one per host, the host record's memory and liveness,
 *                 copied when they change (last_updated then);
 *   VM_metrics    one per VM, what its power state says: set where the
 *                 state is (xa_vm_set_running);
 *   host_cpu      one per processor of a host, from its /proc/cpuinfo as
 *                 its daemon says in host_local.hello (cpu_info);
 *   PIF           one per host per network (every network is pool-wide),
 *                 on the network's bridge, with the host's address on it.
 * Each object goes with its host, VM or network (the pool's cascades).
 * The master makes them where hosts and VMs are made, refreshes them as
 * it learns, and at its start makes what an older file lacks.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_xenapi.h"

#define CPUINFO_PATH "/proc/cpuinfo"

static const struct pool_value *rget(const struct pool_record *r,
                                     const char *f)
{
    return pool_record_get(r, f);
}

/* Sets an int field of cls ref if it differs from have; *changed_r. */
static void set_int(struct pool_db *db, enum pool_class_id cls,
                    const char *ref, const char *field, int64_t have,
                    int64_t want, bool *changed_r)
{
    if (have == want)
        return;
    if (pool_db_set_field(db, cls, ref, field, &POOL_V_INT(want),
                          POOL_DB_INTERNAL) == 0)
        *changed_r = true;
}

static void stamp(struct pool_db *db, enum pool_class_id cls,
                  const char *ref)
{
    char now[POOL_DATETIME_STRLEN + 1];

    pool_datetime_now(now);
    pool_db_set_field(db, cls, ref, "last_updated", &POOL_V_DATETIME(now),
                      POOL_DB_INTERNAL);
}

/* The metrics object of owner (its field "metrics"), made and linked when
 * it has none.  *rec_r: caller frees. */
static int metrics_of(struct pool_db *db, enum pool_class_id owner_cls,
                      const char *owner, enum pool_class_id cls,
                      const char *back, struct pool_record **rec_r)
{
    char *ref = NULL;
    int rc;

    rc = xa_field_str(db, owner_cls, owner, "metrics", &ref);
    if (rc == 0 && pool_ref_is_null(ref)) {
        struct pool_field_init init[] = { { back, POOL_V_REF(owner) } };
        /* Looked at again inside a write transaction: two threads must
         * not both make one (in the caller's, if it has one open). */
        bool own = pool_db_begin(db) == 0;

        free(ref);
        ref = NULL;
        rc = xa_field_str(db, owner_cls, owner, "metrics", &ref);
        if (rc == 0 && pool_ref_is_null(ref)) {
            free(ref);
            ref = NULL;
            rc = pool_db_create(db, cls, init, 1, &ref);
            rc = rc ?: pool_db_set_field(db, owner_cls, owner, "metrics",
                                         &POOL_V_REF(ref), POOL_DB_INTERNAL);
        }
        if (own && rc == 0)
            rc = pool_db_commit(db);
        else if (own)
            pool_db_rollback(db);
    }
    rc = rc ?: pool_db_get_record(db, cls, ref, rec_r);
    free(ref);
    return rc;
}

int xa_host_metrics_sync(struct pool_db *db, const char *host)
{
    struct pool_record *h = NULL, *m = NULL;
    bool changed = false, live;
    int rc;

    rc = pool_db_get_record(db, POOL_CLASS_HOST, host, &h);
    rc = rc ?: metrics_of(db, POOL_CLASS_HOST, host,
                          POOL_CLASS_HOST_METRICS, "host", &m);
    if (rc < 0)
        goto out;
    set_int(db, POOL_CLASS_HOST_METRICS, m->ref, "memory_total",
            rget(m, "memory_total")->i, rget(h, "memory_total")->i,
            &changed);
    set_int(db, POOL_CLASS_HOST_METRICS, m->ref, "memory_free",
            rget(m, "memory_free")->i, rget(h, "memory_free")->i, &changed);
    live = rget(h, "live")->b;
    if (live != rget(m, "live")->b &&
        pool_db_set_field(db, POOL_CLASS_HOST_METRICS, m->ref, "live",
                          &POOL_V_BOOL(live), POOL_DB_INTERNAL) == 0)
        changed = true;
    if (changed)
        stamp(db, POOL_CLASS_HOST_METRICS, m->ref);
out:
    pool_record_free(h);
    pool_record_free(m);
    return rc;
}

/* XAPI's VM_metrics.state: the domain's state, none when it has none. */
static const char *vm_state(const char *power_state)
{
    if (!strcmp(power_state, "Running"))
        return "running";
    if (!strcmp(power_state, "Paused"))
        return "paused";
    return NULL;
}

int xa_vm_metrics_sync(struct pool_db *db, const char *vm, bool started)
{
    struct pool_value state = { .type = POOL_FT_STRING_SET };
    struct pool_record *v = NULL, *m = NULL;
    const struct pool_value *have;
    bool changed = false, on;
    const char *st;
    int rc;

    rc = pool_db_get_record(db, POOL_CLASS_VM, vm, &v);
    rc = rc ?: metrics_of(db, POOL_CLASS_VM, vm, POOL_CLASS_VM_METRICS,
                          "VM", &m);
    if (rc < 0)
        goto out;
    /* A domain has the memory and VCPUs it was started with
     * (xa_vm_start's spec); a halted VM none. */
    st = vm_state(rget(v, "power_state")->s);
    on = st != NULL;
    set_int(db, POOL_CLASS_VM_METRICS, m->ref, "memory_actual",
            rget(m, "memory_actual")->i,
            on ? rget(v, "memory_static_max")->i : 0, &changed);
    set_int(db, POOL_CLASS_VM_METRICS, m->ref, "VCPUs_number",
            rget(m, "VCPUs_number")->i, on ? rget(v, "VCPUs_max")->i : 0,
            &changed);
    have = rget(m, "state");
    if (st && pool_value_set_add(&state, st) < 0) {
        rc = xt_error(pool_db_ctx(db), -ENOMEM, "VM_metrics.state");
        goto out;
    }
    if ((have->set.n != state.set.n ||
         (st && !pool_strv_contains(&have->set, st))) &&
        pool_db_set_field(db, POOL_CLASS_VM_METRICS, m->ref, "state",
                          &state, POOL_DB_INTERNAL) == 0)
        changed = true;
    if (started && on) {
        char now[POOL_DATETIME_STRLEN + 1];

        pool_datetime_now(now);
        if (pool_db_set_field(db, POOL_CLASS_VM_METRICS, m->ref,
                              "start_time", &POOL_V_DATETIME(now),
                              POOL_DB_INTERNAL) == 0)
            changed = true;
    }
    if (changed)
        stamp(db, POOL_CLASS_VM_METRICS, m->ref);
out:
    pool_value_clear(&state);
    pool_record_free(v);
    pool_record_free(m);
    return rc;
}

/* ---- host CPUs ---------------------------------------------------------- */

/* "key\t: value" of a /proc/cpuinfo line: value (in line), or NULL. */
static const char *cpuinfo_value(char *line, const char *key)
{
    size_t n = strlen(key);
    char *p;

    if (strncmp(line, key, n) != 0 || (line[n] != ' ' && line[n] != '\t' &&
                                       line[n] != ':'))
        return NULL;
    p = strchr(line + n, ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    p[strcspn(p, "\n")] = '\0';
    return p;
}

int xa_cpu_info(struct xt_ctx *ctx, struct api_value **v_r)
{
    static const struct {
        const char *key, *member;
        bool num;
    } keys[] = {
        { "vendor_id", "vendor", false },
        { "model name", "modelname", false },
        { "cpu MHz", "speed", true },
        { "cpu family", "family", true },
        { "model", "model", true },
        { "stepping", "stepping", false },
        { "flags", "flags", false },
    };
    struct api_value *v = NULL;
    char line[8192];
    int64_t count = 0;
    const char *val;
    bool seen[sizeof(keys) / sizeof(*keys)] = { false };
    size_t i;
    int rc = 0;
    FILE *f;

    f = fopen(CPUINFO_PATH, "re");
    if (!f)
        return xt_error(ctx, -errno, "cannot read " CPUINFO_PATH);
    v = api_struct();
    /* The count of processors; the first one's description (XAPI's
     * host_cpu records of one host describe the same model). */
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        if (cpuinfo_value(line, "processor")) {
            count++;
            continue;
        }
        for (i = 0; rc == 0 && count == 1 && i < sizeof(keys) /
                                                 sizeof(*keys); i++) {
            val = seen[i] ? NULL : cpuinfo_value(line, keys[i].key);
            if (!val)
                continue;
            seen[i] = true;
            rc = api_struct_add(v, keys[i].member, keys[i].num ?
                                api_int((int64_t)strtod(val, NULL)) :
                                api_string(val));
        }
    }
    fclose(f);
    rc = rc ?: api_struct_add(v, "count", api_int(count));
    if (rc < 0) {
        api_value_free(v);
        return xt_error(ctx, rc, "cpu_info");
    }
    *v_r = v;
    return 0;
}

static const char *info_str(const struct api_value *info, const char *m)
{
    const char *s = api_value_string(api_struct_get(info, m));

    return s ? s : "";
}

static int64_t info_int(const struct api_value *info, const char *m)
{
    int64_t i = 0;

    api_value_get_int64(api_struct_get(info, m), &i);
    return i;
}

/* Does the host_cpu record describe what info says (speed aside: it is
 * the processor's clock now, and wanders)? */
static bool cpu_same(const struct pool_record *c,
                     const struct api_value *info)
{
    static const char *const strs[] = {
        "vendor", "modelname", "stepping", "flags"
    };
    size_t i;

    for (i = 0; i < sizeof(strs) / sizeof(*strs); i++)
        if (strcmp(rget(c, strs[i])->s, info_str(info, strs[i])))
            return false;
    return rget(c, "family")->i == info_int(info, "family") &&
           rget(c, "model")->i == info_int(info, "model");
}

void xa_host_cpus_seen(struct pool_db *db, const char *host,
                       const struct api_value *info)
{
    struct pool_strv refs = { 0 };
    struct pool_record *first = NULL;
    int64_t count = info_int(info, "count"), i;
    bool same;
    int rc;

    if (api_value_type(info) != API_STRUCT || count <= 0 || count > 65536)
        return;
    if (pool_db_find(db, POOL_CLASS_HOST_CPU, "host", &POOL_V_REF(host),
                     &refs) < 0)
        return;
    same = (int64_t)refs.n == count && refs.n &&
           pool_db_get_record(db, POOL_CLASS_HOST_CPU, refs.v[0],
                              &first) == 0 && cpu_same(first, info);
    pool_record_free(first);
    if (same)
        goto out;
    /* New, or not the processors it had: made again, in one step. */
    rc = pool_db_begin(db);
    for (i = 0; rc == 0 && i < (int64_t)refs.n; i++)
        rc = pool_db_destroy(db, POOL_CLASS_HOST_CPU, refs.v[i]);
    for (i = 0; rc == 0 && i < count; i++) {
        struct pool_field_init init[] = {
            { "host", POOL_V_REF(host) },
            { "number", POOL_V_INT(i) },
            { "vendor", POOL_V_STR(info_str(info, "vendor")) },
            { "speed", POOL_V_INT(info_int(info, "speed")) },
            { "modelname", POOL_V_STR(info_str(info, "modelname")) },
            { "family", POOL_V_INT(info_int(info, "family")) },
            { "model", POOL_V_INT(info_int(info, "model")) },
            { "stepping", POOL_V_STR(info_str(info, "stepping")) },
            { "flags", POOL_V_STR(info_str(info, "flags")) },
        };

        rc = pool_db_create(db, POOL_CLASS_HOST_CPU, init,
                            sizeof(init) / sizeof(*init), NULL);
    }
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
out:
    pool_strv_free(&refs);
}

void xa_host_cpus_local(struct xa *xa, struct pool_db *db, const char *host)
{
    struct api_value *info = NULL;

    if (xa_cpu_info(xa->log, &info) == 0)
        xa_host_cpus_seen(db, host, info);
    api_value_free(info);
}

/* ---- PIFs --------------------------------------------------------------- */

/*
 * What the PIF of host h on network n says: the host's address there
 * (POOL_NET_OC_ADDRESS<uuid>); on the pool's first network (the pool-wide
 * one of the first start) when none says so, the host's own address,
 * which the pool reaches it at.  management: that address is host's.
 */
static const char *pif_ip(const struct pool_record *h,
                          const struct pool_record *n, bool first)
{
    char key[sizeof(POOL_NET_OC_ADDRESS) + XT_UUID_STRLEN];
    const char *a;

    snprintf(key, sizeof(key), "%s%s", POOL_NET_OC_ADDRESS,
             rget(h, "uuid")->s);
    a = pool_value_map_get(rget(n, "other_config"), key);
    if (a && *a)
        return a;
    return first ? rget(h, "address")->s : "";
}

static const struct pool_record *pif_of(struct pool_record **p, size_t np,
                                        const char *host, const char *net)
{
    size_t i;

    for (i = 0; i < np; i++)
        if (!strcmp(rget(p[i], "host")->s, host) &&
            !strcmp(rget(p[i], "network")->s, net))
            return p[i];
    return NULL;
}

static void pif_set(struct pool_db *db, const struct pool_record *p,
                    const char *field, const struct pool_value *v)
{
    const struct pool_value *have = rget(p, field);

    if (v->type == POOL_FT_BOOL ? have->b == v->b :
        v->type == POOL_FT_INT ? have->i == v->i : !strcmp(have->s, v->s))
        return;
    pool_db_set_field(db, POOL_CLASS_PIF, p->ref, field, v,
                      POOL_DB_INTERNAL);
}

static void pif_one(struct pool_db *db, const struct pool_record *h,
                    const struct pool_record *n, bool first,
                    const struct pool_record *p, bool *mgmt_done)
{
    const char *ip = pif_ip(h, n, first);
    const char *bridge = rget(n, "bridge")->s;
    bool mgmt = !*mgmt_done && *ip && !strcmp(ip, rget(h, "address")->s);
    const char *mode = *ip ? "Static" : "None";
    int64_t mtu = rget(n, "MTU")->i;

    *mgmt_done |= mgmt;
    if (!p) {
        struct pool_field_init init[] = {
            { "host", POOL_V_REF(h->ref) },
            { "network", POOL_V_REF(n->ref) },
            { "device", POOL_V_STR(bridge) },
            { "MTU", POOL_V_INT(mtu) },
            { "VLAN", POOL_V_INT(-1) },         /* not a VLAN, as XAPI's */
            { "IP", POOL_V_STR(ip) },
            { "ip_configuration_mode", POOL_V_ENUM(mode) },
            { "management", POOL_V_BOOL(mgmt) },
        };

        pool_db_create(db, POOL_CLASS_PIF, init,
                       sizeof(init) / sizeof(*init), NULL);
        return;
    }
    pif_set(db, p, "MTU", &POOL_V_INT(mtu));
    pif_set(db, p, "IP", &POOL_V_STR(ip));
    pif_set(db, p, "ip_configuration_mode", &POOL_V_ENUM(mode));
    pif_set(db, p, "management", &POOL_V_BOOL(mgmt));
}

void xa_pifs_sync(struct pool_db *db)
{
    struct pool_record **h = NULL, **n = NULL, **p = NULL;
    size_t nh = 0, nn = 0, np = 0, i, j;
    bool mgmt;

    if (pool_db_get_all_records(db, POOL_CLASS_HOST, &h, &nh) < 0 ||
        pool_db_get_all_records(db, POOL_CLASS_NETWORK, &n, &nn) < 0 ||
        pool_db_get_all_records(db, POOL_CLASS_PIF, &p, &np) < 0)
        goto out;
    for (i = 0; i < nh; i++) {
        mgmt = false;
        for (j = 0; j < nn; j++)
            pif_one(db, h[i], n[j], j == 0,
                    pif_of(p, np, h[i]->ref, n[j]->ref), &mgmt);
    }
out:
    pool_records_free(h, nh);
    pool_records_free(n, nn);
    pool_records_free(p, np);
}

/* ---- a master's start --------------------------------------------------- */

void xa_metrics_reconcile(struct xa *xa, struct pool_db *db)
{
    struct pool_strv refs = { 0 };
    char *self = NULL;
    size_t i;

    if (pool_db_get_all(db, POOL_CLASS_HOST, &refs) == 0)
        for (i = 0; i < refs.n; i++) {
            xa_host_metrics_sync(db, refs.v[i]);
            xa_control_domain_sync(db, refs.v[i]);
        }
    pool_strv_free(&refs);
    if (pool_db_get_all(db, POOL_CLASS_VM, &refs) == 0)
        for (i = 0; i < refs.n; i++)
            xa_vm_metrics_sync(db, refs.v[i], false);
    pool_strv_free(&refs);
    if (xa_self_host(xa, db, &self) == 0)
        xa_host_cpus_local(xa, db, self);
    free(self);
    xa_pifs_sync(db);
}
