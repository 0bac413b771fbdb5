/*
 * api.h - the wire layer of the XenAPI-compatible API served by xm-poold:
 * a value model, XML-RPC and JSON-RPC requests and responses, the XenAPI
 * result envelopes, the table of error codes and method dispatch.  No HTTP
 * and no database here.  The conventions on the wire are written down in
 * docs/specs/api-wire.md.
 *
 * Ownership, everywhere in this header:
 *  - a constructor returns a new value the caller owns (free it with
 *    api_value_free()), or NULL when out of memory;
 *  - a function that takes a `struct api_value *` argument named item,
 *    val or value CONSUMES it, on success and on failure alike, and treats
 *    NULL as "a constructor failed" (-ENOMEM).  So calls nest:
 *        rc = api_struct_add(rec, "uuid", api_string(uuid));
 *  - `const struct api_value *` arguments are borrowed;
 *  - pointers returned by accessors point into the value and live as long
 *    as it does;
 *  - out-parameters (_r) receive new objects the caller owns, and are set
 *    to NULL when the function fails.
 *
 * Actions return 0 or a negative errno and report the error once into the
 * xt_ctx they are given.  The parsers never trust the peer: every size is
 * checked against struct api_limits before memory is committed to it.
 * Nothing here keeps state between calls, so threads may parse and format
 * at once (after api_init()).  Numbers are read and written in the C
 * locale: LC_NUMERIC must stay "C", as in every xm-pool program.
 */
#ifndef API_H
#define API_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

/* ---- values ------------------------------------------------------------ */

enum api_type {
    API_NIL = 0,        /* XML-RPC <nil/>, JSON null */
    API_STRING,         /* UTF-8, no NUL byte inside */
    API_INT,            /* int64 */
    API_DOUBLE,         /* finite */
    API_BOOL,
    API_DATETIME,       /* kept in its string form, e.g. 20240131T12:00:00Z */
    API_ARRAY,
    API_STRUCT,         /* ordered key/value pairs, keys unique */
};

struct api_value;   /* opaque */

/* "nil", "string", "int", "double", "bool", "datetime", "array", "struct" */
const char *api_type_name(enum api_type t);

struct api_value *api_nil(void);
/* Copies s; NULL when s is NULL (or on ENOMEM). */
struct api_value *api_string(const char *s);
/* Copies len bytes of s; NULL if they contain a NUL byte. */
struct api_value *api_string_n(const char *s, size_t len);
struct api_value *api_stringf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
struct api_value *api_int(int64_t i);
/* NULL for a NaN or an infinity: neither wire format can carry them. */
struct api_value *api_double(double d);
struct api_value *api_bool(bool b);
/* The datetime's string form, copied (not checked beyond being text). */
struct api_value *api_datetime(const char *iso8601);
struct api_value *api_array(void);     /* empty */
struct api_value *api_struct(void);    /* empty */
/* XenAPI's void: the empty string. */
struct api_value *api_void(void);

/* NULL-safe; frees v and everything inside it. */
void api_value_free(struct api_value *v);
/* Deep copy, or NULL on ENOMEM (or when v is NULL). */
struct api_value *api_value_copy(const struct api_value *v);
/* Deep equality: same types, same contents, struct members in order. */
bool api_value_equal(const struct api_value *a, const struct api_value *b);

/* Appends item (consumed).  -EINVAL if arr is not an array, -ENOMEM. */
int api_array_append(struct api_value *arr, struct api_value *item);
/* Adds key (copied) -> val (consumed) at the end.  -EEXIST if key is
 * already there (linear search: fine for records, not for huge maps),
 * -EINVAL if st is not a struct or key is NULL, -ENOMEM. */
int api_struct_add(struct api_value *st, const char *key,
                   struct api_value *val);
/* The same without the search, for a key the caller knows is not there
 * (a record's fields, a map of distinct refs): a struct of n keys is then
 * built in O(n), not O(n^2). */
int api_struct_add_new(struct api_value *st, const char *key,
                       struct api_value *val);

