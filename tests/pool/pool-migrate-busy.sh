#!/bin/bash
# While a pool_migrate of a VM runs, a second one of the same VM is refused
# with OTHER_OPERATION_IN_PROGRESS, and the first still succeeds.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-busy
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s, mem=1 << 30)
s.call("VM.start", vm, False, False)
task = s.call("Async.VM.pool_migrate", vm, hosts["127.0.0.3"], {})
end = time.time() + 10
while not s.call("VM.get_current_operations", vm) and time.time() < end:
    time.sleep(0.01)
t.is_(list(s.call("VM.get_current_operations", vm).values()),
      ["pool_migrate"], "the VM shows the migration in current_operations")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, hosts["127.0.0.3"], {}),
             "OTHER_OPERATION_IN_PROGRESS", "a second migration is refused")
t.fails_with(lambda: s.call("VM.assert_can_migrate", vm,
                            hosts["127.0.0.3"], {}),
             "OTHER_OPERATION_IN_PROGRESS", "assert_can_migrate says so too")
t.fails_with(lambda: s.call("VM.hard_shutdown", vm),
             "OTHER_OPERATION_IN_PROGRESS", "and so does a shutdown")
rec = s.wait_task(task)
t.is_(rec["status"], "success", "the first migration succeeds")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.3"], "on host 3")
t.done()
P
pt_done
