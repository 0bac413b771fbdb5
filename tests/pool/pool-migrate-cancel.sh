#!/bin/bash
# task.cancel of a running pool_migrate before its commit: the task ends
# cancelled, the VM stays on its source host and keeps running there only.
# The source is held in its pre-copy (fault point mig.send.precopy) while
# the cancel is made, so that it comes before the commit every time.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-cancel
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_arm 2 "mig.send.precopy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
task = s.call("Async.VM.pool_migrate", vm, hosts["127.0.0.3"], {})
hit(2, "mig.send.precopy")
s.call("task.cancel", task)
go(2, "mig.send.precopy")
rec = s.wait_task(task)
t.is_(rec["status"], "cancelled", "the task ends cancelled")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"],
      "the VM stays on its source")
t.is_(s.call("VM.get_current_operations", vm), {}, "no operation left")
t.is_(domains(uuid, (2, 3)), {2: "running"}, "it runs on host 2 only")
wait_until(lambda: settled(s, vm, task), 30, "the record goes")
t.is_(journals(2), [], "the source keeps no journal")
t.done()
P
pt_done
