#!/bin/bash
# Storage live migration to another pool (VM.migrate_send with the dest of
# the other pool's Host.migrate_receive): pool A is hosts 2 (master) and 3,
# pool B hosts 4 (master) and 5.  A running VM on host 3's local SR moves,
# disk and memory, to host 5's local SR while the guest writes: it runs on
# host 5 only, pool B has its record (Running there, its VBD on the new
# VDI), pool A has none and its old VDI is gone, the ledger is clean.
# Checks fail before anything is made (VDI_NOT_IN_MAP, VM_REQUIRES_SR); a
# mirror failing (vdi.mirror.copy=fail) ends in MIRROR_FAILED with
# nothing left in pool B; pool A's master killed while the mirror copies
# undoes both pools' halves when it starts again.  Then the VM comes back
# from pool B to pool A the same way.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup xpool
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
for n in 2 3 4 5; do
    pt_start $n || pt_bail "host $n did not start"
    mkdir -p "$PT_TMP/l$n"
done
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
Session(5).call("pool.join", "127.0.0.4", "root", PASSWORD)
a, b = Session(2), Session(4)
ha = {h["address"]: r for r, h in a.call("host.get_all_records").items()}
hb = {h["address"]: r for r, h in b.call("host.get_all_records").items()}
h3, h5 = ha["127.0.0.3"], hb["127.0.0.5"]
def sr(s, h, n):
    return s.call("SR.create", h, {"location": tmp + "/l%d" % n}, 0,
                  "local %d" % n, "", "file", "user", False, {})
l3, l5, l4 = sr(a, h3, 3), sr(b, h5, 5), sr(b, hb["127.0.0.4"], 4)
vdi = a.call("VDI.create", {"SR": l3, "virtual_size": str(32 * MiB),
                            "name_label": "travelling disk"})
vm = a.call("VM.create", {"name_label": "vm-xpool",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=16 rate_mib=8 "
                                           "disk_rate_mib=4 disk_ws_mib=16"}})
vbd = a.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
a.call("VM.start_on", vm, h3, False, False)
uuid = a.call("VM.get_uuid", vm)
wait_until(lambda: int(host_local(3, "vm_status", uuid)["disk_writes"]) > 50,
           30, "disk writes")
dest = b.call("Host.migrate_receive", h5, "OpaqueRef:NULL", {})
pa = a.call("pool.get_uuid", a.call("pool.get_all")[0])
t.ok(dest.get("xm:pool") not in (None, pa) and dest.get("xm:master"),
     "pool B's Host.migrate_receive names pool B and its master")
t.fails_with(lambda: a.call("VM.migrate_send", vm, dest, True, {}, {}, {}),
             "VDI_NOT_IN_MAP", "a disk left out of vdi_map: VDI_NOT_IN_MAP")
t.fails_with(lambda: a.call("VM.migrate_send", vm, dest, True, {vdi: l4},
                            {}, {}), "VM_REQUIRES_SR",
             "an SR of pool B that host 5 has not plugged: VM_REQUIRES_SR")
t.is_(([r for r in b.call("VM.get_all_records").values()
        if r["uuid"] == uuid], b.call("SR.get_VDIs", l4),
       b.call("SR.get_VDIs", l5), a.call("VBD.get_VDI", vbd)),
      ([], [], [], vdi), "  and nothing is made in pool B, nothing changed "
      "in pool A")
save(vm=vm, vbd=vbd, vdi=vdi, uuid=uuid, h3=h3, h5=h5, l3=l3, l5=l5,
     dest=dest)
t.done()
P

# The mirror cannot copy: MIRROR_FAILED, pool B's half undone.
pt_arm 3 "vdi.mirror.copy=fail"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
a, b = Session(2), Session(4)
task = a.call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
              {ids["vdi"]: ids["l5"]}, {}, {})
rec = a.wait_task(task, 120)
t.is_((rec["status"], (rec["error_info"] or ["?"])[0]),
      ("failure", "MIRROR_FAILED"), "every copy request failing: "
      "MIRROR_FAILED")
t.is_(running_on(ids["uuid"], (3, 5)), [3], "the VM runs on host 3")
t.is_(a.call("VBD.get_VDI", ids["vbd"]), ids["vdi"], "on its old disk")
t.ok(wait_until(lambda: settled(a, ids["vm"]), 60, "settled"),
     "pool A's record of the migration is gone")
