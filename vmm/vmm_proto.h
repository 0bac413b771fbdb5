/*
 * vmm_proto.h - the xm-vmm control protocol (docs/specs/vmm-control.md):
 * the public header of vmm/, used by the VMM itself and by its clients
 * (the kvm and sim hv drivers, tests).
 *
 * A stream (AF_UNIX, SOCK_STREAM) of messages, each a struct vmm_msg_hdr
 * followed by hdr.len payload bytes.  The client sends a request; the VMM
 * answers with exactly one reply (type | VMM_REPLY) whose payload starts
 * with struct vmm_reply_status.  Integers are little-endian (host order:
 * both ends are on one x86-64 host).
 */
#ifndef VMM_PROTO_H
#define VMM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

#define VMM_PROTO_MAGIC     0x43564d58u     /* "XMVC" */
#define VMM_PROTO_VERSION   1u
#define VMM_MSG_MAX         (2u << 20)      /* largest payload accepted */
#define VMM_REPLY           0x8000u

enum vmm_cmd {
    VMM_CMD_HELLO = 1,          /* -> struct vmm_info */
    VMM_CMD_INFO,               /* -> struct vmm_info */
    VMM_CMD_GET_MEMFD,          /* -> guest RAM memfd via SCM_RIGHTS */
    VMM_CMD_PAUSE,
    VMM_CMD_RESUME,
    VMM_CMD_LOGDIRTY,           /* struct vmm_req_u32 (0/1) */
    VMM_CMD_HARVEST,            /* struct vmm_req_u64 nr_pages ->
                                 * struct vmm_bitmap_reply + bitmap */
    VMM_CMD_PEEK,               /* same as HARVEST, no clearing */
    VMM_CMD_THROTTLE,           /* struct vmm_req_u32 pct */
    VMM_CMD_STATE_SAVE,         /* -> blob (struct hv_state_hdr first) */
    VMM_CMD_STATE_RESTORE,      /* blob */
    VMM_CMD_GUEST_STATS,        /* [struct vmm_req_u32 flags] ->
                                 * struct vmm_guest_stats */
    VMM_CMD_SHUTDOWN,           /* reply, then the process exits */
    VMM_CMD_SHUTDOWN_REQUEST,   /* asks a test guest to shut down */
    VMM_CMD_DISK_ADD,           /* struct vmm_disk_add + uri */
    VMM_CMD_DISK_REMOVE,        /* struct vmm_disk_remove */
    VMM_CMD_DISK_LIST,          /* -> struct vmm_disk_list */
    VMM_CMD_DISK_RETARGET,      /* struct vmm_disk_retarget + uri */
    VMM_CMD_MAX_
};

struct vmm_msg_hdr {
    uint32_t magic;             /* VMM_PROTO_MAGIC */
    uint16_t version;           /* VMM_PROTO_VERSION */
    uint16_t type;              /* enum vmm_cmd, | VMM_REPLY in replies */
    uint32_t len;               /* payload bytes, <= VMM_MSG_MAX */
    uint32_t seq;               /* chosen by the client, echoed */
};

struct vmm_reply_status {
    int32_t status;             /* 0 or -errno */
    uint32_t msg_len;           /* on error: bytes of message that follow
                                 * (not NUL-terminated), else 0 */
};

struct vmm_req_u32 {
    uint32_t value;
    uint32_t pad;
};

struct vmm_req_u64 {
    uint64_t value;
};

enum vmm_state {
    VMM_STATE_RUNNING = 0,
    VMM_STATE_PAUSED,
    VMM_STATE_INCOMING,         /* created empty, waiting for a restore */
    VMM_STATE_SHUTDOWN,         /* guest stopped itself (exit port) */
    VMM_STATE_CRASHED,          /* triple fault, internal error */
};

struct vmm_info {
    char engine[8];             /* "kvm" or "sim", NUL padded */
    char name[64];
    uint8_t uuid[16];
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    uint32_t state;             /* enum vmm_state */
    uint32_t logdirty;
    uint32_t throttle_pct;
    int64_t pid;
    uint64_t tsc_khz;
};

struct vmm_bitmap_reply {
    uint64_t nr_pages;
    uint64_t dirty;             /* set bits */
    /* then XT_BITMAP_WORDS(nr_pages) uint64_t words */
};

#define VMM_STATS_RESET_GAP 0x1u    /* GUEST_STATS flag */

