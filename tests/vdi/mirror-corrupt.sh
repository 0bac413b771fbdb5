#!/bin/bash
# mirror-corrupt.sh - a mirror frame corrupted on the link: the mirror
# runs over NBD with TLS (a pre-shared key, as between hosts), through a
# proxy (tests/pool/tcp_proxy.py) that flips one byte of what the source
# sends once the copy is held mid-pass (the fault point vdi.mirror.copy).
# TLS rejects the record: the target applies nothing of it and drops the
# connection, the mirror fails (the guest's writes do not), and a resume
# goes on from the bitmap to a target identical to the source.
. "$(dirname "$0")/lib.sh"
vt_setup mirror-corrupt
MiB=1048576
src=$(vt_vdi $((32 * MiB)))
dst=$(vt_vdi $((32 * MiB)))
# proxy_is STATE: waits until the proxy says it is in STATE.
proxy_is() {
    for _ in $(seq 200); do
        [ "$(cat "$VT_TMP/proxy.state" 2>/dev/null)" = "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
port() { python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

qemu-io -f raw -c "write -P 0x11 0 12M" -c "write -P 0x22 20M 4M" \
    "$(vt_raw "$src")" >/dev/null || vt_bail "cannot write the source"
printf 'mirror:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    > "$VT_TMP/psk"
chmod 600 "$VT_TMP/psk"
tport=$(port)
pport=$(port)
vt_serve dst "$dst" -f -p "$tport" -i 127.0.0.1 --tls=require \
    --tls-psk="$VT_TMP/psk" || vt_bail "target: $(cat "$VT_TMP/dst.err")"
python3 "$VT_SRCDIR/tests/pool/tcp_proxy.py" "127.0.0.1:$pport" \
    "127.0.0.1:$tport" "$VT_TMP/proxy.state" &
proxy=$!
trap 'kill $proxy 2>/dev/null; vt_cleanup' EXIT
proxy_is open || vt_bail "the proxy did not start"
mkdir "$VT_TMP/faults"
export XM_FAULT_DIR=$VT_TMP/faults XM_FAULT_FILE=$VT_TMP/fault
: > "$XM_FAULT_FILE"
vt_serve src "$src" -f -- lock=connection ctl="$VT_TMP/src.ctl" ||
    vt_bail "source: $(cat "$VT_TMP/src.err")"
uri="nbds://mirror@127.0.0.1:$pport/?tls-psk-file=$VT_TMP/psk"

echo "vdi.mirror.copy=wait" > "$XM_FAULT_FILE"
out=$(vt_mctl start uri="$uri" target_zeroed=1 conns=1)
vt_is "$(printf '%s' "$out" | vt_field state)" copying \
    "start over TLS through the proxy: copying"
vt_hit vdi.mirror.copy || vt_bail "the copy never reached vdi.mirror.copy"
kill -HUP $proxy
proxy_is armed || vt_bail "the proxy did not arm"
: > "$XM_FAULT_FILE"
: > "$VT_TMP/faults/vdi.mirror.copy.go"
proxy_is corrupted && vt_ok "a byte of the copy's next frame is flipped" ||
    vt_fail "a byte of the copy's next frame is flipped"
vt_wait_for state failed && vt_ok "the mirror fails" ||
    vt_fail "the mirror fails"
reason=$(vt_mctl status | sed -n 's/.* reason=//p')
[ -n "$reason" ] && vt_ok "  saying why: $reason" ||
    vt_fail "  saying why"
grep -qiE "gnutls|decrypt" "$VT_TMP/dst.err" &&
    vt_ok "  the target's TLS rejected the record: $(grep -iE -m1 \
        "gnutls|decrypt" "$VT_TMP/dst.err" | cut -c1-100)" ||
    vt_fail "  the target's TLS rejected the record" \
        "$(cat "$VT_TMP/dst.err")"
qemu-io -f raw -c "write -P 0x33 2M 1M" -c "write -P 0x44 28M 1M" \
    "$(vt_uri src)" >/dev/null &&
    vt_ok "the guest's writes go on while the mirror is failed" ||
    vt_fail "the guest's writes go on while the mirror is failed"
out=$(vt_mctl resume)
vt_is "$(printf '%s' "$out" | vt_field state)" copying "resume: copying again"
vt_wait_for synced 1 && vt_ok "and synced" || vt_fail "and synced"
out=$(vt_mctl complete gen="$(vt_mctl status | vt_field gen)")
vt_is "$(printf '%s' "$out" | vt_field state)" completed "complete"
cmp -s "$(vt_raw "$src")" "$(vt_raw "$dst")" &&
    vt_ok "the target is identical to the source: nothing corrupted landed" ||
    vt_fail "the target is identical to the source"
vt_mctl stop >/dev/null
vt_done