t.is_(([r for r in b.call("VM.get_all_records").values()
        if r["uuid"] == ids["uuid"]], b.call("SR.get_VDIs", ids["l5"]),
       glob.glob(tmp + "/l5/*.raw")), ([], [], []),
      "pool B has no VM record, VDI or file left")
t.ok(wait_until(lambda: not [p for p in glob.glob(tmp + "/h5/run/blk/*")
                             if not p.endswith(".log")], 30, "export gone"),
     "host 5 exports nothing")
t.is_([j for j in journals(2) if j.startswith("xpool.")], [],
      "pool A's master keeps no journal of it")
t.ok(not [k for k in a.call("VDI.get_other_config", ids["vdi"])
          if k.startswith("xm:motion")], "no motion tag is left")
t.done()
P
pt_arm 3 ""

# Pool A's master killed while the mirror copies: its restart undoes the
# motion here and the import there.
pt_arm 3 "vdi.mirror.copy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
Session(2).call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
                {ids["vdi"]: ids["l5"]}, {}, {})
t.done()
P
pt_hit 3 vdi.mirror.copy || pt_fail "the copy reached vdi.mirror.copy"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
t.is_(len([r for r in Session(4).call("VM.get_all_records").values()
           if r["uuid"] == ids["uuid"]]), 1,
      "while the mirror copies, pool B holds the import's VM record")
t.done()
P
pt_kill 2 KILL
pt_ok "pool A's master is killed while the mirror copies"
pt_arm 3 ""
: > "$PT_TMP/h3/faults/vdi.mirror.copy.go"
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
a, b = Session(2), Session(4)
t.ok(wait_until(lambda: settled(a, ids["vm"]), 60, "settled"),
     "restarted: the migration's record is gone")
t.ok(wait_until(lambda: [r for r in b.call("VM.get_all_records").values()
                         if r["uuid"] == ids["uuid"]] == [] and
                b.call("SR.get_VDIs", ids["l5"]) == [] and
                glob.glob(tmp + "/l5/*.raw") == [], 60, "import undone"),
     "pool B's import is undone (no VM record, VDI or file)")
t.ok(wait_until(lambda: [j for j in journals(2)
                         if j.startswith("xpool.")] == [], 30, "journal"),
     "the journal is gone")
t.is_((running_on(ids["uuid"], (3, 5)), a.call("VBD.get_VDI", ids["vbd"])),
      ([3], ids["vdi"]), "the VM runs on host 3 on its disk")
t.ok(wait_until(lambda: not [k for k in a.call("VDI.get_other_config",
                                                ids["vdi"])
                             if k.startswith("xm:motion")], 30, "untagged"),
     "no motion tag is left")
t.done()
P

# The move itself.
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
a, b = Session(2), Session(4)
uuid = ids["uuid"]
w0 = int(host_local(3, "vm_status", uuid)["disk_writes"])
task = a.call("Async.VM.migrate_send", ids["vm"], ids["dest"], True,
              {ids["vdi"]: ids["l5"]}, {}, {})
rec = a.wait_task(task, 180)
t.is_((rec["status"], rec["error_info"]), ("success", []),
      "VM.migrate_send to pool B succeeds")
t.is_(running_on(uuid, (3, 5)), [5], "the VM runs on host 5 only")
t.ok(wait_until(lambda: uuid not in [r["uuid"] for r in
                                     a.call("VM.get_all_records").values()],
                30, "record gone"), "pool A has no record of it any more")
t.ok(wait_until(lambda: ids["vdi"] not in a.call("VDI.get_all") and
                glob.glob(tmp + "/l3/*.raw") == [], 30, "old VDI gone"),
     "its old VDI and file are gone")
recs = {r: v for r, v in b.call("VM.get_all_records").items()
        if v["uuid"] == uuid}
t.is_(len(recs), 1, "pool B has one record of it, same uuid")
vmb, rb = list(recs.items())[0] if recs else (None, {})
t.is_((rb.get("power_state"), rb.get("resident_on")), ("Running",
                                                       ids["h5"]),
      "  Running on host 5")
t.ok(not [k for k in rb.get("other_config", {})
          if k.startswith("xm:import") or k.startswith("xm:migration")],
     "  with no import or migration key", rb.get("other_config"))
