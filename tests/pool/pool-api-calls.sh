#!/bin/bash
# The session, task and legacy event calls XenAPI clients make: who a
# session is, a host's own emergency login, a password change, task.destroy,
# event.register / next / unregister and EVENTS_LOST.  The migration that
# makes a pending task is held at its pre-copy (fault point
# mig.send.precopy), so the task is pending when it is looked at.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup api-calls
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_arm 2 "mig.send.precopy=wait"
pt_py <<'P'
import os, re
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
me = s.ref
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]

# Sessions.
t.is_(s.call("session.get_this_host", me), h2, "a session's host: the master")
t.is_(s.call("session.get_this_user", me), "OpaqueRef:NULL",
      "no user object (XAPI's local root has none either)")
t.is_(s.call("session.get_auth_user_name", me), "root", "its user name")
t.is_(s.call("session.get_is_local_superuser", me), True, "root is superuser")
t.fails_with(lambda: s.call("session.get_this_host", "OpaqueRef:nope"),
             "HANDLE_INVALID", "another session that is not open")
rec = s.call("session.get_record", me)
xf = [l.split("\t")[1] for l in open(os.path.join(os.environ["XM_SRCDIR"],
                                                  "tests/data/xapi-fields.txt"))
      if l.startswith("session\t")]
t.is_(sorted(rec), sorted(xf), "session.get_record: XAPI's fields")
t.ok(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                  r"[0-9a-f]{12}", rec["uuid"]) and
     rec["uuid"] not in me and rec["this_host"] == h2 and
     rec["auth_user_name"] == "root" and rec["is_local_superuser"] is True,
     "  a uuid that is not the ref's, its host, its account", rec)
t.is_(s.call("session.get_uuid", me), rec["uuid"], "session.get_uuid agrees")
t.is_(s.call("user.get_all_records"), {},
      "user: no objects (accounts are the daemon's own)")
m = proxy(3)
try:
    value(m.session.login_with_password("root", PASSWORD, "2.21", "t"))
    t.ok(False, "a member refuses a pool login")
except Failure as e:
    t.is_(e.desc, ["HOST_IS_SLAVE", "127.0.0.2"],
          "a member sends the client to its master")
local = value(m.session.slave_local_login_with_password("root", PASSWORD))
t.ok(local.startswith("OpaqueRef:"), "a member gives its own session")
t.is_(m.VM.get_all(local).get("ErrorDescription", [None])[0],
      "SESSION_INVALID", "which the master does not take")
t.is_(value(m.session.local_logout(local)), "", "local_logout on the member")
t.is_(m.session.local_logout(local)["ErrorDescription"][0],
      "SESSION_INVALID", "and it is closed")
t.fails_with(lambda: s.call("session.get_record", local), "HANDLE_INVALID",
             "the record of a closed session")
t.fails_with(lambda: value(proxy(2).session.slave_local_login_with_password(
    "root", "wrong")), "SESSION_AUTHENTICATION_FAILED", "a wrong password")

t.fails_with(lambda: s.call("session.change_password", "wrong", "new-pw"),
             "SESSION_AUTHENTICATION_FAILED", "change_password checks the old")
s.call("session.change_password", PASSWORD, "new-pw-1")
x = proxy(2)
t.is_(x.session.login_with_password("root", PASSWORD)["Status"], "Failure",
      "the old password no longer logs in")
s2 = value(x.session.login_with_password("root", "new-pw-1"))
value(x.session.change_password(s2, "new-pw-1", PASSWORD))
t.is_(x.session.login_with_password("root", PASSWORD)["Status"], "Success",
      "changed back")

# The legacy event API.
t.fails_with(lambda: s.call("event.next"), "SESSION_NOT_REGISTERED",
             "event.next before event.register")
s.call("event.register", ["VM"])
vm = create_vm(s, "ev-vm")
uuid = s.call("VM.get_uuid", vm)
evs = s.call("event.next")
t.ok(any(e["class"] == "VM" and e["operation"] == "add" and
         e["ref"] == vm and e["obj_uuid"] == uuid and
         e["snapshot"]["name_label"] == "ev-vm" for e in evs),
     "event.next: the new VM, with its uuid and snapshot")
s.call("VM.set_name_label", vm, "ev-vm-2")
s.call("network.set_name_description",
       s.call("network.get_all")[0], "not followed")
evs = s.call("event.next")
t.ok([e["operation"] for e in evs if e["ref"] == vm] == ["mod"] and
     all(e["class"] == "VM" for e in evs),
     "then only the change, only of the class registered")
s.call("event.unregister", ["VM"])
s.call("event.register", ["network"])
s.call("VM.set_name_label", vm, "ev-vm-3")
s.call("network.set_name_description", s.call("network.get_all")[0], "now")
evs = s.call("event.next")
t.ok(evs and all(e["class"] == "network" for e in evs),
     "unregistered VM: its changes no longer come, the network's do")
t.fails_with(lambda: s.call("event.from", ["VM"], "99999999999", 1.0),
             "EVENTS_LOST", "event.from with a token the log never had")

# Fields xm-pool does not model but XAPI lets a client set (tags, as Xen
# Orchestra sets them): kept, in records and events.
tok = s.call("event.inject", "VM", vm)
s.call("VM.add_tags", vm, "web")
s.call("VM.add_tags", vm, "prod")
s.call("VM.add_tags", vm, "web")
s.call("VM.remove_tags", vm, "prod")
s.call("VM.set_PV_args", vm, "console=hvc0")
s.call("VM.add_to_xenstore_data", vm, "vm-data/role", "db")
rec = s.call("VM.get_record", vm)
t.is_((rec["tags"], rec["PV_args"], rec["xenstore_data"]),
      (["web"], "console=hvc0", {"vm-data/role": "db"}),
      "VM.add_tags / remove_tags, set_PV_args, add_to_xenstore_data: kept")
r = s.call("event.from", ["VM"], tok, 5.0)
t.ok(any(e["ref"] == vm and e["snapshot"]["tags"] == ["web"]
         for e in r["events"]), "  and carried by the VM's mod event")
t.fails_with(lambda: s.call("VM.set_memory_overhead", vm, "1"),
             "MESSAGE_METHOD_UNKNOWN", "  a read-only one has no setter")

# Tasks.
s.call("VM.start", vm, False, False)
task = s.call("Async.VM.pool_migrate", vm, h3, {})
hit(2, "mig.send.precopy")
t.fails_with(lambda: s.call("task.destroy", task), "OPERATION_NOT_ALLOWED",
             "a pending task is not destroyed")
go(2, "mig.send.precopy")
t.is_(s.wait_task(task)["status"], "success", "the migration ends")
s.call("task.add_to_other_config", task, "seen-by", "gui")
t.is_(s.call("task.get_other_config", task).get("seen-by"), "gui",
      "task.add_to_other_config")
s.call("task.destroy", task)
t.fails_with(lambda: s.call("task.get_record", task), "HANDLE_INVALID",
             "an ended task is destroyed")
t.is_(s.call("VM.get_resident_on", vm), h3, "the VM moved all the same")
t.done()
P
pt_done
