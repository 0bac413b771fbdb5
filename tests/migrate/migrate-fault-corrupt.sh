#!/bin/sh
# A sender whose page batches carry hashes their pages do not have (fault
# point mig.send.batch=corrupt): the receiver sees pages unlike their
# hash that never come again, the migration fails, the source runs on as
# the only copy and the destination keeps nothing.
. "$(dirname "$0")/lib.sh"
mt_setup fault-corrupt

mt_boot 512 "ws_mib=256 rate_mib=64" || mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")
mt_wait_for 60 mt_pages_at_least "$src" 16384 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

mt_recv_start --linger-ms 3000 || mt_bail "could not start a receiver"
MT_SEND_FAULT=mig.send.batch=corrupt mt_send "$src"
mt_check_failed "corrupt-batch" "$src" "$uuid" $((256 + 16))
mt_recv_wait 30
mt_cmp "$(mt_json "$MT_RECV_JSON" pages_torn)" ">" 0 \
    "corrupt-batch: the receiver counted the pages that stayed corrupt"
mt_is "$MT_RECV_RC" 1 "corrupt-batch: the receiver exits 1"
recv_err=$(grep 'error:' "$MT_RECV_ERR" | sed 's/^xm-migrate: //' |
           tr '\n' ' ')
mt_diag "corrupt-batch: receiver: $recv_err"
if echo "$recv_err $(mt_send_error)" | grep -q "unlike the sender's hash"
then
    mt_ok "corrupt-batch: the error names the pages that failed their hash"
else
    mt_fail "corrupt-batch: the error names the pages that failed their" \
        "hash" "not in the receiver's or the sender's error"
fi

mt_migrate "$src" || mt_bail "could not start a receiver"
mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" digest_equal)" 0/true \
    "corrupt-batch: the source migrates afterwards" || mt_diag_migration

mt_done