vbds = b.call("VM.get_VBDs", vmb) if vmb else []
nv = b.call("VBD.get_VDI", vbds[0]) if vbds else None
t.ok(len(vbds) == 1 and b.call("VBD.get_currently_attached", vbds[0]) and
     b.call("VDI.get_SR", nv) == ids["l5"],
     "  its VBD is attached, on a VDI of host 5's SR")
t.is_([os.path.basename(p) for p in glob.glob(tmp + "/l5/*.raw")],
      [b.call("VDI.get_uuid", nv) + ".raw"] if nv else [],
      "  whose file is on host 5")
t.ok(not [k for k in b.call("VDI.get_other_config", nv)
          if k.startswith("xm:")] if nv else False, "  untagged")
t.ok(wait_until(lambda: glob.glob(tmp + "/h3/run/blk/*.pid") == [], 15,
                "host 3's backends gone"), "no block service left on host 3")
t.ok(wait_until(lambda: int(host_local(5, "vm_status", uuid)["disk_writes"])
                > w0 + 50, 30, "writes on host 5"),
     "the guest goes on writing on host 5")
st = host_local(5, "vm_status", uuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
       int(st["mismatches"])), (0, 0, 0), "disk and memory ledgers clean")
t.is_([j for j in journals(2) if j.startswith("xpool.")], [],
      "pool A's master keeps no journal of it")
save(vmb=vmb, vdib=nv, **ids)
t.done()
P

# And back, pool B's master driving it, killed once it has decided and
# before it told pool A or wrote anything (pd.master.decided): its restart
# settles it, both pools.
pt_arm 4 "pd.master.decided=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
a, b = Session(2), Session(4)
dest = a.call("Host.migrate_receive", ids["h3"], "OpaqueRef:NULL", {})
b.call("Async.VM.migrate_send", ids["vmb"], dest, True,
       {ids["vdib"]: ids["l3"]}, {}, {})
t.done()
P
pt_gone 4 && pt_ok "pool B's master is killed at pd.master.decided"
pt_arm 4 ""
pt_start 4 || pt_bail "host 4 did not start again"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
a, b = Session(2), Session(4)
uuid = ids["uuid"]
t.ok(wait_until(lambda: [(r["power_state"], r["resident_on"]) for r in
                         a.call("VM.get_all_records").values()
                         if r["uuid"] == uuid] == [("Running", ids["h3"])],
                60, "told"), "restarted, pool B tells pool A: Running on "
     "host 3")
t.is_(running_on(uuid, (3, 5)), [3], "the VM runs on host 3 again")
t.ok(wait_until(lambda: [r for r in b.call("VM.get_all_records").values()
                         if r["uuid"] == uuid] == [] and
                b.call("SR.get_VDIs", ids["l5"]) == [] and
                glob.glob(tmp + "/l5/*.raw") == [], 30, "B empty"),
     "pool B has no record, VDI or file of it")
recs = [r for r in a.call("VM.get_all_records").values()
        if r["uuid"] == uuid]
t.is_([(r["power_state"], r["resident_on"]) for r in recs],
      [("Running", ids["h3"])], "pool A has it Running on host 3")
vma = [r for r, v in a.call("VM.get_all_records").items()
       if v["uuid"] == uuid]
if vma:
    save(**dict(ids, vm=vma[0],
                vdi=a.call("VBD.get_VDI", a.call("VM.get_VBDs", vma[0])[0])))
w = int(host_local(3, "vm_status", uuid)["disk_writes"])
t.ok(wait_until(lambda: int(host_local(3, "vm_status", uuid)["disk_writes"])
                > w + 20, 30, "writes"), "the guest writes on")
st = host_local(3, "vm_status", uuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
       int(st["mismatches"])), (0, 0, 0), "disk and memory ledgers clean")
t.done()
P

# The CLI, as xe: remote-master=, remote-username=, remote-password=.
pt_cli_login 2
read -r VM_UUID VDI_UUID L5_UUID < <(pt_py <<'P'
from pool_client import *
ids = load()
a, b = Session(2), Session(4)
print(ids["uuid"], a.call("VDI.get_uuid", ids["vdi"]),
      b.call("SR.get_uuid", ids["l5"]))
P
)
REMOTE="remote-master=127.0.0.4:$PT_PORT remote-username=root remote-password=$XM_POOL_ROOT_PASSWORD"
out=$(x vm-migrate vm="$VM_UUID" host=127.0.0.5 $REMOTE \
      "vdi:$VDI_UUID=$L5_UUID" --dry-run 2>&1)
