#!/bin/bash
# xm-pool's disk commands against a real one-host xm-poold, in xe's
# syntax: pool-param-set default_SR=, vm-disk-add (a VDI and its VBD,
# on the default SR or sr-uuid=), vbd-create, vbd-list, vbd-unplug of a
# disk the guest refuses to release and of one it lets go, vbd-plug of
# it again, vdi-snapshot, vbd-destroy; the guest writes its
# disk once started; wrong arguments are usage errors (exit 2).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup cli-vm-disk
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_cli_login 2
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
is_uuid() { [[ $1 =~ $uuid_re ]]; }
field() { x "$1" uuid="$2" params="$3" | sed 's/^.*: //; /^$/d'; }
mkdir "$PT_TMP/sr"

host=$(x host-list --minimal)
sr=$(x sr-create host-uuid="$host" name-label=shared type=shared-file \
     device-config:location="$PT_TMP/sr")
vm=$(x vm-create name-label=diskvm memory=256M \
     cmdline="ws_mib=16 rate_mib=4 disk_rate_mib=2 disk_ws_mib=4")
is_uuid "$vm" || pt_bail "vm-create: '$vm'"

x vm-disk-add vm=diskvm disk-size=16M >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 2 "vm-disk-add without sr-uuid= or a default SR: exit 2"
grep -q "no default SR" "$PT_TMP/e" && pt_ok "and it says so" ||
    pt_fail "and it says so" "$(cat "$PT_TMP/e")"
pool=$(x pool-list --minimal)
x pool-param-set uuid="$pool" default_SR="$sr" &&
    pt_ok "pool-param-set default_SR=" || pt_fail "pool-param-set default_SR="
dflt=$(field pool-list "$pool" default-SR)
pt_is "$dflt" "$sr" "pool-list shows the default SR by its uuid" ||
    pt_fail "pool-list shows a default SR" "got '$dflt'"
vbd=$(x vm-disk-add vm=diskvm disk-size=16M)
is_uuid "$vbd" && pt_ok "vm-disk-add prints the VBD's uuid" ||
    pt_fail "vm-disk-add prints the VBD's uuid" "got '$vbd'"
vdi=$(x vdi-list --minimal)
pt_is "$(stat -c %s "$PT_TMP/sr/$vdi.raw" 2>&1)" 16777216 \
    "its VDI is on the default SR's medium, of 16 MiB"
pt_is "$(field vdi-list "$vdi" name-label)" "diskvm disk" \
    "named after the VM"
pt_is "$(field vbd-list "$vbd" userdevice)" 0 "it is disk 0"
x vm-disk-add vm=diskvm disk-size=lots 2>/dev/null
pt_is "$?" 2 "disk-size=lots: usage error, exit 2"
x vbd-create vm-uuid="$vm" vdi-uuid="$vdi" device=0 >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 1 "vbd-create of a taken device: exit 1"
grep -q DEVICE_ALREADY_EXISTS "$PT_TMP/e" &&
    pt_ok "DEVICE_ALREADY_EXISTS" || pt_fail "DEVICE_ALREADY_EXISTS" \
    "$(cat "$PT_TMP/e")"
x vbd-create vm-uuid="$vm" vdi-uuid="$vdi" mode=WO 2>/dev/null
pt_is "$?" 2 "mode=WO: usage error, exit 2"
vdi2=$(x vdi-create sr-uuid="$sr" name-label=second virtual-size=8M)
vbd2=$(x vbd-create vm-uuid="$vm" vdi-uuid="$vdi2" mode=RO)
pt_is "$(field vbd-list "$vbd2" userdevice)" 1 \
    "vbd-create takes the first free device"
pt_is "$(field vbd-list "$vbd2" mode)" RO "in mode RO"

x vm-start vm=diskvm && pt_ok "vm-start of the VM with two disks" ||
    pt_fail "vm-start of the VM with two disks"
