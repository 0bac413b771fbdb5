#!/bin/bash
# The destination's receiver fails after it read COMMIT
# (mig.recv.commit-read, before the unpause) and after it resumed the VM
# (mig.recv.unpaused, before RESUMED is sent): its daemon killed, or its
# connections dropped.
#  - dropped: the receiver lingers and answers the source's QUERY, so the
#    engine itself learns the outcome (aborted, resumed);
#  - killed: the source's QUERY gets no answer: the source stays paused
#    (in doubt) and the master, which cannot ask the destination either,
#    waits; once the destination is back, it says whether it runs the VM,
#    and the master has the source destroy (it does) or resume (it does
#    not) its paused copy.
# Every case ends with one running domain, the database saying where, the
# task saying what happened, nothing left paused, no journal left.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-dest-fault
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
s.call("VM.start_on", vm, hnum[2], False, False)
save(vm=vm, uuid=s.call("VM.get_uuid", vm), hnum=hnum)
t.done()
P

# $1: fault point; $2: kill or drop; $3: where the VM ends; $4: the task.
one_case()
{
    pt_arm 3 "$1=$2"
    CASE="$1=$2" pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
# Every case starts from host 2.
if s.call("VM.get_resident_on", ids["vm"]) != ids["hnum"][2]:
    s.call("VM.hard_shutdown", ids["vm"])
    s.call("VM.start_on", ids["vm"], ids["hnum"][2], False, False)
wait_until(lambda: s.call("host.get_live", ids["hnum"][3]), 30,
           "host 3 is live")
ids["task"] = s.call("Async.VM.pool_migrate", ids["vm"], ids["hnum"][3], {})
save(**ids)
t.done()
P
    if [ "$2" = kill ]; then
        pt_gone 3 && pt_ok "$1: the destination daemon is killed there"
        CASE="$1=$2" pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
wait_until(lambda: migration_record(s, ids["vm"]) == "in-doubt", 90,
           "the source is in doubt")
t.is_(s.call("task.get_status", ids["task"]), "pending",
      "%s: in doubt, the task stays pending" % os.environ["CASE"])
t.is_(domains(ids["uuid"], (2,)), {2: "paused"},
      "%s: the source keeps its copy paused" % os.environ["CASE"])
t.done()
P
        pt_arm 3 ""
        pt_start 3 || pt_bail "host 3 did not restart"
    fi
    CASE="$1=$2" CASE_END=$3 CASE_STATUS=$4 pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
s = Session(2)
wait_until(lambda: settled(s, vm, task), 90, "the migration is settled")
check_end(t, s, vm, uuid, task, int(os.environ["CASE_END"]), (2, 3), hnum,
          os.environ["CASE_STATUS"], "(%s)" % os.environ["CASE"])
t.is_(journals(2), [], "%s: the source keeps no journal" %
      os.environ["CASE"])
t.done()
P
    pt_arm 3 ""
}

one_case mig.recv.commit-read kill 2 failure
one_case mig.recv.unpaused kill 3 success
one_case mig.recv.commit-read drop 2 failure
one_case mig.recv.unpaused drop 3 success
pt_done
