#!/bin/bash
# A fresh master answers login and the generic methods from the pool model:
# get_all_records of pool, host and network; getters; setter type checks;
# a bad ref is HANDLE_INVALID; no session or a wrong one is SESSION_INVALID;
# system.listMethods, without a session, lists the methods a client may
# call (Async forms too, host_local.* not), the classes derivable from it;
# every field XAPI sends (tests/data/xapi-fields.txt) is in the records and
# has its getter.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup records
pt_start 2 || pt_bail "host 2 did not start"
pt_py "$PT_SRCDIR/tests/data/xapi-fields.txt" <<'P'
import sys
from pool_client import *
t = Tap()
s = Session(2)
t.ok(s.ref.startswith("OpaqueRef:"), "login answers a session ref")
hosts = s.call("host.get_all_records")
t.is_(len(hosts), 1, "one host")
h = list(hosts.values())[0]
t.is_((h["address"], h["live"], h["enabled"]), ("127.0.0.2", True, True),
      "the host has its address and is live")
t.ok(int(h["memory_total"]) > 0, "memory_total is known")
pools = s.call("pool.get_all_records")
t.is_(list(pools.values())[0]["master"], list(hosts)[0], "pool.master")
t.is_(len(s.call("network.get_all")), 1, "a default network")
ref = list(hosts)[0]
t.is_(s.call("host.get_address", ref), "127.0.0.2", "host.get_address")
t.is_(s.call("host.get_by_uuid", h["uuid"]), ref, "host.get_by_uuid")
s.call("host.set_name_label", ref, "h2")
t.is_(s.call("host.get_by_name_label", "h2"), [ref], "set/get_by_name_label")
t.fails_with(lambda: s.call("host.set_name_label", ref, ["x"]),
             "FIELD_TYPE_ERROR", "a wrong type is FIELD_TYPE_ERROR")
t.fails_with(lambda: s.call("VM.get_record", "OpaqueRef:nope"),
             "HANDLE_INVALID", "a bad ref is HANDLE_INVALID")
t.fails_with(lambda: value(proxy(2).host.get_all("OpaqueRef:bogus")),
             "SESSION_INVALID", "a wrong session is SESSION_INVALID")
t.fails_with(lambda: value(proxy(2).session.login_with_password("root", "x")),
             "SESSION_AUTHENTICATION_FAILED", "a wrong password is refused")
ms = value(proxy(2).system.listMethods())
t.ok({"VM.get_all_records", "Async.VM.pool_migrate", "host.evacuate",
      "Async.host.evacuate", "VM.get_possible_hosts"} <= set(ms) and
     "Async.session.login_with_password" not in ms and
     not [m for m in ms if m.startswith("host_local.")],
     "system.listMethods: the methods with their Async forms, no "
     "host_local.* (%d)" % len(ms))
t.ok({"pool", "host", "VM", "SR", "VDI", "VBD", "PBD", "task", "network"} <=
     {m.split(".")[0] for m in ms if m.endswith(".get_all_records")},
     "  the classes follow from their get_all_records")
t.is_(len(ms), len(set(ms)), "  each method once")
help_ = value(proxy(2).system.methodHelp("VM.start"))
t.ok(help_.startswith("VM.start: 4 parameter(s), the session first") and
     "Async" in help_, "system.methodHelp: what the table knows", help_)
t.is_(value(proxy(2).system.methodSignature("VM.start")), "undef",
      "system.methodSignature: undef (no parameter types known)")
t.fails_with(lambda: value(proxy(2).system.methodHelp("VM.fly")),
             "MESSAGE_METHOD_UNKNOWN", "  a method not served")
xf = {}
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith(("#", "enum\t")):
        c, f = line.split("\t")[:2]
        xf.setdefault(c, []).append(f)
served = [c for c in xf if c + ".get_all_records" in ms]
t.ok({"pool", "host", "VM", "network", "SR", "VDI"} <= set(served),
     "  XAPI's classes we serve (%s)" % " ".join(served))
nogetter = ["%s.get_%s" % (c, f) for c in served for f in xf[c]
            if "%s.get_%s" % (c, f) not in ms]
t.is_(nogetter, [], "  a getter for each of their XAPI fields")
missing = []
for c in served:
    for r, rec in s.call(c + ".get_all_records").items():
        missing += ["%s.%s" % (c, f) for f in xf[c] if f not in rec]
t.is_(missing, [], "every field XAPI sends is in the records of a fresh pool")
t.is_((s.call("host.get_license_server", ref), s.call("host.get_ssl_legacy",
                                                        ref)),
      ({"address": "localhost", "port": "27000"}, True),
      "  a constant field's getter answers XAPI's default")
t.fails_with(lambda: s.call("host.set_ssl_legacy", ref, False),
             "MESSAGE_METHOD_UNKNOWN", "  and it has no setter")
s.call("session.logout")
t.fails_with(lambda: s.call("host.get_all"), "SESSION_INVALID",
             "a closed session is SESSION_INVALID")
t.done()
P
pt_done
