/*
 * mig.h - the live-migration engine (xl-migrate/): log-dirty pre-copy,
 * stop-and-copy, the commit handshake.  Hypervisor-agnostic: it reaches
 * the hypervisor only through hv.h.  The wire format is
 * docs/specs/migration-stream.md; the design, its states and why they are
 * what they are, docs/design/migration.md.
 *
 * A migration is one mig_send() on the source host and one mig_receive()
 * on the destination, connected by 1..MIG_MAX_STREAMS connections over TLS
 * (the receiver's key pinned by the sender; plain TCP only between
 * loopback addresses, for tests).  Each side is a state machine with named
 * states (enum mig_src_state, enum mig_dst_state): until the sender's
 * COMMIT is read the source VM is the one and only copy, the receiver
 * resumes its copy only on COMMIT, and the sender resumes the source after
 * COMMIT only on a positive answer that the receiver did not take it.
 */
#ifndef MIG_H
#define MIG_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "xt.h"

#define MIG_MAX_STREAMS         8u
#define MIG_DEFAULT_DOWNTIME_MS 10u
#define MIG_DEFAULT_MAX_ROUNDS  30u
#define MIG_DEFAULT_MAX_TIME_MS 120000u
#define MIG_DEFAULT_TIMEOUT_MS  15000u
/* Round 0 probes which pages exist this many pfns (256 MiB) at a time,
 * sending each range's pages before probing the next. */
#define MIG_DEFAULT_PROBE_PAGES 65536u
#define MIG_DEFAULT_ACCEPT_MS   60000u
#define MIG_TOKEN_MAX           128u
/* "sha256//" and the base64 of a SHA-256: a public key's pin. */
#define MIG_PIN_STRLEN          52u

/* Compression of page batches (values of the stream's enum). */
enum mig_compression {
    MIG_COMP_NONE = 0,
    MIG_COMP_ZLIB = 1,
    MIG_COMP_ZSTD = 2,
};

/*
 * The source's state (docs/specs/migration-stream.md section 11).  One
 * function of the sender decides what a failure means from it.
 */
enum mig_src_state {
    MIG_SRC_SOLE_RUNNING = 0,   /* the only copy, running (set-up,
                                 * pre-copy); a failure: stop log-dirty
                                 * and throttling, it runs on */
    MIG_SRC_SOLE_PAUSED,        /* the only copy, paused (stop-and-copy,
                                 * waiting for READY); a failure: resume it */
    MIG_SRC_COMMIT_SENT,        /* COMMIT written: the receiver may own the
                                 * VM; only its positive answer decides */
    MIG_SRC_IN_DOUBT,           /* no answer after COMMIT: the source stays
                                 * paused, never two copies, until the pool
                                 * asks both hosts (final) */
    MIG_SRC_HANDED_OVER,        /* the receiver runs the VM: the source is
                                 * destroyed (final, success) */
};
const char *mig_src_state_name(enum mig_src_state s);

/* The destination's state. */
enum mig_dst_state {
    MIG_DST_LISTENING = 0,      /* waiting for the sender (stray
                                 * connections are dropped) */
    MIG_DST_RECEIVING,          /* domain built, pages and state coming */
    MIG_DST_READY,              /* READY sent, domain paused, COMMIT awaited */
    MIG_DST_COMMITTED,          /* COMMIT read: the VM is ours, unpausing */
    MIG_DST_RUNNING,            /* resumed and said so (final, success) */
    MIG_DST_DISCARDED,          /* failed before running: nothing left
                                 * (final) */
};
const char *mig_dst_state_name(enum mig_dst_state s);

/*
 * The channel.  TLS 1.3 unless plain: the sender checks in the handshake
 * that the receiver's certificate carries the key pin names, and sends
 * nothing otherwise; the receiver presents cert_pem/key_pem.  Plain TCP is
 * for tests between loopback addresses only (anything else is refused).
 */
struct mig_chan_opts {
    bool plain;
    const char *pin;            /* sender: "sha256//BASE64" */
    const char *cert_pem;       /* receiver: its certificate, PEM */
    const char *key_pem;        /* receiver: its key, PEM */
};

/* The pin of a PEM certificate's public key (what mig_chan_opts.pin
 * takes). */
int mig_tls_pin(struct xt_ctx *ctx, const char *cert_pem,
                char pin[MIG_PIN_STRLEN + 1]);

/* Where a migration stands, for progress callbacks. */
enum mig_phase {
    MIG_PHASE_SETUP = 0,
    MIG_PHASE_PRECOPY,
    MIG_PHASE_STOPCOPY,
    MIG_PHASE_COMMIT,
    MIG_PHASE_DONE,
};

const char *mig_phase_name(enum mig_phase p);

struct mig_progress {
    enum mig_phase phase;
    uint32_t round;
    uint64_t nr_pages;          /* guest size */
    uint64_t bytes_sent;        /* on the wire so far */
    uint64_t pages_sent;
    uint64_t remaining_pages;   /* dirty at the last harvest */
    double dirty_pages_s;       /* measured in the last round */
    double bandwidth_bytes_s;   /* measured in the last round */
    uint64_t eta_ms;            /* estimate, 0 when unknown */
    unsigned throttle_pct;
    double percent;             /* rough, for progress bars */
};

