#!/bin/bash
# task.cancel of a running pool_migrate before its commit: the task ends
# cancelled, the VM stays on its source host and keeps running there only.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-cancel
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s, mem=2 << 30)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
# Not live: no compression, a single slow pre-copy round of 2 GiB leaves
# time to cancel before the commit.
task = s.call("Async.VM.pool_migrate", vm, hosts["127.0.0.3"], {})
end = time.time() + 10
while s.call("task.get_progress", task) < 0.05 and time.time() < end:
    time.sleep(0.01)
s.call("task.cancel", task)
rec = s.wait_task(task)
t.is_(rec["status"], "cancelled", "the task ends cancelled")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"],
      "the VM stays on its source")
t.is_(s.call("VM.get_current_operations", vm), {}, "no operation left")
t.is_(running_on(uuid, (2, 3)), [2], "it runs on host 2 only")
t.done()
P
pt_done