st=$?
pt_is "$st" 0 "vm-migrate remote-master=... --dry-run: the checks pass"
case $out in *"disk 0: on local 3 -> local 5"*"the migration can go"*)
    pt_ok "  it prints the plan, the SR named as pool B names it" ;;
*) pt_fail "  it prints the plan" "$out" ;; esac
out=$(x vm-migrate vm="$VM_UUID" host=127.0.0.5 $REMOTE 2>&1)
st=$?
case $st:$out in 1:*VDI_NOT_IN_MAP*|2:*VDI_NOT_IN_MAP*|3:*VDI_NOT_IN_MAP*)
    pt_ok "  without vdi: the disk left out is named (VDI_NOT_IN_MAP)" ;;
*) pt_fail "  without vdi: VDI_NOT_IN_MAP" "status $st: $out" ;; esac
out=$(x vm-migrate vm="$VM_UUID" host=127.0.0.5 remote-master=127.0.0.4:$PT_PORT \
      remote-password=wrong "vdi:$VDI_UUID=$L5_UUID" 2>&1)
st=$?
case $st:$out in 0:*) pt_fail "a wrong remote password is refused" "$out" ;;
*refused*) pt_ok "a wrong remote password is refused" ;;
*) pt_fail "a wrong remote password is refused" "status $st: $out" ;; esac
# Pool B unreachable when pool A tells it the outcome (pd.xpool.tell):
# the move (keep-source=true) succeeds; pool B's import ends by itself
# (its host runs the VM), and pool A keeps its record until it could tell
# (the CLI's session there is gone by then: pool A gives up telling);
# the old VDI stays in pool A.
pt_arm 2 "pd.xpool.tell=fail"
out=$(x vm-migrate vm="$VM_UUID" host=127.0.0.5 $REMOTE \
      "vdi:$VDI_UUID=$L5_UUID" keep-source=true 2>&1)
st=$?
pt_is "$st" 0 "vm-migrate remote-master=... moves it to pool B" ||
    pt_diag "$out"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
uuid = ids["uuid"]
a, b = Session(2), Session(4)
t.is_(running_on(uuid, (3, 5)), [5], "the VM runs on host 5 only")
t.ok(wait_until(lambda: [(r["power_state"], r["resident_on"]) for r in
                         b.call("VM.get_all_records").values()
                         if r["uuid"] == uuid] == [("Running", ids["h5"])],
                60, "self-settled"), "pool B, not told, finds its host runs "
     "it: Running on host 5")
t.is_([(r["power_state"], r["other_config"].get("xm:migration"))
       for r in a.call("VM.get_all_records").values() if r["uuid"] == uuid],
      [("Halted", "cleanup-destination")], "pool A keeps its record, to "
      "clean up once it told pool B")
vma = [r for r, v in a.call("VM.get_all_records").items()
       if v["uuid"] == uuid]
t.fails_with(lambda: a.call("VM.start", vma[0], False, False),
             "OTHER_OPERATION_IN_PROGRESS", "  and nothing can start it "
             "there meanwhile")
t.done()
P
pt_arm 2 ""
VDI_UUID=$VDI_UUID pt_py <<'P'
import os
from pool_client import *
t = Tap()
ids = load()
uuid = ids["uuid"]
t.ok(wait_until(lambda: uuid not in [r["uuid"] for r in Session(2).call(
    "VM.get_all_records").values()], 60, "gone"), "pool A then has it no "
     "more")
t.is_([j for j in journals(2) if j.startswith("xpool.")], [],
      "  nor a journal of it")
a = Session(2)
old = a.call("VDI.get_by_uuid", os.environ["VDI_UUID"])
t.is_((a.call("VDI.get_SR", old), a.call("VDI.get_VBDs", old),
       [k for k in a.call("VDI.get_other_config", old)
        if k.startswith("xm:")],
       os.path.exists(os.environ["PT_TMP"] + "/l3/%s.raw" %
                      os.environ["VDI_UUID"])),
      (ids["l3"], [], [], True), "keep-source=true: its old VDI stays in "
      "pool A, untagged, with its file")
st = host_local(5, "vm_status", uuid)
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
       int(st["mismatches"])), (0, 0, 0), "disk and memory ledgers clean")
t.done()
P
pt_done
