/*
 * api_xmlrpc_read.c - reading XML-RPC calls and responses: a strict walk of
 * the tree api_xml_read() builds, checking the grammar, the types and their
 * ranges, the nesting of values and the limits on strings, into values.
 * api_xmlrpc_write.c writes them.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "api_internal.h"

#define VALUE_TYPES "one of string, int, i4, i8, boolean, double, " \
                    "dateTime.iso8601, array, struct, nil"
#define DATETIME_MAX 64u

struct xml_walk {
    struct xt_ctx *ctx;
    struct api_perr *pe;
    struct api_limits lim;
};

static bool is_blank(const xmlChar *s)
{
    for (; s && *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    }
    return true;
}

static bool is_text(xmlNodePtr n)
{
    return n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE;
}

static bool is_ignored(xmlNodePtr n)
{
    return n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE;
}

static const char *name_of(xmlNodePtr n)
{
    return (const char *)n->name;
}

/* Describes what n is, for "received ...". */
static void describe_node(xmlNodePtr n, char *buf, size_t size)
{
    char text[64];

    if (!n) {
        snprintf(buf, size, "nothing");
    } else if (n->type == XML_ELEMENT_NODE) {
        snprintf(buf, size, "<%.60s>", name_of(n));
    } else if (is_text(n)) {
        api_describe_text(text, sizeof(text), (const char *)n->content,
                          n->content ? strlen((const char *)n->content) : 0);
        snprintf(buf, size, "text %s", text);
    } else {
        snprintf(buf, size, "an XML node of type %d", (int)n->type);
    }
}

static int unexpected(struct xml_walk *w, const char *expected, xmlNodePtr n)
{
    char got[API_PERR_TEXT];

    describe_node(n, got, sizeof(got));
    return api_perr_set(w->ctx, w->pe, -EINVAL, expected, "%s", got);
}

/*
 * The first element at or after n, skipping comments, processing
 * instructions and blank text; *rc_r < 0 on anything else (reported as
 * not being `expected`).
 */
static xmlNodePtr skip_to_element(struct xml_walk *w, xmlNodePtr n,
                                  const char *expected, int *rc_r)
{
    *rc_r = 0;
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            return n;
        if (is_ignored(n) || (is_text(n) && is_blank(n->content)))
            continue;
        *rc_r = unexpected(w, expected, n);
        return NULL;
    }
    return NULL;
}

/* Checks that n is an element called name without a namespace. */
static int expect_element(struct xml_walk *w, xmlNodePtr n, const char *name,
                          const char *expected)
{
    if (!n || n->type != XML_ELEMENT_NODE || n->ns ||
        strcmp(name_of(n), name) != 0)
        return unexpected(w, expected, n);
    return 0;
}

/* Checks that nothing but blanks and comments follow n. */
static int expect_end(struct xml_walk *w, xmlNodePtr n, const char *where)
{
    char expected[96];
    int rc;

    n = skip_to_element(w, n, "nothing more", &rc);
    if (rc < 0)
        return rc;
    if (n) {
        snprintf(expected, sizeof(expected), "the end of %s", where);
        return unexpected(w, expected, n);
    }
    return 0;
}

/*
 * The text inside element el (its text children joined; comments skipped;
 * an element inside is an error), malloc'd in *text_r with its length.
 */
static int element_text(struct xml_walk *w, xmlNodePtr el, char **text_r,
                        size_t *len_r)
{
    struct api_buf b = { 0 };
    char expected[96];
    xmlNodePtr n;
    int rc;

    for (n = el->children; n; n = n->next) {
        if (is_ignored(n))
            continue;
        if (!is_text(n)) {
            snprintf(expected, sizeof(expected), "text inside <%.60s>",
                     name_of(el));
            api_buf_free(&b);
            return unexpected(w, expected, n);
        }
        if (n->content)
            api_buf_adds(&b, (const char *)n->content);
        if (b.len > w->lim.max_string) {
            snprintf(expected, sizeof(expected), "text of at most %zu bytes",
                     w->lim.max_string);
            api_buf_free(&b);
            return api_perr_set(w->ctx, w->pe, -E2BIG, expected, "more");
        }
    }
    rc = api_buf_finish(&b, text_r, len_r);
    if (rc < 0)
        return api_perr_nomem(w->ctx, w->pe);
    return 0;
}

/* s without leading and trailing blanks, in place. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
                     e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Parses [+-]?[0-9]+ into [min, max]: 0, -EINVAL or -ERANGE. */
