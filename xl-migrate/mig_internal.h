/*
 * mig_internal.h - what the files of xl-migrate/ share: the sender and the
 * receiver as state machines, the transfer modes behind them (pages:
 * mig_send_pages.c / mig_recv_pages.c; the hypervisor's own stream:
 * mig_opaque.c), the reporter thread, fault points.  Internal.
 *
 * Threads.  Each side has a control thread (the caller of mig_send or
 * mig_receive), which alone changes the state, and helper threads (page
 * streams, the hypervisor library's thread, the reporter).  Every thread
 * reports into a context of its own and works on a view of the hv handle
 * (hv_view).  The first error of the whole migration is kept in the
 * side's xt_err under its lock; nothing else is shared between threads
 * without that lock.
 */
#ifndef MIG_INTERNAL_H
#define MIG_INTERNAL_H

#include <pthread.h>
#include <string.h>

#include "hv.h"
#include "mig.h"
#include "mig_chan.h"
#include "mig_stream.h"

/* The stream's hypervisor type for a driver. */
static inline enum mig_hv_type mig_hv_type_of(const struct hv_handle *h)
{
    if (!strcmp(hv_name(h), "xen"))
        return MIG_HV_XEN;
    if (!strcmp(hv_name(h), "sim"))
        return MIG_HV_SIM;
    return MIG_HV_KVM;
}

/* A context for a helper thread: the parent's sink and level. */
struct xt_ctx *mig_thread_ctx(const struct xt_ctx *parent, const char *prog);

/*
 * A named fault point (xt_fault): 0 when nothing fires (or the point
 * waited), else the error to fail with, reported into ctx: -EIO for
 * "fail", -ECONNABORTED for "drop" after every channel of chans (n of
 * them, NULL entries skipped) is shut down.  "corrupt" is the caller's to
 * ask for with xt_fault itself.
 */
int mig_fault(struct xt_ctx *ctx, const char *point, struct mig_chan **chans,
              unsigned n);

/* Reads the next record into r (ROUND_ACKs skipped) and checks it is type
 * with a body of exactly len bytes, copied to body.  An ABORT is the
 * peer's error, and sets *aborted_r (may be NULL). */
int mig_expect(struct xt_ctx *ctx, struct mig_reader *r, uint32_t type,
               void *body, size_t len, bool *aborted_r);
/* An ABORT body as the peer's error, reported into ctx. */
int mig_abort_error(struct xt_ctx *ctx, const void *body, size_t len,
                    const char *who);

/* ---- the reporter (mig_report.c) ----------------------------------- */

/*
 * Progress goes to the caller's callback from a thread of its own, so a
 * slow callback (an HTTPS call to the pool's master) never holds the
 * engine; a report posted while another waits replaces it.  While held
 * (the source is paused) nothing is delivered.
 */
struct mig_reporter {
    mig_progress_fn fn;         /* NULL: reports go nowhere, no thread */
    void *opaque;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct mig_progress next;
    bool pending, held, quit;
};

int mig_reporter_start(struct xt_ctx *ctx, struct mig_reporter *r,
                       mig_progress_fn fn, void *opaque);
void mig_reporter_post(struct mig_reporter *r, const struct mig_progress *p);
void mig_reporter_hold(struct mig_reporter *r, bool held);
/* Delivers what is pending (unless held), joins the thread.  Idempotent. */
void mig_reporter_stop(struct mig_reporter *r);

/* ---- the round meter (mig_policy.c) --------------------------------- */

/*
 * What the policy is told about the round just sent, built the same way
 * whichever mode sent it: its bandwidth in guest bytes moved (the last
 * round that moved at least 4 MiB when this one moved less: a few pages
 * say little about the link), the dirtying rate over it, the caps.
 */
struct mig_meter {
    uint64_t t_start;           /* the migration's start */
    uint64_t t_round;           /* when the round just sent started */
    uint64_t sent_before;       /* pages sent before it */
    uint64_t prev_dirty;        /* its dirty pages */
    double bulk_bw;
};
/* Round 0 starts now_ns with round0_pages to send; the migration started
 * at t_start. */
void mig_meter_init(struct mig_meter *m, uint64_t t_start, uint64_t now_ns,
                    uint64_t round0_pages);