/* v must not be NULL. */
enum api_type api_value_type(const struct api_value *v);
/* The text of a string or datetime, NULL for other types. */
const char *api_value_string(const struct api_value *v);
/* Elements of an array or members of a struct; 0 for other types. */
size_t api_value_count(const struct api_value *v);
/* The i-th element of an array, NULL if out of range or not an array. */
const struct api_value *api_array_get(const struct api_value *arr, size_t i);
/* The i-th member of a struct: key and value; NULL if out of range. */
const char *api_struct_key(const struct api_value *st, size_t i);
const struct api_value *api_struct_value(const struct api_value *st,
                                         size_t i);
/* The value of key, NULL if absent or st is not a struct. */
const struct api_value *api_struct_get(const struct api_value *st,
                                       const char *key);

/*
 * Typed reads, for handlers checking their parameters: 0, or -EINVAL when
 * v has another type (out untouched).
 *
 * api_value_get_int64() follows the XenAPI convention that an int64 travels
 * as a string of decimal digits in XML-RPC: it accepts an API_INT, or an
 * API_STRING of an optional '-' and decimal digits (-ERANGE beyond int64).
 */
int api_value_get_int64(const struct api_value *v, int64_t *out);
int api_value_get_double(const struct api_value *v, double *out);
int api_value_get_bool(const struct api_value *v, bool *out);

/* ---- the XenAPI result envelope ---------------------------------------- */

/*
 * Every XenAPI call answers a struct
 *     { "Status": "Success", "Value": v }
 * or  { "Status": "Failure", "ErrorDescription": [CODE, param, ...] }
 * (never an XML-RPC fault).  The JSON-RPC formatter turns it into
 * result/error as xapi does.
 */

/* Wraps value (consumed); NULL on ENOMEM or when value is NULL. */
struct api_value *api_success(struct api_value *value);
/* Failure with the string parameters that follow code, ended by NULL:
 *     api_failure("HANDLE_INVALID", "VM", ref, NULL)
 * NULL on ENOMEM or when code is NULL. */
struct api_value *api_failure(const char *code, ...)
    __attribute__((sentinel));
struct api_value *api_failurev(const char *code, va_list ap);
struct api_value *api_failure_array(const char *code,
                                    const char *const *params, size_t n);
/* True for a well-formed success envelope. */
bool api_is_success(const struct api_value *env);
/* The code of a well-formed failure envelope, else NULL. */
const char *api_failure_code(const struct api_value *env);

/* ---- error codes ------------------------------------------------------- */

/*
 * The XenAPI error codes xm-pool uses: ONE table (api_errors.c) of the
 * code, how many parameters follow it in ErrorDescription, and a one-line
 * meaning (printed by the CLI).  Codes and parameter lists are xapi's,
 * except JSONRPC_UNMARSHAL_FAILURE, ours (xapi answers HTTP 500 there).
 */
struct api_error_info {
    const char *code;       /* e.g. "VM_BAD_POWER_STATE" */
    int nparams;            /* parameters after the code */
    const char *params;     /* their names, e.g. "vm, expected, actual" */
    const char *meaning;    /* one line, no final full stop */
};

/* The entry of code, or NULL if it is not in the table. */
const struct api_error_info *api_error_lookup(const char *code);
/* Its meaning, or NULL. */
const char *api_error_meaning(const char *code);
/* The whole table (for `xm-pool error-list`); *n_r entries. */
const struct api_error_info *api_error_table(size_t *n_r);

/*
 * The default XenAPI code for a negative errno, for handlers that fail
 * with only an errno and a message in their context:
 *   -EACCES PERMISSION_DENIED, -EPERM OPERATION_NOT_ALLOWED,
 *   -ENOSYS/-ENOTSUP/-EOPNOTSUPP NOT_IMPLEMENTED, -ENOENT HANDLE_INVALID,
 *   -EINVAL INVALID_VALUE, -EBUSY OTHER_OPERATION_IN_PROGRESS,
 *   -EAGAIN TOO_BUSY, -ECANCELED TASK_CANCELLED,
 *   -EHOSTDOWN/-EHOSTUNREACH/-ECONNREFUSED HOST_OFFLINE,
 *   anything else INTERNAL_ERROR.
 */