static int parse_integer(const char *s, int64_t min, int64_t max,
                         int64_t *out)
{
    uint64_t acc = 0, limit;
    bool neg = false;
    size_t digits = 0;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        unsigned d = (unsigned)(*s - '0');

        if (acc > (limit - d) / 10)
            return -ERANGE;
        acc = acc * 10 + d;
    }
    if (*s || digits == 0)
        return -EINVAL;
    if (!neg)
        *out = (int64_t)acc;
    else if (acc == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t)acc;
    return 0;
}

/* [+-]?digits[.digits][(e|E)[+-]digits], at least one digit before the
 * exponent. */
static bool double_syntax(const char *s)
{
    size_t digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    }
    if (digits == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static bool datetime_syntax(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z') || c == ':' || c == '.' || c == '+' ||
              c == '-'))
            return false;
    }
    return true;
}

static bool is_scalar_tag(const char *tag)
{
    static const char *const tags[] = {
        "string", "int", "i4", "i8", "boolean", "double", "dateTime.iso8601",
    };
    size_t i;

    for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        if (strcmp(tag, tags[i]) == 0)
            return true;
    }
    return false;
}

/* A number, boolean or datetime from its (trimmed) text t. */
static int scalar_of_text(struct xml_walk *w, const char *tag, const char *t,
                          struct api_value **v_r)
{
    char expected[96], shown[64];
    bool i4 = strcmp(tag, "i4") == 0;
    int64_t i;
    double d;
    int rc;

    api_describe_text(shown, sizeof(shown), t, strlen(t));
    if (strcmp(tag, "boolean") == 0) {
        if (strcmp(t, "0") != 0 && strcmp(t, "1") != 0)
            return api_perr_set(w->ctx, w->pe, -EINVAL,
                                "0 or 1 in <boolean>", "%s", shown);
        *v_r = api_bool(t[0] == '1');
    } else if (strcmp(tag, "double") == 0) {
        if (!double_syntax(t))
            return api_perr_set(w->ctx, w->pe, -EINVAL,
                                "a decimal number in <double>", "%s", shown);
        d = strtod(t, NULL);
        if (!isfinite(d))
            return api_perr_set(w->ctx, w->pe, -ERANGE,
                                "a finite number in <double>", "%s", shown);
        *v_r = api_double(d);
    } else if (strcmp(tag, "dateTime.iso8601") == 0) {
        if (strlen(t) > DATETIME_MAX || !datetime_syntax(t))
            return api_perr_set(w->ctx, w->pe, -EINVAL,
                                "an ISO 8601 time in <dateTime.iso8601>",
                                "%s", shown);
        *v_r = api_datetime(t);
    } else {    /* int, i4, i8 */
        rc = parse_integer(t, i4 ? INT32_MIN : INT64_MIN,
                           i4 ? INT32_MAX : INT64_MAX, &i);
        if (rc < 0) {
            snprintf(expected, sizeof(expected), "%s <%s>",
                     rc == -EINVAL ? "decimal digits in" :
                     i4 ? "an int32 in" : "an int64 in", tag);
            return api_perr_set(w->ctx, w->pe, rc, expected, "%s", shown);
        }
        *v_r = api_int(i);
    }
    return *v_r ? 0 : api_perr_nomem(w->ctx, w->pe);
}

/* A scalar element (string, int, ...) into *v_r. */
static int parse_scalar(struct xml_walk *w, xmlNodePtr el,
                        struct api_value **v_r)
{
    const char *tag = name_of(el);
    char *text = NULL;
    size_t len;
    int rc;

    if (!is_scalar_tag(tag))
        return api_perr_set(w->ctx, w->pe, -EINVAL, VALUE_TYPES, "<%.60s>",
                            tag);
    rc = element_text(w, el, &text, &len);
    if (rc < 0)
        return rc;
    if (strcmp(tag, "string") == 0) {
        *v_r = api_string_take(text, len, API_STRING);
        return *v_r ? 0 : api_perr_nomem(w->ctx, w->pe);
    }
    rc = scalar_of_text(w, tag, trim(text), v_r);
    free(text);
    return rc;
}

static int parse_value(struct xml_walk *w, xmlNodePtr value, unsigned level,
                       struct api_value **v_r);

/* Checks that one more level of nesting is allowed. */
static int check_level(struct xml_walk *w, unsigned level)
{
    char expected[64];

    if (level <= w->lim.max_depth)
        return 0;
    snprintf(expected, sizeof(expected), "values nested at most %u deep",
             w->lim.max_depth);
    return api_perr_set(w->ctx, w->pe, -E2BIG, expected,
                        "a value nested %u deep", level);
}

