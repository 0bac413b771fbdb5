#!/bin/bash
# A VM with disks on a pool of two hosts: VBD.create and its errors, the
# VM's start serving each disk from its host's block service, VDI_IN_USE
# for a VDI another running VM holds (and for a snapshot or clone of it),
# the guest refusing to release the disk its ledger is on (VBD.unplug:
# DEVICE_DETACH_REJECTED), VDI.snapshot once halted, a live migration of
# a VM whose disk is on a shared SR (the
# destination serves the disk, the source's block service goes after the
# commit, the guest's disk ledger stays clean), VM_REQUIRES_SR for a
# disk on a host's local SR, and the block services gone after shutdown.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vm-disk
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/shared" "$PT_TMP/local2"
pt_py <<'P'
import glob, os, time
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]

def backends(n):
    """The block services on host n, as VM.DISK.pid (their VDI's tag
    left out)."""
    return sorted(".".join(os.path.basename(p).split(".")[:2]) + ".pid"
                  for p in glob.glob("%s/h%d/run/blk/*.pid" % (tmp, n)))

def status(n, uuid):
    return host_local(n, "vm_status", uuid)

sms = {r["type"]: r for r in s.call("SM.get_all_records").values()}
t.ok(sorted(sms) == ["file", "shared-file"] and
     all("VDI_SNAPSHOT" in r["capabilities"] and
         r["features"].get("VDI_CLONE") == "1" and
         "location" in r["configuration"] for r in sms.values()),
     "SM.get_all_records: one record per SR driver, with capabilities",
     repr(sms))
shared = s.call("SR.create", h2, {"location": tmp + "/shared"}, 0, "shared",
                "", "shared-file", "user", True, {})
local = s.call("SR.create", h2, {"location": tmp + "/local2"}, 0, "local",
               "", "file", "user", False, {})
vdi = s.call("VDI.create", {"SR": shared, "virtual_size": str(16 * MiB),
                            "name_label": "disk0"})
vdi_l = s.call("VDI.create", {"SR": local, "virtual_size": str(16 * MiB),
                              "name_label": "local disk"})
vm = s.call("VM.create", {"name_label": "vm-disk",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=16 rate_mib=8 "
                                           "disk_rate_mib=4 disk_ws_mib=8"}})
uuid = s.call("VM.get_uuid", vm)

t.fails_with(lambda: s.call("VBD.create", {"VM": vm, "VDI": vdi,
                                           "userdevice": "x"}),
             "INVALID_VALUE", "VBD.create: userdevice must be a disk number")
t.fails_with(lambda: s.call("VBD.create", {"VM": vm, "VDI": vdi,
                                           "type": "CD"}),
             "INVALID_VALUE", "VBD.create: disks only")
t.fails_with(lambda: s.call("VBD.create", {"VM": "OpaqueRef:nope",
                                           "VDI": vdi}),
             "HANDLE_INVALID", "VBD.create: an unknown VM")
vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0",
                            "mode": "RW", "bootable": True})
rec = s.call("VBD.get_record", vbd)
t.ok(rec["VM"] == vm and rec["VDI"] == vdi and rec["userdevice"] == "0" and
     rec["device"] == "xvda" and not rec["currently_attached"],
     "VBD.create: disk 0 of the VM, not attached while it is halted",
     repr(rec))
t.is_(s.call("VM.get_VBDs", vm), [vbd], "the VM lists it")
t.fails_with(lambda: s.call("VBD.create", {"VM": vm, "VDI": vdi_l,
                                           "userdevice": "0"}),
             "DEVICE_ALREADY_EXISTS", "a second disk 0: DEVICE_ALREADY_EXISTS")
t.fails_with(lambda: s.call("VBD.plug", vbd), "VM_BAD_POWER_STATE",
             "VBD.plug of a halted VM: VM_BAD_POWER_STATE")

s.call("VM.start", vm, False, False)
t.is_(s.call("VM.get_resident_on", vm), h2, "the VM starts on host 2")
t.is_(s.call("VBD.get_currently_attached", vbd), True,
      "its VBD is attached while it runs")
t.is_(backends(2), [uuid + ".0.pid"], "host 2 serves its disk")
t.fails_with(lambda: s.call("VDI.destroy", vdi), "VDI_IN_USE",
             "VDI.destroy of the running VM's disk: VDI_IN_USE")
t.fails_with(lambda: s.call("VDI.snapshot", vdi, {}), "VDI_IN_USE",
             "VDI.snapshot of a running VM's disk: VDI_IN_USE, not a torn "
             "copy")
t.fails_with(lambda: s.call("VDI.clone", vdi, {}), "VDI_IN_USE",
             "VDI.clone of it: the same")
t.fails_with(lambda: s.call("VBD.plug", vbd), "DEVICE_ALREADY_ATTACHED",
             "VBD.plug of an attached VBD: DEVICE_ALREADY_ATTACHED")
pbd2 = [p for p in s.call("SR.get_PBDs", shared)
        if s.call("PBD.get_host", p) == h2][0]
t.fails_with(lambda: s.call("PBD.unplug", pbd2), "VDI_IN_USE",
             "PBD.unplug under the running VM's disk: VDI_IN_USE")
t.is_(s.call("PBD.get_currently_attached", pbd2), True, "it stays plugged")
t.fails_with(lambda: s.call("VBD.unplug", vbd), "DEVICE_DETACH_REJECTED",
             "VBD.unplug of the disk the guest writes its ledger on: the "
             "guest refuses, DEVICE_DETACH_REJECTED")
