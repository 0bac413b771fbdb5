#!/bin/sh
# `xm-migrate dirty` on a running test guest (dirtying 64 MiB/s of 64 MiB):
# log-dirty on, then a peek sees pages, a second peek no fewer (a peek does
# not clear), a harvest at least as many, a harvest at once after it fewer;
# log-dirty is off again afterwards (a migration of the guest still works).
# The Xen lane runs the same command against Xen (tests/xen/cases/05).
. "$(dirname "$0")/lib.sh"
mt_setup dirty-cli

mt_boot 256 "ws_mib=64 rate_mib=64" || mt_bail "could not boot the guest"
src=$MT_DOMID
mt_wait_for 60 mt_pages_at_least "$src" 4096 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

out=$(mt_xm dirty --domid "$src")
mt_is "$?" 0 "xm-migrate dirty exits 0"
mt_diag "dirty: $out"
p1=$(mt_json "$out" peek1) p2=$(mt_json "$out" peek2)
h1=$(mt_json "$out" harvest1) h2=$(mt_json "$out" harvest2)
mt_cmp "${p1:-0}" ">" 0 "a peek a second after log-dirty on sees pages"
mt_cmp "${p2:-0}" ">=" "${p1:-1}" "a second peek sees no fewer (peek does not clear)"
mt_cmp "${h1:-0}" ">=" "${p2:-1}" "a harvest returns at least what peek saw"
mt_cmp "${h2:-999999999}" "<" "${h1:-0}" "a harvest at once after it returns fewer (harvest clears)"
mt_is "$(mt_json "$out" nr_pages)" 65536 "over the guest's 65536 pages"

mt_xm dirty --domid 999999 >/dev/null 2>"$MT_WORK/err"
mt_is "$?" 1 "no such domain: exit 1"
mt_check "no such domain: the error says so" grep -q "error:" "$MT_WORK/err"

mt_migrate "$src" || mt_bail "could not start a receiver"
mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" digest_equal)" 0/true \
    "the guest migrates afterwards (log-dirty was turned off)"
[ -n "$MT_DST" ] && src=$MT_DST
mt_xm destroy --domid "$src" >/dev/null 2>&1

mt_done
