#!/bin/bash
# Host evacuation on a pool of three hosts (2 the master, VMs on 3):
# host.compute_free_memory; host.get_vms_which_prevent_evacuation and
# host.assert_can_evacuate with every blocker (a VM on host 3's local SR:
# VM_REQUIRES_SR; one too big for any host: HOST_NOT_ENOUGH_FREE_MEMORY
# with both numbers; every other host disabled: NO_HOSTS_AVAILABLE), and
# host.evacuate refusing then, nothing moved; an evacuation held at a
# move's state (pd.master.prepared): a second one is
# HOST_EVACUATE_IN_PROGRESS, and task.cancel starts no new move, lets the
# one in flight end and reports who stayed; then (the CLI's
# host-evacuate) a batch of 2: host 3 ends empty, never more than 2 moves at once, every
# VM ran throughout with clean ledgers; before that, the master killed
# mid-evacuation ends its task at its restart with what happened; the
# pool's migration network honoured (VM_REQUIRES_NETWORK where a host has
# no address on it).
# host.disable's auto_enable: a
# restarted daemon is enabled again, unless disabled with auto_enable
# false.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup evacuate
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
mkdir -p "$PT_TMP/l3"
pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3, h4 = (hosts["127.0.0.%d" % n] for n in (2, 3, 4))
free = int(s.call("host.compute_free_memory", h4))
t.ok(free > 256 * MiB, "host.compute_free_memory: %d MiB" % (free // MiB))
vms = []
for i in range(3):
    vm = s.call("VM.create", {"name_label": "evac-%d" % i,
                              "memory_static_max": str((128 + 64 * i) * MiB),
                              "VCPUs_max": "1",
                              "other_config": {"xm:cmdline":
                                               "ws_mib=4 rate_mib=%d" % i}})
    s.call("VM.start_on", vm, h3, False, False)
    vms.append(vm)
l3 = s.call("SR.create", h3, {"location": tmp + "/l3"}, 0, "local 3", "",
            "file", "user", False, {})
local = s.call("VM.create", {"name_label": "pinned by its disk",
                             "memory_static_max": str(128 * MiB),
                             "VCPUs_max": "1", "other_config": {}})
s.call("VBD.create", {"VM": local, "VDI": s.call(
    "VDI.create", {"SR": l3, "virtual_size": str(8 * MiB)}),
    "userdevice": "0"})
s.call("VM.start_on", local, h3, False, False)

got = s.call("host.get_vms_which_prevent_evacuation", h3)
t.is_((list(got), got.get(local, [""])[0]), ([local], "VM_REQUIRES_SR"),
      "a VM on host 3's local SR prevents it: VM_REQUIRES_SR")
t.fails_with(lambda: s.call("host.assert_can_evacuate", h3),
             "CANNOT_EVACUATE_HOST", "host.assert_can_evacuate: "
             "CANNOT_EVACUATE_HOST")
t.fails_with(lambda: s.call("host.evacuate", h3), "CANNOT_EVACUATE_HOST",
             "host.evacuate refuses")
t.is_(sorted(running_on(s.call("VM.get_uuid", v), (2, 3, 4))[0]
             for v in vms), [3, 3, 3], "  and nothing moved")
s.call("VM.set_memory_static_max", vms[0], str(1 << 50))
got = s.call("host.get_vms_which_prevent_evacuation", h3)
b = got.get(vms[0], [])
t.ok(len(b) == 3 and b[0] == "HOST_NOT_ENOUGH_FREE_MEMORY" and
     b[1] == str(1 << 50) and int(b[2]) > 0,
     "a VM too big for every host: HOST_NOT_ENOUGH_FREE_MEMORY [needed, "
     "available]", repr(b))
s.call("VM.set_memory_static_max", vms[0], str(128 * MiB))
s.call("host.disable", h2)
s.call("host.disable", h4, False)
got = s.call("host.get_vms_which_prevent_evacuation", h3)
t.is_(sorted((v, got.get(v, [""])[0]) for v in vms),
      sorted((v, "NO_HOSTS_AVAILABLE") for v in vms),
      "every other host disabled: NO_HOSTS_AVAILABLE")
s.call("VM.hard_shutdown", local)
s.call("host.disable", h3)
save(vms=vms, h2=h2, h3=h3, h4=h4)
t.done()
P

# auto_enable: their daemons restarted, host 3 (the default) is enabled
# again, host 4 (false) is not; so is host 2, the master, at its start.
pt_kill 3
pt_start 3 || pt_bail "host 3 did not start again"
pt_kill 4
pt_start 4 || pt_bail "host 4 did not start again"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
t.ok(wait_until(lambda: s.call("host.get_enabled", ids["h3"]), 30,
                "host 3 enabled"), "host 3 restarted: enabled again")
t.done()
P
pt_kill 2
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
t.is_((s.call("host.get_enabled", ids["h2"]),
       s.call("host.get_enabled", ids["h4"])), (True, False),
      "the master restarted: enabled again; host 4 (auto_enable false) "
      "still disabled")
s.call("host.enable", ids["h4"])
t.done()
P

# The pool's migration network: a destination without an address on it
# takes no VM (VM_REQUIRES_NETWORK), and the moves go over it.
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
net = s.call("network.get_all")[0]
s.call("pool.set_migration_network", s.call("pool.get_all")[0], net)
got = s.call("host.get_vms_which_prevent_evacuation", ids["h3"])
t.is_(sorted((v, got.get(v, [""])[0]) for v in ids["vms"]),
      sorted((v, "VM_REQUIRES_NETWORK") for v in ids["vms"]),
      "pool.migration_network with no address for any other host: "
      "VM_REQUIRES_NETWORK")
s.call("network.add_to_other_config", net, "xm:address:" +
       s.call("host.get_uuid", ids["h4"]), "127.0.0.4")
plan = s.call("host.evacuate_plan", ids["h3"], {})
t.ok(plan["can_evacuate"] and
     all(m["host"] == ids["h4"] for m in plan["moves"]),
     "an address for host 4 only: every move goes there", repr(plan))
s.call("network.add_to_other_config", net, "xm:address:" +
       s.call("host.get_uuid", ids["h2"]), "127.0.0.2")
t.done()
P

# An evacuation held in its first move, batch 1: a second is refused,
# task.cancel lets that move end and starts no other.
pt_arm 2 "pd.master.prepared=wait"
pt_py <<'P'
import json
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
task = s.call("Async.host.evacuate", ids["h3"], "OpaqueRef:NULL", 1)
hit(2, "pd.master.prepared")
t.fails_with(lambda: s.call("host.evacuate", ids["h3"]),
             "HOST_EVACUATE_IN_PROGRESS", "a second evacuation: "
             "HOST_EVACUATE_IN_PROGRESS")
s.call("task.cancel", task)
arm(2, "")
go(2, "pd.master.prepared")
rec = s.wait_task(task, 120)
rep = json.loads(s.call("task.get_other_config", task)["xm:evacuation"])
t.ok(rec["status"] == "cancelled" or (rec["error_info"] or [""])[0] ==
     "TASK_CANCELLED", "the evacuation ends cancelled", repr(rec))
t.is_((len(rep["migrated"]), len(rep["resident"]), rep["failed"]),
      (1, 2, []), "the report: the move in flight ended, two VMs stayed")
t.done()
P
pt_arm 2 ""

# The master killed in the middle of an evacuation (at its first move's
# pd.master.prepared): started again, it ends the evacuation's task with
# what happened and frees the host for the next one.
pt_arm 2 "pd.master.prepared=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
ids["task"] = Session(2).call("Async.host.evacuate", ids["h3"],
                              "OpaqueRef:NULL", 1)
save(**ids)
t.done()
P
pt_gone 2 && pt_ok "the master is killed mid-evacuation"
pt_arm 2 ""
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
import json
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
rec = s.call("task.get_record", ids["task"])
rep = json.loads(rec["other_config"].get("xm:evacuation", "{}"))
t.ok(rec["status"] == "failure" and "mid-evacuation" in
     " ".join(rec["error_info"]), "restarted: the evacuation's task failed, "
     "saying so", repr(rec["error_info"]))
t.is_((rep.get("interrupted"), len(rep.get("migrated", [])),
       len(rep.get("moving", [])), len(rep.get("resident", []))),
      (True, 0, 1, 1), "its report: one VM was moving, one stayed")
t.is_(s.call("host.get_current_operations", ids["h3"]), {},
      "the host is free for the next evacuation")
t.ok(wait_until(lambda: all(settled(s, v) for v in ids["vms"]), 60,
                "settled"), "the move in flight settles by itself")
t.done()
P

# The rest with the CLI: host-evacuate with a batch of 2.
pt_cli_login 2
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
ids["uuids"] = [s.call("VM.get_uuid", v) for v in ids["vms"]]
ids["before"] = {u: int(host_local(n, "vm_status", u)["hb_last_seq"])
                 for u in ids["uuids"] for n in running_on(u, (2, 3, 4))}
ids["h3_uuid"] = s.call("host.get_uuid", ids["h3"])
plan = s.call("host.evacuate_plan", ids["h3"], {"batch_size": "1"})
# (XML-RPC carries 64-bit integers as strings, as XAPI's does.)
t.ok(plan["can_evacuate"] and plan["blockers"] == {} and
     [int(m["wave"]) for m in plan["moves"]] == [0, 1] and
     int(plan["moves"][0]["bytes"]) >= int(plan["moves"][1]["bytes"]) and
     all(m["host"] != ids["h3"] for m in plan["moves"]),
     "host.evacuate_plan, batch 1: two moves, largest first, one per "
     "wave, to other hosts", repr(plan))
t.ok(int(plan["bandwidth"]) > 0 and float(plan["eta_s"]) > 0,
     "  its ETA from the pool's measured migrations (%.2f s at %d MiB/s)"
     % (float(plan["eta_s"]), int(plan["bandwidth"]) >> 20))
t.is_(sorted(n for u in ids["uuids"] for n in running_on(u, (2, 3, 4))
             if n == 3), [3, 3], "  and nothing moved")
save(**ids)
t.done()
P
h3=$(python3 -c 'import ast, sys; print(ast.literal_eval(open(sys.argv[1]).read())["h3_uuid"])' "$PT_TMP/ids")
out=$("$PT_CLI" --http host-evacuate uuid="$h3" batch-size=2 --plan 2>&1)
case $out in
    "plan: 2 move(s), "*", 2 at a time; ETA "*"wave 0: "*"wave 0: "*)
        pt_ok "host-evacuate --plan prints the plan and its ETA" ;;
    *) pt_fail "host-evacuate --plan prints the plan and its ETA" "$out" ;;