/* Called on the engine's reporter thread, never while the source is
 * paused; it may take its time (the engine does not wait for it: a newer
 * report replaces one not yet delivered). */
typedef void (*mig_progress_fn)(const struct mig_progress *p, void *opaque);
/* Polled between batches, must return at once; true asks to cancel
 * (honoured before COMMIT). */
typedef bool (*mig_cancel_fn)(void *opaque);
/*
 * Called once the source is paused and everything is sent, the receiver
 * ready, just before COMMIT: the last moment something the VM depends on
 * (its disks' mirrors, docs/design/storage-motion.md) can still say no.
 * 0 commits; -errno (reported into ctx by the callee) aborts, and the
 * source runs on where it is.  ctx is the sender's, for this call only.
 */
typedef int (*mig_precommit_fn)(struct xt_ctx *ctx, void *opaque);

/*
 * The convergence policy: one place, replaceable.  Called after each
 * harvest with what was measured; returns the decision.  The default is
 * mig_policy_default (mig_policy.c).
 */
struct mig_round_info {
    uint32_t round;             /* the round about to be sent (>= 1) */
    uint64_t dirty_pages;       /* harvested for it */
    uint64_t prev_dirty_pages;  /* of the previous round */
    double bandwidth_bytes_s;   /* measured sending the previous round */
    double dirty_pages_s;       /* dirtying rate over the previous round */
    uint64_t fixed_cost_ns;     /* estimated pause+state+resume cost */
    uint64_t elapsed_ns;        /* since the migration started */
    unsigned throttle_pct;      /* currently applied */
};
struct mig_decision {
    bool stop_and_copy;         /* pause now and send the rest */
    bool forced;                /* ... because a cap was hit */
    unsigned throttle_pct;      /* to apply (auto-converge) */
    uint64_t expected_downtime_ns;
};
struct mig_send_opts;
typedef void (*mig_policy_fn)(const struct mig_send_opts *o,
                              const struct mig_round_info *r,
                              struct mig_decision *d);
void mig_policy_default(const struct mig_send_opts *o,
                        const struct mig_round_info *r,
                        struct mig_decision *d);

/*
 * A bandwidth limit migrations may share (a host's link, like QEMU's
 * max-bandwidth for one): thread-safe; the caller owns it and keeps it
 * until every migration given it has ended.  A migration takes from it
 * for each batch of pre-copy, not while its source is paused: the
 * guest's pause is not made longer.  NULL (ENOMEM) from new.
 */
struct mig_limit;
struct mig_limit *mig_limit_new(uint64_t bytes_per_s);
void mig_limit_free(struct mig_limit *l);
/* Its rate, bytes/s (0: none, also for a NULL limit). */
uint64_t mig_limit_rate(struct mig_limit *l);

struct mig_send_opts {
    unsigned nstreams;          /* TCP connections, 1..MIG_MAX_STREAMS */
    enum mig_compression compression;
    int level;                  /* 0: the library's fast default */
    bool checksum;              /* XXH3 per batch */
    uint64_t downtime_target_ns;
    uint32_t max_rounds;        /* hard cap, then stop-and-copy */
    uint64_t max_time_ns;       /* hard cap, then stop-and-copy */
    bool auto_converge;         /* throttle when rounds stop shrinking */
    bool verify_digest;         /* compare memory digests */
    int timeout_ms;             /* any single network wait */
    struct mig_chan_opts chan;  /* TLS and the pin, or plain */
    const char *token;          /* one-time token the receiver expects */
    const char *devices;        /* VM devices, JSON, carried in VM_CONFIG */
    uint64_t probe_pages;       /* pfns asked per hv_populated in round 0
                                 * (0: MIG_DEFAULT_PROBE_PAGES) */
    struct mig_limit *limit;    /* NULL: as fast as it goes */
    mig_policy_fn policy;       /* NULL: mig_policy_default */
    mig_progress_fn progress;
    mig_cancel_fn cancel;
    mig_precommit_fn precommit; /* NULL: commit when ready */
    void *opaque;               /* for progress, cancel and precommit */
};

/* Fills defaults: 1 stream, no compression, checksums on, 10 ms target,
 * 30 rounds, 120 s, auto-converge on, digest on. */
void mig_send_opts_init(struct mig_send_opts *o);

