#!/bin/bash
# mirror.sh - the mirrored-block engine inside the block service, driven
# over its control socket (docs/specs/mirror.md): writes made while the
# copy is held mid-pass are copied too, the engine goes write-blocking by
# itself and then writes both sides before it answers, completion is
# refused for a stale generation, the target ends identical and sparse;
# a target killed mid-copy fails the mirror (not the writes) and a resume
# goes on from the bitmap to an identical target.  Faults are made at the
# fault point vdi.mirror.copy, never after a delay.
. "$(dirname "$0")/lib.sh"
vt_setup mirror
MiB=1048576
src=$(vt_vdi $((64 * MiB)))
dst=$(vt_vdi $((64 * MiB)))

qemu-io -f raw -c "write -P 0x11 0 8M" -c "write -P 0x22 32M 4M" \
    "$(vt_raw "$src")" >/dev/null || vt_bail "cannot write the source"
vt_serve dst "$dst" || vt_bail "target: $(cat "$VT_TMP/dst.err")"
mkdir "$VT_TMP/faults"
export XM_FAULT_DIR=$VT_TMP/faults XM_FAULT_FILE=$VT_TMP/fault
: > "$XM_FAULT_FILE"
vt_serve src "$src" -f -- lock=connection ctl="$VT_TMP/src.ctl" ||
    vt_bail "source: $(cat "$VT_TMP/src.err")"

out=$(vt_mctl frobnicate)
vt_is "$?:$(printf '%s' "$out" | cut -d' ' -f1-2)" "1:error 22" \
    "an unknown command: error EINVAL"
out=$(vt_mctl status)
vt_is "$?:$(printf '%s' "$out" | cut -d' ' -f1-2)" "1:error 2" \
    "status without a mirror: error ENOENT"
out=$(vt_mctl start uri="$(vt_uri dst)" granule=1000)
vt_is "$?:$(printf '%s' "$out" | cut -d' ' -f1-2)" "1:error 22" \
    "granule=1000 (not a power of 2): error EINVAL"
out=$(vt_mctl start uri="nbd+unix:///?socket=$VT_TMP/nobody.sock")
vt_is "$?:$(printf '%s' "$out" | cut -d' ' -f1)" "1:error" \
    "a target that is not there: start fails, saying why"
vt_is "$(vt_mctl status | vt_field state)" failed "  and the mirror is failed"
vt_mctl stop >/dev/null && vt_ok "and stop forgets it" ||
    vt_fail "and stop forgets it"

# Hold the copy at its first chunk and write around it.
echo "vdi.mirror.copy=wait" > "$XM_FAULT_FILE"
out=$(vt_mctl start uri="$(vt_uri dst)" target_zeroed=1 conns=1)
vt_is "$(printf '%s' "$out" | vt_field state)" copying "start: copying"
vt_hit vdi.mirror.copy || vt_bail "the copy never reached vdi.mirror.copy"
qemu-io -f raw -c "write -P 0x33 4M 1M" -c "write -P 0x44 48M 2M" \
    -c "write -P 0x55 0 64k" "$(vt_uri src)" >/dev/null &&
    vt_ok "writes during the copy succeed" ||
    vt_fail "writes during the copy succeed"
: > "$XM_FAULT_FILE"
: > "$VT_TMP/faults/vdi.mirror.copy.go"
vt_wait_for synced 1 && vt_ok "the mirror becomes actively synced by itself" ||
    vt_fail "the mirror becomes actively synced by itself"
vt_is "$(vt_mctl status | vt_field state)" synced "  write-blocking (synced)"
qemu-io -f raw -c "write -P 0x66 60M 1M" "$(vt_uri src)" >/dev/null
cmp -s <(dd if="$(vt_raw "$dst")" bs=1M skip=60 count=1 2>/dev/null) \
    <(head -c 1M /dev/zero | tr '\0' '\146') &&
    vt_ok "a write-blocking write is on the target when it is answered" ||
    vt_fail "a write-blocking write is on the target when it is answered"
out=$(vt_mctl complete gen=7)
vt_is "$?:$(printf '%s' "$out" | cut -d' ' -f1-2)" "1:error 116" \
    "complete with a stale generation: error ESTALE"
out=$(vt_mctl complete gen=0)
vt_is "$(printf '%s' "$out" | vt_field state)" completed "complete: completed"
cmp -s "$(vt_raw "$src")" "$(vt_raw "$dst")" && vt_ok "the target is identical" ||
    vt_fail "the target is identical"
sent=$(printf '%s' "$out" | vt_field sent)
# 8 + 4 MiB first, then 1 + 2 + 1 MiB rewritten (+ 64k), 1 MiB mirrored.
[ "$sent" -le $((20 * MiB)) ] &&
    vt_ok "holes are not sent ($sent bytes for 19 MiB written)" ||
    vt_fail "holes are not sent" "sent $sent"
alloc=$(($(stat -c %b "$(vt_raw "$dst")") * 512))
[ "$alloc" -le $((20 * MiB)) ] &&
    vt_ok "the target stays sparse ($alloc bytes allocated)" ||
    vt_fail "the target stays sparse" "$alloc bytes"
vt_mctl stop | grep -q '^ok' && vt_ok "stop after completion" ||
    vt_fail "stop after completion"

# A target that dies mid-copy.
dst2=$(vt_vdi $((64 * MiB)))
vt_serve dst2 "$dst2" || vt_bail "target 2: $(cat "$VT_TMP/dst2.err")"
rm -f "$VT_TMP/faults/"*
echo "vdi.mirror.copy=wait" > "$XM_FAULT_FILE"
vt_mctl start uri="$(vt_uri dst2)" target_zeroed=1 conns=2 >/dev/null
vt_hit vdi.mirror.copy || vt_bail "the copy never reached vdi.mirror.copy"
vt_stop dst2 KILL
: > "$XM_FAULT_FILE"
: > "$VT_TMP/faults/vdi.mirror.copy.go"
vt_wait_for state failed && vt_ok "the target killed mid-copy: failed" ||
    vt_fail "the target killed mid-copy: failed"
out=$(vt_mctl status)
vt_is "$(printf '%s' "$out" | vt_field gen)" 1 "  generation 1"
[ -n "$(printf '%s' "$out" | sed -n 's/.* reason=//p')" ] &&
    vt_ok "  with a reason: $(printf '%s' "$out" | sed -n 's/.* reason=//p')" ||
    vt_fail "  with a reason" "$out"
qemu-io -f raw -c "write -P 0x77 16M 1M" "$(vt_uri src)" >/dev/null &&
    vt_ok "writes go on while the mirror is failed" ||
    vt_fail "writes go on while the mirror is failed"
out=$(vt_mctl complete gen=1)
vt_is "$?" 1 "complete of a failed mirror is refused"
rm -f "$VT_TMP/dst2.sock"
vt_serve dst2 "$dst2" || vt_bail "target 2 again: $(cat "$VT_TMP/dst2.err")"
out=$(vt_mctl resume)
vt_is "$(printf '%s' "$out" | vt_field state)" copying "resume: copying again"
vt_wait_for synced 1 && vt_ok "and synced" || vt_fail "and synced"
out=$(vt_mctl complete gen=1)
vt_is "$(printf '%s' "$out" | vt_field state)" completed "complete at generation 1"
cmp -s "$(vt_raw "$src")" "$(vt_raw "$dst2")" &&
    vt_ok "the resumed target is identical" ||
    vt_fail "the resumed target is identical"
vt_mctl stop >/dev/null
vt_done
