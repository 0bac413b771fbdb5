#!/bin/bash
# Storage motion on one host (VDI.pool_migrate) with the agent of the VM's
# host killed in the middle of the switch-over; host 2 is the master, the
# VM runs on host 3 with its disk on a shared SR moving to another shared
# SR (so the master could destroy either VDI without host 3):
#  1. killed with the VM paused, before the retarget (pd.motion.paused):
#     the master destroys nothing while host 3 is down; once it is back,
#     the motion is undone: the VM runs on its source disk again;
#  2. killed with the VM resumed on the destination, before the agent
#     answered (pd.motion.resumed): the master still destroys nothing on a
#     guess; once host 3 is back it learns the VM runs on the new VDI and
#     finishes the motion: the VBD points there, the source goes.
# Either way the guest's disk ledger is clean and nothing is orphaned.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vdi-motion-agent
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/sa" "$PT_TMP/sb"

cat > "$PT_TMP/mva.py" <<'P'
import glob, os
from pool_client import *
tmp = os.environ["PT_TMP"]


def raws(d):
    return sorted(os.path.basename(p)
                  for p in glob.glob("%s/%s/*.raw" % (tmp, d)))


def tags(s, vdi):
    return [k for k in s.call("VDI.get_other_config", vdi)
            if k.startswith("xm:motion")]


def move(s, ids, point):
    """A move to B that the agent's death at point interrupts."""
    arm(3, point + "=kill")
    try:
        s.call("VDI.pool_migrate", s.call("VBD.get_VDI", ids["vbd"]),
               ids["b"], {})
        return False
    except Failure:
        return True


def ends_on(t, s, ids, sr, other, label):
    """The VM runs on host 3 on the one VDI of sr, nothing else left."""
    t.ok(wait_until(lambda: len(s.call("SR.get_VDIs", sr)) == 1 and
                    s.call("SR.get_VDIs", other) == [] and
                    s.call("VBD.get_VDI", ids["vbd"]) ==
                    s.call("SR.get_VDIs", sr)[0], 90, "settled"),
         label + ": the VBD names the one VDI left, on " +
         ("B" if sr == ids["b"] else "A"))
    vdi = s.call("VBD.get_VDI", ids["vbd"])
    t.is_((raws("sa") + raws("sb"), tags(s, vdi)),
          ([s.call("VDI.get_uuid", vdi) + ".raw"], []),
          label + ": its file only, no motion tag")
    st = host_local(3, "vm_status", ids["uuid"])
    t.is_(st["state"], "running", label + ": the VM runs")
    w = int(st["disk_writes"])
    t.ok(wait_until(lambda: int(host_local(3, "vm_status", ids["uuid"])
                                ["disk_writes"]) > w + 20, 30, "writes"),
         label + ": the guest writes on")
    st = host_local(3, "vm_status", ids["uuid"])
    t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
          label + ": the disk ledger is clean")
P

pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mva import *
t = Tap()
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h3 = hosts["127.0.0.3"]
a, b = (s.call("SR.create", hosts["127.0.0.2"], {"location": tmp + "/" + d},
               0, n, "", "shared-file", "user", True, {})
        for n, d in (("A", "sa"), ("B", "sb")))
vdi = s.call("VDI.create", {"SR": a, "virtual_size": str(32 * MiB)})
vm = s.call("VM.create", {"name_label": "vm-motion-agent",
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
save(a=a, b=b, vm=vm, vbd=vbd, uuid=uuid)
t.done()
P

# 1. Killed with the VM paused, before the retarget.
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mva import *
t = Tap()
ids = load()
s = Session(2)
t.ok(move(s, ids, "pd.motion.paused"), "1: the move fails: the agent died "
     "mid-switch, the VM paused")
t.ok(len(s.call("SR.get_VDIs", ids["b"])) == 1 and
     s.call("VDI.get_other_config", s.call("VBD.get_VDI", ids["vbd"]))
     .get("xm:motion-stage") == "undo",
     "1: host 3 down: the new VDI is kept, the motion tagged 'undo'")
t.done()
P
pt_gone 3 || pt_fail "1: host 3 killed itself"
pt_arm 3 ""
pt_start 3 || pt_bail "host 3 did not start again"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mva import *
t = Tap()
ids = load()
ends_on(t, Session(2), ids, ids["a"], ids["b"], "1")
t.done()
P

# 2. Killed with the VM resumed on the destination, not yet answered.
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mva import *
t = Tap()
ids = load()
s = Session(2)
old = s.call("VBD.get_VDI", ids["vbd"])
t.ok(move(s, ids, "pd.motion.resumed"), "2: the move fails: the agent "
     "died, the VM resumed on the new VDI")
t.ok(len(s.call("SR.get_VDIs", ids["b"])) == 1 and
     s.call("SR.get_VDIs", ids["a"]) == [old],
     "2: host 3 down: the master destroys neither VDI on a guess")
t.done()
P
pt_gone 3 || pt_fail "2: host 3 killed itself"
pt_arm 3 ""
pt_start 3 || pt_bail "host 3 did not start again"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mva import *
t = Tap()
ids = load()
ends_on(t, Session(2), ids, ids["b"], ids["a"], "2")
t.done()
P
pt_done
