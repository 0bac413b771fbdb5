#!/bin/bash
# A daemon stopped (SIGTERM) in the middle of things ends its waits at
# once and cancels what has not committed:
#  1. a destination whose receiver waits for its sender (the master held
#     between migrate_prepare and migrate_send, pd.master.prepared=wait)
#     exits within 5 s, not after the receiver's 60 s; the migration then
#     fails and the VM runs on at its source;
#  2. a master that is also the source, with a client waiting in
#     event.from (60 s) and a migration held in its pre-copy
#     (mig.send.precopy=wait), stopped once the call is dispatched
#     (pd.event.waiting): event.from answers within 5 s, before the
#     migration is let go; once it is, the engine sees the cancel at its
#     next batch and the daemon exits within 10 s.  The VM runs on at the
#     source, not paused, log-dirty off; restarted, the master settles the
#     migration as failed.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup shutdown
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_arm 2 "pd.master.prepared=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
hnum = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
vm = create_vm(s)
s.call("VM.start", vm, False, False)
task = s.call("Async.VM.pool_migrate", vm, hnum[3], {})
hit(2, "pd.master.prepared")
t.ok(host_local(3, "vm_status", s.call("VM.get_uuid", vm))["receiving"],
     "the destination's receiver waits for its sender")
save(vm=vm, uuid=s.call("VM.get_uuid", vm), task=task, hnum=hnum)
t.done()
P
t0=$(date +%s.%N)
pt_kill 3 TERM
t1=$(date +%s.%N)
if awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }'; then
    pt_ok "the destination stops at once (in $(awk -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.1f", b - a }') s)"
else
    pt_fail "the destination stops at once" "it took $t0 .. $t1"
fi
pt_arm 2 ""
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
go(2, "pd.master.prepared")
s = Session(2)
wait_until(lambda: settled(s, vm, task), 60, "the migration is settled")
check_end(t, s, vm, uuid, task, 2, (2,), hnum, "failure",
          "(no receiver)")
t.done()
P
pt_start 3 || pt_bail "host 3 did not restart"

pt_arm 2 "mig.send.precopy=wait pd.event.waiting=wait"
PT_PID2=${PT_PID[2]} pt_py <<'P'
import signal, threading
from pool_client import *
t = Tap()
ids = load()
vm, uuid, hnum = ids["vm"], ids["uuid"], ids["hnum"]
pid = int(os.environ["PT_PID2"])
s = Session(2)
wait_until(lambda: s.call("host.get_live", hnum[3]), 30, "host 3 is live")
task = s.call("Async.VM.pool_migrate", vm, hnum[3], {})
hit(2, "mig.send.precopy")
import xmlrpc.client
waiter = Session(2)
token = waiter.call("event.from", ["task"], "", 0)["token"]
x = xmlrpc.client.ServerProxy(url(2), allow_none=True)
answered = []
def wait_events():
    try:
        answered.append(getattr(x.event, "from")(waiter.ref, ["VM"], token,
                                                 60.0))
    except Exception as e:
        answered.append(e)
th = threading.Thread(target=wait_events)
th.start()
# The call is in the daemon's hands (not only written to its socket).
hit(2, "pd.event.waiting")
go(2, "pd.event.waiting")
t0 = time.time()
os.kill(pid, signal.SIGTERM)
th.join(5.0)
t.ok(not th.is_alive(), "event.from answers within 5 s of SIGTERM",
     "%.1f s" % (time.time() - t0))
a = answered[0] if answered else None
t.ok(isinstance(a, dict) and a.get("Status") == "Success",
     "with its answer", repr(a))
def gone():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
t.ok(not gone(), "the daemon waits for the migration it sends")
t1 = time.time()
go(2, "mig.send.precopy")
wait_until(gone, 30, "the daemon exits")
t.ok(time.time() - t1 < 10, "once let go it exits within 10 s",
     "%.1f s" % (time.time() - t1))
ids["task"] = task
save(**ids)
t.done()
P
pt_kill 2 TERM
pt_arm 2 ""
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not restart"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
vm, uuid, task, hnum = ids["vm"], ids["uuid"], ids["task"], ids["hnum"]
st = host_local(2, "vm_status", uuid)
t.is_((st["state"], st["logdirty"]), ("running", False),
      "the source VM runs on, log-dirty off")
t.is_(domains(uuid, (3,)), {}, "the destination has nothing")
s = Session(2)
wait_until(lambda: settled(s, vm, task), 60, "the migration is settled")
check_end(t, s, vm, uuid, task, 2, (2, 3), hnum, "failure",
          "(source stopped)")
t.is_(journals(2), [], "no journal is left")
t.done()
P
pt_done
