#!/bin/bash
# Storage live migration across hosts under faults: host 2 is the master,
# the VM runs on host 3 with its disk on host 3's local SR and moves, disk
# and memory, to host 4's local SR.  A daemon is killed (SIGKILL) at one
# named state of each phase, then started again:
#  A. host 4 (the destination) while the mirror copies: the migration
#     fails, the VM stays on host 3; the new VDI on host 4, which host 4
#     could not destroy while down, stays listed and tagged, and the
#     master destroys it once host 4 is live again (no master restart);
#  B. host 3 (the source) with the mirror actively synced (write-blocking),
#     before the memory moves (pd.sxm.synced);
#  C. host 3 in the memory migration's pre-copy (mig.send.precopy);
#  D. host 3 at the switch-over, the VM paused and its mirror completed,
#     before COMMIT (pd.source.mirrors-completed);
#  E. host 3 once COMMIT is sent (mig.send.commit-sent): the VM goes to
#     host 4 on its new disk; the old VDI, which host 3 could not destroy
#     while down, goes once host 3 is live again.
# After each: the VM runs on exactly one host, its VBD names the disk it
# runs on, the guest's disk ledger is clean, no export is left, no VDI is
# orphaned on either SR, no motion tag is left, the migration settled.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup sxm-faults
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
mkdir -p "$PT_TMP/l3" "$PT_TMP/l4"

# What every case checks (imported by each step).
cat > "$PT_TMP/sxmf.py" <<'P'
import glob, os
from pool_client import *
tmp = os.environ["PT_TMP"]


def exports(n):
    return [p for p in glob.glob(tmp + "/h%d/run/blk/export-*" % n)
            if not p.endswith(".log")]


def tags(s, vdi):
    return [k for k in s.call("VDI.get_other_config", vdi)
            if k.startswith("xm:motion")]


def clean(t, s, ids, on, label):
    """The VM runs on host `on` only, on ids["vdi"], which is the only
    VDI of the two SRs; nothing else is left."""
    other = 4 if on == 3 else 3
    sr, osr = (ids["l3"], ids["l4"]) if on == 3 else (ids["l4"], ids["l3"])
    t.ok(wait_until(lambda: settled(s, ids["vm"]), 120, "settled"),
         label + ": the migration settled")
    t.is_((running_on(ids["uuid"], (3, 4)), s.call("VBD.get_VDI",
                                                    ids["vbd"])),
          ([on], ids["vdi"]), label + ": the VM runs on host %d only, on "
          "the disk its VBD names" % on)
    vuuid = s.call("VDI.get_uuid", ids["vdi"])
    t.ok(wait_until(lambda: s.call("SR.get_VDIs", osr) == [] and
                    s.call("SR.get_VDIs", sr) == [ids["vdi"]] and
                    sorted(os.path.basename(p) for p in
                           glob.glob(tmp + "/l[34]/*.raw")) ==
                    [vuuid + ".raw"], 60, "one VDI"),
         label + ": no other VDI on either SR, no other file",
         repr((s.call("SR.get_VDIs", sr), s.call("SR.get_VDIs", osr),
               glob.glob(tmp + "/l[34]/*.raw"))))
    t.ok(wait_until(lambda: not exports(3) and not exports(4), 30,
                    "no export"), label + ": no export is left")
    t.ok(wait_until(lambda: tags(s, ids["vdi"]) == [], 30, "no tag"),
         label + ": no motion tag is left", repr(tags(s, ids["vdi"])))
    t.ok(wait_until(lambda: [os.path.basename(p).split(".")[0] for p in
                             glob.glob(tmp + "/h%d/run/blk/*.pid" % other)]
                    == [], 30, "backends gone"),
         label + ": no block service of the VM on host %d" % other)
    w = int(host_local(on, "vm_status", ids["uuid"])["disk_writes"])
    t.ok(wait_until(lambda: int(host_local(on, "vm_status", ids["uuid"])
                                ["disk_writes"]) > w + 20, 30, "writes"),
         label + ": the guest writes on")
    st = host_local(on, "vm_status", ids["uuid"])
    t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
           int(st["mismatches"])), (0, 0, 0),
          label + ": disk and memory ledgers clean")


def send(s, ids):
    dest = s.call("Host.migrate_receive", ids["h4"], "OpaqueRef:NULL", {})
    return s.call("Async.VM.migrate_send", ids["vm"], dest, True,
                  {ids["vdi"]: ids["l4"]}, {}, {})
P

pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
MiB = 1 << 20
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h3, h4 = hosts["127.0.0.3"], hosts["127.0.0.4"]
l3 = s.call("SR.create", h3, {"location": tmp + "/l3"}, 0, "local 3", "",
            "file", "user", False, {})