/* The round about to be sent (round >= 1, dirty pages harvested for it,
 * sent_pages so far); starts measuring that round. */
void mig_meter_round(struct mig_meter *m, uint32_t round, uint64_t dirty,
                     uint64_t sent_pages, uint64_t now_ns,
                     unsigned throttle_pct, struct mig_round_info *ri);

/* ---- the sender ------------------------------------------------------ */

struct mig_sender;

/*
 * A way to move a domain's memory and state (docs/design/migration.md):
 * pages through our own rounds, or the hypervisor's own stream.  Called
 * in this order by mig_send, each from the control thread:
 *   precopy   with the source SOLE_RUNNING: the live rounds, until the
 *             policy stops them;
 *   stopcopy  pauses the source (SOLE_PAUSED) and sends the rest: the
 *             last pages, the state, END;
 *   abort     after a failure, in whatever state: stops what the mode
 *             runs (threads, log-dirty, throttling) and corrects the
 *             state to what the source is (paused or not);
 *   digest    after the commit, the source still paused: the memory
 *             digest to compare with READY's (NULL: the mode's digest is
 *             s->stream_digest);
 *   fini      frees the mode's state, after success or failure.
 */
struct mig_xfer_ops {
    const char *name;
    /* Optional: work that needs no receiver, done while it builds the
     * domain (after VM_CONFIG is sent, before ACCEPTED is awaited). */
    int (*prepare)(struct mig_sender *s);
    int (*precopy)(struct mig_sender *s);
    int (*stopcopy)(struct mig_sender *s);
    void (*abort)(struct mig_sender *s);
    int (*digest)(struct mig_sender *s, uint64_t *digest_r);
    void (*fini)(struct mig_sender *s);
};

extern const struct mig_xfer_ops mig_pages_send_ops;   /* mig_send_pages.c */
extern const struct mig_xfer_ops mig_opaque_send_ops;  /* mig_opaque.c */

struct mig_sender {
    /* What mig_send was given. */
    struct xt_ctx *ctx;
    struct hv_handle *h;
    uint32_t domid;
    const char *host, *port;
    const struct mig_send_opts *o;
    struct mig_stats *st;

    /* The control thread's. */
    enum mig_src_state state;
    const struct mig_xfer_ops *xfer;
    void *xfer_priv;
    struct hv_domain_info info;
    uint64_t nr_pages;
    uint64_t migration_id;
    unsigned nstreams;
    uint64_t t_start, t_pause;
    struct mig_chan *main;      /* stream 0 */
    struct mig_reader rd;       /* the receiver's records on it */
    struct mig_progress prog;
    struct mig_reporter rep;
    struct hv_guest_stats gs_src;   /* the source's heartbeats */
    bool guest_measured;
    struct mig_ready ready;
    struct mig_resumed resumed;
    uint64_t stream_digest;     /* opaque mode: of the stream sent */
    _Atomic bool paused;        /* set once the source is paused: the
                                 * batches no longer take from o->limit */

    /* Shared with the helper threads, under lock. */
    pthread_mutex_t lock;
    struct xt_err err;          /* the migration's first error */
    bool failed;
    uint64_t bytes;             /* on the wire, all streams */
    uint64_t pages_normal, pages_zero, pages_compressed, pages_deferred;
    uint64_t raw_bytes, wire_payload;
    uint64_t round0_posted_ns;  /* round 0's last progress report */
};

/* Records rc (reported into ctx, a context of any of the sender's
 * threads) as the migration's error unless it has one; returns rc. */
int mig_send_fail(struct mig_sender *s, struct xt_ctx *ctx, int rc);
bool mig_send_failed(struct mig_sender *s);
/* Enters state st (the reporter is held while the source is paused). */
void mig_send_set_state(struct mig_sender *s, enum mig_src_state st);
/* The source was paused at t_pause (the mode paused it, or saw its library
 * do so): SOLE_PAUSED, and the guest's last heartbeat before the pause. */
void mig_send_paused(struct mig_sender *s, uint64_t t_pause);
/* Hands s->prog (with the bytes sent so far) to the reporter. */
void mig_send_report(struct mig_sender *s);
/* Whether the caller asked to cancel. */
bool mig_send_cancelled(const struct mig_sender *s);
/* Writes b (built with rc: an rc < 0 is reported, nothing written) on c,
 * counting its bytes, and empties it (b->len = 0; the caller frees it);
 * what names it in a message. */
