#!/bin/bash
# Async.VM.pool_migrate between two hosts, followed with event.from as a
# GUI does: the task ends in success with the engine's stats, resident_on
# moves to the target, the guest runs on exactly one host and its
# heartbeat goes on there.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import json
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"], "on host 2")
s.call("VM.assert_can_migrate", vm, hosts["127.0.0.3"], {})
t.ok(True, "assert_can_migrate passes")
t.fails_with(lambda: s.call("VM.assert_can_migrate", vm,
                            hosts["127.0.0.2"], {}),
             "OPERATION_NOT_ALLOWED", "not to the host it is on")
before = heartbeats(2, uuid, 1)
task = s.call("Async.VM.pool_migrate", vm, hosts["127.0.0.3"],
              {"live": "true", "compress": "zstd"})
t.ok(task.startswith("OpaqueRef:"), "Async answers a task ref at once")
rec = s.wait_task(task)
t.is_(rec["status"], "success", "the task succeeds", )
stats = json.loads(rec["result"] or "{}")
t.is_(stats.get("committed"), True, "the result holds the engine's stats")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.3"],
      "resident_on is now host 3")
t.is_(s.call("VM.get_current_operations", vm), {},
      "no operation left on the VM")
t.is_(running_on(uuid, (2, 3)), [3], "the guest runs on host 3 only")
after = heartbeats(3, uuid, 2)
t.ok(after > before, "its heartbeat goes on", "%d then %d" % (before, after))
back = s.call("VM.pool_migrate", vm, hosts["127.0.0.2"], {})
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"],
      "a synchronous pool_migrate brings it back")
t.is_(running_on(uuid, (2, 3)), [2], "then it runs on host 2 only")
t.done()
P
pt_done
