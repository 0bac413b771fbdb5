/*
 * pool.h - the pool database (pool/): the XenAPI object model of xm-poold
 * kept in SQLite on the pool master.
 *
 * The model is a C table (struct pool_class, struct pool_field): for each
 * class its fields in record order, with type, access and default.  The
 * API layer generates the XenAPI getters, setters and get_record from it;
 * the database stores one table per class, one column per stored field.
 * Set-of-ref fields (VM.VBDs, host.resident_VMs) are derived: computed by
 * query from the ref field that points back (VBD.VM, VM.resident_on),
 * never stored twice.  Constant fields (pool_field.constant) are the rest
 * of XAPI's record, that xm-pool does not use: they hold their default,
 * so that a client reading them gets what XAPI would send, or, for those
 * XAPI lets a client set, what a client set (the row's xm_set).
 *
 * Every object has a uuid and a ref "OpaqueRef:<random uuid>", distinct
 * from each other and both from getrandom(2): a session's ref is its
 * secret.  The exception is the role class: XAPI's six static roles,
 * written once by schema version 3, with XAPI's fixed uuids and refs
 * ("OpaqueRef:<uuid>"), so that a client sees the roles XAPI has.
 *
 * Errors are reported into the context given to pool_db_open(), once,
 * where they happen.  Codes the API layer maps:
 *   -ENOENT   no such object (HANDLE_INVALID / UUID_INVALID), the message
 *             says "no VM OpaqueRef:..." or "no VM with uuid ..."
 *   -EINVAL   unknown field, wrong value type, value not in the enum,
 *             malformed datetime or token (FIELD_TYPE_ERROR,
 *             INVALID_VALUE)
 *   -EPERM    the field is not writable through the API, or derived
 *   -EEXIST   a uuid or a unique key (user.short_name) already used
 *   -EBUSY    destroy refused: another object still needs this one
 *   -ESTALE   event token too old (trimmed) or from the future
 *             (EVENTS_LOST)
 *   -EAGAIN   the database stayed locked past the busy timeout
 *   -ENOTSUP  the file's schema is newer than this program
 *   -EIO, -ENOSPC, -ENOMEM, -EROFS: storage trouble
 *
 * A struct pool_db is one SQLite connection: use it from one thread at a
 * time; threads open their own.  Several connections, in one process or
 * several, may share the file (WAL; writers wait up to
 * POOL_DB_BUSY_TIMEOUT_MS).
 */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "xt.h"

/* ---- the model --------------------------------------------------------- */

enum pool_class_id {
    POOL_CLASS_POOL = 0,
    POOL_CLASS_HOST,
    POOL_CLASS_VM,
    POOL_CLASS_VBD,
    POOL_CLASS_VDI,
    POOL_CLASS_SR,
    POOL_CLASS_PBD,
    POOL_CLASS_NETWORK,
    POOL_CLASS_VIF,
    POOL_CLASS_TASK,
    POOL_CLASS_SESSION,
    POOL_CLASS_USER,
    POOL_CLASS_SM,              /* schema version 2 */
    POOL_CLASS_MESSAGE,         /* schema version 3 */
    POOL_CLASS_SECRET,          /* schema version 3 */
    POOL_CLASS_ROLE,            /* schema version 3 */
    POOL_CLASS_HOST_METRICS,    /* schema version 4 */
    POOL_CLASS_HOST_CPU,        /* schema version 4 */
    POOL_CLASS_VM_METRICS,      /* schema version 4 */
    POOL_CLASS_VM_GUEST_METRICS, /* schema version 4 */
    POOL_CLASS_CONSOLE,         /* schema version 4 */
    POOL_CLASS_PIF,             /* schema version 4 */
    POOL_CLASS_COUNT
};

enum pool_ftype {
    POOL_FT_STRING = 0,
    POOL_FT_INT,            /* int64 */
    POOL_FT_BOOL,
    POOL_FT_FLOAT,          /* double */
    POOL_FT_DATETIME,       /* XenAPI form "20240131T14:05:09Z" (UTC) */
    POOL_FT_ENUM,           /* one of pool_field.enum_values */
    POOL_FT_REF,            /* "OpaqueRef:..." of pool_field.target, or
                             * POOL_NULL_REF */
    POOL_FT_REF_SET,        /* derived, read-only */
    POOL_FT_STRING_SET,
    POOL_FT_MAP,            /* string -> string, insertion order */
};

