#!/bin/bash
# VM.create + VM.start boots the test guest on the master; its heartbeat
# advances (host_local.vm_status); hard_shutdown stops it; a running VM
# cannot be destroyed, a halted one can.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vm-start
pt_start 2 || pt_bail "host 2 did not start"
pt_py <<'P'
import os
from pool_client import *
t = Tap()
s = Session(2)
vm = create_vm(s)
t.is_(s.call("VM.get_power_state", vm), "Halted", "a new VM is Halted")
s.call("VM.start", vm, False, False)
t.is_(s.call("VM.get_power_state", vm), "Running", "started: Running")
host = s.call("host.get_all")[0]
t.is_(s.call("VM.get_resident_on", vm), host, "resident_on the master")
uuid = s.call("VM.get_uuid", vm)
a = heartbeats(2, uuid, 1)
b = heartbeats(2, uuid, 2)
t.ok(b > a, "the guest's heartbeat advances", "%d then %d" % (a, b))
if os.environ.get("PT_HV") == "kvm":
    st = host_local(2, "vm_status", uuid)
    t.ok(int(st["idle_sleeps"]) > 0 and int(st["idle_ms"]) > 0,
         "the idle guest sleeps through its idle port (%s sleeps, %s ms)" %
         (st["idle_sleeps"], st["idle_ms"]))
t.fails_with(lambda: s.call("VM.start", vm, False, False),
             "VM_BAD_POWER_STATE", "starting it again: VM_BAD_POWER_STATE")
t.fails_with(lambda: s.call("VM.destroy", vm), "VM_BAD_POWER_STATE",
             "a running VM cannot be destroyed")
s.call("VM.hard_shutdown", vm)
t.is_(s.call("VM.get_power_state", vm), "Halted", "hard_shutdown: Halted")
t.is_(running_on(uuid, (2,)), [], "no domain is left")
s.call("VM.destroy", vm)
t.is_([r for r, v in s.call("VM.get_all_records").items()
       if not v["is_control_domain"]], [], "destroyed")
# A boot key the driver cannot honour is refused, never dropped.
vm = create_vm(s, "rd")
s.call("VM.add_to_other_config", vm, "xm:ramdisk", "/boot/initrd.img")
try:
    s.call("VM.start", vm, False, False)
    t.ok(False, "a ramdisk on the kvm driver: refused", "it started")
except Failure as e:
    t.ok("ramdisk" in " ".join(e.desc), "a ramdisk on the kvm driver: "
         "refused, and the error names it", repr(e.desc))
t.is_(s.call("VM.get_power_state", vm), "Halted", "and the VM stays Halted")
s.call("VM.destroy", vm)
t.done()
P
pt_done
