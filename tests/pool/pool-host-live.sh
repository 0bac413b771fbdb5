#!/bin/bash
# Host liveness: the master pings its members every host_check_interval;
# a member that stops answering (SIGSTOP) is no longer live after two
# missed pings, and migrating or starting a VM there is HOST_OFFLINE with
# the VM unharmed; once it answers again (SIGCONT) it is live again.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup host-live
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
H3PID=${PT_PID[3]} pt_py <<'P'
import os, signal, time
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
vm = create_vm(s)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
vm2 = create_vm(s, "vm2")


def wait_live(want, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if s.call("host.get_live", h3) == want:
            return True
        time.sleep(0.2)
    return False


time.sleep(2.5)
t.is_(s.call("host.get_live", h3), True, "a member that answers is live")
pid = int(os.environ["H3PID"])
os.kill(pid, signal.SIGSTOP)
try:
    t.ok(wait_live(False), "a stopped member is not live after missed pings")
    t.fails_with(lambda: s.call("VM.assert_can_migrate", vm, h3, {}),
                 "HOST_OFFLINE", "assert_can_migrate to it: HOST_OFFLINE")
    t.fails_with(lambda: s.call("VM.pool_migrate", vm, h3, {}),
                 "HOST_OFFLINE", "pool_migrate to it: HOST_OFFLINE")
    t.fails_with(lambda: s.call("VM.start_on", vm2, h3, False, False),
                 "HOST_OFFLINE", "start_on it: HOST_OFFLINE")
    t.is_(s.call("VM.get_resident_on", vm), h2, "the VM stays on host 2")
    t.is_(s.call("VM.get_power_state", vm), "Running", "still Running")
    t.is_(running_on(uuid, (2,)), [2], "and its domain runs there")
    t.is_(s.call("VM.get_current_operations", vm), {}, "no operation left")
    t.is_(s.call("VM.get_power_state", vm2), "Halted",
          "the VM not started stays Halted")
finally:
    os.kill(pid, signal.SIGCONT)
t.ok(wait_live(True), "once it answers again it is live")
s.call("VM.pool_migrate", vm, h3, {})
t.is_(s.call("VM.get_resident_on", vm), h3, "and a VM can move there")
t.done()
P
pt_done
