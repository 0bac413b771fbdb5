#!/bin/bash
# Two hosts racing to attach one VDI: VM A's start on host 2 holds just
# after the master checked its disk is free (a fault point), VM B with
# the same VDI starts on host 3 meanwhile; when A goes on, host 2's
# backend finds the VDI held by host 3's VMM: A fails with VDI_IN_USE
# naming the VDI, B runs, and the VDI is written by one VM only.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vdi-race
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/shared"
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
sr = s.call("SR.create", h2, {"location": tmp + "/shared"}, 0, "shared", "",
            "shared-file", "user", True, {})
vdi = s.call("VDI.create", {"SR": sr, "virtual_size": str(8 * MiB)})
vms = []
for name in ("A", "B"):
    vm = s.call("VM.create", {"name_label": name,
                              "memory_static_max": str(256 * MiB),
                              "VCPUs_max": "1", "other_config": {
                                  "xm:cmdline": "ws_mib=8 disk_rate_mib=1 "
                                                "disk_ws_mib=1"}})
    s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
    vms.append(vm)
a, b = vms

arm(2, "pd.vm-start.checked=wait")
task = s.call("Async.VM.start_on", a, h2, False, False)
hit(2, "pd.vm-start.checked")
t.ok(True, "A's start holds after the master found its VDI free")
# B's start passes the same point without waiting.
with open(os.path.join(tmp, "h2", "fault"), "w") as f:
    f.write("\n")
s.call("VM.start_on", b, h3, False, False)
t.is_(s.call("VM.get_power_state", b), "Running", "B starts on host 3")
go(2, "pd.vm-start.checked")
rec = s.wait_task(task)
t.is_(rec["status"], "failure", "then A's start fails")
t.is_(rec["error_info"][:3], ["VDI_IN_USE", vdi, "start"],
      "with VDI_IN_USE naming the VDI")
t.is_(s.call("VM.get_power_state", a), "Halted", "A stays halted")
ua, ub = s.call("VM.get_uuid", a), s.call("VM.get_uuid", b)
t.is_((running_on(ua, (2, 3)), running_on(ub, (2, 3))), ([], [3]),
      "only B runs, on host 3")
t.is_(glob.glob("%s/h2/run/blk/*.pid" % tmp), [],
      "host 2 left no block service behind")
st = wait_until(lambda: (int(host_local(3, "vm_status", ub)["disk_writes"])
                         > 0) and host_local(3, "vm_status", ub), 30,
                "B's disk writes")
t.is_((int(st["disk_mismatches"]), int(st["disk_errors"])), (0, 0),
      "B writes its disk, clean")
t.done()
P
pt_done
