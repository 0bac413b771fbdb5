#!/bin/bash
# pool.eject removes a member without VMs from the pool; a member that runs
# a VM, and the master itself, cannot be ejected.  The ejected host is told
# and becomes the master of a new pool of one, with a new pool secret.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup eject
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import os
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s)
s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
vm_uuid = s.call("VM.get_uuid", vm)
t.fails_with(lambda: s.call("pool.eject", hosts["127.0.0.3"]),
             "OPERATION_NOT_ALLOWED", "a member running a VM stays")
t.fails_with(lambda: s.call("pool.eject", hosts["127.0.0.2"]),
             "HOST_CANNOT_DESTROY_SELF", "the master cannot eject itself")
s.call("VM.hard_shutdown", vm)
s.call("pool.eject", hosts["127.0.0.3"])
t.is_(s.call("host.get_all"), [hosts["127.0.0.2"]], "the member is gone")
old_pool = s.call("pool.get_all")
try:
    s3 = Session(3)
    t.ok(True, "logging in on the ejected host works (no HOST_IS_SLAVE)")
except Failure as e:
    s3 = None
    t.ok(False, "logging in on the ejected host works (no HOST_IS_SLAVE)",
         str(e.desc))
if s3:
    h3 = s3.call("host.get_all")
    t.is_(len(h3), 1, "its pool has one host")
    t.is_(s3.call("host.get_address", h3[0]), "127.0.0.3", "itself")
    p3 = s3.call("pool.get_all")
    t.is_(len(p3), 1, "it has one pool object")
    t.ok(p3 != old_pool, "a new one")
    t.is_(s3.call("pool.get_master", p3[0]), h3[0], "whose master it is")
    t.is_([r for r in s3.call("VM.get_all_records").values()
           if not r["is_control_domain"]], [], "without the old pool's VMs")
    t.is_([r["resident_on"] for r in s3.call("VM.get_all_records").values()],
          s3.call("host.get_all"), "but its own control domain")
secret2 = open(os.path.join(os.environ["PT_TMP"], "h2", "state",
                            "pool-secret")).read().split()[0]
secret3 = open(os.path.join(os.environ["PT_TMP"], "h3", "state",
                            "pool-secret")).read().split()[0]
t.ok(secret2 != secret3, "it has a new pool secret")
env = proxy(3).host_local.vm_status(secret2, vm_uuid)
t.is_((env.get("ErrorDescription") or [None])[0], "PERMISSION_DENIED",
      "the old pool's secret is refused there")
t.is_(s.call("host.get_all"), [hosts["127.0.0.2"]],
      "the master still lists only itself")
t.done()
P
pt_done