struct vmm_guest_stats {
    uint32_t is_test_guest;
    uint32_t ready;
    uint32_t exited;
    uint32_t exit_code;
    uint64_t hb_count;
    uint64_t hb_first_seq, hb_first_ns;
    uint64_t hb_last_seq, hb_last_ns;
    uint64_t hb_max_gap_ns;
    uint64_t hb_seq_breaks;
    uint64_t mismatches;
    uint64_t last_mismatch_pfn;
    uint64_t pages_written;
    /* the guest's disk workload (guest ABI 2, guest-abi.md 6.5) */
    uint64_t disk_writes;
    uint64_t disk_reads;
    uint64_t disk_mismatches;
    uint64_t last_disk_mismatch_block;
    uint64_t last_disk_mismatch_disk;
    uint64_t disk_errors;
    /* disk hot-plug as the guest saw it (guest ABI 3, guest-abi.md 6.7) */
    uint64_t disk_hp_attached;
    uint64_t disk_hp_ejected;
    uint64_t disk_hp_refused;
    uint64_t disk_hp_stamps;
    uint32_t disk_hp_slots;     /* slots the guest uses now */
    uint32_t pad;
    /* the guest's idle port (guest ABI 4): the vCPU's sleeps here */
    uint64_t idle_sleeps;
    uint64_t idle_ns;
};

/* Disk hot-plug (docs/specs/vmm-control.md "Disks"). */
#define VMM_DISK_RO         0x1u    /* vmm_disk_add.flags */
#define VMM_DISK_FORCE      0x1u    /* vmm_disk_remove.flags */
#define VMM_DISK_URI_MAX    4096u
#define VMM_DISK_WAIT_MS    10000u  /* the default of vmm_disk_remove */
#define VMM_DISK_WAIT_MAX_MS 25000u /* below the clients' call timeout */

struct vmm_disk_add {
    uint32_t slot;              /* 1..8 */
    uint32_t flags;             /* VMM_DISK_RO */
    uint32_t timeout_ms;        /* 0: --disk-timeout-ms */
    uint32_t uri_len;           /* then uri_len bytes, no NUL */
};

struct vmm_disk_remove {
    uint32_t slot;
    uint32_t flags;             /* VMM_DISK_FORCE */
    uint32_t wait_ms;           /* 0: VMM_DISK_WAIT_MS */
    uint32_t pad;
};

struct vmm_disk_list {
    uint32_t slots;             /* bit s: a disk in slot s */
    uint32_t ro_slots;          /* bit s: that disk is read-only */
};

/* Gives the released disk of a paused (or incoming) VM another export:
 * the switch-over of a storage live migration (docs/specs/vmm-control.md
 * "Retarget").  The guest-visible device state stays. */
struct vmm_disk_retarget {
    uint32_t slot;              /* 1..8, holding a disk */
    uint32_t flags;             /* 0 (the read-only flag stays the disk's) */
    uint32_t timeout_ms;        /* 0: keep the disk's */
    uint32_t uri_len;           /* then uri_len bytes, no NUL */
};

const char *vmm_cmd_name(uint16_t type);
const char *vmm_state_name(enum vmm_state s);

/*
 * Checks a received header: magic, version, len <= VMM_MSG_MAX, type known
 * (a request when reply is false, a reply otherwise).  0, or -EPROTO with
 * the reason reported into ctx.
 */
int vmm_hdr_check(struct xt_ctx *ctx, const struct vmm_msg_hdr *hdr,
                  bool reply);

/*
 * Sends one message (header + payload), optionally passing fd_to_pass
 * (>= 0) with SCM_RIGHTS.  Returns 0 or -errno (not reported: callers
 * name what they were doing).
 */
int vmm_msg_send(int sock, uint16_t type, uint32_t seq, const void *payload,
                 uint32_t len, int fd_to_pass, int timeout_ms);

/*
 * Receives one message: header, checked by vmm_hdr_check, then a malloc'd
 * payload in *payload_r (NULL when len is 0; caller frees).  *fd_r (if not
 * NULL) receives a passed descriptor or -1.  Errors reported into ctx.
 */
int vmm_msg_recv(struct xt_ctx *ctx, int sock, bool reply,
                 struct vmm_msg_hdr *hdr_r, void **payload_r, int *fd_r,
                 int timeout_ms);

#endif /* VMM_PROTO_H */