/* What a migration measured (both ends fill what they know). */
struct mig_stats {
    int rc;                     /* 0 or the failure */
    bool sender;                /* filled by mig_send (else mig_receive) */
    enum mig_src_state src_state;   /* sender: where the source ended */
    enum mig_dst_state dst_state;   /* receiver: where its copy ended */
    bool committed;             /* handed over / running here */
    bool in_doubt;              /* src_state == MIG_SRC_IN_DOUBT */
    bool tls;                   /* the channel was TLS */
    bool ktls;                  /* ... with the kernel's record layer */
    uint64_t total_ns;          /* start to source destroyed */
    uint64_t setup_ns;          /* start to first page sent */
    uint64_t downtime_ns;       /* source paused -> destination resumed */
    uint64_t guest_downtime_ns; /* longest heartbeat gap, both hosts: the
                                 * largest of the three below */
    uint64_t guest_src_gap_ns;  /* ... at the source, from ACCEPTED to
                                 * the pause (pre-copy) */
    uint64_t guest_switch_gap_ns;   /* ... across the move: the source's
                                     * last to the destination's first */
    uint64_t guest_dst_gap_ns;  /* ... at the destination, after resume */
    bool guest_measured;        /* false: not a test guest */
    uint64_t hb_last_seq_src, hb_first_seq_dst;
    bool hb_continuous;         /* dst's first seq = src's last + 1 */
    uint64_t bytes_sent;        /* wire bytes, all streams */
    uint64_t pages_normal, pages_zero, pages_compressed;
    uint64_t pages_sent;        /* sum of the three */
    uint64_t pages_deferred;    /* sender: could not be mapped when their
                                 * round came, sent with the paused source */
    uint64_t pages_torn;        /* receiver: changed while they were sent
                                 * (their hash differed), all sent again */
    uint32_t rounds;            /* pre-copy rounds incl. round 0 */
    bool forced_stop;           /* a cap ended pre-copy */
    double final_dirty_pages_s;
    double bandwidth_bytes_s;   /* whole-migration average */
    unsigned throttle_pct;      /* highest applied */
    double compression_ratio;   /* raw bytes / wire payload bytes */
    uint64_t mismatches;        /* guest ledger mismatches after the move */
    bool digest_checked;
    bool digest_equal;
    uint64_t digest_src, digest_dst;
    unsigned nstreams;
    uint32_t dst_domid;         /* the destination's domain (both ends;
                                 * the sender's from RESUMED), 0 unknown */
    bool opaque;                /* moved as the hypervisor's own stream
                                 * (mig_opaque.h): pages_* are its library's
                                 * count before the suspend, the digests
                                 * those of that stream */
};

/*
 * Migrates domain domid of h to the receiver at host:port.  The source is
 * destroyed on success (MIG_SRC_HANDED_OVER).  On a failure it is running
 * again on this host (MIG_SRC_SOLE_RUNNING), or, in doubt after COMMIT,
 * left paused (MIG_SRC_IN_DOUBT, -ENOTRECOVERABLE).  Returns 0 or -errno;
 * ctx then holds the migration's first error (what cleanup reported
 * afterwards is logged, never put in its place).  *stats_r is filled
 * either way.  h must be the calling thread's (hv_view).
 */
int mig_send(struct xt_ctx *ctx, struct hv_handle *h, uint32_t domid,
             const char *host, const char *port,
             const struct mig_send_opts *opts, struct mig_stats *stats_r);

struct mig_recv_opts {
    int timeout_ms;             /* any single network wait */
    int accept_ms;              /* how long to wait for the sender: stray
                                 * or wrong connections are dropped and
                                 * accepting goes on until then */
    struct mig_chan_opts chan;  /* TLS credentials, or plain */
    const char *token;          /* NULL: no token required */
    /* What the token is good for: the VM of this uuid (nil: any) and of
     * exactly this many pages (0: any). */
    struct xt_uuid vm_uuid;
    uint64_t nr_pages;
    /* After a failure, keep answering QUERY on the listening socket for
     * this long so an in-doubt sender learns the outcome. */
    int linger_ms;
    /* A descriptor that becomes readable to stop the receiver (a
     * service's stop): honoured while it waits for the sender, between
     * records, and while it waits for COMMIT (-ECANCELED, the copy
     * discarded); once COMMIT is read the VM is ours and it goes on.
     * -1: none. */
    int stop_fd;
    /* The new domain's disks on this host (its block services), in the
     * source's device order; the caller keeps them valid during the
     * receive.  None: a domain without disks. */
    const struct hv_disk *disks;
    unsigned nr_disks;
};

void mig_recv_opts_init(struct mig_recv_opts *o);

/* Listens on host:port (host NULL: all addresses); *fd_r the socket. */
int mig_listen(struct xt_ctx *ctx, const char *host, const char *port,
               int *fd_r);

/*
 * Accepts one migration on listen_fd and receives it into a new domain of
 * h, resumed after the commit.  0 with the new domain's id in
 * stats_r->dst_domid (MIG_DST_RUNNING), or -errno reported into ctx (the
 * partial domain destroyed: MIG_DST_DISCARDED).  h must be the calling
 * thread's (hv_view).
 */
int mig_receive(struct xt_ctx *ctx, struct hv_handle *h, int listen_fd,
                const struct mig_recv_opts *opts, struct mig_stats *stats_r);

/* Writes stats as one JSON object line (no newline) into buf. */
int mig_stats_json(const struct mig_stats *s, const char *role, char *buf,
                   size_t size);

#endif /* MIG_H */
