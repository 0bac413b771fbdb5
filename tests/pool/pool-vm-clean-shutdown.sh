#!/bin/bash
# VM.clean_shutdown asks the test guest to shut down (the shutdown request
# word of its params page); the guest stops itself with exit code 0 and the
# VM ends Halted with no domain left.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vm-clean-shutdown
pt_start 2 || pt_bail "host 2 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
s = Session(2)
vm = create_vm(s)
s.call("VM.start", vm, False, False)
t.is_(s.call("VM.get_power_state", vm), "Running", "started: Running")
uuid = s.call("VM.get_uuid", vm)
a = heartbeats(2, uuid, 1)
t.ok(a > 0, "the guest runs", "hb %d" % a)
s.call("VM.clean_shutdown", vm)
t.is_(s.call("VM.get_power_state", vm), "Halted", "clean_shutdown: Halted")
t.is_(running_on(uuid, (2,)), [], "no domain is left")
t.fails_with(lambda: s.call("VM.clean_shutdown", vm), "VM_BAD_POWER_STATE",
             "a halted VM cannot be shut down again")
s.call("VM.start", vm, False, False)
t.is_(s.call("VM.get_power_state", vm), "Running", "it starts again")
s.call("VM.hard_shutdown", vm)
t.is_(s.call("VM.get_power_state", vm), "Halted", "hard_shutdown: Halted")
s.call("VM.destroy", vm)
t.done()
P
grep -q "VM [0-9a-f-]*: the guest acknowledged the shutdown request" \
    "$PT_TMP/h2/log" &&
    pt_ok "the guest acknowledged the request (daemon log)" ||
    pt_fail "the guest acknowledged the request (daemon log)"
pt_done