int mig_send_buf(struct mig_sender *s, struct xt_ctx *ctx,
                 struct mig_chan *c, struct mig_buf *b, int rc,
                 const char *what);
/* Writes one record on c, counting its bytes; reports into ctx. */
int mig_send_rec(struct mig_sender *s, struct xt_ctx *ctx,
                 struct mig_chan *c, uint32_t type, uint32_t flags,
                 const void *body, size_t len);
void mig_send_count(struct mig_sender *s, uint64_t bytes);
/* Waits for bytes of o->limit, unless the source is paused. */
void mig_send_limit(struct mig_sender *s, uint64_t bytes);
/* Takes bytes from l (NULL: none), sleeping while it is in debt. */
void mig_limit_take(struct mig_limit *l, uint64_t bytes);
/* Opens stream i (> 0): connects, image header, STREAM_HELLO. */
int mig_send_open_stream(struct mig_sender *s, struct xt_ctx *ctx,
                         unsigned i, struct mig_chan **c_r);

/* ---- the receiver ---------------------------------------------------- */

struct mig_receiver;

/*
 * How the receiver takes what the sender's mode sends.  receive runs from
 * VM_CONFIG to END: it builds the domain (state RECEIVING) and leaves it
 * paused with its memory and state in place, or fails; abort stops its
 * threads after a failure; fini frees.
 */
struct mig_rxfer_ops {
    const char *name;
    int (*receive)(struct mig_receiver *r);
    void (*abort)(struct mig_receiver *r);
    void (*fini)(struct mig_receiver *r);
};

extern const struct mig_rxfer_ops mig_pages_recv_ops;  /* mig_recv_pages.c */
extern const struct mig_rxfer_ops mig_opaque_recv_ops; /* mig_opaque.c */

struct mig_receiver {
    /* What mig_receive was given. */
    struct xt_ctx *ctx;
    struct hv_handle *h;
    int listen_fd;
    const struct mig_recv_opts *o;
    struct mig_stats *st;

    /* The control thread's. */
    enum mig_dst_state state;
    const struct mig_rxfer_ops *xfer;
    void *xfer_priv;
    struct mig_tls_server *tls;     /* NULL: plain */
    struct mig_chan *main;
    struct mig_reader rd;
    struct mig_image_hdr ih;
    uint64_t migration_id;
    unsigned nstreams;
    struct hv_create_spec spec;     /* from VM_CONFIG */
    char *name;
    uint32_t domid;
    bool have_domain;
    uint64_t digest;                /* READY's */
    uint64_t t_stop;                /* STOPCOPY seen, 0 if not */
    bool told;                      /* the sender read RESUMED (DONE) */
    bool aborted;                   /* ABORT sent on main */

    /* Shared with the helper threads, under lock. */
    pthread_mutex_t lock;
    struct xt_err err;
    bool failed;
};

int mig_recv_fail(struct mig_receiver *r, struct xt_ctx *ctx, int rc);
/* The stop of mig_recv_opts.stop_fd: -ECANCELED (reported into ctx) once
 * asked, else 0; before reading the next record on the main connection
 * (which may take up to the timeout) it also waits for that record or the
 * stop. */
int mig_recv_stopped(struct mig_receiver *r, struct xt_ctx *ctx);
/* Tells the sender its VM_CONFIG is taken and the domain built (the modes
 * call it once they have one to receive into). */
int mig_recv_accepted(struct mig_receiver *r);
bool mig_recv_failed(struct mig_receiver *r);
void mig_recv_set_state(struct mig_receiver *r, enum mig_dst_state st);
/* Accepts one more connection of this migration on the listening socket
 * (image header and STREAM_HELLO checked: another migration's or a stray
 * one is dropped and accepting goes on); *hello_r what it said. */
int mig_recv_accept_stream(struct mig_receiver *r,
                           struct mig_stream_hello *hello_r,
                           struct mig_chan **c_r, struct mig_reader *rd);

#endif /* MIG_INTERNAL_H */
