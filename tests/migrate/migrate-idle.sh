#!/bin/sh
# An idle 1 GiB test guest (heartbeats only) migrates: its heartbeat is
# continuous across the move, its ledger clean, both memory digests equal,
# it runs on the destination, and the source domain is gone.
. "$(dirname "$0")/lib.sh"
mt_setup idle

mt_boot 1024 "rate=0" || mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")

mt_migrate "$src" || mt_bail "could not start a receiver"
mt_report "idle 1 GiB"
mt_check_migrated "idle 1 GiB" "$src" "$uuid"
mt_is "$(mt_domain_count | tr -d ' ')" 1 "exactly one domain left"
mt_check "one VMM and one socket in the run directory" mt_only_vmms "$MT_DST"

mt_done
