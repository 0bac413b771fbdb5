#!/bin/bash
# Storage live migration on one host (VDI.pool_migrate): a running VM's
# disk moves from one SR to another while the guest writes it; the VM
# stays where it is, its VBD points at the new VDI, the old one is gone,
# the guest's disk ledger is clean.  Its errors (VDI_NOT_IN_MAP, the same
# SR, VM_REQUIRES_SR, SR_FULL).  Faults, each at a named state: the
# destination's block service killed mid-copy (the mirror resumes from
# its bitmap with the service started again, the move succeeds); every
# copy request failing (MIRROR_FAILED after the resumes, the VM on its
# source disk, no destination VDI left); the master killed once the
# mirror is synced (its restart undoes the motion) and once the VM is
# switched (its restart finishes it).  And vdi-pool-migrate, the CLI's.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vdi-motion
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/a" "$PT_TMP/b" "$PT_TMP/small" "$PT_TMP/l3"
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
def sr(name, host, d, size=0):
    return s.call("SR.create", host, {"location": tmp + "/" + d}, size,
                  name, "", "file", "user", False, {})
a, b = sr("A", h2, "a"), sr("B", h2, "b")
small = sr("small", h2, "small", 4 * MiB)
l3 = sr("on host 3", h3, "l3")
vdi = s.call("VDI.create", {"SR": a, "virtual_size": str(32 * MiB),
                            "name_label": "moving disk"})
vm = s.call("VM.create", {"name_label": "vm-motion",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=16 rate_mib=8 "
                                           "disk_rate_mib=4 disk_ws_mib=16"}})
vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
t.fails_with(lambda: s.call("VDI.pool_migrate", vdi, b, {}),
             "VDI_NOT_IN_MAP", "a halted VM's disk: VDI_NOT_IN_MAP")
s.call("VM.start_on", vm, h2, False, False)
save(a=a, b=b, small=small, l3=l3, vm=vm, vbd=vbd, uuid=s.call("VM.get_uuid", vm))
t.done()
P

pt_py <<'P'
import glob, os, time
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
vm, vbd, uuid = ids["vm"], ids["vbd"], ids["uuid"]
def st():
    return host_local(2, "vm_status", uuid)
def count(k):
    return int(st().get(k, -1))
def raws(d):
    return sorted(os.path.basename(p) for p in glob.glob("%s/%s/*.raw" % (tmp, d)))
wait_until(lambda: count("disk_writes") > 50, 30, "disk writes")
vdi = s.call("VBD.get_VDI", vbd)
t.fails_with(lambda: s.call("VDI.pool_migrate", vdi, ids["a"], {}),
             "OPERATION_NOT_ALLOWED", "to the SR it is on: refused")
t.fails_with(lambda: s.call("VDI.pool_migrate", vdi, ids["l3"], {}),
             "VM_REQUIRES_SR", "to an SR the VM's host has not plugged: "
             "VM_REQUIRES_SR")
t.fails_with(lambda: s.call("VDI.pool_migrate", vdi, ids["small"], {}),
             "SR_FULL", "to an SR without the room: SR_FULL")
t.is_((raws("small"), len(s.call("SR.get_VDIs", ids["small"]))), ([], 0),
      "  and nothing is left there")

w0 = count("disk_writes")
task = s.call("Async.VDI.pool_migrate", vdi, ids["b"], {})
rec = s.wait_task(task, 120)
t.is_(rec["status"], "success", "VDI.pool_migrate A -> B succeeds")
new = rec["result"]
t.ok(new != vdi and s.call("VDI.get_SR", new) == ids["b"],
     "it answers a new VDI, on SR B")
t.is_(s.call("VBD.get_VDI", vbd), new, "the VM's VBD points at it")
t.fails_with(lambda: s.call("VDI.get_record", vdi), "HANDLE_INVALID",
             "the old VDI is gone")