pt_is "$(field vbd-list "$vbd" currently-attached)" true "disk 0 attached"
x vbd-unplug uuid="$vbd" 2>"$PT_TMP/e"
pt_is "$?" 1 "vbd-unplug of the disk the guest's ledger is on: exit 1"
grep -q "DEVICE_DETACH_REJECTED" "$PT_TMP/e" &&
    pt_ok "the guest refuses: DEVICE_DETACH_REJECTED" ||
    pt_fail "the guest refuses: DEVICE_DETACH_REJECTED" "$(cat "$PT_TMP/e")"
pt_is "$(field vbd-list "$vbd" currently-attached)" true "disk 0 stays"
x vbd-unplug uuid="$vbd2" force=maybe 2>/dev/null
pt_is "$?" 2 "vbd-unplug force=maybe: usage error, exit 2"
x vbd-unplug uuid="$vbd2" && pt_ok "vbd-unplug of the read-only disk" ||
    pt_fail "vbd-unplug of the read-only disk"
pt_is "$(field vbd-list "$vbd2" currently-attached)" false \
    "disk 1 is detached"
x vbd-plug uuid="$vbd2" && pt_ok "vbd-plug puts it back" ||
    pt_fail "vbd-plug puts it back"
pt_is "$(field vbd-list "$vbd2" currently-attached)" true \
    "disk 1 is attached again"
x vbd-plug uuid="$vbd" 2>"$PT_TMP/e"
grep -q DEVICE_ALREADY_ATTACHED "$PT_TMP/e" &&
    pt_ok "vbd-plug of an attached disk: DEVICE_ALREADY_ATTACHED" ||
    pt_fail "vbd-plug of an attached disk: DEVICE_ALREADY_ATTACHED" \
    "$(cat "$PT_TMP/e")"
x vm-shutdown vm=diskvm --force && pt_ok "vm-shutdown --force" ||
    pt_fail "vm-shutdown --force"
snap=$(x vdi-snapshot uuid="$vdi" new-name-label=before)
is_uuid "$snap" && pt_ok "vdi-snapshot prints the snapshot's uuid" ||
    pt_fail "vdi-snapshot prints the snapshot's uuid" "got '$snap'"
pt_is "$(field vdi-list "$snap" is-a-snapshot)" true "it is a snapshot"
pt_is "$(field vdi-list "$snap" name-label)" before "named before"
cmp -s "$PT_TMP/sr/$vdi.raw" "$PT_TMP/sr/$snap.raw" &&
    pt_ok "with the disk's contents" || pt_fail "with the disk's contents"
vm2=$(x vm-create name-label=withdisk memory=256M disk-size=8M)
is_uuid "$vm2" && pt_ok "vm-create disk-size=: prints the VM's uuid only" ||
    pt_fail "vm-create disk-size=: prints the VM's uuid only" "got '$vm2'"
vbds2=$(x vm-param-get uuid="$vm2" param-name=VBDs)
is_uuid "$vbds2" && pt_is "$(x vbd-list VM="$vm2" --minimal)" "$vbds2" \
    "the new VM has one disk, printed as its uuid" ||
    pt_fail "the new VM has one disk" "VBDs '$vbds2'"
n_before=$(x vm-list --minimal | tr ',' '\n' | grep -c .)
x vm-create name-label=nodisk memory=256M disk-size=8M \
    sr-uuid=00000000-0000-4000-8000-000000000000 >/dev/null 2>&1
pt_is "$?" 1 "vm-create with an unknown sr-uuid=: exit 1"
pt_is "$(x vm-list --minimal | tr ',' '\n' | grep -c .)" "$n_before" \
    "and no VM is left behind"
x vbd-destroy uuid="$vbd2" && pt_ok "vbd-destroy once halted" ||
    pt_fail "vbd-destroy once halted"
pt_is "$(x vbd-list --minimal | tr ',' '\n' | grep -c .)" 2 \
    "two VBDs left: diskvm's and withdisk's"
pt_is "$(x vdi-list uuid="$vdi2" --minimal)" "$vdi2" "its VDI stays"
pt_done
