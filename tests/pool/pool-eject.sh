#!/bin/bash
# pool.eject removes a member without VMs from the pool; a member that runs
# a VM, and the master itself, cannot be ejected.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup eject
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s)
s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
t.fails_with(lambda: s.call("pool.eject", hosts["127.0.0.3"]),
             "OPERATION_NOT_ALLOWED", "a member running a VM stays")
t.fails_with(lambda: s.call("pool.eject", hosts["127.0.0.2"]),
             "HOST_CANNOT_DESTROY_SELF", "the master cannot eject itself")
s.call("VM.hard_shutdown", vm)
s.call("pool.eject", hosts["127.0.0.3"])
t.is_(s.call("host.get_all"), [hosts["127.0.0.2"]], "the member is gone")
t.done()
P
pt_done
