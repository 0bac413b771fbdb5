#!/bin/bash
# Storage live migration to another host (VM.migrate_send with vdi_map):
# a running VM whose disk is on host 2's local SR moves, disk and memory,
# to host 3 with its disk on host 3's local SR, while the guest writes;
# its VBD points at the new VDI, the old one is gone, no block service or
# export is left on either host, the ledger is clean.  A mirror that
# fails before the commit (every request failing, at the fault point
# vdi.mirror.copy) ends in MIRROR_FAILED with the VM on host 2 on its old
# disk and nothing left on host 3; the master killed while the mirror
# copies undoes the motion when it starts again, and killed once the
# migration is applied (pd.master.applied) finishes it.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup sxm
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/l2" "$PT_TMP/l3"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
l2 = s.call("SR.create", h2, {"location": tmp + "/l2"}, 0, "local 2", "",
            "file", "user", False, {})
l3 = s.call("SR.create", h3, {"location": tmp + "/l3"}, 0, "local 3", "",
            "file", "user", False, {})
vdi = s.call("VDI.create", {"SR": l2, "virtual_size": str(32 * MiB),
                            "name_label": "travelling disk"})
vm = s.call("VM.create", {"name_label": "vm-sxm",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=16 rate_mib=8 "
                                           "disk_rate_mib=4 disk_ws_mib=16"}})
vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
s.call("VM.start_on", vm, h2, False, False)
uuid = s.call("VM.get_uuid", vm)
wait_until(lambda: int(host_local(2, "vm_status", uuid)["disk_writes"]) > 50,
           30, "disk writes")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, h3, {}),
             "VM_REQUIRES_SR", "without a vdi_map its local disk keeps it "
             "on host 2: VM_REQUIRES_SR")
dest = s.call("Host.migrate_receive", h3, "OpaqueRef:NULL", {})
t.ok(dest.get("xm:host") == h3, "Host.migrate_receive names host 3")
t.fails_with(lambda: s.call("VM.migrate_send", vm, dest, True, {vdi: l2},
                            {}, {}), "VM_REQUIRES_SR",
             "a vdi_map to an SR host 3 has not plugged: VM_REQUIRES_SR")
t.is_((len(s.call("SR.get_VDIs", l2)), s.call("VBD.get_VDI", vbd)),
      (1, vdi), "  and nothing changed")
save(vm=vm, vbd=vbd, vdi=vdi, uuid=uuid, h2=h2, h3=h3, l2=l2, l3=l3,
     dest=dest)
t.done()
P

# The master killed while the disk's mirror copies (the migration not
# begun): its restart undoes the motion.
pt_arm 2 "vdi.mirror.copy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
Session(2).call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
                {ids["vdi"]: ids["l3"]}, {}, {})
t.done()
P
pt_hit 2 vdi.mirror.copy || pt_fail "the copy reached vdi.mirror.copy"
pt_kill 2 KILL
pt_ok "the master is killed while the mirror copies"
pt_arm 2 ""
: > "$PT_TMP/h2/faults/vdi.mirror.copy.go"
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
t.ok(wait_until(lambda: s.call("SR.get_VDIs", ids["l3"]) == [] and
                glob.glob(tmp + "/l3/*.raw") == [], 60, "destination gone"),
     "restarted: the half-made destination on host 3 is destroyed")
t.ok(wait_until(lambda: not [p for p in glob.glob(tmp + "/h3/run/blk/*")
                             if not p.endswith(".log")], 30, "export gone"),
     "host 3 exports nothing")
t.ok(wait_until(lambda: settled(s, ids["vm"]), 60, "settled"),
     "the migration's record is gone")
t.is_((running_on(ids["uuid"], (2, 3)), s.call("VBD.get_VDI", ids["vbd"])),
      ([2], ids["vdi"]), "the VM runs on host 2 on its disk")
t.ok(not [k for k in s.call("VDI.get_other_config", ids["vdi"])
          if k.startswith("xm:motion")], "no motion tag is left")
