#!/bin/bash
# VM.assert_can_migrate and VM.pool_migrate refuse what pool.md says they
# must: a halted VM (VM_BAD_POWER_STATE), a target without the VM's
# memory free (HOST_NOT_ENOUGH_FREE_MEMORY), a bad host ref
# (HANDLE_INVALID); a refused migration leaves no operation behind.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup migrate-checks
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h3 = hosts["127.0.0.3"]
vm = create_vm(s)
t.fails_with(lambda: s.call("VM.assert_can_migrate", vm, h3, {}),
             "VM_BAD_POWER_STATE", "a halted VM: VM_BAD_POWER_STATE")
s.call("VM.start", vm, False, False)
t.fails_with(lambda: s.call("VM.pool_migrate", vm, "OpaqueRef:nope", {}),
             "HANDLE_INVALID", "a bad host: HANDLE_INVALID")
s.call("VM.set_memory_static_max", vm, str(1 << 60))
t.fails_with(lambda: s.call("VM.assert_can_migrate", vm, h3, {}),
             "HOST_NOT_ENOUGH_FREE_MEMORY", "too big for the target")
t.fails_with(lambda: s.call("VM.pool_migrate", vm, h3, {}),
             "HOST_NOT_ENOUGH_FREE_MEMORY", "pool_migrate refuses it too")
t.is_(s.call("VM.get_current_operations", vm), {}, "no operation is left")
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"],
      "the VM stays where it was")
s.call("VM.hard_shutdown", vm)
t.done()
P
pt_done
