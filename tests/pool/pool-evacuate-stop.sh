#!/bin/bash
# host.evacuate's on_failure: every move from host 3 fails (its engine
# fails at the fault point mig.send.precopy).  With on_failure=stop
# and a batch of 1 the first VM's failure starts no other move: the task
# fails with that VM's error, its report lists it failed and the two
# others still resident; with the default (continue) every VM is tried.
# Then, the fault gone, host 3 empties.  The VMs run throughout.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup evacuate-stop
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vms = []
for i in range(3):
    vm = s.call("VM.create", {"name_label": "stop-%d" % i,
                              "memory_static_max": str(128 * MiB),
                              "VCPUs_max": "1",
                              "other_config": {"xm:cmdline":
                                               "ws_mib=4 rate_mib=1"}})
    s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
    vms.append(vm)
s.call("host.disable", hosts["127.0.0.3"])
save(h3=hosts["127.0.0.3"], vms=vms,
     uuids=[s.call("VM.get_uuid", v) for v in vms])
t.done()
P
pt_arm 3 "mig.send.precopy=fail"
pt_py <<'P'
import json
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL", 1,
              {"on_failure": "stop"})
rec = s.wait_task(task, 120)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.is_((rec["status"], len(rep["migrated"]), len(rep["failed"]),
       len(rep["resident"])), ("failure", 0, 1, 2),
      "on_failure=stop, batch 1: the first failure stops it (1 failed, 2 "
      "never tried)")
t.is_(rec["error_info"][0], rep["failed"][0]["error"][0],
      "  the task fails with that VM's error (%s)" % rec["error_info"][0])
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL", 1, {})
rec = s.wait_task(task, 180)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.is_((rec["status"], len(rep["failed"]), len(rep["resident"])),
      ("failure", 3, 0), "on_failure continue (the default): every VM is "
      "tried, and fails")
t.is_([running_on(u, (2, 3)) for u in ids["uuids"]], [[3]] * 3,
      "every VM still runs on host 3")
t.done()
P
pt_arm 3 ""
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
s.call("host.evacuate", ids["h3"], "OpaqueRef:NULL", 1, {"on_failure":
                                                         "stop"})
t.is_([running_on(u, (2, 3)) for u in ids["uuids"]], [[2]] * 3,
      "the fault gone: host 3 empties, every VM on host 2")
ok = all(int(host_local(2, "vm_status", u)["mismatches"]) == 0
         for u in ids["uuids"])
t.ok(ok, "their ledgers are clean")
t.done()
P
pt_done
