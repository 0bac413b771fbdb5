#!/bin/bash
# A pool on HTTPS only (http_port = 0): pool.join pins the master's
# certificate key on first use and hands the master the member's; a VM
# started on the member migrates to the master over pinned host-to-host
# calls and then runs on exactly one host; a member that comes back with
# another key is refused.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
PT_HTTPS=1
pt_setup https
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
t.ok(True, "pool.join over HTTPS succeeds")
s = Session(2)
recs = s.call("host.get_all_records")
hosts = {h["address"]: r for r, h in recs.items()}
urls = sorted(h["other_config"].get("xm:url", "") for h in recs.values())
t.ok(all(u.startswith("https://") and "#sha256//" in u for u in urls),
     "every host is reached at a pinned https URL", repr(urls))
vm = create_vm(s)
s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
uuid = s.call("VM.get_uuid", vm)
t.is_(running_on(uuid, (2, 3)), [3], "started on the member")
s.call("VM.pool_migrate", vm, hosts["127.0.0.2"], {"live": "true"})
t.is_(s.call("VM.get_resident_on", vm), hosts["127.0.0.2"],
      "pool_migrate to the master over HTTPS")
t.is_(running_on(uuid, (2, 3)), [2], "then it runs on the master only")
t.done()
P
# The member comes back with a new key: the master refuses to talk to it.
pt_kill 3
rm -f "$PT_TMP/h3/state/xm-poold.pem" "$PT_TMP/h3/state/xm-poold.key"
pt_start 3 || pt_bail "host 3 did not restart"
pt_py <<'P'
from pool_client import *
t = Tap()
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
vm = create_vm(s, "vm2")
try:
    s.call("VM.start_on", vm, hosts["127.0.0.3"], False, False)
    t.ok(False, "a member with another key is refused")
except Failure as e:
    t.ok(True, "a member with another key is refused")
    t.ok("not the one recorded" in " ".join(e.desc),
         "the error says the key changed", repr(e.desc))
t.is_(s.call("VM.get_power_state", vm), "Halted", "the VM stays Halted")
t.done()
P
pt_done
