#!/bin/bash
# pool.join makes a host a member: the master lists it, a login on the
# member answers HOST_IS_SLAVE with the master's address, and the member
# stays a member after a restart.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup join
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
m = Session(3)
t.fails_with(lambda: m.call("pool.join", "127.0.0.2", "root", "wrong"),
             "SESSION_AUTHENTICATION_FAILED", "a wrong password is refused")
m.call("pool.join", "127.0.0.2", "root", PASSWORD)
t.ok(True, "pool.join succeeds")
s = Session(2)
addrs = sorted(h["address"] for h in s.call("host.get_all_records").values())
t.is_(addrs, ["127.0.0.2", "127.0.0.3"], "the master lists both hosts")
t.fails_with(lambda: Session(3), "HOST_IS_SLAVE",
             "a login on the member: HOST_IS_SLAVE")
t.done()
P
pt_kill 3
pt_start 3 || pt_bail "host 3 did not restart"
pt_py <<'P'
from pool_client import *
t = Tap()
try:
    Session(3)
    t.ok(False, "still a member after a restart")
except Failure as e:
    t.is_(e.desc, ["HOST_IS_SLAVE", "127.0.0.2"],
          "still a member after a restart")
t.done()
P
pt_done