enum pool_faccess {
    POOL_FA_RW = 0,         /* settable through the API */
    POOL_FA_STATIC_RO,      /* given at create time, read-only afterwards */
    POOL_FA_DYNAMIC_RO,     /* maintained by the daemon (POOL_DB_INTERNAL) */
};

/* What destroying the target of a ref field does to the referring row. */
enum pool_ondelete {
    POOL_DEL_SET_NULL = 0,  /* the ref becomes POOL_NULL_REF */
    POOL_DEL_CASCADE,       /* the referring object is destroyed too */
    POOL_DEL_RESTRICT,      /* the destroy is refused (-EBUSY) */
};

struct pool_field {
    const char *name;                   /* XenAPI field name */
    enum pool_ftype type;
    enum pool_faccess access;
    /* Default in text form (pool_value_parse()); NULL for the type's
     * zero: "", 0, false, 0.0, POOL_DATETIME_EPOCH, the first enum
     * value, POOL_NULL_REF, empty set or map.  "now" for a datetime means
     * the time of creation. */
    const char *def;
    const char *const *enum_values;     /* POOL_FT_ENUM: NULL-terminated */
    enum pool_class_id target;          /* POOL_FT_REF, POOL_FT_REF_SET */
    const char *via;                    /* POOL_FT_REF_SET: the ref field
                                         * of target pointing back here */
    enum pool_ondelete ondelete;        /* POOL_FT_REF */
    bool internal;                      /* never exposed by the API and
                                         * left out of records */
    /* A field XAPI always sends that xm-pool does not model: no column
     * of its own; every record, get_<field> and event snapshot has its
     * default (def, for a set or map as JSON text).  Declared with XAPI's
     * access: an SRO/DRO one is never written, not even with
     * POOL_DB_INTERNAL (-EPERM); an RW one keeps what a client sets, in
     * its row's xm_set (schema version 5).  Never searchable, nor given
     * at create.  A constant ref or ref set has no target unless it
     * names a modelled class; a ref set has no via. */
    bool constant;
};

struct pool_class {
    enum pool_class_id id;
    const char *name;                   /* XenAPI name: "VM", "host" */
    const struct pool_field *fields;    /* record order; [0] is "uuid" */
    size_t nfields;
    bool events;                        /* changes go to the event log
                                         * (not session, user, secret) */
};

#define POOL_REF_PREFIX     "OpaqueRef:"
#define POOL_NULL_REF       "OpaqueRef:NULL"
#define POOL_REF_STRLEN     (sizeof(POOL_REF_PREFIX) - 1 + XT_UUID_STRLEN)
#define POOL_DATETIME_EPOCH "19700101T00:00:00Z"
#define POOL_DATETIME_STRLEN 18

/* Keys of VM.other_config the host agent boots the VM with (hv_boot_spec):
 * kernel, its command line, an initial ramdisk and the guest type (xen:
 * "pv" or "pvh"). */
#define POOL_VM_OC_KERNEL   "xm:kernel"
#define POOL_VM_OC_CMDLINE  "xm:cmdline"
#define POOL_VM_OC_RAMDISK  "xm:ramdisk"
#define POOL_VM_OC_GUEST_TYPE "xm:guest_type"
/* network.other_config key prefix: "xm:address:<host uuid>" = the host's
 * address on that network (VM.pool_migrate option `network`). */
#define POOL_NET_OC_ADDRESS "xm:address:"

/* The class of an id (never NULL for id < POOL_CLASS_COUNT). */
const struct pool_class *pool_class_get(enum pool_class_id id);
/* By XenAPI name, case-insensitive ("vm" finds VM); NULL if unknown. */
const struct pool_class *pool_class_find(const char *name);
/* A field by exact name, NULL if the class has none. */
const struct pool_field *pool_class_field(const struct pool_class *cls,
                                          const char *name);
const char *pool_ftype_name(enum pool_ftype type);   /* "int", "map" ... */
/* True for "OpaqueRef:NULL", "" and NULL. */
bool pool_ref_is_null(const char *ref);

/* ---- values ------------------------------------------------------------ */

/* A set of strings (POOL_FT_REF_SET, POOL_FT_STRING_SET, get_all). */
struct pool_strv {
    char **v;
    size_t n;
};

struct pool_map {
    char **keys;
    char **vals;
    size_t n;
};

