#!/bin/bash
# nbd-handover.sh - lock=connection, the live migration's handover of a
# VDI on a shared SR: two backends of one VDI both start, only one client
# connection holds the VDI at a time, and once it closes the other
# backend serves what it wrote.
. "$(dirname "$0")/lib.sh"
vt_setup handover

vdi=$(vt_vdi $((8 << 20)))
vt_serve a "$vdi" -- lock=connection ||
    vt_bail "backend a did not start: $(cat "$VT_TMP/a.err")"
vt_ok "backend a starts with lock=connection"
vt_serve b "$vdi" -f -- lock=connection ||
    vt_bail "backend b did not start: $(cat "$VT_TMP/b.err")"
vt_ok "backend b starts too: no connection holds the VDI yet"
if vt_serve c "$vdi" -- lock=sometimes; then
    vt_fail "lock=sometimes is refused"
else
    vt_is "$(grep -c "lock: 'start' or 'connection'" "$VT_TMP/c.err")" 1 \
        "lock=sometimes is refused, saying what lock takes"
fi

# A client of a that stays connected: qemu-io reads its commands from a
# FIFO held open by this shell.
mkfifo "$VT_TMP/cmds"
qemu-io -f raw "$(vt_uri a)" <"$VT_TMP/cmds" >"$VT_TMP/held.out" 2>&1 &
held=$!
exec 3>"$VT_TMP/cmds"
# qemu-io takes one command per read of its input: one at a time, each
# once the one before has answered.
held_cmd()
{
    printf '%s\n' "$1" >&3
    for _ in $(seq 400); do
        [ "$(grep -o "$2" "$VT_TMP/held.out" | wc -l)" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
if held_cmd 'write -P 0x5a 0 64k' 'wrote 65536' 1 &&
    held_cmd 'flush' 'qemu-io>' 3 &&
    held_cmd 'read -P 0x5a 0 64k' 'read 65536' 1; then
    vt_ok "a client of a writes, flushes, reads back, and stays connected"
else
    vt_fail "a client of a writes, flushes, reads back, and stays connected" \
        "$(cat "$VT_TMP/held.out")"
fi

if out=$(qemu-io -f raw -r -c "read 0 4k" "$(vt_uri b)" 2>&1); then
    vt_fail "a connection to b is refused while a's client holds the VDI" \
        "$out"
else
    vt_ok "a connection to b is refused while a's client holds the VDI"
    vt_diag "$out"
fi
vt_is "$(grep -c 'VDI_IN_USE' "$VT_TMP/b.err")" 1 \
    "b's log says VDI_IN_USE"

printf 'quit\n' >&3
exec 3>&-
wait "$held"
vt_is "$?" 0 "a's client disconnects cleanly"
# nbdkit closes a client's socket before it closes the plugin's handle:
# the lock goes a moment after the client is gone (xm-vmm retries its
# connect for this reason).  Wait for that state, boundedly.
for _ in $(seq 200); do
    qemu-io -f raw -r -c "read 0 4k" "$(vt_uri b)" >/dev/null 2>&1 && break
    sleep 0.01
done
vt_check "then b serves what a's client wrote" \
    qemu-io -f raw -r -c "read -P 0x5a 0 64k" -c "read -P 0 64k 64k" \
    "$(vt_uri b)"
vt_check "and takes writes" \
    qemu-io -f raw -c "write -P 0x6b 64k 64k" -c flush "$(vt_uri b)"
for _ in $(seq 200); do
    qemu-io -f raw -r -c "read 0 4k" "$(vt_uri a)" >/dev/null 2>&1 && break
    sleep 0.01
done
vt_check "which a serves once b's client is gone" \
    qemu-io -f raw -r -c "read -P 0x6b 64k 64k" "$(vt_uri a)"
vt_stop a
vt_stop b
vt_done
