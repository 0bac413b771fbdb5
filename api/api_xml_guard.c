/*
 * api_xml_guard.c - libxml2 behind our limits: a linear pre-scan of the raw
 * bytes refuses what XML-RPC never uses and libxml2 pays for dearly
 * (attributes, DOCTYPEs, NUL bytes, so UTF-16); then libxml2 builds a tree
 * with SAX hooks of ours in front of its own that refuse a DOCTYPE again
 * before its internal subset is read (so no entity is ever declared) and
 * stop the parser as soon as the element count, the element depth or a run
 * of text goes over the limits (so a hostile body cannot make the tree
 * big).  api_xmlrpc_read.c walks the tree.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "api_internal.h"

#define XML_ELEMENT_DEPTH_MAX 250u  /* libxml2 refuses 256 */

void api_init(void)
{
    xmlInitParser();
}

void api_fini(void)
{
    xmlCleanupParser();
}

struct xml_reader {
    struct xt_ctx *ctx;
    struct api_perr *pe;
    struct api_limits lim;
    size_t elements;
    unsigned depth;             /* of elements */
    unsigned max_depth;         /* of elements, derived from lim */
    size_t text_run;            /* bytes of text since the last tag */
    startElementNsSAX2Func start;
    endElementNsSAX2Func end;
    charactersSAXFunc characters;
};

static void guard_start(void *uctx, const xmlChar *localname,
                        const xmlChar *prefix, const xmlChar *uri,
                        int nb_namespaces, const xmlChar **namespaces,
                        int nb_attributes, int nb_defaulted,
                        const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = uctx;
    struct xml_reader *r = ctxt->_private;
    char what[64];

    if (++r->elements > r->lim.max_elements) {
        snprintf(what, sizeof(what), "at most %zu elements",
                 r->lim.max_elements);
        api_perr_set(r->ctx, r->pe, -E2BIG, what, "more");
        xmlStopParser(ctxt);
        return;
    }
    if (++r->depth > r->max_depth) {
        snprintf(what, sizeof(what), "values nested at most %u deep",
                 r->lim.max_depth);
        api_perr_set(r->ctx, r->pe, -E2BIG, what,
                     "elements nested more than %u deep", r->max_depth);
        xmlStopParser(ctxt);
        return;
    }
    r->text_run = 0;
    r->start(uctx, localname, prefix, uri, nb_namespaces, namespaces,
             nb_attributes, nb_defaulted, attributes);
}

static void guard_end(void *uctx, const xmlChar *localname,
                      const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = uctx;
    struct xml_reader *r = ctxt->_private;

    r->depth--;
    r->text_run = 0;
    r->end(uctx, localname, prefix, uri);
}

static void guard_characters(void *uctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr ctxt = uctx;
    struct xml_reader *r = ctxt->_private;
    char what[64];

    r->text_run += (size_t)len;
    if (r->text_run > r->lim.max_string) {
        snprintf(what, sizeof(what), "text of at most %zu bytes",
                 r->lim.max_string);
        api_perr_set(r->ctx, r->pe, -E2BIG, what, "more");
        xmlStopParser(ctxt);
        return;
    }
    r->characters(uctx, ch, len);
}

static void guard_doctype(void *uctx, const xmlChar *name,
                          const xmlChar *external_id,
                          const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = uctx;
    struct xml_reader *r = ctxt->_private;
    char shown[64];

    api_describe_text(shown, sizeof(shown), (const char *)name,
                      name ? strlen((const char *)name) : 0);
    api_perr_set(r->ctx, r->pe, -EINVAL, "no DOCTYPE", "<!DOCTYPE %s>",
                 shown);
    xmlStopParser(ctxt);
}

static void guard_entity(void *uctx, const xmlChar *name, int type,
                         const xmlChar *public_id, const xmlChar *system_id,
                         xmlChar *content)
{
    xmlParserCtxtPtr ctxt = uctx;
    struct xml_reader *r = ctxt->_private;
    char shown[64];

    api_describe_text(shown, sizeof(shown), (const char *)name,
                      name ? strlen((const char *)name) : 0);
    api_perr_set(r->ctx, r->pe, -EINVAL, "no entity declaration",
                 "<!ENTITY %s>", shown);
    xmlStopParser(ctxt);
}

/* Where s[0..n) contains needle, or NULL.  Not memmem(): sanitizers check
 * its whole haystack on every call, which made the pre-scan quadratic. */
