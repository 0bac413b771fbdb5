#!/bin/sh
# A 1 GiB test guest that dirties 64 MiB/s of a 512 MiB working set
# migrates: pre-copy rounds follow the dirtying, the heartbeat is
# continuous, the ledger clean, both memory digests equal, the guest runs on
# the destination and the source domain is gone.
. "$(dirname "$0")/lib.sh"
mt_setup 64mib

mt_boot 1024 "ws_mib=512 rate_mib=64" || mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")
# Some dirty data first: 128 MiB written (2 s at the nominal rate).
mt_wait_for 60 mt_pages_at_least "$src" 32768 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

mt_migrate "$src" || mt_bail "could not start a receiver"
mt_report "64 MiB/s"
mt_check_migrated "64 MiB/s" "$src" "$uuid"
mt_cmp "$(mt_json "$MT_SEND_JSON" rounds)" ">=" 2 \
    "pre-copy ran at least one round after round 0"
mt_is "$(mt_domain_count | tr -d ' ')" 1 "exactly one domain left"
mt_check "one VMM and one socket in the run directory" mt_only_vmms "$MT_DST"

mt_done