const char *api_errno_code(int rc);
/* A failure envelope of api_errno_code(rc): msg (strerror(-rc) when NULL
 * or empty) as the first parameter, empty strings for the others the code
 * takes, so clients indexing ErrorDescription stay in bounds.  NULL on
 * ENOMEM. */
struct api_value *api_failure_errno(int rc, const char *msg);

/* ---- limits on requests ------------------------------------------------ */

#define API_DEFAULT_MAX_BODY     (16u << 20)    /* bytes */
#define API_DEFAULT_MAX_DEPTH    64u
#define API_DEFAULT_MAX_ELEMENTS 250000u
#define API_DEFAULT_MAX_STRING   (1u << 20)     /* bytes */
#define API_METHOD_NAME_MAX      256u

/*
 * Checked while a request is read; a field of 0 takes its default, and a
 * NULL `const struct api_limits *` means all defaults.
 *   max_body:     bytes of the body, checked before any parsing;
 *   max_depth:    nesting of arrays and structs; the params list is level
 *                 1, a struct passed as a parameter level 2, and so on
 *                 (the JSON-RPC request object itself is not counted);
 *   max_elements: XML elements, or JSON values, in the whole request;
 *   max_string:   bytes of one string, datetime, struct key or name.
 */
struct api_limits {
    size_t max_body;
    unsigned max_depth;
    size_t max_elements;
    size_t max_string;
};

/* ---- XML-RPC ----------------------------------------------------------- */

/*
 * The libxml2 parser's global set-up and tear-down: api_init() once from
 * main() before any thread parses, api_fini() at exit (after the last
 * parse; it lets leak checkers see a clean heap).
 */
void api_init(void);
void api_fini(void);

/*
 * Parses an XML-RPC <methodCall>.  On success *method_r gets the method
 * name (free()) and *params_r an API_ARRAY of the parameters.
 *
 * Types read: <string> and bare text as API_STRING; <int>, <i8> (int64) and
 * <i4> (int32 range) as API_INT; <boolean> (0 or 1); <double>;
 * <dateTime.iso8601>; <array><data>; <struct><member><name><value>
 * (names unique); <nil/>.  Anything else is refused, and so are
 * attributes, a DOCTYPE (so no entity is ever declared, let alone
 * expanded) and NUL bytes (so UTF-16); nothing is fetched from the
 * network.  Comments and processing instructions are skipped.  libxml2
 * caps the nesting of elements, which caps max_depth near 80 here.
 *
 * Errors: -EMSGSIZE body over max_body, -E2BIG another limit exceeded,
 * -ERANGE a number out of range, -EINVAL malformed, -ENOMEM; each reported
 * into ctx as "XML-RPC request: expected X, received Y".  When failure_r
 * is not NULL it receives, on failure, the envelope the daemon should
 * answer: XMLRPC_UNMARSHAL_FAILURE [expected, received] (INTERNAL_ERROR
 * for -ENOMEM); it may be NULL itself if memory ran out.
 */
int api_xmlrpc_parse_call(struct xt_ctx *ctx, const char *body, size_t len,
                          const struct api_limits *lim, char **method_r,
                          struct api_value **params_r,
                          struct api_value **failure_r);

/*
 * Renders <?xml ...?><methodResponse><params><param><value>v</value>...,
 * v normally an envelope from api_success()/api_failure().  Following
 * xapi, strings and int64s are both written as bare text
 * (<value>42</value>): an int64 arrives at the client as a string of
 * digits.  Doubles with the fewest digits (15-17) that read back
 * exactly, booleans 0/1, nil <nil/>.
 * Text is escaped; bytes that are not valid UTF-8 and characters XML 1.0
 * cannot carry become U+FFFD.  *out_r (NUL-terminated, free()) and *len_r
 * (without the NUL).  -ENOMEM, -EINVAL (value nested too deeply).
 */
