#!/bin/bash
# The source host's daemon is killed (SIGKILL, by a fault point) in the
# middle of a migration, and started again.
#  1. At mig.send.commit-sent: COMMIT is on its way, the source domain is
#     paused.  The destination takes the VM; the master, unable to ask the
#     source, learns it from the destination and settles there.  The
#     restarted source finds its journal and a paused domain (in doubt):
#     it keeps it until the master says the destination runs the VM, then
#     destroys it.
#  2. At mig.send.paused (stop-and-copy, before COMMIT): the destination
#     never runs the VM.  The restarted source finds a paused domain, in
#     doubt too; the master, told by the destination that it has neither
#     the VM nor a receiver, has the source resume it.
# Either way: one running domain, the database says where, the task says
# what happened, nothing left paused, no journal left.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-source-kill
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
vm = create_vm(s)
s.call("VM.start_on", vm, hnum[3], False, False)
save(vm=vm, uuid=s.call("VM.get_uuid", vm), hnum=hnum)
t.done()
P

# $1: fault point; $2: where the VM ends; $3: the task's status.
one_case()
{
    pt_arm 3 "$1=kill"
    pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
ids["task"] = s.call("Async.VM.pool_migrate", ids["vm"], ids["hnum"][2], {})
save(**ids)
t.done()
P
    pt_gone 3 && pt_ok "$1: the source daemon is killed there"
    CASE_END=$2 CASE_STATUS=$3 CASE=$1 pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
end, case = int(os.environ["CASE_END"]), os.environ["CASE"]
s = Session(2)
if end == 3:
    # Only the source's word can end it there: it waits.
    wait_until(lambda: migration_record(s, vm) == "unknown", 60,
               "the master sees it has lost the source")
    t.is_(s.call("task.get_status", task), "pending",
          "%s: without the source the task stays pending" % case)
else:
    wait_until(lambda: s.call("task.get_status", task) != "pending", 60,
               "the master settles on the destination")
    t.is_(migration_record(s, vm), "cleanup-destination",
          "%s: settled on the destination, the source to be told" % case)
t.done()
P
    pt_arm 3 ""
    pt_start 3 || pt_bail "host 3 did not restart"
    CASE_END=$2 CASE_STATUS=$3 CASE=$1 pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
end, case = int(os.environ["CASE_END"]), os.environ["CASE"]
s = Session(2)
wait_until(lambda: settled(s, vm, task), 90, "the migration is settled")
check_end(t, s, vm, uuid, task, end, (2, 3), hnum,
          os.environ["CASE_STATUS"], "(%s)" % case)
t.is_(host_local(end, "vm_status", uuid)["logdirty"], False,
      "%s: log-dirty is off" % case)
t.is_(journals(3), [], "%s: the source keeps no journal" % case)
t.done()
P
}

one_case mig.send.commit-sent 2 success
# The VM is on host 2 now: back to host 3 for the second case.
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
wait_until(lambda: s.call("host.get_live", ids["hnum"][3]), 30,
           "host 3 is live again")
s.call("VM.pool_migrate", ids["vm"], ids["hnum"][3], {})
t.is_(domains(ids["uuid"], (2, 3)), {3: "running"}, "back on host 3")
t.done()
P
one_case mig.send.paused 3 failure
pt_done