/* <array>[<data><value>*</data>]</array>, the array at `level`. */
static int parse_array(struct xml_walk *w, xmlNodePtr el, unsigned level,
                       struct api_value **v_r)
{
    struct api_value *arr = NULL, *item = NULL;
    xmlNodePtr data, n;
    int rc;

    rc = check_level(w, level);
    if (rc < 0)
        return rc;
    arr = api_array();
    if (!arr)
        return api_perr_nomem(w->ctx, w->pe);
    data = skip_to_element(w, el->children, "<data>", &rc);
    if (rc < 0 || !data)
        goto out;
    rc = expect_element(w, data, "data", "<data>");
    if (rc < 0)
        goto out;
    rc = expect_end(w, data->next, "<array>");
    if (rc < 0)
        goto out;
    for (n = data->children;; n = n->next) {
        n = skip_to_element(w, n, "<value>", &rc);
        if (rc < 0 || !n)
            break;
        rc = expect_element(w, n, "value", "<value>");
        if (rc < 0)
            break;
        rc = parse_value(w, n, level, &item);
        if (rc < 0)
            break;
        if (api_array_append(arr, item) < 0) {
            rc = api_perr_nomem(w->ctx, w->pe);
            break;
        }
        item = NULL;
    }

out:
    if (rc < 0)
        api_value_free(arr);
    else
        *v_r = arr;
    return rc;
}

/* <member><name>k</name><value>v</value></member> appended to st. */
static int parse_member(struct xml_walk *w, xmlNodePtr member,
                        unsigned level, struct api_value *st)
{
    struct api_value *val = NULL;
    xmlNodePtr name, value;
    char *key = NULL;
    size_t keylen;
    int rc;

    name = skip_to_element(w, member->children, "<name>", &rc);
    if (rc < 0)
        return rc;
    rc = expect_element(w, name, "name", "<name>");
    if (rc < 0)
        return rc;
    value = skip_to_element(w, name->next, "<value>", &rc);
    if (rc < 0)
        return rc;
    rc = expect_element(w, value, "value", "<value>");
    if (rc < 0)
        return rc;
    rc = expect_end(w, value->next, "<member>");
    if (rc < 0)
        return rc;
    rc = element_text(w, name, &key, &keylen);
    if (rc < 0)
        return rc;
    rc = parse_value(w, value, level, &val);
    if (rc < 0) {
        free(key);
        return rc;
    }
    if (api_struct_append(st, key, val) < 0)
        return api_perr_nomem(w->ctx, w->pe);
    return 0;
}

/* <struct><member>*</struct>, the struct at `level`; keys unique. */
static int parse_struct(struct xml_walk *w, xmlNodePtr el, unsigned level,
                        struct api_value **v_r)
{
    struct api_value *st = NULL;
    char shown[64];
    const char *dup;
    xmlNodePtr n;
    int rc;

    rc = check_level(w, level);
    if (rc < 0)
        return rc;
    st = api_struct();
    if (!st)
        return api_perr_nomem(w->ctx, w->pe);
    for (n = el->children;; n = n->next) {
        n = skip_to_element(w, n, "<member>", &rc);
        if (rc < 0 || !n)
            break;
        rc = expect_element(w, n, "member", "<member>");
        if (rc < 0)
            break;
        rc = parse_member(w, n, level, st);
        if (rc < 0)
            break;
    }
    if (rc == 0) {
        dup = api_struct_find_dup(st, &rc);
        if (rc < 0) {
            rc = api_perr_nomem(w->ctx, w->pe);
        } else if (dup) {
            api_describe_text(shown, sizeof(shown), dup, strlen(dup));
            rc = api_perr_set(w->ctx, w->pe, -EINVAL,
                              "unique member names in <struct>",
                              "%s twice", shown);
        }
    }
    if (rc < 0)
        api_value_free(st);
    else
        *v_r = st;
    return rc;
}

/*
 * <value>: bare text (a string), or exactly one typed element with
 * nothing but blanks and comments around it.  level: that of the array,
 * struct or params list holding the value.
 */
static int parse_value(struct xml_walk *w, xmlNodePtr value, unsigned level,
                       struct api_value **v_r)
{
    xmlNodePtr n, el = NULL;
    char *text;
    size_t len;
    int rc;