int api_xmlrpc_format_response(struct xt_ctx *ctx, const struct api_value *v,
                               char **out_r, size_t *len_r);

/* The client side (the CLI, tests): a <methodCall> of params (an array),
 * and the value of a <methodResponse> (the envelope, as is; an XML-RPC
 * <fault>, which xapi never sends, is turned into a failure envelope
 * ["XMLRPC_FAULT", faultCode, faultString]).  Same rules and errors as
 * above ("XML-RPC call", "XML-RPC response" in messages). */
int api_xmlrpc_format_call(struct xt_ctx *ctx, const char *method,
                           const struct api_value *params,
                           char **out_r, size_t *len_r);
int api_xmlrpc_parse_response(struct xt_ctx *ctx, const char *body,
                              size_t len, const struct api_limits *lim,
                              struct api_value **env_r);
/* One <value>v</value> alone, as XAPI keeps an Async call's result in
 * task.result; and its reader.  Same rules and errors ("XML-RPC value"). */
int api_xmlrpc_format_value(struct xt_ctx *ctx, const struct api_value *v,
                            char **out_r, size_t *len_r);
int api_xmlrpc_parse_value(struct xt_ctx *ctx, const char *text, size_t len,
                           const struct api_limits *lim,
                           struct api_value **v_r);

/* ---- JSON-RPC ---------------------------------------------------------- */

enum api_json_version {
    API_JSONRPC_V1 = 1,     /* no "jsonrpc" member */
    API_JSONRPC_V2 = 2,     /* "jsonrpc": "2.0" */
};

/* What a response must echo of its request. */
struct api_json_reqinfo {
    enum api_json_version version;
    struct api_value *id;   /* API_STRING or API_INT; NULL: unknown (null) */
};
/* Frees id and resets info to V2 with no id; NULL-safe. */
void api_json_reqinfo_clear(struct api_json_reqinfo *info);

/*
 * Parses a JSON-RPC request with a strict RFC 8259 parser of ours (json-c
 * silently clamps out-of-range integers and keeps the last of duplicate
 * keys; we refuse both).  {"jsonrpc":"2.0","method":m,"params":[...],
 * "id":x}, or version 1.0 without "jsonrpc".  As in xapi: "id" must be a
 * string or an integer (no notifications); in 2.0 "params" may be absent
 * or null (no parameters) or an object (one struct parameter).
 *
 * Integers without fraction or exponent become API_INT, other numbers
 * API_DOUBLE; strings API_STRING.  Strings must be valid UTF-8 without
 * \u0000 or lone surrogates; keys in an object unique.
 *
 * info is always filled as far as the request could be read (version, id)
 * and must be cleared by the caller; on failure use it with *failure_r
 * (JSONRPC_UNMARSHAL_FAILURE [expected, received], or INTERNAL_ERROR) to
 * answer.  Errors as for api_xmlrpc_parse_call().
 */
int api_json_parse_call(struct xt_ctx *ctx, const char *body, size_t len,
                        const struct api_limits *lim, char **method_r,
                        struct api_value **params_r,
                        struct api_json_reqinfo *info,
                        struct api_value **failure_r);

/*
 * Renders the answer to a request, env an envelope (-EINVAL otherwise):
 *   V2 success {"jsonrpc":"2.0","result":Value,"id":id}
 *   V2 failure {"jsonrpc":"2.0","error":{"code":1,"message":CODE,
 *              "data":[params]},"id":id}
 *   V1 success {"result":Value,"error":null,"id":id}
 *   V1 failure {"result":null,"error":[CODE,params],"id":id}
 * info NULL means version 2 and "id":null; info->id NULL, "id":null.
 * int64s are JSON integers, doubles keep a '.' or an exponent, datetimes
 * are strings, bad UTF-8 becomes U+FFFD.
 */
int api_json_format_response(struct xt_ctx *ctx, const struct api_value *env,
                             const struct api_json_reqinfo *info,
                             char **out_r, size_t *len_r);

