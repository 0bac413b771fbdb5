#!/bin/bash
# The master is killed (SIGKILL) while it has a VM migrating between two
# members, and started again.
#  1. While the source is held in its pre-copy (mig.send.precopy=wait):
#     the members finish the migration without the master; the restarted
#     master's reconciler asks the source and settles it.
#  2. Once it applied an outcome, before it told the source
#     (pd.master.applied=kill): the restarted master tells the source.
# Either way the VM runs on exactly one host, the database says which, no
# operation is left on it, its task ended, and no journal is left.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup master-kill
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
pt_arm 3 "mig.send.precopy=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
Session(4).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {n: hosts["127.0.0.%d" % n] for n in (2, 3, 4)}
vm = create_vm(s)
s.call("VM.start_on", vm, hnum[3], False, False)
t.is_(s.call("VM.get_resident_on", vm), hnum[3], "on host 3")
task = s.call("Async.VM.pool_migrate", vm, hnum[4], {})
hit(3, "mig.send.precopy")
save(vm=vm, uuid=s.call("VM.get_uuid", vm), task=task, hnum=hnum)
t.done()
P
pt_kill 2 KILL
pt_ok "the master is killed during the migration"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
go(3, "mig.send.precopy")
# The members go on: the source's engine ends without the master.
st = wait_until(lambda: (lambda r: r if not r["running"] else None)(
    host_local(3, "migrate_status", ids["task"], 0)), 60,
    "the source's engine ends")
t.is_(st["state"], "handed-over", "the members finish the migration alone")
t.done()
P
pt_start 2 || pt_bail "host 2 did not restart"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
s = Session(2)
wait_until(lambda: settled(s, vm, task), 60, "the restarted master settles")
check_end(t, s, vm, uuid, task, 4, (2, 3, 4), hnum, "success",
          "(killed mid-migration)")
t.is_(journals(3), [], "the source keeps no journal")
t.done()
P
pt_arm 2 "pd.master.applied=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
ids["task"] = s.call("Async.VM.pool_migrate", ids["vm"], ids["hnum"][3], {})
save(**ids)
t.done()
P
pt_gone 2 && pt_ok "the master is killed once it applied the outcome"
pt_arm 2 ""
pt_start 2 || pt_bail "host 2 did not restart"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
s = Session(2)
t.is_(s.call("task.get_status", task), "success",
      "the outcome was applied before the kill")
wait_until(lambda: settled(s, vm, task), 60,
           "the restarted master tells the source")
check_end(t, s, vm, uuid, task, 3, (2, 3, 4), hnum, "success",
          "(killed before telling the source)")
t.is_(journals(4), [], "the source keeps no journal")
t.done()
P
pt_done
