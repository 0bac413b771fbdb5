#!/bin/bash
# The master loses its link to the source in the middle of a migration
# (the master reaches host 3 through a TCP proxy, cut while the source is
# held in its pre-copy): the answer is unknown, never a failure.  The
# migration goes on between the hosts; the master learns from the
# destination that it runs the VM and settles the migration there: the VM
# runs on exactly one host, the database says which, the task succeeds,
# no operation is left.  The source still has to forget the migration
# until the link is back; then it does, and the end state stays.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-link-cut
pt_start 2 || pt_bail "host 2 did not start"
# Host 3 is known to the pool at 127.0.0.5, the proxy in front of it.
pt_start 3 role_address=127.0.0.5 || pt_bail "host 3 did not start"
pt_proxy_start p "127.0.0.5:$PT_PORT" "127.0.0.3:$PT_PORT" ||
    pt_bail "no proxy"
pt_arm 3 "mig.send.precopy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.5"]}
vm = create_vm(s)
s.call("VM.start_on", vm, hnum[3], False, False)
uuid = s.call("VM.get_uuid", vm)
task = s.call("Async.VM.pool_migrate", vm, hnum[2], {})
hit(3, "mig.send.precopy")
save(vm=vm, uuid=uuid, task=task, hnum=hnum)
t.done()
P
pt_proxy_cut p && pt_ok "the link from the master to the source is cut"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
s = Session(2)
wait_until(lambda: migration_record(s, vm) == "unknown", 60,
           "the master sees it has lost the source")
t.ok(True, "the master records the outcome as unknown")
t.is_(s.call("task.get_status", task), "pending", "the task is pending")
t.is_(list(s.call("VM.get_current_operations", vm).values()),
      ["pool_migrate"], "the operation stays on the VM")
go(3, "mig.send.precopy")
wait_until(lambda: s.call("task.get_status", task) != "pending", 90,
           "the master settles the migration")
check_end(t, s, vm, uuid, task, 2, (2, 3), hnum, "success",
          "with the link cut")
t.is_(migration_record(s, vm), "cleanup-destination",
      "the source is still to be told")
t.is_(len(journals(3)), 1, "the source keeps its journal meanwhile")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, hnum[3], {}),
             "OTHER_OPERATION_IN_PROGRESS",
             "no new migration before the source has forgotten this one")
t.done()
P
pt_proxy_open p && pt_ok "the link is back"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
s = Session(2)
wait_until(lambda: settled(s, vm, task), 60, "the source is told")
t.ok(True, "the record goes once the source is told")
check_end(t, s, vm, uuid, task, 2, (2, 3), hnum, "success",
          "with the link back")
t.is_(journals(3), [], "the source has forgotten the migration")
t.done()
P
pt_done
