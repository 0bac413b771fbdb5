#!/bin/bash
# Disk hot-plug on a pool of two hosts: VBD.plug of a new disk into a
# running VM (its block service starts on the VM's host, the guest takes
# the disk and its stamp lands in the VDI), VBD.unplug refused by the
# guest for its ledger's disk (DEVICE_DETACH_REJECTED) and granted for
# the new one, a live migration carrying the hot-plugged disk in its
# slot, VBD.plug again and VBD.unplug_force on the other host,
# VDI_IN_USE and VM_REQUIRES_SR for a plug, and nothing left behind.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vbd-hotplug
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/shared" "$PT_TMP/local2"
pt_py <<'P'
import glob, os, struct
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
DISK_MAGIC = 0x31424b5349444d58
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]

def backends(n):
    """The block services on host n, as VM.DISK.pid (their VDI's tag
    left out)."""
    return sorted(".".join(os.path.basename(p).split(".")[:2]) + ".pid"
                  for p in glob.glob("%s/h%d/run/blk/*.pid" % (tmp, n)))

def st(n):
    return host_local(n, "vm_status", uuid)

def count(n, key):
    return int(st(n).get(key, -1))

def clean(n):
    r = st(n)
    return (int(r.get("disk_mismatches", -1)), int(r.get("mismatches", -1)),
            int(r.get("disk_errors", -1)))

shared = s.call("SR.create", h2, {"location": tmp + "/shared"}, 0, "shared",
                "", "shared-file", "user", True, {})
local = s.call("SR.create", h2, {"location": tmp + "/local2"}, 0, "local",
               "", "file", "user", False, {})
vdi0 = s.call("VDI.create", {"SR": shared, "virtual_size": str(16 * MiB),
                             "name_label": "ledger disk"})
vdi1 = s.call("VDI.create", {"SR": shared, "virtual_size": str(8 * MiB),
                             "name_label": "hot disk"})
vdi_l = s.call("VDI.create", {"SR": local, "virtual_size": str(8 * MiB),
                              "name_label": "host 2 only"})
vm = s.call("VM.create", {"name_label": "vm-hp",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=16 rate_mib=8 "
                                           "disk_rate_mib=2 disk_ws_mib=4 "
                                           "disk_hp_stamp=1"}})
uuid = s.call("VM.get_uuid", vm)
vbd0 = s.call("VBD.create", {"VM": vm, "VDI": vdi0, "userdevice": "0"})
s.call("VM.start_on", vm, h2, False, False)
wait_until(lambda: count(2, "disk_writes") > 0, 30, "disk writes")
# A new disk for the running VM: its ledger stays on disk 0 (the
# workload's disks are the ones it booted with).
vbd1 = s.call("VBD.create", {"VM": vm, "VDI": vdi1, "userdevice": "2"})
t.is_(s.call("VBD.get_currently_attached", vbd1), False,
      "VBD.create for a running VM: not attached until plugged")
vm_h = create_vm(s, "halted")
vbd_h = s.call("VBD.create", {"VM": vm_h, "VDI": vdi_l, "userdevice": "0"})
t.fails_with(lambda: s.call("VBD.plug", vbd_h), "VM_BAD_POWER_STATE",
             "VBD.plug of a halted VM's disk: VM_BAD_POWER_STATE")
s.call("VBD.destroy", vbd_h)
s.call("VBD.plug", vbd1)
t.is_((s.call("VBD.get_currently_attached", vbd1), backends(2)),
      (True, [uuid + ".0.pid", uuid + ".2.pid"]),
      "VBD.plug into the running VM: attached, served on host 2 as disk 2")
t.ok(wait_until(lambda: count(2, "disk_hp_stamps") >= 1, 30,
                "the guest's stamp on the new disk"),
     "the guest takes the disk and writes its stamp")
raw = "%s/shared/%s.raw" % (tmp, s.call("VDI.get_uuid", vdi1))
with open(raw, "rb") as f:
    f.seek(8 * MiB - 4096)
    w = struct.unpack("<5Q", f.read(40))
