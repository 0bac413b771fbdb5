#!/bin/bash
# event.from: token "" gives the current objects as "add" events and a
# token; with nothing new a call waits its timeout out and answers no
# events; a change made meanwhile ends the wait early with a "mod" event
# carrying the new snapshot; valid_ref_counts counts each class asked for;
# event.inject makes a "mod" event of an object and answers a token.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup events
pt_start 2 || pt_bail "host 2 did not start"
pt_py <<'P'
import threading, time
from pool_client import *
t = Tap()
s = Session(2)
vm = create_vm(s)
r = s.call("event.from", ["VM"], "", 0)
t.is_([(e["class"], e["operation"], e["ref"]) for e in r["events"]
       if not e["snapshot"]["is_control_domain"]],
      [("VM", "add", vm)], "token \"\": the VM as an add event")
token = r["token"]
t0 = time.time()
r = s.call("event.from", ["VM"], token, 1.0)
dt = time.time() - t0
t.ok(r["events"] == [] and 0.9 <= dt < 5, "nothing new: waits the timeout",
     "%d events after %.2f s" % (len(r["events"]), dt))
def later():
    time.sleep(1)
    Session(2).call("VM.set_name_label", vm, "renamed")
threading.Thread(target=later).start()
t0 = time.time()
r = s.call("event.from", ["VM"], r["token"], 30.0)
dt = time.time() - t0
t.ok(dt < 10, "a change ends the wait early", "%.2f s" % dt)
ev = r["events"][0] if r["events"] else {}
t.is_((ev.get("operation"), ev.get("snapshot", {}).get("name_label")),
      ("mod", "renamed"), "a mod event with the new snapshot")
t.fails_with(lambda: s.call("event.from", ["VM"], "999999999", 0),
             "EVENTS_LOST", "a token from the future: EVENTS_LOST")
r = s.call("event.from", ["VM", "host"], "", 0)
t.is_({k: int(v) for k, v in r["valid_ref_counts"].items()},
      {"vm": 2, "host": 1},
      "valid_ref_counts: each class asked for, its objects (the VM and "
      "the host's control domain)")
tok = r["token"]
inj = s.call("event.inject", "VM", vm)
t.ok(isinstance(inj, str) and inj, "event.inject answers a token")
r = s.call("event.from", ["VM"], tok, 5.0)
t.is_([(e["operation"], e["ref"]) for e in r["events"]], [("mod", vm)],
      "  and the VM's mod event follows")
t.fails_with(lambda: s.call("event.inject", "VM", "OpaqueRef:nope"),
             "HANDLE_INVALID", "event.inject of no object: HANDLE_INVALID")
t.done()
P
pt_done