t.is_((s.call("VBD.get_currently_attached", vbd), backends(2)),
      (True, [uuid + ".0.pid"]), "and the disk stays, served")
t.fails_with(lambda: s.call("VBD.destroy", vbd), "DEVICE_ALREADY_ATTACHED",
             "VBD.destroy while attached: DEVICE_ALREADY_ATTACHED")

vm2 = create_vm(s, "vm-two")
s.call("VBD.create", {"VM": vm2, "VDI": vdi, "userdevice": "0"})
t.fails_with(lambda: s.call("VM.start", vm2, False, False), "VDI_IN_USE",
             "another VM with the same disk: VDI_IN_USE")
t.is_(s.call("VM.get_power_state", vm2), "Halted", "and it stays halted")

def disk_writes(n):
    return int(status(n, uuid).get("disk_writes", -1))

w0 = wait_until(lambda: disk_writes(2) > 0 and disk_writes(2), 30,
                "disk writes on host 2")
t.ok(w0 > 0, "the guest writes its disk", "%d writes" % w0)

s.call("VM.assert_can_migrate", vm, h3, {})
t.ok(True, "a VM whose disk is on a shared SR can migrate")
s.call("VM.pool_migrate", vm, h3, {"live": "true"})
t.is_(s.call("VM.get_resident_on", vm), h3, "it migrates to host 3")
t.is_(running_on(uuid, (2, 3)), [3], "and runs there only")
t.is_(backends(3), [uuid + ".0.pid"], "host 3 serves its disk now")
t.is_(wait_until(lambda: backends(2) == [], 10, "host 2's backend gone"),
      True, "host 2's block service is gone after the commit")
w1 = wait_until(lambda: disk_writes(3) > w0 and disk_writes(3), 30,
                "disk writes on host 3")
t.ok(w1 > w0, "the guest goes on writing its disk on host 3",
     "%d then %d" % (w0, w1))
st = status(3, uuid)
t.is_((int(st.get("disk_mismatches", -1)), int(st.get("mismatches", -1)),
       int(st.get("disk_errors", -1))), (0, 0, 0),
      "its disk and memory ledgers are clean, no disk error")
t.ok(int(st.get("disk_reads", 0)) > 0, "and it reads back what it wrote",
     repr(st))

s.call("VM.pool_migrate", vm, h2, {"live": "true"})
t.is_(running_on(uuid, (2, 3)), [2], "and back to host 2")
w2 = wait_until(lambda: disk_writes(2) > w1 and disk_writes(2), 30,
                "disk writes back on host 2")
st = status(2, uuid)
t.ok(w2 > w1 and int(st.get("disk_mismatches", -1)) == 0,
     "writing on, no mismatch", repr(st))

s.call("VM.hard_shutdown", vm)
t.is_(s.call("VBD.get_currently_attached", vbd), False,
      "after shutdown the VBD is detached")
t.is_(wait_until(lambda: backends(2) == [], 10, "backend gone"), True,
      "and its block service is gone")

snap = s.call("VDI.snapshot", vdi, {})
rec = s.call("VDI.get_record", snap)
t.ok(rec["is_a_snapshot"] and rec["snapshot_of"] == vdi and
     rec["snapshot_time"] and rec["SR"] == shared and
     int(rec["virtual_size"]) == 16 * MiB,
     "VDI.snapshot of the halted VM's disk: a snapshot of it, same SR and "
     "size", repr(rec))
t.is_(s.call("VDI.get_snapshots", vdi), [snap], "the disk lists it")
t.is_(s.call("VDI.get_is_a_snapshot", vdi), False, "the disk is no snapshot")
src = open("%s/shared/%s.raw" % (tmp, s.call("VDI.get_uuid", vdi)), "rb")
cp = open("%s/shared/%s.raw" % (tmp, rec["uuid"]), "rb")
t.ok(src.read() == cp.read(), "it holds what the guest wrote")
src.close()
cp.close()
s.call("VDI.destroy", snap)
t.is_(s.call("VDI.get_snapshots", vdi), [], "VDI.destroy of the snapshot")

# A disk on host 2's local SR keeps the VM on host 2.
s.call("VBD.create", {"VM": vm, "VDI": vdi_l, "userdevice": "1"})
t.fails_with(lambda: s.call("VM.start_on", vm, h3, False, False),
             "VM_REQUIRES_SR", "a disk on host 2's local SR: host 3 cannot "
             "start the VM (VM_REQUIRES_SR)")
s.call("VM.start_on", vm, h2, False, False)
t.is_(backends(2), [uuid + ".0.pid", uuid + ".1.pid"],
      "host 2 starts it with both disks")
t.fails_with(lambda: s.call("VM.assert_can_migrate", vm, h3, {}),
             "VM_REQUIRES_SR", "and it cannot migrate to host 3: "
             "VM_REQUIRES_SR")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, h3, {}),
             "VM_REQUIRES_SR", "VM.pool_migrate says the same")
t.is_(running_on(uuid, (2, 3)), [2], "and the VM runs on host 2 still")
s.call("VM.hard_shutdown", vm)
for b in s.call("VM.get_VBDs", vm):
    s.call("VBD.destroy", b)
s.call("VDI.destroy", vdi_l)
t.is_(s.call("VM.get_VBDs", vm), [], "VBD.destroy of a halted VM's disks")
t.done()
P
pt_done