t.is_((raws("a"), raws("b")), ([], [s.call("VDI.get_uuid", new) + ".raw"]),
      "its file too; the new one is on B")
t.is_(running_on(uuid, (2, 3)), [2], "the VM stays on host 2")
t.ok(wait_until(lambda: count("disk_writes") > w0 + 50, 30, "writes"),
     "the guest goes on writing")
r = st()
t.is_((int(r["disk_mismatches"]), int(r["disk_errors"]),
       int(r["mismatches"])), (0, 0, 0),
      "its disk and memory ledgers are clean")
toc = s.call("task.get_other_config", task)
t.ok(toc.get("mirror:actively_synced") == "true" and
     int(toc.get("mig:bytes", 0)) > 0 and "mig:eta" in toc and
     "mirror:write_latency_copying_us" in toc,
     "the task shows the mirror's figures, the guest's write latency "
     "per phase too", repr(toc))
oc = s.call("VDI.get_other_config", new)
t.ok(not [k for k in oc if k.startswith("xm:motion")],
     "no motion tag is left", repr(oc))
ids["vdi"] = new
save(**ids)
t.done()
P

# The destination's block service killed mid-copy: resumed.
pt_arm 2 "vdi.mirror.copy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
ids["task"] = s.call("Async.VDI.pool_migrate", ids["vdi"], ids["a"], {})
save(**ids)
t.done()
P
pt_hit 2 vdi.mirror.copy || pt_fail "the copy reached vdi.mirror.copy"
vdi_tag=$(pt_py <<'P'
from pool_client import *
print(Session(2).call("VDI.get_uuid", load()["vdi"])[:8])
P
)
for p in "$PT_TMP"/h2/run/blk/*.pid; do
    case $p in *".$vdi_tag.pid") ;; *) kill -9 "$(cat "$p")" ;; esac
done
pt_arm 2 ""
: > "$PT_TMP/h2/faults/vdi.mirror.copy.go"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
rec = s.wait_task(ids["task"], 120)
t.is_(rec["status"], "success",
      "the destination killed mid-copy: the mirror resumes, the move "
      "succeeds")
new = rec["result"]
t.is_((s.call("VBD.get_VDI", ids["vbd"]), s.call("VDI.get_SR", new)),
      (new, ids["a"]), "the VM's disk is the new VDI, on A")
log = open(tmp + "/h2/log").read()
t.ok("resuming (1 of 3)" in log, "the log says it resumed")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
t.is_((len(s.call("SR.get_VDIs", ids["b"])), glob.glob(tmp + "/b/*.raw")),
      (0, []), "the source on B is gone")
ids["vdi"] = new
save(**ids)
t.done()
P

# Every copy request fails: after its resumes, MIRROR_FAILED.
pt_arm 2 "vdi.mirror.copy=fail"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
task = s.call("Async.VDI.pool_migrate", ids["vdi"], ids["b"], {})
rec = s.wait_task(task, 120)
t.is_((rec["status"], (rec["error_info"] or ["?"])[0]),
      ("failure", "MIRROR_FAILED"),
      "a target that fails every request: MIRROR_FAILED")
t.ok(len(rec["error_info"]) == 3 and rec["error_info"][2],
     "  with the reason (%s)" % rec["error_info"][2:])
t.is_(s.call("VBD.get_VDI", ids["vbd"]), ids["vdi"],
      "the VM keeps its disk on A")
t.is_((len(s.call("SR.get_VDIs", ids["b"])), glob.glob(tmp + "/b/*.raw")),
      (0, []), "no destination VDI is left on B")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
t.done()
P
pt_arm 2 ""

# kill_master_at STATE: a move of the disk to B with the master killed at
# pd.motion.STATE, then the master started again.
kill_master_at()
{
    pt_arm 2 "pd.motion.$1=kill"
    pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
try:
    Session(2).call("VDI.pool_migrate", ids["vdi"], ids["b"], {})
except Exception:
    pass
t.done()
P
    pt_gone 2 && pt_ok "the master is killed at pd.motion.$1"
    pt_arm 2 ""
    pt_start 2 || pt_bail "host 2 did not start again"
}

# The master killed with the mirror synced: its restart undoes it.
kill_master_at synced
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
t.is_(s.call("VBD.get_VDI", ids["vbd"]), ids["vdi"],
      "restarted: the VM is on its disk on A still")
t.is_((len(s.call("SR.get_VDIs", ids["b"])),
       glob.glob(tmp + "/b/*.raw")), (0, []),
      "the half-made destination is destroyed")
t.ok(not [k for k in s.call("VDI.get_other_config", ids["vdi"])
          if k.startswith("xm:motion")], "no motion tag is left")
w = int(host_local(2, "vm_status", ids["uuid"])["disk_writes"])
t.ok(wait_until(lambda: int(host_local(2, "vm_status", ids["uuid"])
                            ["disk_writes"]) > w + 20, 30, "writes"),
     "the guest writes on")
t.is_(len(glob.glob(tmp + "/h2/run/blk/*.pid")), 1,
      "one block service left, the disk's")
t.done()
P

# The master killed once the VM is switched: its restart finishes it.
kill_master_at switched
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
now = s.call("VBD.get_VDI", ids["vbd"])
t.ok(now != ids["vdi"] and s.call("VDI.get_SR", now) == ids["b"],
     "restarted: the VM's disk is the new one, on B")
t.is_((s.call("SR.get_VDIs", ids["a"]), glob.glob(tmp + "/a/*.raw")),
      ([], []), "the source on A is destroyed")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
ids["vdi"] = now
save(**ids)
t.done()
P

# The CLI, back to A.
pt_cli_login 2
vdi_uuid=$(pt_py <<'P'
from pool_client import *
print(Session(2).call("VDI.get_uuid", load()["vdi"]))
P
)
a_uuid=$(pt_py <<'P'
from pool_client import *
print(Session(2).call("SR.get_uuid", load()["a"]))
P
)
x vdi-pool-migrate uuid="$vdi_uuid" max-bps=lots 2>/dev/null
pt_is "$?" 2 "vdi-pool-migrate max-bps=lots: usage error"
new=$(x vdi-pool-migrate uuid="$vdi_uuid" sr-uuid="$a_uuid" 2>"$PT_TMP/e" |
      tail -n 1)
[ -f "$PT_TMP/a/$new.raw" ] && pt_ok "vdi-pool-migrate prints the new VDI" ||
    pt_fail "vdi-pool-migrate prints the new VDI" "got '$new'" \
    "$(tail -n 3 "$PT_TMP/e")"

# keep-source=true: the disk moves to B, its old VDI on A stays.
b_uuid=$(pt_py <<'P'
from pool_client import *
print(Session(2).call("SR.get_uuid", load()["b"]))
P
)
new2=$(x vdi-pool-migrate uuid="$new" sr-uuid="$b_uuid" keep-source=true \
       2>"$PT_TMP/e" | tail -n 1)
NEW=$new NEW2=$new2 pt_py <<'P'
import os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
old = s.call("VDI.get_by_uuid", os.environ["NEW"])
t.is_(s.call("VDI.get_uuid", s.call("VBD.get_VDI", ids["vbd"])),
      os.environ["NEW2"], "keep-source=true: the VM's disk is the new VDI")
t.is_((s.call("VDI.get_SR", old), os.path.exists(tmp + "/a/%s.raw" %
                                                 os.environ["NEW"])),
      (ids["a"], True), "  its old VDI stays on A, with its file")
t.is_([k for k in s.call("VDI.get_other_config", old)
       if k.startswith("xm:motion")], [], "  untagged")
t.is_(s.call("VDI.get_VBDs", old), [], "  and no VBD uses it")
st = host_local(2, "vm_status", ids["uuid"])
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "the ledger is clean")
t.done()
P
pt_done