/* The client side: a request (id an API_INT or API_STRING, borrowed), and
 * a response turned back into an envelope. */
int api_json_format_call(struct xt_ctx *ctx, enum api_json_version version,
                         const char *method, const struct api_value *params,
                         const struct api_value *id,
                         char **out_r, size_t *len_r);
int api_json_parse_response(struct xt_ctx *ctx, const char *body,
                            size_t len, const struct api_limits *lim,
                            struct api_value **env_r);

/* ---- method dispatch --------------------------------------------------- */

#define API_ASYNC_PREFIX "Async."

/*
 * What a handler is given.  The daemon fills it per call (and may embed it
 * in its own per-call structure); this layer sets method, m and async.
 */
struct api_method;
struct api_call_ctx {
    struct xt_ctx *xt;          /* error slot of this call */
    void *daemon;               /* the daemon's context, opaque here */
    const char *method;         /* name as called, "Async." included */
    const struct api_method *m; /* the table entry */
    bool async;                 /* called with the "Async." prefix */
};

/*
 * A handler checks and uses params (an API_ARRAY of m->nparams ..
 * m->nparams_max values, borrowed).  It returns 0 with *result_r set to
 * the call's Value (api_void() for void), or a negative errno with the
 * error reported into call->xt; then it may set *result_r to a specific
 * failure envelope (api_failure("VM_BAD_POWER_STATE", ...)), otherwise
 * api_failure_errno() of the error is answered.
 */
typedef int (*api_handler_fn)(struct api_call_ctx *call,
                              const struct api_value *params,
                              struct api_value **result_r);

enum {
    API_METHOD_NO_ASYNC = 1u << 0,  /* no "Async." variant (session.*) */
    API_METHOD_NO_SESSION = 1u << 1,/* params[0] is no session to check
                                     * (logins, host_local.*'s secret) */
    API_METHOD_LOCAL = 1u << 2,     /* the host called answers, a pool
                                     * member too (never forwarded) */
};

/* A method table ends with an entry whose name is NULL. */
struct api_method {
    const char *name;       /* "VM.start" */
    int nparams;            /* parameters, session reference included */
    int nparams_max;        /* 0: exactly nparams; else a range */
    unsigned flags;         /* API_METHOD_* */
    api_handler_fn fn;
};

/*
 * Resolves method (the name as called) in table: strips "Async." (setting
 * *async_r) and checks the parameter count.  0 with *m_r set; otherwise
 * *failure_r gets MESSAGE_METHOD_UNKNOWN [method] (-ENOENT) or
 * MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received] (-EINVAL),
 * or NULL with -ENOMEM.  Not reported into a context: an unknown method is
 * the client's mistake, answered, not ours.
 */
int api_resolve(const struct api_method *table, const char *method,
                const struct api_value *params, const struct api_method **m_r,
                bool *async_r, struct api_value **failure_r);

/*
 * Runs m's handler with call (call->m and call->method set, for the
 * handler) after clearing the error in call->xt, and wraps what it
 * answers in the envelope *env_r.  0, or -ENOMEM (*env_r NULL: the daemon
 * answers with a static INTERNAL_ERROR).
 */
int api_invoke(const struct api_method *m, struct api_call_ctx *call,
               const struct api_value *params, struct api_value **env_r);

/*
 * Both steps: fills call->method, call->m and call->async.  For an Async.
 * call the handler is NOT run: the function returns 0 with *env_r NULL and
 * call->m set, and the daemon creates a task, answers its reference and
 * later calls api_invoke() (with its own copy of params, api_value_copy(),
 * as the request's go away with it).  Otherwise *env_r receives the
 * envelope to answer (the call's, or an unknown-method / parameter-count
 * failure).  Returns 0, or -ENOMEM.
 */
int api_dispatch(const struct api_method *table, struct api_call_ctx *call,
                 const char *method, const struct api_value *params,
                 struct api_value **env_r);

#endif /* API_H */
