#!/bin/bash
# VM.pool_migrate with the option `network`: the stream goes to the
# target's address on that network (network other_config
# "xm:address:<host uuid>"); an unknown network is HANDLE_INVALID, a
# network without an address for the target fails and leaves the VM
# running on its source.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-network
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import os
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
net = s.call("network.get_all")[0]
vm = create_vm(s)
s.call("VM.start", vm, False, False)
uuid = s.call("VM.get_uuid", vm)
t.fails_with(lambda: s.call("VM.pool_migrate", vm, h3,
                            {"network": "OpaqueRef:nonesuch"}),
             "HANDLE_INVALID", "an unknown network is HANDLE_INVALID")
try:
    s.call("VM.pool_migrate", vm, h3, {"network": net})
    t.ok(False, "a network without the target's address fails")
except Failure as e:
    t.is_(e.desc[0], "VM_MIGRATE_FAILED",
          "a network without the target's address fails")
    t.ok("no address for host" in e.desc[-1], "with a clear reason",
         str(e.desc))
t.is_(s.call("VM.get_resident_on", vm), h2, "the VM stays on host 2")
t.is_(running_on(uuid, (2, 3)), [2], "and runs there")
t.is_(s.call("VM.get_current_operations", vm), {}, "no operation left")
for addr, h in (("127.0.0.12", h2), ("127.0.0.13", h3)):
    s.call("network.add_to_other_config", net,
           "xm:address:" + s.call("host.get_uuid", h), addr)
task = s.call("Async.VM.pool_migrate", vm, h3, {"network": net})
rec = s.wait_task(task)
t.is_(rec["status"], "success", "the migration on that network succeeds")
t.is_(s.call("VM.get_resident_on", vm), h3, "the VM is now on host 3")
t.is_(running_on(uuid, (2, 3)), [3], "and runs on host 3 only")
log = open(os.path.join(os.environ["PT_TMP"], "h3", "log")).read()
t.ok("listening on 127.0.0.13 " in log,
     "the receiver listened on host 3's migration-network address")
s.call("VM.pool_migrate", vm, h2, {"network": net})
log = open(os.path.join(os.environ["PT_TMP"], "h2", "log")).read()
t.ok("listening on 127.0.0.12 " in log, "and back on 127.0.0.12")
t.is_(running_on(uuid, (2, 3)), [2], "the VM runs on host 2 again")
t.done()
P
pt_done