w = int(host_local(2, "vm_status", ids["uuid"])["disk_writes"])
t.ok(wait_until(lambda: int(host_local(2, "vm_status", ids["uuid"])
                            ["disk_writes"]) > w + 20, 30, "writes"),
     "the guest writes on")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
t.done()
P

# A mirror that cannot copy: MIRROR_FAILED, nothing moves.
pt_arm 2 "vdi.mirror.copy=fail"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
task = s.call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
              {ids["vdi"]: ids["l3"]}, {}, {})
rec = s.wait_task(task, 120)
t.is_((rec["status"], (rec["error_info"] or ["?"])[0]),
      ("failure", "MIRROR_FAILED"), "every copy request failing: "
      "MIRROR_FAILED")
t.is_(running_on(ids["uuid"], (2, 3)), [2], "the VM runs on host 2")
t.is_(s.call("VBD.get_VDI", ids["vbd"]), ids["vdi"], "on its old disk")
t.is_((s.call("SR.get_VDIs", ids["l3"]), glob.glob(tmp + "/l3/*.raw"),
       [p for p in glob.glob(tmp + "/h3/run/blk/*")
        if not p.endswith(".log")]), ([], [], []),
      "nothing is left on host 3 (VDI, file, export; its log stays)")
wait_until(lambda: settled(s, ids["vm"]), 60, "the migration settled")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
t.done()
P
pt_arm 2 ""

pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
uuid = ids["uuid"]
w0 = int(host_local(2, "vm_status", uuid)["disk_writes"])
task = s.call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
              {ids["vdi"]: ids["l3"]}, {}, {})
rec = s.wait_task(task, 180)
t.is_(rec["status"], "success", "VM.migrate_send with its disk to host 3's "
      "SR succeeds")
t.is_(running_on(uuid, (2, 3)), [3], "the VM runs on host 3 only")
new = s.call("VBD.get_VDI", ids["vbd"])
t.ok(new != ids["vdi"] and s.call("VDI.get_SR", new) == ids["l3"],
     "its VBD points at a new VDI on host 3's SR")
# The old VDI goes right after the task's end (its cleanup).
t.ok(wait_until(lambda: ids["vdi"] not in s.call("VDI.get_all"), 30,
                "the old VDI gone"), "the old VDI is gone")
t.is_((glob.glob(tmp + "/l2/*.raw"),
       [os.path.basename(p) for p in glob.glob(tmp + "/l3/*.raw")]),
      ([], [s.call("VDI.get_uuid", new) + ".raw"]),
      "its file too; the new one is on host 3")
t.ok(wait_until(lambda: glob.glob(tmp + "/h2/run/blk/*.pid") == [], 15,
                "host 2's backends gone"), "no block service left on host 2")
t.is_([os.path.basename(p).split(".")[0] for p in
       glob.glob(tmp + "/h3/run/blk/*.pid")], [uuid],
      "host 3 serves the disk, and exports nothing")
t.ok(wait_until(lambda: int(host_local(3, "vm_status", uuid)["disk_writes"])
                > w0 + 50, 30, "writes on host 3"),
     "the guest goes on writing on host 3")
st = host_local(3, "vm_status", uuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
       int(st["mismatches"])), (0, 0, 0), "disk and memory ledgers clean")
t.ok(not [k for k in s.call("VDI.get_other_config", new)
          if k.startswith("xm:motion")], "no motion tag is left")
wait_until(lambda: settled(s, ids["vm"]), 60, "the migration settled")
ids["vdi"] = new
save(**ids)
t.done()
P

# Back to host 2, the master killed once the migration is applied (the
# VBD already points at the new VDI): its restart finishes the motion.
pt_arm 2 "pd.master.applied=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
dest = s.call("Host.migrate_receive", ids["h2"], "OpaqueRef:NULL", {})
s.call("Async.VM.migrate_send", ids["vm"], dest, True,
       {ids["vdi"]: ids["l2"]}, {}, {})