esac
out=$("$PT_CLI" --http host-get-vms-which-prevent-evacuation uuid="$h3" 2>&1)
pt_is "$?:$out" "0:" "host-get-vms-which-prevent-evacuation: none left"
# other_config migration-priority: the smaller VM first, one at a time.
small=$(pt_py <<'P'
from pool_client import *
ids = load()
s = Session(2)
left = [v for v in ids["vms"] if s.call("VM.get_resident_on", v) == ids["h3"]]
v = min(left, key=lambda v: int(s.call("VM.get_memory_static_max", v)))
s.call("VM.add_to_other_config", v, "migration-priority", "10")
print(s.call("VM.get_name_label", v))
P
)
out=$("$PT_CLI" --http host-evacuate uuid="$h3" batch-size=1 --plan 2>&1)
case $out in *"wave 0: $small "*"wave 1: "*)
    pt_ok "migration-priority: $small, the smaller, moves first" ;;
*) pt_fail "migration-priority: $small moves first" "$out" ;; esac
"$PT_CLI" --http host-evacuate uuid="$h3" batch-size=0 >/dev/null 2>&1
pt_is "$?" 2 "host-evacuate batch-size=0: a usage error"
"$PT_CLI" --http host-evacuate uuid="$h3" batch-size=2 > "$PT_TMP/evac.out" \
    2>&1