/*
 * A typed value.  Values returned by the database own their strings:
 * release them with pool_value_clear().  Values passed in are only read;
 * the POOL_V_* macros wrap borrowed scalars without copying, e.g.
 *     pool_db_set_field(db, POOL_CLASS_VM, ref, "name_label",
 *                       &POOL_V_STR("web"), 0);
 * Sets and maps are built with pool_value_set_add() / pool_value_map_put()
 * (which copy) starting from a zeroed value of the right type.
 */
struct pool_value {
    enum pool_ftype type;
    union {
        char *s;                /* STRING, DATETIME, ENUM, REF */
        int64_t i;
        bool b;
        double f;
        struct pool_strv set;   /* REF_SET, STRING_SET */
        struct pool_map map;
    };
};

#define POOL_V_STR(x)  ((struct pool_value){ .type = POOL_FT_STRING, \
                                             .s = (char *)(x) })
#define POOL_V_ENUM(x) ((struct pool_value){ .type = POOL_FT_ENUM, \
                                             .s = (char *)(x) })
#define POOL_V_REF(x)  ((struct pool_value){ .type = POOL_FT_REF, \
                                             .s = (char *)(x) })
#define POOL_V_DATETIME(x) ((struct pool_value){ .type = POOL_FT_DATETIME, \
                                                 .s = (char *)(x) })
#define POOL_V_INT(x)  ((struct pool_value){ .type = POOL_FT_INT, \
                                             .i = (x) })
#define POOL_V_BOOL(x) ((struct pool_value){ .type = POOL_FT_BOOL, \
                                             .b = (x) })
#define POOL_V_FLOAT(x) ((struct pool_value){ .type = POOL_FT_FLOAT, \
                                              .f = (x) })

/* Frees what v owns and leaves an empty value of the same type.
 * NULL-safe. */
void pool_value_clear(struct pool_value *v);
/* Deep copy into *dst (which is overwritten, not freed).  0 or -ENOMEM. */
int pool_value_copy(struct pool_value *dst, const struct pool_value *src);
/* Appends a copy of item to a set value.  0 or -ENOMEM. */
int pool_value_set_add(struct pool_value *v, const char *item);
bool pool_strv_contains(const struct pool_strv *sv, const char *item);
/* Sets key to a copy of val in a map value, replacing an existing key in
 * place.  0 or -ENOMEM. */
int pool_value_map_put(struct pool_value *v, const char *key,
                       const char *val);
/* Removes key; true if it was there. */
bool pool_value_map_remove(struct pool_value *v, const char *key);
/* The value of key, or NULL.  Owned by v. */
const char *pool_value_map_get(const struct pool_value *v, const char *key);
/* Frees the strings and the array; zeroes *sv.  NULL-safe. */
void pool_strv_free(struct pool_strv *sv);

/*
 * Parses the text form of a scalar: string, enum and ref as they are
 * ("" is POOL_NULL_REF for a ref), int in decimal, bool "true"/"false"
 * (any case) or "1"/"0", float as strtod, datetime in the XenAPI form or
 * "now".  Sets and maps have no text form (-EINVAL).  Does not check enum
 * membership (the field does).  *v_r owns its string; 0, -EINVAL or
 * -ENOMEM; does not report.
 */
int pool_value_parse(enum pool_ftype type, const char *text,
                     struct pool_value *v_r);

/* XenAPI datetimes, UTC, "YYYYMMDDTHH:MM:SSZ". */
void pool_datetime_format(time_t t, char buf[POOL_DATETIME_STRLEN + 1]);
void pool_datetime_now(char buf[POOL_DATETIME_STRLEN + 1]);
/* 0 or -EINVAL (does not report). */
int pool_datetime_parse(const char *s, time_t *t_r);

/* ---- records ----------------------------------------------------------- */

struct pool_record_field {
    const struct pool_field *field;
    struct pool_value value;
};

/* An object's fields in class table order (internal fields left out). */
struct pool_record {
    const struct pool_class *cls;
    char *ref;
    size_t n;
    struct pool_record_field *fields;
};

void pool_record_free(struct pool_record *rec);          /* NULL-safe */
void pool_records_free(struct pool_record **recs, size_t n);
/* The value of a field of rec, or NULL. */
const struct pool_value *pool_record_get(const struct pool_record *rec,
                                         const char *field);

/* ---- the database ------------------------------------------------------ */