t.done()
P
pt_gone 2 && pt_ok "the master is killed at pd.master.applied"
pt_arm 2 ""
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
uuid = ids["uuid"]
t.is_(running_on(uuid, (2, 3)), [2], "the VM runs on host 2")
new = s.call("VBD.get_VDI", ids["vbd"])
t.ok(new != ids["vdi"] and s.call("VDI.get_SR", new) == ids["l2"],
     "restarted: its VBD points at the new VDI on host 2's SR")
t.ok(wait_until(lambda: s.call("SR.get_VDIs", ids["l3"]) == [] and
                glob.glob(tmp + "/l3/*.raw") == [], 30, "source gone"),
     "the old VDI on host 3 is destroyed")
t.ok(wait_until(lambda: not [p for p in glob.glob(tmp + "/h2/run/blk/*")
                             if "export-" in p and not p.endswith(".log")],
                30, "export gone"), "host 2 exports nothing")
st = host_local(2, "vm_status", uuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
ids["vdi"] = new
wait_until(lambda: settled(s, ids["vm"]), 60, "the migration settled")
# XAPI's form of VM.assert_can_migrate, with a vdi_map
dest3 = s.call("Host.migrate_receive", ids["h3"], "OpaqueRef:NULL", {})
t.fails_with(lambda: s.call("VM.assert_can_migrate", ids["vm"], dest3, True,
                            {}, {}, {}), "VM_REQUIRES_SR",
             "VM.assert_can_migrate(dest, vdi_map {}): VM_REQUIRES_SR")
t.is_(s.call("VM.assert_can_migrate", ids["vm"], dest3, True,
             {new: ids["l3"]}, {}, {}), "",
      "VM.assert_can_migrate with the disk mapped to host 3's SR: yes")
save(**ids)
t.done()
P

# The CLI: --dry-run prints the plan and every failure; vdi: moves.
pt_cli_login 2
read -r vdi_u l3_u l2_u h3_u vm_u <<<"$(pt_py <<'P'
from pool_client import *
ids = load()
s = Session(2)
print(s.call("VDI.get_uuid", ids["vdi"]), s.call("SR.get_uuid", ids["l3"]),
      s.call("SR.get_uuid", ids["l2"]), s.call("host.get_uuid", ids["h3"]),
      s.call("VM.get_uuid", ids["vm"]))
P
)"
out=$(x vm-migrate vm=vm-sxm host-uuid="$h3_u" vdi:"$vdi_u"="$l3_u" --dry-run)
pt_is "$?" 0 "vm-migrate --dry-run of a possible move: exit 0"
[[ $out == *"disk 0: on local 2 -> local 3"* &&
   $out == *"the migration can go"* ]] &&
    pt_ok "it prints the plan" || pt_fail "it prints the plan" "$out"
out=$(x vm-migrate vm=vm-sxm host-uuid="$h3_u" --dry-run)
pt_is "$?" 1 "--dry-run without the mapping: exit 1"
[[ $out == *"disk 0: on local 2 (stays)"* &&
   $out == *"cannot: VM_REQUIRES_SR"* ]] &&
    pt_ok "it says which check fails" || pt_fail "it says which check fails" \
    "$out"
pt_is "$(pt_py <<'P'
from pool_client import *
print(running_on(load()["uuid"], (2, 3)))
P
)" "[2]" "a dry run moves nothing"
x vm-migrate vm=vm-sxm host-uuid="$h3_u" vdi:"$vdi_u"="$l3_u" \
    >/dev/null 2>"$PT_TMP/e" && pt_ok "vm-migrate vdi:...= moves it" ||
    pt_fail "vm-migrate vdi:...= moves it" "$(tail -n 3 "$PT_TMP/e")"
pt_is "$(pt_py <<'P'
from pool_client import *
print(running_on(load()["uuid"], (2, 3)))
P
)" "[3]" "the VM runs on host 3"
pt_done