    *v_r = NULL;
    for (n = value->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            if (el)
                return unexpected(w, "one element inside <value>", n);
            el = n;
        } else if (!is_ignored(n) && !is_text(n)) {
            return unexpected(w, "text or one element inside <value>", n);
        }
    }
    if (!el) {
        rc = element_text(w, value, &text, &len);
        if (rc < 0)
            return rc;
        *v_r = api_string_take(text, len, API_STRING);
        return *v_r ? 0 : api_perr_nomem(w->ctx, w->pe);
    }
    for (n = value->children; n; n = n->next) {
        if (is_text(n) && !is_blank(n->content))
            return unexpected(w, "nothing but one element inside <value>",
                              n);
    }
    if (el->ns)
        return unexpected(w, VALUE_TYPES, el);
    if (strcmp(name_of(el), "array") == 0)
        return parse_array(w, el, level + 1, v_r);
    if (strcmp(name_of(el), "struct") == 0)
        return parse_struct(w, el, level + 1, v_r);
    if (strcmp(name_of(el), "nil") == 0) {
        rc = expect_end(w, el->children, "<nil/>");
        if (rc < 0)
            return rc;
        *v_r = api_nil();
        return *v_r ? 0 : api_perr_nomem(w->ctx, w->pe);
    }
    return parse_scalar(w, el, v_r);
}

/* <params>(<param><value/></param>)*</params> into an array. */
static int parse_params(struct xml_walk *w, xmlNodePtr params,
                        struct api_value *arr)
{
    struct api_value *item = NULL;
    xmlNodePtr n, value;
    int rc;

    for (n = params->children;; n = n->next) {
        n = skip_to_element(w, n, "<param>", &rc);
        if (rc < 0 || !n)
            return rc;
        rc = expect_element(w, n, "param", "<param>");
        if (rc < 0)
            return rc;
        value = skip_to_element(w, n->children, "<value>", &rc);
        if (rc < 0)
            return rc;
        rc = expect_element(w, value, "value", "<value>");
        if (rc < 0)
            return rc;
        rc = expect_end(w, value->next, "<param>");
        if (rc < 0)
            return rc;
        rc = parse_value(w, value, 1, &item);
        if (rc < 0)
            return rc;
        if (api_array_append(arr, item) < 0)
            return api_perr_nomem(w->ctx, w->pe);
    }
}

int api_xmlrpc_parse_call(struct xt_ctx *ctx, const char *body, size_t len,
                          const struct api_limits *lim, char **method_r,
                          struct api_value **params_r,
                          struct api_value **failure_r)
{
    struct api_perr pe = { .proto = "XML-RPC request" };
    struct xml_walk w = { .ctx = ctx, .pe = &pe };
    struct api_value *params = NULL;
    xmlDocPtr doc = NULL;
    xmlNodePtr root, n;
    char *method = NULL, shown[64];
    size_t mlen;
    int rc;

    *method_r = NULL;
    *params_r = NULL;
    if (failure_r)
        *failure_r = NULL;
    api_limits_resolve(lim, &w.lim);

    rc = api_xml_read(ctx, &pe, body, len, &w.lim, &doc);
    if (rc < 0)
        goto out;
    root = xmlDocGetRootElement(doc);
    rc = expect_element(&w, root, "methodCall", "<methodCall>");
    if (rc < 0)
        goto out;
    n = skip_to_element(&w, root->children, "<methodName>", &rc);
    if (rc < 0)
        goto out;
    rc = expect_element(&w, n, "methodName", "<methodName>");
    if (rc < 0)
        goto out;
    rc = element_text(&w, n, &method, &mlen);
    if (rc < 0)
        goto out;
    if (!api_method_name_valid(method, mlen)) {
        api_describe_text(shown, sizeof(shown), method, mlen);
        rc = api_perr_set(ctx, &pe, -EINVAL,
                          "a method name of [A-Za-z0-9_.:/]", "%s", shown);
        goto out;
    }

    params = api_array();
    if (!params) {
        rc = api_perr_nomem(ctx, &pe);
        goto out;
    }
    n = skip_to_element(&w, n->next, "<params>", &rc);
    if (rc < 0)
        goto out;
    if (n) {    /* <params> may be left out when there are none */
        rc = expect_element(&w, n, "params", "<params>");
        if (rc < 0)
            goto out;
        rc = expect_end(&w, n->next, "<methodCall>");
        if (rc < 0)
            goto out;
        rc = parse_params(&w, n, params);
        if (rc < 0)
            goto out;
    }
    *method_r = method;
    *params_r = params;
    method = NULL;
    params = NULL;

out:
    free(method);
    api_value_free(params);
    xmlFreeDoc(doc);
    if (rc < 0 && failure_r)
        *failure_r = api_perr_failure(&pe, "XMLRPC_UNMARSHAL_FAILURE");
    return rc;
}

