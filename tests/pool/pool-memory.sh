#!/bin/bash
# Memory placement on a pool of three hosts offering VMs 1024, 512 and
# 512 MiB (vm-memory-mib; 2 is the master): host.compute_free_memory is
# what a host offers less its VMs; VM.assert_can_boot_here and VM.start_on
# refuse a VM that does not fit with HOST_NOT_ENOUGH_FREE_MEMORY [needed,
# available], a disabled host with HOST_DISABLED; VM.get_possible_hosts
# lists the hosts that fit, the most free first; VM.start falls back from
# an affinity host that is full.  An evacuation reserves its whole plan
# before its first move: held in that move (pd.master.prepared), its
# destination's free memory already counts every VM of the plan
# (VM.scheduled_to_be_resident_on), and a VM started there meanwhile is
# refused; once it ends nothing is left reserved.  The master killed at
# the same point: at its restart no reservation outlives the evacuation.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup memory
pt_start 2 vm-memory-mib=1024 host_check_interval=1 ||
    pt_bail "host 2 did not start"
pt_start 3 vm-memory-mib=512 || pt_bail "host 3 did not start"
pt_start 4 vm-memory-mib=512 || pt_bail "host 4 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
MiB = 1 << 20
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3, h4 = (hosts["127.0.0.%d" % n] for n in (2, 3, 4))
free = lambda h: int(s.call("host.compute_free_memory", h))
t.is_((free(h2), free(h3), free(h4)), (1024 * MiB, 512 * MiB, 512 * MiB),
      "host.compute_free_memory: what each host offers VMs")
t.is_(int(s.call("host.get_memory_total", h3)), 512 * MiB,
      "  and host 3's memory_total says vm-memory-mib")

def vm(name, mib):
    return s.call("VM.create", {"name_label": name,
                                "memory_static_max": str(mib * MiB),
                                "VCPUs_max": "1",
                                "other_config": {"xm:cmdline": "ws_mib=4"}})

a, b, big, c = vm("a", 256), vm("b", 128), vm("big", 384), vm("c", 256)
s.call("VM.start_on", a, h3, False, False)
t.is_(free(h3), 256 * MiB, "a 256 MiB VM started on host 3: 256 MiB left")
d = []
try:
    s.call("VM.assert_can_boot_here", big, h3)
except Failure as e:
    d = e.desc
t.is_(d, ["HOST_NOT_ENOUGH_FREE_MEMORY", str(384 * MiB), str(256 * MiB)],
      "VM.assert_can_boot_here: HOST_NOT_ENOUGH_FREE_MEMORY [needed, "
      "available]")
t.fails_with(lambda: s.call("VM.start_on", big, h3, False, False),
             "HOST_NOT_ENOUGH_FREE_MEMORY", "VM.start_on refuses it too")
t.is_(s.call("VM.get_power_state", big), "Halted", "  and it stays halted")
t.is_(s.call("VM.get_possible_hosts", big), [h2, h4],
      "VM.get_possible_hosts: the hosts it fits on, the most free first")
s.call("host.disable", h4)
t.is_(s.call("VM.get_possible_hosts", big), [h2],
      "  not a disabled host")
t.fails_with(lambda: s.call("VM.assert_can_boot_here", big, h4),
             "HOST_DISABLED", "VM.assert_can_boot_here on a disabled host: "
             "HOST_DISABLED")
s.call("host.enable", h4)
s.call("VM.set_affinity", big, h3)
s.call("VM.start", big, False, False)
t.is_(s.call("VM.get_resident_on", big), h2,
      "VM.start with a full affinity host: on the possible host with most "
      "free")
s.call("VM.hard_shutdown", big)
t.is_(free(h2), 1024 * MiB, "  and halted, its memory is free again")
s.call("VM.start_on", b, h3, False, False)
t.is_(free(h3), 128 * MiB, "b started on host 3: 128 MiB left")
save(h2=h2, h3=h3, h4=h4, a=a, b=b, c=c)
t.done()
P

# Host 2 disabled: host 4 is the only destination.  The evacuation held
# in its first move (batch 1) has reserved both VMs there.
pt_arm 2 "pd.master.prepared=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
MiB = 1 << 20
ids = load()
s = Session(2)
h2, h3, h4 = ids["h2"], ids["h3"], ids["h4"]
s.call("host.disable", h2)
task = s.call("Async.host.evacuate", h3, "OpaqueRef:NULL", 1)
hit(2, "pd.master.prepared")
t.is_(int(s.call("host.compute_free_memory", h4)), 128 * MiB,
      "held in its first move: host 4's free memory counts the whole plan")
t.is_(sorted(s.call("VM.get_scheduled_to_be_resident_on", v)
             for v in (ids["a"], ids["b"])), [h4, h4],
      "  both VMs are scheduled to be resident on host 4")
d = []
try:
    s.call("VM.start_on", ids["c"], h4, False, False)
except Failure as e:
    d = e.desc
t.is_(d, ["HOST_NOT_ENOUGH_FREE_MEMORY", str(256 * MiB), str(128 * MiB)],
      "a VM started on host 4 meanwhile cannot take the plan's memory")
arm(2, "")
go(2, "pd.master.prepared")
rec = s.wait_task(task, 120)
t.ok(rec["status"] == "success", "the evacuation ends", repr(rec))
t.is_(sorted(s.call("VM.get_resident_on", v) for v in (ids["a"], ids["b"])),
      [h4, h4], "  both VMs on host 4")
t.is_([s.call("VM.get_scheduled_to_be_resident_on", v)
       for v in (ids["a"], ids["b"], ids["c"])], ["OpaqueRef:NULL"] * 3,
      "  and nothing is left reserved")
t.is_((int(s.call("host.compute_free_memory", h3)),
       int(s.call("host.compute_free_memory", h4))),
      (512 * MiB, 128 * MiB), "  host 3 all free, host 4 128 MiB")
s.call("host.enable", h3)
t.done()
P
pt_arm 2 ""

# The master killed held in the evacuation of host 4 back to host 3.
pt_arm 2 "pd.master.prepared=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
ids["task"] = s.call("Async.host.evacuate", ids["h4"], "OpaqueRef:NULL", 1)
save(**ids)
t.done()
P
pt_gone 2 && pt_ok "the master is killed held in an evacuation's move"
pt_arm 2 ""
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
rec = s.wait_task(ids["task"], 120)
t.is_(rec["status"], "failure", "at its restart the evacuation's task ends")
vms = (ids["a"], ids["b"])
wait_until(lambda: all(not migration_record(s, v) for v in vms), 120,
           "the move in flight to settle")
t.is_([s.call("VM.get_scheduled_to_be_resident_on", v) for v in vms],
      ["OpaqueRef:NULL"] * 2, "no reservation outlives the evacuation")
on = [s.call("VM.get_resident_on", v) for v in vms]
t.ok(set(on) <= {ids["h3"], ids["h4"]}, "each VM resident on one host",
     repr(on))
t.done()
P
pt_done
