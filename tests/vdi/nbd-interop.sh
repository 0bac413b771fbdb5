#!/bin/bash
# nbd-interop.sh - real NBD clients (nbdinfo, nbdcopy, qemu-img, qemu-io)
# on a VDI served by the block service: what it advertises, reads and
# writes, block status on a sparse VDI, trim and write-zeroes, copies in
# and out, a read-only export, a second server refused, TCP with TLS.
. "$(dirname "$0")/lib.sh"
vt_setup interop
command -v nbdcopy >/dev/null || vt_skip_all "nbdcopy is missing"

MiB=$((1 << 20))
vdi=$(vt_vdi $((64 * MiB)))
vt_serve a "$vdi" || vt_bail "nbdkit did not start: $(cat "$VT_TMP/a.err")"
uri=$(vt_uri a)

info=$(nbdinfo "$uri")
vt_is "$(sed -n 's/^\texport-size: \([0-9]*\).*/\1/p' <<<"$info")" \
    $((64 * MiB)) "nbdinfo: the VDI's size"
vt_is "$(grep -c 'structured' <<<"$info")" 1 "structured replies"
for f in can_flush can_fua can_trim can_zero can_multi_conn; do
    vt_is "$(sed -n "s/^\t$f: //p" <<<"$info")" true "advertises $f"
done
vt_is "$(sed -n 's/^\tis_read_only: //p' <<<"$info")" false "read-write"
vt_is "$(grep -c 'base:allocation' <<<"$info")" 1 "meta context "\
"base:allocation"
vt_is "$(sed -n 's/^\tblock_size_maximum: //p' <<<"$info")" 33554432 \
    "requests up to 32 MiB"

vt_is "$(nbdinfo --map "$uri" | tr -s ' ')" " 0 67108864 3 hole,zero" \
    "a fresh VDI is one hole"

vt_check "qemu-io writes a pattern" \
    qemu-io -f raw -c "write -P 0x5a 1M 64k" "$uri"
vt_check "qemu-io reads it back" \
    qemu-io -f raw -c "read -P 0x5a 1M 64k" -c "read -P 0 0 1M" "$uri"
vt_is "$(qemu-img map --output=json -f raw "$uri" |
         python3 -c 'import json,sys
print(" ".join("%d+%d" % (e["start"], e["length"])
               for e in json.load(sys.stdin) if e["data"]))')" \
    "1048576+65536" "qemu-img map: data only where written"

vt_check "qemu-io: write-zeroes (no hole) and discard" \
    qemu-io -f raw -c "write -z 1M 4k" -c "discard 1040k 8k" \
    -c "read -P 0 1M 4k" -c "read -P 0 1040k 8k" \
    -c "read -P 0x5a 1028k 12k" "$uri"
vt_is "$(nbdinfo --map "$uri" | awk '$3 == 0 { n += $2 } END { print n }')" \
    $((64 * 1024 - 8 * 1024)) "the discarded 8 KiB are a hole again"

# A sparse source: two 4 MiB random regions in 64 MiB.
src=$VT_TMP/src.img
truncate -s $((64 * MiB)) "$src"
head -c $((4 * MiB)) /dev/urandom | dd of="$src" bs=1M seek=8 conv=notrunc \
    status=none
head -c $((4 * MiB)) /dev/urandom | dd of="$src" bs=1M seek=40 conv=notrunc \
    status=none
vt_check "nbdcopy copies a sparse image in" nbdcopy "$src" "$uri"
vt_is "$(nbdinfo --map "$uri" | awk '$3 == 0 { n += $2 } END { print n }')" \
    $((8 * MiB)) "block status: 8 MiB of data, the rest holes"
vt_check "nbdcopy copies it out" nbdcopy "$uri" "$VT_TMP/out1.img"
vt_check "what came out is what went in" cmp "$src" "$VT_TMP/out1.img"
vt_check "qemu-img convert copies it out" \
    qemu-img convert -f raw -O raw "$uri" "$VT_TMP/out2.img"
vt_check "the same bytes" cmp "$src" "$VT_TMP/out2.img"
vt_check "qemu-img compare" qemu-img compare -f raw -F raw "$uri" "$src"

# One server per VDI: a second one is refused at start.
if vt_serve b "$vdi"; then
    vt_fail "a second server on the VDI is refused"
    vt_stop b
else
    vt_ok "a second server on the VDI is refused"
fi
vt_is "$(grep -c 'VDI_IN_USE' "$VT_TMP/b.err")" 1 "with VDI_IN_USE: "\
"$(grep -o 'VDI_IN_USE.*' "$VT_TMP/b.err")"
vt_stop a

# Read-only.
vt_serve ro "$vdi" -- mode=ro || vt_bail "read-only: $(cat "$VT_TMP/ro.err")"
vt_is "$(nbdinfo "$(vt_uri ro)" | sed -n 's/^\tis_read_only: //p')" true \
    "mode=ro: advertised read-only"
if qemu-io -f raw -c "write -P 1 0 4k" "$(vt_uri ro)" >/dev/null 2>&1; then
    vt_fail "mode=ro: a write fails"
else
    vt_ok "mode=ro: a write fails"
fi
vt_check "mode=ro: reads work" \
    qemu-io -f raw -r -c "read -P 0 0 4k" "$(vt_uri ro)"
vt_stop ro

# TCP for peers, TLS required (a pre-shared key).
port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'peer:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    > "$VT_TMP/psk"
chmod 600 "$VT_TMP/psk"
vt_serve tls "$vdi" -i 127.0.0.1 -p "$port" --tls=require \
    --tls-psk="$VT_TMP/psk" || vt_bail "TLS: $(cat "$VT_TMP/tls.err")"
tls_uri="nbds://peer@127.0.0.1:$port/?tls-psk-file=$VT_TMP/psk"
vt_is "$(nbdinfo "$tls_uri" | grep -c 'with TLS')" 1 "TCP with TLS"
vt_check "over TLS, nbdcopy copies it out" \
    nbdcopy "$tls_uri" "$VT_TMP/out3.img"
vt_check "the same bytes" cmp "$src" "$VT_TMP/out3.img"
if nbdinfo "nbd://127.0.0.1:$port/" >/dev/null 2>&1; then
    vt_fail "plain TCP is refused"
else
    vt_ok "plain TCP is refused"
fi
vt_stop tls
vt_done
