#!/bin/sh
# A 256 MiB test guest dirtying 32 MiB/s migrates over several TCP streams
# with compressed page batches: 4 streams with zstd, then 2 streams with
# zlib.  Each move is consistent (continuous heartbeat, clean ledger, equal
# digests, the source gone); the guest's pages (pattern=fill) compress,
# and compression does not make the policy throttle a guest that converges
# without it.
. "$(dirname "$0")/lib.sh"
mt_setup streams-compress

mt_boot 256 "ws_mib=128 rate_mib=32" || mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")
mt_wait_for 60 mt_pages_at_least "$src" 8192 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

mt_migrate "$src" --streams 4 --compress zstd ||
    mt_bail "could not start a receiver"
mt_report "4 streams zstd"
mt_check_migrated "4 streams zstd" "$src" "$uuid"
mt_is "$(mt_json "$MT_SEND_JSON" streams)/$(mt_json "$MT_RECV_JSON" \
       streams)" 4/4 "4 streams zstd: both ends used 4 streams"
mt_cmp "$(mt_json "$MT_SEND_JSON" compression_ratio)" ">" 1 \
    "4 streams zstd: compression ratio above 1"
mt_cmp "$(mt_json "$MT_SEND_JSON" pages_compressed)" ">" 0 \
    "4 streams zstd: pages went compressed"
# Uncompressed, this guest converges without throttling: compressed, the
# policy must weigh the pages it sends, not the bytes they shrank to.
mt_is "$(mt_json "$MT_SEND_JSON" throttle_pct)" 0 \
    "4 streams zstd: converged without throttling the guest"

src=$MT_DST
[ -n "$src" ] || mt_bail "no destination domain to continue with"
mt_migrate "$src" --streams 2 --compress zlib ||
    mt_bail "could not start a receiver"
mt_report "2 streams zlib"
mt_check_migrated "2 streams zlib" "$src" "$uuid"
mt_is "$(mt_json "$MT_SEND_JSON" streams)/$(mt_json "$MT_RECV_JSON" \
       streams)" 2/2 "2 streams zlib: both ends used 2 streams"
mt_cmp "$(mt_json "$MT_SEND_JSON" pages_compressed)" ">" 0 \
    "2 streams zlib: pages went compressed"
mt_is "$(mt_json "$MT_SEND_JSON" throttle_pct)" 0 \
    "2 streams zlib: converged without throttling the guest"
mt_is "$(mt_domain_count | tr -d ' ')" 1 "exactly one domain left"
mt_check "one VMM and one socket in the run directory" mt_only_vmms "$MT_DST"

mt_done
