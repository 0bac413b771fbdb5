#!/bin/bash
# Host evacuation of eight VMs of mixed sizes (128-384 MiB) and dirty
# rates (idle to 16 MiB/s) on host 3 of a three-host pool, with a batch
# of 1, then 3, then 10 (all at once), then auto (the window adapted to
# the rate and pauses, from 1 up to the configured 10), the VMs brought
# back to host 3 between rounds; last, a plan read first and run as it
# is, and one the pool outgrew refused.  After each: host 3 is empty, never more than the batch
# moved at once (the report's spans), every VM runs on exactly one host,
# its heartbeat went on and its ledger is clean.  The guests idle through
# their idle port, so eight share this machine's cores.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup evacuate-many
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
MiB = 1 << 20
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vms, uuids = [], []
for i in range(8):
    vm = s.call("VM.create", {"name_label": "many-%d" % i,
                              "memory_static_max": str((128 + 32 * i) * MiB),
                              "VCPUs_max": "1",
                              "other_config": {"xm:cmdline":
                                               "ws_mib=16 rate_mib=%d" %
                                               (0, 1, 2, 4, 8, 16, 0, 4)[i]}})
    s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
    vms.append(vm)
    uuids.append(s.call("VM.get_uuid", vm))
t.ok(wait_until(lambda: all(running_on(u, (2, 3, 4)) == [3] for u in uuids),
                60, "VMs up"), "eight VMs run on host 3")
save(h3=hosts["127.0.0.3"], vms=vms, uuids=uuids)
t.done()
P
for batch in 1 3 10 auto; do
BATCH=$batch pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
ids = load()
auto = os.environ["BATCH"] == "auto"
batch = 10 if auto else int(os.environ["BATCH"])
s = Session(2)
hb0 = {u: int(host_local(3, "vm_status", u)["hb_last_seq"])
       for u in ids["uuids"]}
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL",
              -1 if auto else batch)
rec = s.wait_task(task, 600)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.is_((rec["status"], len(rep["migrated"]), rep["failed"],
       rep["resident"]), ("success", 8, [], []),
      "batch %s: all eight moved" % os.environ["BATCH"])
spans = [(m["start_s"], m["end_s"]) for m in rep["migrated"]]
peak = max(sum(1 for a, b in spans if a <= x < b) for x, _ in spans)
t.ok(peak <= batch, "  never more than %d at once (%d)" % (batch, peak))
if auto:
    w = rep.get("batch_auto", [])
    t.ok(w and w[0] == 1 and all(1 <= x <= 10 for x in w) and
         peak <= max(w), "  auto: it started with 1 and adapted: windows "
         "%r, at most %d at once" % (w, peak))
where = {u: running_on(u, (2, 3, 4)) for u in ids["uuids"]}
t.ok(all(len(w) == 1 and w[0] != 3 for w in where.values()),
     "  every VM runs on exactly one other host", repr(where))
bad = [u for u in ids["uuids"]
       if int(host_local(where[u][0], "vm_status", u)["mismatches"]) or
       int(host_local(where[u][0], "vm_status", u)["hb_last_seq"]) <= hb0[u]]
t.is_(bad, [], "  every VM ran throughout, its ledger clean")
t.ok(max(b for _, b in spans) > 0, "  the whole evacuation took %.2f s" %
     max(b for _, b in spans))
# Back to host 3 for the next round.
for v in ids["vms"]:
    s.call("VM.pool_migrate", v, ids["h3"], {})
t.ok(all(running_on(u, (2, 3, 4)) == [3] for u in ids["uuids"]),
     "  and all back on host 3")
t.done()
P
done

# The plan, read before it runs (host.evacuate_plan), then run as it is
# (host.evacuate's option plan); one the pool outgrew is refused.
pt_py <<'P'
import json
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
plan = s.call("host.evacuate_plan", ids["h3"], {"batch_size": "3"})
moves = [{"VM": m["VM"], "host": m["host"]} for m in plan["moves"]]
t.is_(len(moves), 8, "host.evacuate_plan: eight moves")
other = sorted({m["host"] for m in moves})
s.call("host.disable", other[0])
t.fails_with(lambda: s.call("host.evacuate", ids["h3"], "OpaqueRef:NULL", 3,
                            {"plan": moves}), "EVACUATION_PLAN_CHANGED",
             "a destination of the plan disabled since: "
             "EVACUATION_PLAN_CHANGED, nothing moved")
t.ok(all(running_on(u, (2, 3, 4)) == [3] for u in ids["uuids"]),
     "  every VM still on host 3")
s.call("host.enable", other[0])
plan = s.call("host.evacuate_plan", ids["h3"], {"batch_size": "3"})
moves = [{"VM": m["VM"], "host": m["host"]} for m in plan["moves"]]
s.call("host.evacuate", ids["h3"], "OpaqueRef:NULL", 3, {"plan": moves})
t.is_(sorted((m["VM"], s.call("VM.get_resident_on", m["VM"]))
             for m in moves), sorted((m["VM"], m["host"]) for m in moves),
      "a fresh plan runs as it was read: each VM on its planned host")
t.done()
P
pt_done
