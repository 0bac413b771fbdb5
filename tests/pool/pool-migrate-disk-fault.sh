#!/bin/bash
# A VM whose disk is on a shared SR, migrated while the destination's
# receiver fails, by state (fault points, connections dropped):
#  - in the stop-and-copy (the source paused, its disk let go): the
#    migration aborts, the source takes its disk back and resumes;
#  - after COMMIT is read, before the destination resumes: the same;
#  - after the destination resumed (it holds the disk): the destination
#    keeps the VM, the source's copy goes.
# Each ends with one running domain writing its disk, both ledgers
# clean, and block services only on the host that runs the VM.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-disk-fault
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/shared"
pt_py <<'P'
import os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
sr = s.call("SR.create", hnum[2], {"location": tmp + "/shared"}, 0, "shared",
            "", "shared-file", "user", True, {})
vdi = s.call("VDI.create", {"SR": sr, "virtual_size": str(16 << 20)})
vm = s.call("VM.create", {"name_label": "vm", "memory_static_max":
                          str(256 << 20), "VCPUs_max": "1", "other_config": {
                              "xm:cmdline": "ws_mib=16 rate_mib=8 "
                                            "disk_rate_mib=4 disk_ws_mib=8"}})
s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
s.call("VM.start_on", vm, hnum[2], False, False)
save(vm=vm, uuid=s.call("VM.get_uuid", vm), hnum=hnum)
t.done()
P

# $1: fault point on the destination (dropped there); $2: where the VM
# ends; $3: the task's status.
one_case()
{
    pt_arm 3 "$1=drop"
    CASE=$1 CASE_END=$2 CASE_STATUS=$3 pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
vm, uuid, hnum = ids["vm"], ids["uuid"], ids["hnum"]
case, end = os.environ["CASE"], int(os.environ["CASE_END"])
tmp = os.environ["PT_TMP"]
s = Session(2)
src = 2 if s.call("VM.get_resident_on", vm) == hnum[2] else 3

def writes(n):
    return int(host_local(n, "vm_status", uuid)["disk_writes"])

before = wait_until(lambda: writes(src) > 0 and writes(src), 30,
                    "disk writes")
task = s.call("Async.VM.pool_migrate", vm, hnum[5 - src], {})
wait_until(lambda: settled(s, vm, task), 90, "the migration is settled")
end = src if end == 0 else 5 - src
check_end(t, s, vm, uuid, task, end, (2, 3), hnum, os.environ["CASE_STATUS"],
          "(%s)" % case)
after = wait_until(lambda: writes(end) > before and writes(end), 30,
                   "disk writes after")
st = host_local(end, "vm_status", uuid)
t.ok(int(st["disk_mismatches"]) == 0 and int(st["mismatches"]) == 0 and
     int(st["disk_errors"]) == 0,
     "%s: the guest writes its disk on host %d, both ledgers clean" %
     (case, end), repr(st))
def served(n):
    """The block services on host n, as VM.DISK.pid (their VDI's tag
    left out)."""
    return sorted(".".join(os.path.basename(p).split(".")[:2]) + ".pid"
                  for p in glob.glob("%s/h%d/run/blk/*.pid" % (tmp, n)))

# A receiver that failed lingers (10 s) to answer the source's QUERY
# before its VM's block services are reaped.
wait_until(lambda: served(5 - end) == [], 40,
           "the other host's block service gone")
t.is_((served(end), served(5 - end)), ([uuid + ".0.pid"], []),
      "%s: the disk is served on host %d only" % (case, end))
t.done()
P
    pt_arm 3 ""
}

# CASE_END 0: the VM stays on its source; 1: it ends on the destination.
one_case mig.recv.stopcopy 0 failure
one_case mig.recv.commit-read 0 failure
one_case mig.recv.unpaused 1 success
pt_done
