#!/bin/sh
# A sender that corrupts one page batch in flight (a flipped byte, after
# round 0): the receiver's per-batch checksum catches it, the migration
# fails, the source runs on as the only copy and the destination keeps
# nothing.
. "$(dirname "$0")/lib.sh"
mt_setup fault-corrupt

mt_boot 512 "ws_mib=256 rate_mib=64" || mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")
mt_wait_for 60 mt_pages_at_least "$src" 16384 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

mt_recv_start --linger-ms 3000 || mt_bail "could not start a receiver"
mt_send "$src" --fault corrupt-batch
mt_check_failed "corrupt-batch" "$src" "$uuid" $((256 + 16))
mt_cmp "$(mt_json "$MT_SEND_JSON" rounds)" ">=" 2 \
    "corrupt-batch: the corrupted batch was in pre-copy round 1 or later"
mt_recv_wait 30
mt_is "$MT_RECV_RC" 1 "corrupt-batch: the receiver exits 1"
recv_err=$(grep 'error:' "$MT_RECV_ERR" | sed 's/^xm-migrate: //' |
           tr '\n' ' ')
mt_diag "corrupt-batch: receiver: $recv_err"
if echo "$recv_err $(mt_send_error)" | grep -qi 'checksum'; then
    mt_ok "corrupt-batch: the error names the failed checksum"
else
    mt_fail "corrupt-batch: the error names the failed checksum" \
        "no 'checksum' in the receiver's or the sender's error"
fi

mt_migrate "$src" || mt_bail "could not start a receiver"
mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" digest_equal)" 0/true \
    "corrupt-batch: the source migrates afterwards" || mt_diag_migration

mt_done