#define POOL_DB_SCHEMA_VERSION   5      /* what this program writes */
#define POOL_DB_BUSY_TIMEOUT_MS  5000

struct pool_db;     /* opaque */

/*
 * Opens the pool database at path, creating it if missing: WAL journal,
 * synchronous=FULL, foreign keys on, busy timeout.  Brings the schema up
 * to POOL_DB_SCHEMA_VERSION through the ordered migrations, each in its
 * own transaction, and checks that every stored field of the model has
 * its column.  A file whose schema is newer than this program is refused
 * (-ENOTSUP), as is a file of some other application (-EINVAL).  Errors
 * are reported into ctx, which the db keeps for later calls (not owned).
 * *db_r: caller closes with pool_db_close() (NULL-safe).
 */
int pool_db_open(struct xt_ctx *ctx, const char *path, struct pool_db **db_r);
void pool_db_close(struct pool_db *db);
/* The context db reports its errors into (pool_db_open's ctx). */
struct xt_ctx *pool_db_ctx(struct pool_db *db);

/* The schema version of the open file. */
int pool_db_schema_version(struct pool_db *db, int *version_r);
/* PRAGMA integrity_check and foreign_key_check: 0, or -EIO reported with
 * the first problem. */
int pool_db_integrity_check(struct pool_db *db);

/*
 * Transactions for multi-step changes.  Without one every call below is
 * atomic on its own; inside one, a failing call undoes only its own
 * changes and the caller decides (usually pool_db_rollback()).
 * pool_db_begin() takes the write lock at once (waiting up to the busy
 * timeout); pool_db_begin_read() gives a consistent snapshot for several
 * reads and refuses writes.  No nesting (-EALREADY).  Rollback without a
 * transaction is a no-op returning 0.
 */
int pool_db_begin(struct pool_db *db);
int pool_db_begin_read(struct pool_db *db);
int pool_db_commit(struct pool_db *db);
int pool_db_rollback(struct pool_db *db);

/* Field writes from daemon code: allow POOL_FA_STATIC_RO and
 * POOL_FA_DYNAMIC_RO fields (never uuid, never derived ones). */
#define POOL_DB_INTERNAL 0x1u

/* A field of a new object. */
struct pool_field_init {
    const char *name;
    struct pool_value value;
};

/*
 * Creates an object of class cls.  Fields not in init take their
 * defaults; "uuid" may be given (unique, canonical form), else one is
 * generated.  Any stored field may be given (the API layer decides which
 * a client may set); values are checked as by pool_db_set_field().
 * *ref_r (may be NULL): the new ref, caller frees.
 */
int pool_db_create(struct pool_db *db, enum pool_class_id cls,
                   const struct pool_field_init *init, size_t n,
                   char **ref_r);
/* Destroys an object; objects that refer to it by a POOL_DEL_CASCADE
 * field go with it, POOL_DEL_SET_NULL refs are cleared, a
 * POOL_DEL_RESTRICT ref makes it -EBUSY. */
int pool_db_destroy(struct pool_db *db, enum pool_class_id cls,
                    const char *ref);
/* 0 if ref is an object of cls, else -ENOENT reported as "no VM <ref>". */
int pool_db_check_ref(struct pool_db *db, enum pool_class_id cls,
                      const char *ref);

/* Any field, derived and internal ones included.  *v_r: caller clears. */
int pool_db_get_field(struct pool_db *db, enum pool_class_id cls,
                      const char *ref, const char *field,
                      struct pool_value *v_r);
/*
 * Sets one field.  Checks: the field exists and is stored; access is RW
 * (or flags has POOL_DB_INTERNAL and it is not uuid); v->type is the
 * field's type; an enum value is one of the field's (any case, stored as
 * spelt in the table); a ref names an existing object of the target class
 * or is POOL_NULL_REF; a datetime is well formed.  Setting the value a
 * field already has changes nothing and logs no event.
 */
int pool_db_set_field(struct pool_db *db, enum pool_class_id cls,
                      const char *ref, const char *field,
                      const struct pool_value *v, unsigned flags);
/* add_to_<map> / remove_from_<map>: one key of a map field, same access
 * rule.  Removing a missing key is not an error. */
int pool_db_map_put(struct pool_db *db, enum pool_class_id cls,
                    const char *ref, const char *field, const char *key,
                    const char *val, unsigned flags);
