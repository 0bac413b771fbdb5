/*
 * test_verdict.c - the decision table of a pool migration's settling
 * (daemon/pd_verdict.c, docs/design/pool.md "Settling: who runs the VM"):
 * each row is what the hosts said and the verdict it must give.  The
 * safety rows matter most: a source copy is resumed only when the
 * destination positively has neither the VM nor a receiver, and nothing
 * but a running copy on the destination or the source's own word ends a
 * migration.
 */
#include "config.h"

#include <string.h>

#include "pd_verdict.h"
#include "../../tap.h"

/* The source's answer: "-" none, "?" knows nothing, else its state
 * ("sending" means its engine runs). */
static struct src_facts src(const char *state)
{
    struct src_facts s;

    memset(&s, 0, sizeof(s));
    if (!strcmp(state, "-"))
        return s;
    s.answered = true;
    if (!strcmp(state, "?"))
        return s;
    s.known = true;
    s.running = !strcmp(state, "sending");
    snprintf(s.state, sizeof(s.state), "%s", state);
    return s;
}

/* A host's answer on the VM: "-" none, "none", "receiving", "sending",
 * "paused", "running". */
static struct vm_facts vm(const char *what)
{
    struct vm_facts v;

    memset(&v, 0, sizeof(v));
    if (!strcmp(what, "-"))
        return v;
    v.answered = true;
    v.receiving = !strcmp(what, "receiving");
    v.sending = !strcmp(what, "sending");
    v.domain = !strcmp(what, "paused") || !strcmp(what, "running") ||
               !strcmp(what, "sending");
    v.running = !strcmp(what, "running") || !strcmp(what, "sending");
    return v;
}

struct row {
    const char *src, *dst, *srcvm;
    enum verdict want;
    const char *why;
};

static const struct row rows[] = {
    /* The source's word alone. */
    { "sending", "-", "-", V_PENDING, "the engine runs: wait" },
    { "sending", "running", "-", V_PENDING,
      "the engine runs: not even the destination is asked" },
    { "handed-over", "-", "-", V_ON_DEST, "handed over" },
    { "sole-running", "-", "-", V_ON_SOURCE, "failed, runs on" },
    /* A running copy on the destination is the VM. */
    { "-", "running", "-", V_ON_DEST, "source unreachable, dst runs it" },
    { "in-doubt", "running", "-", V_ON_DEST, "in doubt, dst runs it" },
    { "gone", "running", "-", V_ON_DEST, "source gone, dst runs it" },
    { "?", "running", "-", V_ON_DEST, "source forgot, dst runs it" },
    /* Nothing known without both. */
    { "-", "-", "-", V_PENDING, "nobody answers" },
    { "in-doubt", "-", "-", V_PENDING, "in doubt, dst unreachable" },
    { "-", "none", "-", V_PENDING,
      "dst has nothing, but only the source may end it there" },
    /* A receiver or a paused copy can still take the VM. */
    { "in-doubt", "receiving", "-", V_PENDING, "in doubt, dst receives" },
    { "in-doubt", "paused", "-", V_PENDING, "in doubt, dst paused copy" },
    { "gone", "receiving", "-", V_PENDING, "gone, dst receives" },
    { "?", "receiving", "-", V_PENDING, "forgotten, dst receives" },
    /* The destination never took it. */
    { "in-doubt", "none", "-", V_RESUME, "in doubt, dst has none: resume" },
    { "sole-paused", "none", "-", V_RESUME, "paused, dst has none: resume" },
    { "commit-sent", "none", "-", V_RESUME, "commit-sent, dst has none" },
    { "gone", "none", "-", V_NOWHERE, "gone here and there: nowhere" },
    /* The source knows nothing of it: where its domain is says. */
    { "?", "none", "-", V_PENDING, "forgotten, source's hv not answered" },
    { "?", "none", "running", V_ON_SOURCE, "never started, runs here" },
    { "?", "none", "sending", V_PENDING,
      "never started, but the source migrates it now" },
    { "?", "none", "paused", V_PENDING, "forgotten, a paused copy" },
    { "?", "none", "none", V_NOWHERE, "forgotten, runs nowhere" },
};

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct facts f = {
            .src = src(rows[i].src),
            .dst = vm(rows[i].dst),
            .srcvm = vm(rows[i].srcvm),
        };
        char name[200];

        snprintf(name, sizeof(name), "%s (source %s, destination %s, "
                 "source hv %s)", rows[i].why, rows[i].src, rows[i].dst,
                 rows[i].srcvm);
        tap_is_int(pd_decide(&f), rows[i].want, name);
    }
    /* What is asked: the destination only when the source does not
     * decide; the source's hypervisor only when both know nothing. */
    {
        struct facts f = { .src = src("handed-over") };

        tap_ok(pd_src_decides(&f.src), "handed-over: the source decides");
        f.src = src("in-doubt");
        tap_ok(!pd_src_decides(&f.src), "in doubt: the destination is asked");
        f.src = src("?");
        f.dst = vm("none");
        tap_ok(pd_need_srcvm(&f), "both know nothing: the source's hv is "
               "asked");
        f.dst = vm("receiving");
        tap_ok(!pd_need_srcvm(&f), "a receiver: the source's hv is not "
               "asked");
    }
    return tap_done();
}
