#!/bin/bash
# Bad XenAPI calls a GUI or a script may make get a clear XenAPI error and
# the daemon serves on: an unknown class, field or method, wrong types, a
# huge set, a token from another pool, an event.from of hours, and a
# flood of event.from calls that would hold every connection.  The
# daemon allows 8 connections, so at most 4 event waits: the flood is held
# where it waits (fault point pd.event.waiting) while other calls are
# made, so the count is exact.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup api-bad-input
pt_start 2 max_connections=8 || pt_bail "host 2 did not start"
pt_py <<'P'
import threading, time
from pool_client import *
t = Tap()
s = Session(2)
vm = create_vm(s)

t.fails_with(lambda: s.call("VMX.get_all_records"), "MESSAGE_METHOD_UNKNOWN",
             "an unknown class")
t.fails_with(lambda: s.call("VM.get_colour", vm), "MESSAGE_METHOD_UNKNOWN",
             "an unknown field")
t.fails_with(lambda: s.call("VM.set_memory_static_max", vm, "lots"),
             "FIELD_TYPE_ERROR", "a string for an int field")
t.fails_with(lambda: s.call("VM.set_name_label", vm, ["a", "list"]),
             "FIELD_TYPE_ERROR", "a set for a string field")
t.fails_with(lambda: s.call("VM.get_record", "OpaqueRef:nope"),
             "HANDLE_INVALID", "a ref of nothing")
t.fails_with(lambda: s.call("VM.get_record", 42), "INVALID_VALUE",
             "an int for a ref")
r = s.call("event.from", ["VM"] * 100000, "", 0.0)
t.ok(len(r["events"]) == int(r["valid_ref_counts"].get("vm", -1)) == 2 and
     list(r["valid_ref_counts"]) == ["vm"],
     "event.from with 100000 classes: answered, bounded")
t.fails_with(lambda: s.call("event.from", ["VM"], "9999999999", 1.0),
             "EVENTS_LOST", "a token from another pool's longer log")
t.fails_with(lambda: s.call("event.from", ["VM"], "not a token", 1.0),
             "INVALID_VALUE", "a token that is none")

# The flood: 6 event.from of 10 hours each.
tok = s.call("event.inject", "VM", vm)
arm(2, "pd.event.waiting=wait")
res, ends = {}, {}
def waiter(k):
    x = Session(2)
    t0 = time.time()
    try:
        res[k] = x.call("event.from", ["VM"], tok, 36000.0)
    except Exception as e:
        res[k] = e
    ends[k] = time.time() - t0
sessions = [Session(2) for _ in range(6)]  # logins before the flood
ts = [threading.Thread(target=waiter, args=(k,)) for k in range(6)]
for th in ts:
    th.start()
hit(2, "pd.event.waiting")
wait_until(lambda: len(ends) >= 2, 60, "two calls answered")
t.ok(len(ends) == 2 and all(ends[k] < 30 for k in ends),
     "past 4 waiters, a call answers at once", ends)
t.ok(all(isinstance(res[k], dict) and res[k]["events"] == [] for k in ends),
     "with what happened since its token: nothing")
t0 = time.time()
t.is_(s.call("VM.get_uuid", vm), s.call("VM.get_uuid", vm),
      "other calls are served meanwhile")
t.ok(time.time() - t0 < 30, "at once")
s.call("VM.set_name_label", vm, "wake")
go(2, "pd.event.waiting")
for th in ts:
    th.join(120)
t.ok(len(ends) == 6 and all(isinstance(res[k], dict) for k in res),
     "the held ones answer once a change comes")
t.ok(sum(1 for k in res if any(e.get("snapshot", {}).get("name_label") ==
                               "wake" for e in res[k]["events"])) == 4,
     "the 4 that waited carry the change")
arm(2, "")
t.done()
P
pt_done
