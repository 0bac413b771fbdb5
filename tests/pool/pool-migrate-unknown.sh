#!/bin/bash
# The answer of migrate_send is lost (fault point pd.master.accepted=fail:
# the master treats the source's answer as never received) and the master
# is held while it does not know the outcome (pd.master.unknown=wait).
# Meanwhile the VM keeps its operation and every other operation on it is
# refused with OTHER_OPERATION_IN_PROGRESS (shutdowns, start, another
# migration); the database does not move the VM.  Let go, the master asks
# the source, learns the migration succeeded and says so.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-unknown
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_arm 2 "pd.master.accepted=fail pd.master.unknown=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
vm = create_vm(s)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
task = s.call("Async.VM.pool_migrate", vm, hnum[3], {})
hit(2, "pd.master.unknown")
t.is_(migration_record(s, vm), "unknown", "the outcome is recorded unknown")
t.is_(s.call("task.get_status", task), "pending", "the task is pending")
for m in ("VM.hard_shutdown", "VM.clean_shutdown"):
    t.fails_with(lambda: s.call(m, vm), "OTHER_OPERATION_IN_PROGRESS",
                 "%s is refused" % m)
t.fails_with(lambda: s.call("VM.start", vm, False, False),
             "OTHER_OPERATION_IN_PROGRESS", "VM.start is refused")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, hnum[2], {}),
             "OTHER_OPERATION_IN_PROGRESS", "another migration is refused")
t.is_(s.call("VM.get_resident_on", vm), hnum[2],
      "the database has not moved the VM")
go(2, "pd.master.unknown")
rec = s.wait_task(task)
t.is_(rec["status"], "success", "once asked, the source says it succeeded")
wait_until(lambda: settled(s, vm, task), 30, "the record goes")
check_end(t, s, vm, uuid, task, 3, (2, 3), hnum, "success")
t.is_(journals(2), [], "the source has forgotten the migration")
t.done()
P
pt_done