/* A <fault> into ["XMLRPC_FAULT", faultCode, faultString]. */
static int fault_envelope(struct xml_walk *w, xmlNodePtr fault,
                          struct api_value **env_r)
{
    const struct api_value *code, *string;
    struct api_value *v = NULL;
    char codebuf[24];
    const char *codes;
    xmlNodePtr value;
    int64_t i;
    int rc;

    value = skip_to_element(w, fault->children, "<value>", &rc);
    if (rc < 0)
        return rc;
    rc = expect_element(w, value, "value", "<value>");
    if (rc < 0)
        return rc;
    rc = parse_value(w, value, 0, &v);
    if (rc < 0)
        return rc;
    code = api_struct_get(v, "faultCode");
    string = api_struct_get(v, "faultString");
    if (!code || !api_value_string(string)) {
        api_value_free(v);
        return api_perr_set(w->ctx, w->pe, -EINVAL,
                            "faultCode and faultString in <fault>",
                            "something else");
    }
    codes = api_value_string(code);
    if (!codes && api_value_get_int64(code, &i) == 0) {
        snprintf(codebuf, sizeof(codebuf), "%" PRId64, i);
        codes = codebuf;
    }
    *env_r = api_failure("XMLRPC_FAULT", codes ? codes : "",
                         api_value_string(string), NULL);
    api_value_free(v);
    return *env_r ? 0 : api_perr_nomem(w->ctx, w->pe);
}

int api_xmlrpc_parse_response(struct xt_ctx *ctx, const char *body,
                              size_t len, const struct api_limits *lim,
                              struct api_value **env_r)
{
    struct api_perr pe = { .proto = "XML-RPC response" };
    struct xml_walk w = { .ctx = ctx, .pe = &pe };
    xmlNodePtr root, n, param, value;
    xmlDocPtr doc = NULL;
    int rc;

    *env_r = NULL;
    api_limits_resolve(lim, &w.lim);
    rc = api_xml_read(ctx, &pe, body, len, &w.lim, &doc);
    if (rc < 0)
        goto out;
    root = xmlDocGetRootElement(doc);
    rc = expect_element(&w, root, "methodResponse", "<methodResponse>");
    if (rc < 0)
        goto out;
    n = skip_to_element(&w, root->children, "<params> or <fault>", &rc);
    if (rc < 0)
        goto out;
    if (n && !n->ns && strcmp(name_of(n), "fault") == 0) {
        rc = expect_end(&w, n->next, "<methodResponse>");
        if (rc == 0)
            rc = fault_envelope(&w, n, env_r);
        goto out;
    }
    rc = expect_element(&w, n, "params", "<params> or <fault>");
    if (rc < 0)
        goto out;
    rc = expect_end(&w, n->next, "<methodResponse>");
    if (rc < 0)
        goto out;
    param = skip_to_element(&w, n->children, "<param>", &rc);
    if (rc < 0)
        goto out;
    rc = expect_element(&w, param, "param", "<param>");
    if (rc < 0)
        goto out;
    rc = expect_end(&w, param->next, "<params>");
    if (rc < 0)
        goto out;
    value = skip_to_element(&w, param->children, "<value>", &rc);
    if (rc < 0)
        goto out;
    rc = expect_element(&w, value, "value", "<value>");
    if (rc < 0)
        goto out;
    rc = expect_end(&w, value->next, "<param>");
    if (rc < 0)
        goto out;
    rc = parse_value(&w, value, 0, env_r);

out:
    xmlFreeDoc(doc);
    return rc;
}

int api_xmlrpc_parse_value(struct xt_ctx *ctx, const char *text, size_t len,
                           const struct api_limits *lim,
                           struct api_value **v_r)
{
    struct api_perr pe = { .proto = "XML-RPC value" };
    struct xml_walk w = { .ctx = ctx, .pe = &pe };
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    int rc;

    *v_r = NULL;
    api_limits_resolve(lim, &w.lim);
    rc = api_xml_read(ctx, &pe, text, len, &w.lim, &doc);
    if (rc < 0)
        goto out;
    root = xmlDocGetRootElement(doc);
    rc = expect_element(&w, root, "value", "<value>");
    if (rc == 0)
        rc = parse_value(&w, root, 0, v_r);
out:
    xmlFreeDoc(doc);
    return rc;
}