int pool_db_map_remove(struct pool_db *db, enum pool_class_id cls,
                       const char *ref, const char *field, const char *key,
                       unsigned flags);

/* *rec_r: caller frees with pool_record_free(). */
int pool_db_get_record(struct pool_db *db, enum pool_class_id cls,
                       const char *ref, struct pool_record **rec_r);
/* All refs of cls in creation order.  *refs_r: caller pool_strv_free()s. */
int pool_db_get_all(struct pool_db *db, enum pool_class_id cls,
                    struct pool_strv *refs_r);
/* How many objects of a class there are. */
int pool_db_count(struct pool_db *db, enum pool_class_id cls, int64_t *n_r);
/* All records of cls, read in one snapshot.  *recs_r: caller frees with
 * pool_records_free(*recs_r, *n_r). */
int pool_db_get_all_records(struct pool_db *db, enum pool_class_id cls,
                            struct pool_record ***recs_r, size_t *n_r);
/* -ENOENT "no VM with uuid ..." if none.  *ref_r: caller frees. */
int pool_db_get_by_uuid(struct pool_db *db, enum pool_class_id cls,
                        const char *uuid, char **ref_r);
/* The refs (possibly none) whose name_label is label; -EINVAL if cls has
 * no name_label. */
int pool_db_get_by_name_label(struct pool_db *db, enum pool_class_id cls,
                              const char *label, struct pool_strv *refs_r);
/* Destroys the oldest objects of cls (creation order) beyond the newest
 * keep, as pool_db_destroy() would each (one transaction); *ndel_r (may
 * be NULL): how many went.  For a class kept bounded (message). */
int pool_db_keep_newest(struct pool_db *db, enum pool_class_id cls,
                        uint64_t keep, uint64_t *ndel_r);
/* The refs whose stored scalar field equals *v (e.g. user.short_name,
 * VM.resident_on). */
int pool_db_find(struct pool_db *db, enum pool_class_id cls,
                 const char *field, const struct pool_value *v,
                 struct pool_strv *refs_r);

/* ---- events ------------------------------------------------------------ */

enum pool_event_op {
    POOL_EV_ADD = 0,
    POOL_EV_MOD,
    POOL_EV_DEL,
};

struct pool_event {
    int64_t id;
    const struct pool_class *cls;
    char *ref;
    enum pool_event_op op;
    double timestamp;           /* seconds since the epoch, UTC */
};

const char *pool_event_op_name(enum pool_event_op op);  /* "add" ... */

/*
 * Every create, modify and delete of an object of a class with events
 * appends to the event log; a change of a ref field also logs "mod" for
 * the objects whose derived sets it changes (a new VBD: "add" VBD, "mod"
 * VM).  A token is the id of the last event seen, as a decimal string.
 *
 * pool_db_events_since() returns the events after token (NULL or "" is
 * the start of the log) whose class is in classes (XenAPI names, any
 * case; "*" or nclasses 0 for all; "VM/OpaqueRef:..." for one object),
 * oldest first, and in *token_r the token to pass next time.  -ESTALE if
 * events after token were trimmed or the token is newer than the log.
 * *events_r: caller frees with pool_events_free(); *token_r: free().
 */
int pool_db_events_since(struct pool_db *db, const char *token,
                         const char *const *classes, size_t nclasses,
                         struct pool_event **events_r, size_t *n_r,
                         char **token_r);
void pool_events_free(struct pool_event *events, size_t n);
/* A "mod" event of ref, nothing changed (event.inject); -ENOENT when cls
 * has no such object. */
int pool_db_touch(struct pool_db *db, enum pool_class_id cls,
                  const char *ref);
/* The current token (nothing after it yet).  *token_r: free(). */
int pool_db_event_token(struct pool_db *db, char **token_r);
/* fn(opaque) runs after each COMMIT of this connection that changed rows
 * (a transaction's, or a single write's): on the committing thread, with
 * the change visible to every connection.  NULL: none. */
void pool_db_on_commit(struct pool_db *db, void (*fn)(void *), void *opaque);
/* A number that changes when another connection commits a change to the
 * database (SQLite's data_version): a cheap "anything new?" before
 * reading the log. */
int pool_db_data_version(struct pool_db *db, int64_t *version_r);
/* Discards all but the newest keep events; older tokens become -ESTALE. */
int pool_db_events_trim(struct pool_db *db, uint64_t keep);

