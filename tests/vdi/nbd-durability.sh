#!/bin/bash
# nbd-durability.sh - what the block service acknowledged after FLUSH, or
# with FUA, is there after the backend is killed with SIGKILL; the kill
# also releases the VDI's lock, so a new backend serves it at once.
. "$(dirname "$0")/lib.sh"
vt_setup durability

vdi=$(vt_vdi $((16 << 20)))
vt_serve a "$vdi" || vt_bail "nbdkit did not start: $(cat "$VT_TMP/a.err")"
uri=$(vt_uri a)
vt_check "write 1 MiB, then FLUSH" \
    qemu-io -f raw -c "write -P 0x33 0 1M" -c flush "$uri"
vt_check "write 1 MiB with FUA" \
    qemu-io -f raw -c "write -f -P 0x44 2M 1M" "$uri"
vt_check "write-zeroes with FUA over written data" \
    qemu-io -f raw -c "write -P 0x55 4M 64k" -c "write -z -f 4M 32k" "$uri"
vt_stop a KILL
vt_ok "backend killed with SIGKILL"

vt_serve b "$vdi" || vt_fail "a new backend serves the VDI" \
    "$(cat "$VT_TMP/b.err")"
[ -s "$VT_TMP/b.pid" ] && vt_ok "a new backend serves the VDI"
uri=$(vt_uri b)
vt_check "the flushed write is there" \
    qemu-io -f raw -r -c "read -P 0x33 0 1M" "$uri"
vt_check "the FUA write is there" \
    qemu-io -f raw -r -c "read -P 0x44 2M 1M" "$uri"
vt_check "the zeroes are there, and the rest of the block" \
    qemu-io -f raw -r -c "read -P 0 4M 32k" -c "read -P 0x55 4128k 32k" "$uri"
vt_check "nothing else was written" \
    qemu-io -f raw -r -c "read -P 0 1M 1M" -c "read -P 0 3M 1M" \
    -c "read -P 0 5M 11M" "$uri"
vt_stop b
vt_done