l4 = s.call("SR.create", h4, {"location": tmp + "/l4"}, 0, "local 4", "",
            "file", "user", False, {})
vdi = s.call("VDI.create", {"SR": l3, "virtual_size": str(32 * MiB)})
vm = s.call("VM.create", {"name_label": "vm-sxm-faults",
                          "memory_static_max": str(128 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=8 rate_mib=4 "
                                           "disk_rate_mib=4 disk_ws_mib=16"}})
vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
s.call("VM.start_on", vm, h3, False, False)
uuid = s.call("VM.get_uuid", vm)
t.ok(wait_until(lambda: int(host_local(3, "vm_status", uuid)["disk_writes"])
                > 50, 30, "disk writes"), "the VM writes its disk on host 3")
save(vm=vm, vbd=vbd, vdi=vdi, uuid=uuid, h3=h3, h4=h4, l3=l3, l4=l4)
t.done()
P

# A. The destination's daemon killed while the mirror copies.
pt_arm 3 "vdi.mirror.copy=wait"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids)
save(**ids)
t.done()
P
pt_hit 3 vdi.mirror.copy || pt_fail "A: the copy reached vdi.mirror.copy"
pt_kill 4 KILL
pt_ok "A: host 4's daemon is killed while the mirror copies"
pt_arm 3 ""
pt_go 3 vdi.mirror.copy
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
s = Session(2)
rec = s.wait_task(ids["task"], 180)
t.is_(rec["status"], "failure", "A: the migration fails")
t.is_((running_on(ids["uuid"], (3,)), s.call("VBD.get_VDI", ids["vbd"])),
      ([3], ids["vdi"]), "A: the VM runs on host 3 on its disk")
left = s.call("SR.get_VDIs", ids["l4"])
t.ok(len(left) == 1 and tags(s, left[0]) and
     s.call("VDI.get_other_config", ids["vdi"]).get("xm:motion-stage") ==
     "undo", "A: host 4 down: its new VDI is listed, both tagged, the "
     "undo left to the master", repr(left))
t.done()
P
pt_start 4 || pt_bail "host 4 did not start again"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
clean(t, Session(2), load(), 3, "A")
t.done()
P

# B, C, D. The source's daemon killed at a state of each later phase; it
# is started again, and the VM stays on host 3 on its disk.
source_kill()
{
    local label=$1 host=$2 point=$3 action=$4
    pt_arm "$host" "$point=$action"
    pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids)
save(**ids)
t.done()
P
    if [ "$action" = wait ]; then
        pt_hit "$host" "$point" || pt_fail "$label: reached $point"
        pt_kill 3 KILL
        pt_arm "$host" ""
        pt_go "$host" "$point"
    else
        pt_gone 3 || pt_fail "$label: host 3 killed itself at $point"
        pt_arm 3 ""
    fi
    pt_ok "$label: host 3's daemon is killed at $point"
    pt_start 3 || pt_bail "host 3 did not start again"
    LABEL=$label pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
s = Session(2)
label = os.environ["LABEL"]
rec = s.wait_task(ids["task"], 180)
t.is_(rec["status"], "failure", label + ": the migration fails")
clean(t, s, ids, 3, label)
t.done()
P
}
source_kill B 2 pd.sxm.synced wait
source_kill C 3 mig.send.precopy kill
source_kill D 3 pd.source.mirrors-completed kill

# E. The source's daemon killed once COMMIT is sent: the VM is host 4's.
pt_arm 3 "mig.send.commit-sent=kill"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids)
save(**ids)
t.done()
P
pt_gone 3 && pt_ok "E: host 3's daemon is killed at mig.send.commit-sent"
pt_arm 3 ""
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
ids = load()
s = Session(2)
rec = s.wait_task(ids["task"], 180)
t.is_(rec["status"], "success", "E: the migration succeeds")
new = s.call("VBD.get_VDI", ids["vbd"])
t.ok(new != ids["vdi"] and s.call("VDI.get_SR", new) == ids["l4"] and
     running_on(ids["uuid"], (4,)) == [4],
     "E: the VM runs on host 4, its VBD on the new VDI on host 4's SR")
t.ok(wait_until(lambda: s.call("VDI.get_other_config", ids["vdi"])
                .get("xm:motion-stage") == "finish", 30, "finish"),
     "E: host 3 down: its old VDI is listed, tagged, its destruction "
     "left to the master")
ids["vdi"] = new
save(**ids)
t.done()
P
pt_start 3 || pt_bail "host 3 did not start again"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from sxmf import *
t = Tap()
clean(t, Session(2), load(), 4, "E")
t.done()
P
pt_done