t.is_((w[0], w[2], w[3], w[4]), (DISK_MAGIC, 3, 8 * MiB // 4096 - 1, 1),
      "the stamp is in the VDI: magic, slot 3, its last block, gen 1")
t.is_(count(2, "disk_hp_slots") & 0b1010, 0b1010,
      "the guest uses slots 1 and 3")
s.call("VBD.unplug", vbd1)
t.is_((s.call("VBD.get_currently_attached", vbd1), backends(2)),
      (False, [uuid + ".0.pid"]),
      "VBD.unplug of a disk the guest does not need: detached, its block "
      "service gone")
t.is_((count(2, "disk_hp_ejected"), count(2, "disk_hp_slots") & 0b1010),
      (1, 0b10), "the guest let it go")
s.call("VBD.plug", vbd1)
t.is_(backends(2), [uuid + ".0.pid", uuid + ".2.pid"], "VBD.plug again")

wait_until(lambda: count(2, "disk_hp_stamps") >= 2, 30, "second stamp")
t.fails_with(lambda: s.call("VBD.unplug", vbd0), "DEVICE_DETACH_REJECTED",
             "VBD.unplug of the ledger's disk: DEVICE_DETACH_REJECTED")
t.ok(s.call("VBD.get_currently_attached", vbd0) and
     count(2, "disk_hp_refused") >= 1,
     "it stays attached; the guest counted a refusal")
t.fails_with(lambda: s.call("VBD.plug", vbd1), "DEVICE_ALREADY_ATTACHED",
             "VBD.plug of an attached VBD: DEVICE_ALREADY_ATTACHED")

# The hot-plugged disk moves with the VM, in its slot.
w0 = count(2, "disk_writes")
s.call("VM.pool_migrate", vm, h3, {"live": "true"})
t.is_(running_on(uuid, (2, 3)), [3], "the VM migrates to host 3")
t.is_(backends(3), [uuid + ".0.pid", uuid + ".2.pid"],
      "host 3 serves both its disks")
t.is_(wait_until(lambda: backends(2) == [], 10, "host 2's backends gone"),
      True, "host 2 serves none")
wait_until(lambda: count(3, "disk_writes") > w0, 30, "writes on host 3")
t.is_(clean(3), (0, 0, 0), "ledgers clean after the move")
t.is_(count(3, "disk_hp_slots") & 0b1010, 0b1010,
      "the guest still uses slots 1 and 3")

s.call("VBD.unplug", vbd1)
t.is_((s.call("VBD.get_currently_attached", vbd1), backends(3)),
      (False, [uuid + ".0.pid"]), "VBD.unplug on host 3")
s.call("VBD.plug", vbd1)
t.is_(backends(3), [uuid + ".0.pid", uuid + ".2.pid"],
      "VBD.plug on host 3")
wait_until(lambda: count(3, "disk_hp_stamps") >= 3, 30, "third stamp")
s.call("VBD.unplug_force", vbd1)
t.is_((s.call("VBD.get_currently_attached", vbd1), backends(3)),
      (False, [uuid + ".0.pid"]), "VBD.unplug_force takes it away")
hb = count(3, "hb_last_seq")
t.ok(wait_until(lambda: count(3, "hb_last_seq") > hb + 5, 30,
                "heartbeats after the forced unplug"),
     "the guest keeps running")

# A VBD unplugged stays so across a migration (it does not move).
s.call("VM.pool_migrate", vm, h2, {"live": "true"})
t.is_((running_on(uuid, (2, 3)), s.call("VBD.get_currently_attached", vbd1),
       backends(2)), ([2], False, [uuid + ".0.pid"]),
      "migrated to host 2 with disk 2 unplugged: it stays unplugged")
s.call("VM.pool_migrate", vm, h3, {"live": "true"})
t.is_((running_on(uuid, (2, 3)), s.call("VBD.get_currently_attached", vbd1),
       backends(3)), ([3], False, [uuid + ".0.pid"]),
      "  and so back on host 3")

# A disk another VM holds; a disk the VM's host cannot reach.
vm2 = create_vm(s, "other")
s.call("VBD.create", {"VM": vm2, "VDI": vdi1, "userdevice": "0"})
s.call("VM.start_on", vm2, h2, False, False)
t.fails_with(lambda: s.call("VBD.plug", vbd1), "VDI_IN_USE",
             "VBD.plug of a VDI another running VM has: VDI_IN_USE")
vbd_l = s.call("VBD.create", {"VM": vm, "VDI": vdi_l, "userdevice": "3"})
t.fails_with(lambda: s.call("VBD.plug", vbd_l), "VM_REQUIRES_SR",
             "VBD.plug of a disk on host 2's local SR into the VM on host "
             "3: VM_REQUIRES_SR")
t.is_(backends(3), [uuid + ".0.pid"], "neither left a block service")
t.is_(clean(3), (0, 0, 0), "the VM's ledgers are still clean")

s.call("VM.hard_shutdown", vm)
s.call("VM.hard_shutdown", vm2)
t.is_(wait_until(lambda: backends(2) == [] and backends(3) == [], 10,
                 "all backends gone"), True,
      "after shutdown no block service is left")
t.done()
P
pt_done
