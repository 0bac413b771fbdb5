#!/bin/bash
# host.evacuate's on_failure=rollback and on_cancel=abort, host 3
# (disabled) evacuated to host 2, batch 1, largest VM first.  rollback:
# the first move is held once decided, before its task ends
# (pd.master.decided), while every later move from host 3 is made to fail
# (mig.send.precopy): the second VM fails for good, no other move starts,
# and the first comes back to host 3 though it is disabled; the task fails
# with the second VM's error, the report lists the first rolled back.  abort: the evacuation cancelled while its first
# move is held before the source is told (pd.master.prepared) asks that
# move to stop; it ends cancelled, every VM still on host 3.  The VMs run
# throughout with clean ledgers.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup evacuate-rollback
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
for i, mib in enumerate((192, 160, 128)):
    vm = s.call("VM.create", {"name_label": "rb-%d" % i,
                              "memory_static_max": str(mib * MiB),
                              "VCPUs_max": "1",
                              "other_config": {"xm:cmdline":
                                               "ws_mib=4 rate_mib=1"}})
    s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
    vms.append(vm)
s.call("host.disable", hosts["127.0.0.3"])
t.fails_with(lambda: s.call("host.evacuate", hosts["127.0.0.3"],
                            "OpaqueRef:NULL", 1, {"on_failure": "undo"}),
             "INVALID_VALUE", "on_failure=undo: INVALID_VALUE")
t.fails_with(lambda: s.call("host.evacuate", hosts["127.0.0.3"],
                            "OpaqueRef:NULL", 1, {"on_cancel": "later"}),
             "INVALID_VALUE", "on_cancel=later: INVALID_VALUE")
save(h3=hosts["127.0.0.3"], vms=vms,
     uuids=[s.call("VM.get_uuid", v) for v in vms])
t.done()
P

# The CLI's options: a bad value is a usage error before anything runs;
# rollback and abort are taken (--plan: nothing moves).
pt_cli_login 2
h3=$(x host-list address=127.0.0.3 --minimal)
x host-evacuate uuid="$h3" on-failure=undo 2>"$PT_TMP/e"
pt_is "$?" 2 "host-evacuate on-failure=undo: exit 2"
grep -q "continue, stop or rollback" "$PT_TMP/e" && pt_ok "  naming the values" ||
    pt_fail "  naming the values" "$(cat "$PT_TMP/e")"
x host-evacuate uuid="$h3" on-cancel=later 2>"$PT_TMP/e"
pt_is "$?" 2 "host-evacuate on-cancel=later: exit 2"
x host-evacuate uuid="$h3" on-failure=rollback on-cancel=abort --plan \
    >"$PT_TMP/plan" 2>&1
pt_is "$?" 0 "on-failure=rollback on-cancel=abort --plan: taken"
pt_is "$(x vm-list resident-on="$h3" --minimal | tr ',' '\n' | grep -c .)" 3 \
    "  and nothing moved"

pt_arm 2 "pd.master.decided=wait"
pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL", 1,
              {"on_failure": "rollback"})
hit(2, "pd.master.decided")
# The first VM has moved; every move from host 3 fails from now on.
with open(os.path.join(os.environ["PT_TMP"], "h3", "fault"), "w") as f:
    f.write("mig.send.precopy=fail\n")
arm(2, "")
go(2, "pd.master.decided")
rec = s.wait_task(task, 180)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
u = ids["uuids"]
t.is_(rec["status"], "failure", "the evacuation fails")
t.is_(([x["vm"] for x in rep["failed"]], rep["rolled_back"], rep["migrated"]),
      ([u[1]], [u[0]], []), "the second VM failed for good; the first, "
      "moved, was rolled back")
t.is_(sorted(rep["resident"]), sorted([u[0], u[2]]),
      "  resident: the first, back, and the third, never tried")
t.is_(rec["error_info"][0], rep["failed"][0]["error"][0],
      "  the task fails with the failed VM's error (%s)" %
      rec["error_info"][0])
t.is_([running_on(x, (2, 3)) for x in u], [[3]] * 3,
      "every VM runs on host 3, the disabled host, again")
t.is_(s.call("host.get_enabled", ids["h3"]), False, "  which stays disabled")
t.done()
P
pt_arm 3 ""

pt_arm 2 "pd.master.prepared=wait"
pt_py <<'P'
import json
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL", 1,
              {"on_cancel": "abort"})
hit(2, "pd.master.prepared")
moves = [r for r, x in s.call("task.get_all_records").items()
         if x["name_label"] == "VM.pool_migrate" and x["status"] == "pending"]
t.is_(len(moves), 1, "held: one move in flight")
s.call("task.cancel", task)
t.ok(wait_until(lambda: s.call("task.get_status", moves[0]) == "cancelling",
                60, "the move asked to stop"),
     "on_cancel=abort: the evacuation asks its move in flight to stop")
arm(2, "")
go(2, "pd.master.prepared")
rec = s.wait_task(task, 120)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.ok(rec["status"] == "cancelled" or (rec["error_info"] or [""])[0] ==
     "TASK_CANCELLED", "the evacuation ends cancelled", repr(rec))
t.is_((s.call("task.get_status", moves[0]), rep["migrated"],
       sorted(rep["resident"])), ("cancelled", [], sorted(ids["uuids"])),
      "  its move was cancelled: nothing moved, every VM resident")
t.is_([running_on(x, (2, 3)) for x in ids["uuids"]], [[3]] * 3,
      "every VM runs on host 3")
t.ok(all(int(host_local(3, "vm_status", x)["mismatches"]) == 0
         for x in ids["uuids"]), "their ledgers are clean")
t.done()
P
pt_arm 2 ""
pt_done
