#!/bin/bash
# A member forwards pool-level calls to its master: a session from the
# master works through any host of the pool (records, VM.create and
# VM.start_on, Async calls and their tasks, event.from, JSON-RPC too);
# login through the member is still HOST_IS_SLAVE.  With the master
# stopped, a call through the member fails quickly with
# CANNOT_CONTACT_HOST and the member keeps serving.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup forward
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 forward_timeout=3 || pt_bail "host 3 did not start"
pt_py <<'P'
import json, ssl, time, urllib.request
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
m = Session.__new__(Session)            # the master's session, host 3
m.n, m.x, m.ref = 3, proxy(3), s.ref
t.is_(m.call("VM.get_all_records"), s.call("VM.get_all_records"),
      "VM.get_all_records through the member: the master's")
t.is_(sorted(m.call("host.get_all")), sorted(s.call("host.get_all")),
      "host.get_all through the member")
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
t.is_(len(hosts), 2, "two hosts")
vm = create_vm(m)
t.is_(s.call("VM.get_name_label", vm), "vm1",
      "VM.create through the member: on the master")
m.call("VM.start_on", vm, hosts["127.0.0.2"], False, False)
t.is_(s.call("VM.get_power_state", vm), "Running",
      "VM.start_on through the member")
t.is_(m.call("VM.get_record", vm), s.call("VM.get_record", vm),
      "the same record through both")
token = m.call("event.from", ["vm", "task"], "", 0)["token"]
task = m.call("Async.VM.pool_migrate", vm, hosts["127.0.0.3"], {})
t.ok(task.startswith("OpaqueRef:"), "Async.VM.pool_migrate through the "
     "member gives a task", task)
rec = m.wait_task(task)
t.is_(rec["status"], "success", "task.get_record through the member")
t.is_(m.call("task.get_record", task), s.call("task.get_record", task),
      "the same task record through both")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.3"],
      "the VM moved to the member")
t0 = time.time()
ev = m.call("event.from", ["vm"], token, 5.0)
t.ok(any(e["ref"] == vm for e in ev["events"]),
     "event.from through the member sees the VM's events")
t0 = time.time()
ev = m.call("event.from", ["pool"], ev["token"], 4.0)
dt = time.time() - t0
t.ok(ev["events"] == [] and 3.5 < dt < 9,
     "event.from through the member waits its timeout (longer than "
     "forward_timeout)", ev, dt)
bad = Session.__new__(Session)
bad.n, bad.x, bad.ref = 3, proxy(3), "OpaqueRef:nonsense"
t.fails_with(lambda: bad.call("VM.get_all"), "SESSION_INVALID",
             "an invalid session through the member: SESSION_INVALID")
t.fails_with(lambda: Session(3), "HOST_IS_SLAVE",
             "login through the member: HOST_IS_SLAVE")
req = urllib.request.Request(url(3) + "jsonrpc", json.dumps({
    "jsonrpc": "2.0", "id": 7, "method": "host.get_all",
    "params": [s.ref]}).encode(), {"Content-Type": "application/json"})
r = json.load(urllib.request.urlopen(
    req, timeout=10, context=ssl._create_unverified_context()))
t.ok(r.get("id") == 7 and sorted(r.get("result") or []) ==
     sorted(s.call("host.get_all")),
     "JSON-RPC through the member: the master's answer as JSON-RPC", r)
with open(os.environ["PT_TMP"] + "/ids", "w") as f:
    f.write("%s %s\n" % (s.ref, vm))
t.done()
P
kill -STOP "${PT_PID[2]}"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
ref, vm = open(os.environ["PT_TMP"] + "/ids").read().split()
m = Session.__new__(Session)
m.n, m.x, m.ref = 3, proxy(3), ref
t0 = time.time()
t.fails_with(lambda: m.call("VM.get_record", vm), "CANNOT_CONTACT_HOST",
             "master stopped: CANNOT_CONTACT_HOST through the member")
dt = time.time() - t0
t.ok(dt < 8, "quickly (forward_timeout 3 s)", dt)
t.fails_with(lambda: Session(3), "HOST_IS_SLAVE",
             "the member keeps serving")
t.done()
P
kill -CONT "${PT_PID[2]}"
pt_kill 2 KILL
pt_py <<'P'
import time
from pool_client import *
t = Tap()
ref, vm = open(os.environ["PT_TMP"] + "/ids").read().split()
m = Session.__new__(Session)
m.n, m.x, m.ref = 3, proxy(3), ref
t0 = time.time()
try:
    r = m.raw("VM.get_record", vm)
except Exception as e:
    r = {"exc": repr(e)}
t.is_(r.get("ErrorDescription"), ["CANNOT_CONTACT_HOST", "127.0.0.2"],
      "master killed: CANNOT_CONTACT_HOST [master address]")
t.ok(time.time() - t0 < 3, "at once", time.time() - t0)
t.done()
P
pt_done
