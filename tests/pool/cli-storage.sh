#!/bin/bash
# xm-pool's storage commands against a real one-host xm-poold, in xe's
# syntax: sr-create (prints the uuid), sr-list, pbd-list, vdi-create,
# vdi-list, vdi-resize, vdi-clone, vdi-destroy, SR_FULL as a server error (exit 1),
# pbd-unplug, sr-destroy; a wrong argument is a usage error (exit 2).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup cli-storage
pt_start 2 || pt_bail "host 2 did not start"
pt_cli_login 2
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
is_uuid() { [[ $1 =~ $uuid_re ]]; }
mkdir "$PT_TMP/sr"

host=$(x host-list --minimal)
sr=$(x sr-create host-uuid="$host" name-label=shared type=shared-file \
     device-config:location="$PT_TMP/sr" physical-size=64M 2>"$PT_TMP/e")
is_uuid "$sr" && pt_ok "sr-create prints the SR's uuid" ||
    pt_fail "sr-create prints the SR's uuid" "got '$sr'" "$(cat "$PT_TMP/e")"
pt_is "$(x sr-list --minimal)" "$sr" "sr-list --minimal"
pt_is "$(x sr-list uuid="$sr" params=type,shared | sed 's/^ *//; /^$/d')" \
    "type ( RO): shared-file
shared ( RO): true" "sr-list shows type and shared"
pt_is "$(x pbd-list params=currently-attached | sed 's/^ *//' | sed '/^$/d')" \
    "currently-attached ( RO): true" "pbd-list: plugged"

vdi=$(x vdi-create sr-uuid="$sr" name-label=disk0 virtual-size=16M)
is_uuid "$vdi" && pt_ok "vdi-create prints the VDI's uuid" ||
    pt_fail "vdi-create prints the VDI's uuid" "got '$vdi'"
pt_is "$(x vdi-list uuid="$vdi" params=virtual-size | sed 's/^ *//' |
         sed '/^$/d')" "virtual-size ( RO): 16777216" "vdi-list: 16 MiB"
pt_is "$(stat -c %s "$PT_TMP/sr/$vdi.raw")" 16777216 "the disk on the medium"
x vdi-resize uuid="$vdi" disk-size=32M && pt_ok "vdi-resize exits 0" ||
    pt_fail "vdi-resize exits 0"
pt_is "$(stat -c %s "$PT_TMP/sr/$vdi.raw")" 33554432 "the disk grew"

copy=$(x vdi-clone uuid="$vdi" new-name-label=disk0-copy)
is_uuid "$copy" && pt_ok "vdi-clone prints the copy's uuid" ||
    pt_fail "vdi-clone prints the copy's uuid" "got '$copy'"
pt_is "$(x vdi-list uuid="$copy" params=name-label | sed 's/^ *//; /^$/d')" \
    "name-label ( RW): disk0-copy" "vdi-clone new-name-label="
x vdi-destroy uuid="$copy" && pt_ok "the copy is destroyed" ||
    pt_fail "the copy is destroyed"
x vdi-create sr-uuid="$sr" name-label=big virtual-size=1G 2>"$PT_TMP/e" \
    >/dev/null
pt_is "$?" 1 "a VDI that does not fit: exit 1"
grep -q SR_FULL "$PT_TMP/e" && pt_ok "the error is SR_FULL" ||
    pt_fail "the error is SR_FULL" "$(cat "$PT_TMP/e")"
x vdi-create sr-uuid="$sr" name-label=x virtual-size=lots 2>/dev/null
pt_is "$?" 2 "virtual-size=lots: usage error, exit 2"
x sr-create host-uuid="$host" name-label=x type=shared-file location=/x \
    2>/dev/null
pt_is "$?" 2 "an unknown key: usage error, exit 2"

x sr-destroy uuid="$sr" 2>"$PT_TMP/e"
pt_is "$?" 1 "sr-destroy while plugged: exit 1"
grep -q SR_HAS_PBD "$PT_TMP/e" && pt_ok "the error is SR_HAS_PBD" ||
    pt_fail "the error is SR_HAS_PBD" "$(cat "$PT_TMP/e")"
x vdi-destroy uuid="$vdi" && pt_ok "vdi-destroy exits 0" ||
    pt_fail "vdi-destroy exits 0"
pt_is "$(x vdi-list --minimal)" "" "no VDI left"
x pbd-unplug uuid="$(x pbd-list --minimal)" && x sr-destroy uuid="$sr" &&
    pt_ok "pbd-unplug, then sr-destroy" || pt_fail "pbd-unplug, then sr-destroy"
pt_is "$(ls -A "$PT_TMP/sr")" "" "the medium is empty"
pt_is "$(x sr-list --minimal)" "" "no SR left"
pt_done
