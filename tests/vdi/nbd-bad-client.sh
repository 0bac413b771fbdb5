#!/bin/bash
# nbd-bad-client.sh - a client that breaks the NBD protocol (huge option
# lengths, requests past the end, oversized requests, a bad magic) gets a
# clear error or its connection closed; the export stays intact and the
# server goes on serving others.
. "$(dirname "$0")/lib.sh"
vt_setup bad-client

vdi=$(vt_vdi $((8 << 20)))
vt_serve a "$vdi" || vt_bail "nbdkit did not start: $(cat "$VT_TMP/a.err")"
uri=$(vt_uri a)
qemu-io -f raw -c "write -P 0x77 0 8M" "$uri" >/dev/null ||
    vt_bail "cannot fill the VDI"
before=$(nbdcopy "$uri" - | sha256sum)

out=$(python3 "$VT_SRCDIR/tests/vdi/nbd_raw.py" "$VT_TMP/a.sock" 2>&1)
vt_diag "$out"
get() { sed -n "s/^$1: //p" <<<"$out"; }
vt_is "$(get huge_option)" closed "an option of 2 GiB: connection closed"
vt_is "$(get long_name)" closed "an 8 KiB export name: connection closed"
vt_is "$(get read_past_end)" "error 22, then a good read works" \
    "a read past the end: EINVAL, and the connection goes on"
vt_is "$(get read_straddling_end)" "error 22" \
    "a read across the end: EINVAL"
vt_is "$(get write_past_end)" "error 28" \
    "a write across the end: ENOSPC, as the protocol asks"
case "$(get oversized_read)" in
"error 22"|closed) vt_ok "a 64 MiB read (over the 32 MiB maximum): refused" ;;
*) vt_fail "a 64 MiB read (over the 32 MiB maximum): refused" \
    "$(get oversized_read)" ;;
esac
vt_is "$(get bad_magic)" closed "a bad request magic: connection closed"

vt_is "$(nbdcopy "$uri" - | sha256sum)" "$before" "the export is intact"
vt_check "the server serves a good client" \
    qemu-io -f raw -r -c "read -P 0x77 0 8M" "$uri"
vt_stop a
vt_done
