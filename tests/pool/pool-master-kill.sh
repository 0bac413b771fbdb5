#!/bin/bash
# The master is killed (SIGKILL) while it has a VM migrating between two
# members; the members finish on their own.  Restarted, the master
# reconciles: the VM runs on exactly one host, the database says which,
# no operation is left on it and its task is no longer pending.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup master-kill
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
Session(4).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s, mem=2 << 30)
s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.3"], "on host 3")
task = s.call("Async.VM.pool_migrate", vm, hosts["127.0.0.4"], {})
end = time.time() + 10
while s.call("task.get_progress", task) < 0.05 and time.time() < end:
    time.sleep(0.01)
with open(os.environ["PT_TMP"] + "/ids", "w") as f:
    f.write("%s %s %s\n" % (vm, task, s.call("VM.get_uuid", vm)))
t.done()
P
pt_kill 2 KILL
pt_ok "the master is killed during the migration"
pt_start 2 || pt_bail "host 2 did not restart"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
vm, task, uuid = open(os.environ["PT_TMP"] + "/ids").read().split()
s = Session(2)
hosts = {r: h["address"] for r, h in s.call("host.get_all_records").items()}
end = time.time() + 120
while time.time() < end:
    if (s.call("task.get_status", task) != "pending" and
            len(running_on(uuid, (3, 4))) == 1 and
            not s.call("VM.get_current_operations", vm)):
        break
    time.sleep(0.5)
on = running_on(uuid, (2, 3, 4))
t.is_(len(on), 1, "the VM runs on exactly one host", )
res = s.call("VM.get_resident_on", vm)
t.is_(hosts.get(res), "127.0.0.%d" % on[0] if on else None,
      "the database says which")
t.is_(s.call("VM.get_power_state", vm), "Running", "it is Running")
t.is_(s.call("VM.get_current_operations", vm), {}, "no operation is left")
t.ok(s.call("task.get_status", task) in ("success", "failure"),
     "the task is no longer pending", s.call("task.get_record", task))
t.done()
P
pt_done