/* ---- evacuation planning (pool_evac.c) ---------------------------------
 *
 * Where each VM of a host being emptied goes.  The caller has checked every
 * (VM, host) pair but memory (can[]: live, enabled, its disks reachable,
 * ...); pool_evac_plan() places the VMs largest first, each on the host it
 * may use with the most memory free once the VMs placed before it are
 * counted (spreading, so that no destination gets every stream), the
 * lowest index on a tie.  A VM no host it may use has room for gets dest
 * -1 and, in room, the most memory free among those hosts (0 when it
 * may use none).  Pure: no allocation but the order, -ENOMEM.
 */
struct pool_evac_vm {
    uint64_t need;              /* bytes of memory on its target */
    const bool *can;            /* [nhosts]: may it run there */
    int dest;                   /* out: host index, -1 none */
    uint64_t room;              /* out, dest -1: see above */
};
int pool_evac_plan(uint64_t *free_bytes, size_t nhosts,
                   struct pool_evac_vm *vms, size_t nvms);
/*
 * The schedule's share: at most this many moves in flight to one host,
 * batch over the hosts that the VMs still waiting (waiting[i]) are planned
 * to (at least 1), so that no destination gets every stream.  One pass
 * over the VMs (a scratch array of nhosts flags).
 */
unsigned pool_evac_per_host(const struct pool_evac_vm *vms,
                            const bool *waiting, size_t nvms, size_t nhosts,
                            unsigned batch);
/* The next VM to start, in vms' order (the caller's: largest first): the
 * first waiting one planned to a host with fewer than per_host moves in
 * flight (inflight[nhosts]); -1 when none may start now. */
int pool_evac_next(const struct pool_evac_vm *vms, const bool *waiting,
                   size_t nvms, const unsigned *inflight, size_t nhosts,
                   unsigned per_host);

/*
 * batch-size=auto: how many moves are in flight, adapted as they end.  It
 * starts at 1; each time as many moves as the window ended (an epoch),
 * their aggregate rate (bytes over the epoch's time) is compared: a gain
 * of POOL_EVAC_AUTO_GAIN over the best so far adds a stream (up to max);
 * a rate as good (POOL_EVAC_AUTO_KEEP of the best or more: a full link)
 * keeps the window and stays (settled): the stream added hides each
 * move's set-up; a lower one goes back to the best window and stays; a
 * move whose
 * guest-observed pause exceeded target_ms takes one stream away and
 * stays there.  Pure: the caller gives the clock.
 */
/*
 * The evacuation's estimated time, from what each VM's last move
 * measured: the data it copies once and the rate its guest dirties
 * memory.  The moves start in order, at most batch at once, the next as
 * soon as one ends; those in flight share the link (link_bps, 0: no
 * limit) and each stream goes at most stream_bps.  Pre-copy sends a VM's
 * data and what its guest dirties meanwhile: it takes data / (rate -
 * dirty); a guest dirtying as fast as its stream goes is throttled by
 * auto-converge, counted as half the stream's rate.  Each move also
 * costs its setup_s.  Seconds, or -1 when stream_bps is not known (0).
 * Pure.
 */
struct pool_evac_eta_vm {
    double data;                /* bytes to copy once */
    double dirty;               /* bytes/s its guest dirties */
    double setup_s;             /* the move's fixed cost */
};
double pool_evac_eta(const struct pool_evac_eta_vm *vms, size_t n,
                     unsigned batch, double link_bps, double stream_bps);

#define POOL_EVAC_AUTO_GAIN 1.10
#define POOL_EVAC_AUTO_KEEP 0.95
struct pool_evac_auto {
    unsigned window, max, best;
    double best_rate;           /* bytes/s at best */
    double target_ms;           /* the pause no move may exceed */
    bool settled;
    unsigned ended;             /* this epoch's moves ended so far */
    uint64_t bytes, t0_ns;      /* its bytes; when it began */
    double worst_ms;            /* its longest pause */
};
void pool_evac_auto_init(struct pool_evac_auto *a, unsigned max,
                         double target_ms, uint64_t now_ns);
/* A move ended at now_ns, having sent bytes with a pause of
 * downtime_ms: the window from now on. */
unsigned pool_evac_auto_ended(struct pool_evac_auto *a, uint64_t bytes,
                              double downtime_ms, uint64_t now_ns);

#endif /* POOL_H */
