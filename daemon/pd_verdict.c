/*
 * pd_verdict.c - the decision of where a migrated VM is, from what the
 * hosts said (pd_verdict.h).
 */
#include "config.h"

#include <string.h>

#include "pd_verdict.h"

bool pd_src_is(const struct src_facts *s, const char *state)
{
    return s->answered && s->known && !s->running &&
           !strcmp(s->state, state);
}

bool pd_src_paused(const struct src_facts *s)
{
    return pd_src_is(s, "in-doubt") || pd_src_is(s, "sole-paused") ||
           pd_src_is(s, "commit-sent");
}

bool pd_src_decides(const struct src_facts *s)
{
    return s->answered && s->known &&
           (s->running || pd_src_is(s, "handed-over") ||
            pd_src_is(s, "sole-running"));
}

bool pd_need_srcvm(const struct facts *f)
{
    return f->src.answered && !f->src.known && f->dst.answered &&
           !f->dst.running && !f->dst.receiving && !f->dst.domain;
}

/*
 * The one place that decides.  The destination resumes its copy only
 * after COMMIT, so a copy that runs there is the VM; a receiver still
 * there, or a paused copy, can still take it; only a destination with
 * neither never will, and then only the source's word ends the migration.
 */
enum verdict pd_decide(const struct facts *f)
{
    const struct src_facts *s = &f->src;

    if (pd_src_decides(s))
        return s->running ? V_PENDING : pd_src_is(s, "handed-over") ?
               V_ON_DEST : V_ON_SOURCE;
    if (!f->dst.answered)
        return V_PENDING;
    if (f->dst.running)
        return V_ON_DEST;
    if (f->dst.receiving || f->dst.domain || !s->answered)
        return V_PENDING;
    if (s->known)
        return pd_src_paused(s) ? V_RESUME : pd_src_is(s, "gone") ?
               V_NOWHERE : V_PENDING;
    /* The source has no such migration: it never started (the request
     * was lost), or it was forgotten after a verdict whose record a
     * restart kept.  Where the domain is says which. */
    if (!f->srcvm.answered || f->srcvm.sending)
        return V_PENDING;
    if (f->srcvm.running)
        return V_ON_SOURCE;
    return f->srcvm.domain ? V_PENDING : V_NOWHERE;
}
