#!/bin/bash
# allowed_operations as XAPI keeps it: what a GUI may offer for a VM, a
# host, a task, derived from each object's state, in records, get_ calls
# and event snapshots alike.  The migration is held at its pre-copy
# (fault point mig.send.precopy) while its in-flight state is looked at.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup allowed-ops
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_arm 2 "mig.send.precopy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
vm = create_vm(s)
ops = lambda: set(s.call("VM.get_allowed_operations", vm))
t.ok({"start", "start_on", "destroy"} <= ops() and
     "pool_migrate" not in ops(), "a halted VM: start, not migrate")
tok = s.call("event.inject", "VM", vm)
s.call("VM.start", vm, False, False)
t.ok({"pool_migrate", "migrate_send", "clean_shutdown",
      "hard_shutdown"} <= ops() and "start" not in ops(),
     "a running VM: migrate and shut down, not start")
t.is_(set(s.call("VM.get_record", vm)["allowed_operations"]), ops(),
      "its record says the same")
snaps = []
while True:
    r = s.call("event.from", ["VM"], tok, 5.0)
    tok = r["token"]
    snaps += [e["snapshot"] for e in r["events"] if e["ref"] == vm]
    if any(x["power_state"] == "Running" for x in snaps) or not r["events"]:
        break
t.ok(any(x["power_state"] == "Running" and "pool_migrate" in
         x["allowed_operations"] for x in snaps),
     "the event that says Running says pool_migrate is allowed")
t.ok({"evacuate", "vm_start", "vm_migrate"} <=
     set(s.call("host.get_allowed_operations", h3)), "a live host: evacuate")
task = s.call("Async.VM.pool_migrate", vm, h3, {})
hit(2, "mig.send.precopy")
t.is_(ops(), set(), "a migrating VM: nothing else")
t.is_(s.call("task.get_allowed_operations", task), ["cancel"],
      "its task may be cancelled")
go(2, "mig.send.precopy")
rec = s.wait_task(task)
t.is_(rec["status"], "success", "the migration ends")
t.is_(s.call("task.get_allowed_operations", task), ["destroy"],
      "an ended task may only be destroyed")
t.ok("pool_migrate" in ops(), "the VM may move again")
s.call("host.disable", h3)
t.is_(s.call("host.get_allowed_operations", h3), ["evacuate"],
      "a disabled host: evacuate only")
t.done()
P
pt_done