static const char *find(const char *s, size_t n, const char *needle)
{
    const char *end = s + n, *p = s;
    size_t len = strlen(needle);

    while ((p = memchr(p, needle[0], (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < len)
            return NULL;
        if (memcmp(p, needle, len) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* Bytes from p up to end or to the first of stops. */
static size_t span_to(const char *p, const char *end, const char *stops)
{
    const char *q = p;

    while (q < end && !strchr(stops, *q))
        q++;
    return (size_t)(q - p);
}

/*
 * One pass over the raw body before libxml2 sees it, for what XML-RPC never
 * uses and libxml2 handles at a cost: attributes (libxml2 2.9 checks them
 * for duplicates in quadratic time: 40 000 of them in 400 KB take minutes)
 * and DOCTYPEs.  It also refuses NUL bytes, which keeps out UTF-16 and
 * UTF-32 bodies, so the bytes looked at here are the characters libxml2
 * reads.  Comments, CDATA sections and processing instructions are stepped
 * over; libxml2 still checks everything for well-formedness afterwards.
 */
static int prescan(struct xt_ctx *ctx, struct api_perr *pe, const char *body,
                   size_t len)
{
    const char *p = body, *end = body + len, *close;
    char shown[64];

    if (memchr(body, '\0', len))
        return api_perr_set(ctx, pe, -EINVAL, "UTF-8 XML without NUL bytes",
                            "a NUL byte at byte %zu",
                            (size_t)((const char *)memchr(body, '\0', len) -
                                     body));
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        size_t left = (size_t)(end - p);

        if (left >= 4 && memcmp(p, "<!--", 4) == 0) {
            close = find(p + 4, left - 4, "-->");
            p = close ? close + 3 : end;
        } else if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            close = find(p + 9, left - 9, "]]>");
            p = close ? close + 3 : end;
        } else if (left >= 2 && p[1] == '?') {
            close = find(p + 2, left - 2, "?>");
            p = close ? close + 2 : end;
        } else if (left >= 2 && p[1] == '/') {
            p += 2;     /* an end tag: libxml2 checks it */
        } else if (left >= 2 && p[1] == '!') {
            api_describe_text(shown, sizeof(shown), p,
                              span_to(p, end, "\n["));
            return api_perr_set(ctx, pe, -EINVAL, "no DOCTYPE", "%s at "
                                "byte %zu", shown, (size_t)(p - body));
        } else {
            /* a tag: its name, blanks, maybe '/', then '>' */
            for (p++; p < end && !strchr(" \t\r\n/>", *p); p++)
                ;
            while (p < end && strchr(" \t\r\n", *p))
                p++;
            if (p < end && *p == '/')
                p++;
            if (p < end && *p != '>') {
                api_describe_text(shown, sizeof(shown), p,
                                  span_to(p, end, " \t\r\n>"));
                return api_perr_set(ctx, pe, -EINVAL, "elements without "
                                    "attributes", "%s at byte %zu", shown,
                                    (size_t)(p - body));
            }
        }
    }
    return 0;
}

/* libxml2 records its errors in the parser context; keep them off stderr. */
static void quiet_error(void *uctx, xmlErrorPtr err)
{
}

/*
 * Parses body into *doc_r with the guards on.  No network, no DTD loading,
 * no entity substitution (NOENT off); CDATA merged into text.
 */
int api_xml_read(struct xt_ctx *ctx, struct api_perr *pe, const char *body,
                 size_t len, const struct api_limits *lim, xmlDocPtr *doc_r)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOCDATA |
                        XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    xmlParserCtxtPtr ctxt = NULL;
    struct xml_reader r = { .ctx = ctx, .pe = pe };
    char got[100];
    xmlErrorPtr err;
    int rc = 0;

    *doc_r = NULL;
    api_limits_resolve(lim, &r.lim);
    if (len > r.lim.max_body || len > INT_MAX) {
        snprintf(got, sizeof(got), "a body of at most %zu bytes",
                 r.lim.max_body);
        return api_perr_set(ctx, pe, -EMSGSIZE, got, "%zu bytes", len);
    }
    if (len == 0)
        return api_perr_set(ctx, pe, -EINVAL, "an XML document",
                            "an empty body");
    rc = prescan(ctx, pe, body, len);
    if (rc < 0)
        return rc;
    /* methodCall/params/param/value, then three elements per level of
     * nesting (struct/member/value, array/data/value), and some slack;
     * the walk checks the nesting of values exactly.  libxml2 itself stops
     * at 256 elements deep: stay below to keep our message. */
    r.max_depth = r.lim.max_depth > (XML_ELEMENT_DEPTH_MAX - 6) / 3 ?
                  XML_ELEMENT_DEPTH_MAX : 3 * r.lim.max_depth + 6;

    ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
    if (!ctxt)
        return api_perr_nomem(ctx, pe);
    xmlCtxtUseOptions(ctxt, options);
    if (!ctxt->sax || ctxt->sax->initialized != XML_SAX2_MAGIC ||
        !ctxt->sax->startElementNs || !ctxt->sax->endElementNs ||
        !ctxt->sax->characters) {
        rc = api_perr_set(ctx, pe, -EIO, "a SAX2 parser", "another one");
        goto out;
    }
    r.start = ctxt->sax->startElementNs;
    r.end = ctxt->sax->endElementNs;
    r.characters = ctxt->sax->characters;
    ctxt->sax->startElementNs = guard_start;
    ctxt->sax->endElementNs = guard_end;
    ctxt->sax->characters = guard_characters;
    ctxt->sax->cdataBlock = guard_characters;
    ctxt->sax->ignorableWhitespace = guard_characters;
    ctxt->sax->internalSubset = guard_doctype;
    ctxt->sax->externalSubset = guard_doctype;
    ctxt->sax->entityDecl = guard_entity;
    /* comments and processing instructions are not kept: they mean
     * nothing here and would cost a tree node each */
    ctxt->sax->comment = NULL;
    ctxt->sax->processingInstruction = NULL;
    ctxt->sax->serror = quiet_error;
    ctxt->_private = &r;

    xmlParseDocument(ctxt);
    if (pe->rc) {
        rc = pe->rc;
        goto out;
    }
    if (!ctxt->wellFormed || !ctxt->myDoc) {
        err = xmlCtxtGetLastError(ctxt);
        if (err && err->code == XML_ERR_NO_MEMORY) {
            rc = api_perr_nomem(ctx, pe);
            goto out;
        }
        api_describe_text(got, sizeof(got),
                          err && err->message ? err->message : "?",
                          err && err->message ?
                              strcspn(err->message, "\n") : 1);
        rc = api_perr_set(ctx, pe, -EINVAL, "well-formed XML",
                          "malformed XML at line %d: %s",
                          err ? err->line : 0, got);
        goto out;
    }
    *doc_r = ctxt->myDoc;
    ctxt->myDoc = NULL;

out:
    if (ctxt) {
        if (ctxt->myDoc)
            xmlFreeDoc(ctxt->myDoc);
        ctxt->myDoc = NULL;
        xmlFreeParserCtxt(ctxt);
    }
    return rc;
}
