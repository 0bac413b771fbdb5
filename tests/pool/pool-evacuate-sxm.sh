#!/bin/bash
# An evacuation moves a VM with its disk: host 3 runs two VMs whose disks
# are on host 3's local SR (the guests writing them) and one without
# disks; host 4 has a local SR, host 2 (the master, evacuation-sr-copies
# 1) none.  Nothing prevents the
# evacuation; its plan sends the disk's VM to host 4 with storage motion
# (its disk to host 4's SR, the copy counted in the bytes), and with the
# option storage_motion false that VM is a blocker (VM_REQUIRES_SR).
# host.evacuate empties host 3: the VM runs on host 4 on a new VDI on
# host 4's SR, the old VDI and its file are gone, no block service is
# left on host 3, the guest goes on writing with clean ledgers; the two
# disk copies from host 3's SR ran one after the other (batch 3).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup evacuate-sxm
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 evacuation-sr-copies=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
mkdir -p "$PT_TMP/l3" "$PT_TMP/l4"
pt_py <<'P'
import glob, json, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3, h4 = (hosts["127.0.0.%d" % n] for n in (2, 3, 4))
l3, l4 = (s.call("SR.create", h, {"location": "%s/l%d" % (tmp, n)}, 0,
                 "local %d" % n, "", "file", "user", False, {})
          for h, n in ((h3, 3), (h4, 4)))
vdi = s.call("VDI.create", {"SR": l3, "virtual_size": str(16 * MiB),
                            "name_label": "local disk"})
dvm = s.call("VM.create", {"name_label": "with a disk",
                           "memory_static_max": str(128 * MiB),
                           "VCPUs_max": "1",
                           "other_config": {"xm:cmdline":
                                            "ws_mib=4 disk_rate_mib=2 "
                                            "disk_ws_mib=8"}})
vbd = s.call("VBD.create", {"VM": dvm, "VDI": vdi, "userdevice": "0"})
vdi2 = s.call("VDI.create", {"SR": l3, "virtual_size": str(16 * MiB),
                             "name_label": "second local disk"})
dvm2 = s.call("VM.create", {"name_label": "with another disk",
                            "memory_static_max": str(96 * MiB),
                            "VCPUs_max": "1",
                            "other_config": {"xm:cmdline": "ws_mib=4"}})
s.call("VBD.create", {"VM": dvm2, "VDI": vdi2, "userdevice": "0"})
pvm = s.call("VM.create", {"name_label": "without",
                           "memory_static_max": str(128 * MiB),
                           "VCPUs_max": "1",
                           "other_config": {"xm:cmdline": "ws_mib=4"}})
for v in (dvm, dvm2, pvm):
    s.call("VM.start_on", v, h3, False, False)
duuid, puuid = s.call("VM.get_uuid", dvm), s.call("VM.get_uuid", pvm)
d2uuid = s.call("VM.get_uuid", dvm2)
wait_until(lambda: int(host_local(3, "vm_status", duuid)["disk_writes"]) >
           20, 30, "disk writes")

t.is_(s.call("host.get_vms_which_prevent_evacuation", h3), {},
      "a VM whose disk may move with it does not prevent the evacuation")
plan = s.call("host.evacuate_plan", h3, {"batch_size": "1"})
m = {x["VM"]: x for x in plan["moves"]}
t.ok(plan["can_evacuate"] and m[dvm]["host"] == h4 and
     m[dvm]["storage_motion"] and m[dvm]["disks"] == {vdi: l4},
     "the plan: the disk's VM to host 4, its disk to host 4's SR",
     json.dumps(plan))
t.ok(int(m[dvm]["bytes"]) > 128 * MiB and not m[pvm]["storage_motion"],
     "  the disk's copy counted in its bytes; the other moves alone")
kept = s.call("host.evacuate_plan", h3, {"storage_motion": "false"})
t.is_(sorted((v, b[0]) for v, b in kept["blockers"].items()),
      sorted([(dvm, "VM_REQUIRES_SR"), (dvm2, "VM_REQUIRES_SR")]),
      "storage_motion false: that VM is a blocker, VM_REQUIRES_SR")

s.call("host.disable", h3)
w0 = int(host_local(3, "vm_status", duuid)["disk_writes"])
task = s.call("Async.host.evacuate", h3, "OpaqueRef:NULL", 3)
rec = s.wait_task(task, 240)
t.ok(rec["status"] == "success", "host.evacuate succeeds", repr(rec))
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.is_(sorted(x["vm"] for x in rep["migrated"]),
      sorted([duuid, d2uuid, puuid]), "  every VM migrated")
span = {x["vm"]: (x["start_s"], x["end_s"]) for x in rep["migrated"]}
a, b = sorted((span[duuid], span[d2uuid]))
t.ok(a[1] <= b[0], "the two disk copies from host 3's SR, one at a time "
     "(evacuation-sr-copies 1)", repr(span))
t.is_((running_on(duuid, (2, 3, 4)), running_on(d2uuid, (2, 3, 4))),
      ([4], [4]), "the disks' VMs run on host 4")
t.is_(running_on(puuid, (2, 3, 4))[0] in (2, 4), True,
      "the other on another host")
new = s.call("VBD.get_VDI", vbd)
t.ok(new != vdi and s.call("VDI.get_SR", new) == l4,
     "its VBD points at a new VDI on host 4's SR")
t.ok(wait_until(lambda: vdi not in s.call("VDI.get_all") and
                not glob.glob(tmp + "/l3/*.raw"), 30, "the old VDI gone"),
     "the old VDI and its file are gone")
t.ok(wait_until(lambda: glob.glob(tmp + "/h3/run/blk/*.pid") == [], 15,
                "host 3's backends gone"), "no block service left on host 3")
t.ok(wait_until(lambda: int(host_local(4, "vm_status", duuid)
                            ["disk_writes"]) > w0 + 20, 30,
                "writes on host 4"), "the guest goes on writing on host 4")
st = host_local(4, "vm_status", duuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
       int(st["mismatches"])), (0, 0, 0), "disk and memory ledgers clean")
t.is_([r["resident_on"] for r in s.call("VM.get_all_records").values()
       if r["resident_on"] == h3 and not r["is_control_domain"]], [],
      "host 3 runs nothing but its control domain")
t.done()
P
pt_done