pt_is "$?" 0 "host-evacuate batch-size=2 succeeds"
pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
uuids, before = ids["uuids"], ids["before"]
last = open(os.environ["PT_TMP"] + "/evac.out").read().splitlines()[-1]
rep = json.loads(last)
t.is_((len(rep["migrated"]), rep["failed"], rep["resident"]),
      (2, [], []), "its report: the two VMs left moved")
spans = [(m["start_s"], m["end_s"]) for m in rep["migrated"]]
peak = max(sum(1 for a, b in spans if a <= x < b) for x, _ in spans)
t.ok(peak <= 2, "never more than 2 moves at once (%d)" % peak)
t.is_([r for r in (s.call("VM.get_resident_on", v) for v in ids["vms"])
       if r == ids["h3"]], [], "the database has no VM on host 3")
where = {u: running_on(u, (2, 3, 4)) for u in uuids}
t.ok(all(len(w) == 1 and w[0] != 3 for w in where.values()),
     "every VM runs on exactly one other host", repr(where))
ok = True
for u in uuids:
    st = host_local(where[u][0], "vm_status", u)
    ok = ok and int(st["mismatches"]) == 0 and \
        int(st["hb_last_seq"]) > before[u]
t.ok(ok, "every VM ran throughout, its ledger clean")
t.done()
P
pt_done
