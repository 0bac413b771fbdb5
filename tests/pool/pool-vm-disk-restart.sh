#!/bin/bash
# A running VM's disk outlives its daemon and fails cleanly without its
# backend: the host's xm-poold is stopped and started again while the VM
# writes its disk (the block service, detached, is the same process after
# the restart and the guest's writes went on, ledger clean); then the
# backend is killed with SIGKILL: the guest's disk requests fail with
# errors it counts (no hang), the VM keeps running, and a shutdown leaves
# no block service.  Last, a block service whose detaching parent is slow
# to exit (fault point pd.blk.detach) still serves.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vm-disk-restart
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
mkdir -p "$PT_TMP/shared"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
s = Session(2)
h2 = s.call("host.get_all")[0]
sr = s.call("SR.create", h2, {"location": tmp + "/shared"}, 0, "shared", "",
            "shared-file", "user", True, {})
vdi = s.call("VDI.create", {"SR": sr, "virtual_size": str(16 << 20)})
vm = s.call("VM.create", {"name_label": "vm", "memory_static_max":
                          str(256 << 20), "VCPUs_max": "1", "other_config": {
                              "xm:cmdline": "ws_mib=8 disk_rate_mib=2 "
                                            "disk_ws_mib=8"}})
s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
w = wait_until(lambda: int(host_local(2, "vm_status", uuid)["disk_writes"])
               > 0 and int(host_local(2, "vm_status", uuid)["disk_writes"]),
               30, "disk writes")
pid = open(glob.glob("%s/h2/run/blk/*.pid" % tmp)[0]).read().split()[0]
save(vm=vm, uuid=uuid, w=w, pid=pid)
t.ok(w > 0, "the guest writes its disk")
t.done()
P
pt_kill 2
pt_ok "host 2's daemon stopped"
pid=$(python3 -c 'import ast, sys; print(ast.literal_eval(open(sys.argv[1]).read())["pid"])' "$PT_TMP/ids")
kill -0 "$pid" 2>/dev/null && pt_ok "its block service runs on without it" ||
    pt_fail "its block service runs on without it"
pt_start 2 || pt_bail "host 2 did not restart"
pt_py <<'P'
import glob, os, signal, time
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
uuid = ids["uuid"]
s = Session(2)

def st():
    return host_local(2, "vm_status", uuid)

t.is_(open(glob.glob("%s/h2/run/blk/*.pid" % tmp)[0]).read().split()[0],
      ids["pid"], "after the restart the same backend serves the disk")
now = wait_until(lambda: int(st()["disk_writes"]) > ids["w"] and st(), 30,
                 "writes after the restart")
t.ok(int(now["disk_mismatches"]) == 0 and int(now["disk_errors"]) == 0,
     "the guest wrote on across the restart, ledger clean", repr(now))

os.kill(int(ids["pid"]), signal.SIGKILL)
bad = wait_until(lambda: int(st()["disk_errors"]) > 0 and st(), 30,
                 "the guest sees disk errors")
t.ok(int(bad["disk_errors"]) > 0 and int(bad["disk_mismatches"]) == 0,
     "backend killed: the guest's disk requests fail, counted, no "
     "mismatch", repr(bad))
hb = int(bad["hb_last_seq"])
t.ok(wait_until(lambda: int(st()["hb_last_seq"]) > hb + 100, 30,
                "heartbeats"), "and the VM keeps running (heartbeats)")
s.call("VM.hard_shutdown", ids["vm"])
t.is_(glob.glob("%s/h2/run/blk/*.pid" % tmp), [],
      "a shutdown leaves no block service")

# A VMM that died leaves its backend until a reap; a new start of that VM
# with another disk in the same place must not get the old one.
sr = s.call("SR.get_all")[0]
sru = s.call("SR.get_uuid", sr)

def disk(vdi):
    return {"vdi": s.call("VDI.get_uuid", vdi), "sr_type": "shared-file",
            "sr_uuid": sru, "device_config": {"location": tmp + "/shared"},
            "mode": "RW"}

def served():
    pid = open(glob.glob("%s/h2/run/blk/*.pid" % tmp)[0]).read().split()[0]
    return open("/proc/%s/cmdline" % pid).read().split("\0")

one = s.call("VDI.create", {"SR": sr, "virtual_size": str(8 << 20)})
two = s.call("VDI.create", {"SR": sr, "virtual_size": str(8 << 20)})
spec = {"name": "crash", "memory": str(256 << 20), "vcpus": "1"}
domid = host_local(2, "vm_start", uuid, dict(spec, disks=[disk(one)]))
t.ok("vdi=" + disk(one)["vdi"] in served(), "started with disk one")
os.kill(int(domid), signal.SIGKILL)
wait_until(lambda: not host_local(2, "vm_status", uuid)["running"], 30,
           "the VMM is gone")
host_local(2, "vm_start", uuid, dict(spec, disks=[disk(two)]))
t.ok("vdi=" + disk(two)["vdi"] in served(),
     "its VMM killed, started again with disk two: disk two is served")
host_local(2, "vm_shutdown", uuid, True)
t.done()
P

# nbdkit stops when its parent exits (it arms PR_SET_PDEATHSIG): with the
# detaching child slow to exit (it lingers until nbdkit is ready, or 3 s),
# the backend must not have started under it, and serves on after.
pt_arm 2 "pd.blk.detach=fail"
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
s.call("VM.start", ids["vm"], False, False)
st = wait_until(lambda: int(host_local(2, "vm_status", ids["uuid"])
                            ["disk_writes"]) > 20 and
                host_local(2, "vm_status", ids["uuid"]), 30, "disk writes")
pid = open(glob.glob("%s/h2/run/blk/*.pid" % tmp)[0]).read().split()[0]
t.ok(st and int(st["disk_errors"]) == 0 and
     os.path.exists("/proc/%s" % pid),
     "a slow detach: the block service serves on, no disk error", repr(st))
s.call("VM.hard_shutdown", ids["vm"])
t.done()
P
pt_arm 2 ""
pt_done
