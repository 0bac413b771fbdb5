#!/bin/bash
# The classes GUIs list besides the objects (issue 14): message.create,
# get_record, get_all_records, get_since, get, destroy, destroy_many, a
# bad cls (INVALID_VALUE) and an unknown obj_uuid (UUID_INVALID), the
# message's add and del in event.from; XAPI's six roles, read-only;
# secret.create, get_value, set_value, destroy, never in event.from nor in
# the master's log.  The daemon's own messages: a migration that fails
# (its source fails at the fault point mig.send.precopy):
# VM_MIGRATE_FAILED; an evacuation that leaves its VM (same fault):
# HOST_EVACUATE_FAILED; a member killed: HA_HOST_FAILED once the
# liveness check marks it not live.  message-list prints them.  The limit:
# a master whose database holds XA_MESSAGE_LIMIT messages keeps that many
# when one more comes, the oldest going.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup messages
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
vm = create_vm(s, "msg-vm", 128 << 20)
uuid = s.call("VM.get_uuid", vm)
token = s.call("event.from", ["message"], "", 0)["token"]
before = time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime(time.time() - 2))

m = s.call("message.create", "TEST_ALERT", 4, "VM", uuid, "hello")
rec = s.call("message.get_record", m)
t.is_((rec["name"], rec["priority"], rec["cls"], rec["obj_uuid"],
       rec["body"]), ("TEST_ALERT", "4", "VM", uuid, "hello"),
      "message.create: the record has what was given")
t.is_(sorted(rec), sorted(["uuid", "name", "priority", "cls", "obj_uuid",
                           "timestamp", "body"]), "  and XAPI's fields")
t.is_(s.call("message.get_by_uuid", rec["uuid"]), m, "message.get_by_uuid")
t.ok(m in s.call("message.get_all_records"), "message.get_all_records")
t.ok(m in s.call("message.get_since", before), "message.get_since: newer")
t.is_(s.call("message.get_since", "20991231T00:00:00Z"), {},
      "  none after a later time")
t.is_(list(s.call("message.get", "VM", uuid, before)), [m],
      "message.get: those about one object")
t.fails_with(lambda: s.call("message.create", "X", 1, "Spaceship", uuid,
                            ""), "INVALID_VALUE", "a cls not XAPI's")
t.fails_with(lambda: s.call("message.create", "X", 1, "Host", uuid, ""),
             "UUID_INVALID", "obj_uuid names no object of that cls")
t.fails_with(lambda: s.call("message.create", "X", 1, "VMPP", uuid, ""),
             "UUID_INVALID", "nor of a class xm-pool has no objects of")
ev = s.call("event.from", ["message"], token, 5.0)
adds = [e for e in ev["events"] if e["operation"] == "add"]
t.is_([(e["class"], e["ref"], e["snapshot"]["name"]) for e in adds],
      [("message", m, "TEST_ALERT")], "event.from: the message's add")
s.call("message.destroy", m)
ev = s.call("event.from", ["message"], ev["token"], 5.0)
t.is_([(e["operation"], e["ref"]) for e in ev["events"]], [("del", m)],
      "message.destroy: its del")
t.fails_with(lambda: s.call("message.destroy", m), "HANDLE_INVALID",
             "  and it is gone")
a = s.call("message.create", "A", 5, "Host", s.call("host.get_uuid", h2),
           "")
b = s.call("message.create", "B", 5, "Pool", s.call(
    "pool.get_uuid", s.call("pool.get_all")[0]), "")
t.fails_with(lambda: s.call("message.destroy_many", [a, "OpaqueRef:nope"]),
             "HANDLE_INVALID", "destroy_many: a bad ref destroys none")
s.call("message.destroy_many", [a, b])
t.is_(s.call("message.get_all"), [], "destroy_many destroys them all")

roles = s.call("role.get_all_records")
t.is_(sorted(r["name_label"] for r in roles.values()),
      sorted(["pool-admin", "pool-operator", "vm-power-admin", "vm-admin",
              "vm-operator", "read-only"]), "role: XAPI's six static roles")
t.is_(s.call("role.get_by_name_label", "pool-admin"),
      ["OpaqueRef:0165f154-ba3e-034e-6b27-5d271af109ba"],
      "  with XAPI's refs")
t.fails_with(lambda: s.call("role.set_name_label", list(roles)[0], "x"),
             "MESSAGE_METHOD_UNKNOWN", "  read-only")

token = s.call("event.from", ["*"], "", 0)["token"]
sec = s.call("secret.create", {"value": "pw-one-7f3a", "other_config": {}})
t.is_(s.call("secret.get_value", sec), "pw-one-7f3a",
      "secret.create, get_value")
s.call("secret.set_value", sec, "pw-two-7f3a")
t.is_(s.call("secret.get_record", sec)["value"], "pw-two-7f3a",
      "secret.set_value round-trips")
t.is_(s.call("secret.get_by_uuid", s.call("secret.get_uuid", sec)), sec,
      "secret.get_by_uuid")
ev = s.call("event.from", ["*"], token, 0.5)
t.is_([e for e in ev["events"] if e["class"] == "secret"], [],
      "no secret in event.from")
s.call("secret.destroy", sec)
t.fails_with(lambda: s.call("secret.get_value", sec), "HANDLE_INVALID",
             "secret.destroy")
log = open(os.path.join(os.environ["PT_TMP"], "h2", "log")).read()
t.ok("7f3a" not in log, "no secret value in the master's log")

s.call("VM.start_on", vm, h3, False, False)
s.call("host.disable", h3)
save(vm=vm, uuid=uuid, h2=h2, h3=h3, h3uuid=s.call("host.get_uuid", h3))
t.done()
P

# Every move from host 3 fails at its pre-copy.
pt_arm 3 "mig.send.precopy=fail"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
def named(name, obj):
    return [r for r in s.call("message.get_all_records").values()
            if r["name"] == name and r["obj_uuid"] == obj]
t.fails_with(lambda: s.call("VM.pool_migrate", ids["vm"], ids["h2"], {}),
             "VM_MIGRATE_FAILED", "a migration fails at its pre-copy")
got = named("VM_MIGRATE_FAILED", ids["uuid"])
t.ok(len(got) == 1 and got[0]["cls"] == "VM" and
     got[0]["priority"] == "3" and "failed" in got[0]["body"],
     "  a VM_MIGRATE_FAILED message about the VM", repr(got))
t.fails_with(lambda: s.call("host.evacuate", ids["h3"]), "VM_MIGRATE_FAILED",
             "an evacuation whose move fails")
got = named("HOST_EVACUATE_FAILED", ids["h3uuid"])
t.ok(len(got) == 1 and got[0]["cls"] == "Host" and
     ids["uuid"] in got[0]["body"],
     "  a HOST_EVACUATE_FAILED message about the host, naming the VM",
     repr(got))
t.done()
P
pt_arm 3 ""

pt_cli_login 2
out=$(x message-list 2>&1)
h3uuid=$(pt_py <<'P'
from pool_client import *
print(load()["h3uuid"])
P
)
case $out in
*"name ( RO): HOST_EVACUATE_FAILED"*"obj-uuid ( RO): $h3uuid"*)
    pt_ok "message-list prints the messages" ;;
*) pt_fail "message-list prints the messages"; pt_diag "$out" ;;
esac

# Host 3 dies: the liveness check marks it not live, and says so.
pt_kill 3 KILL
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
wait_until(lambda: not s.call("host.get_live", ids["h3"]), 60,
           "host 3 is marked not live")
got = [r for r in s.call("message.get_all_records").values()
       if r["name"] == "HA_HOST_FAILED"]
t.ok(len(got) == 1 and got[0]["obj_uuid"] == ids["h3uuid"] and
     got[0]["cls"] == "Host", "host 3 not live: an HA_HOST_FAILED message",
     repr(got))
t.done()
P

# The limit: a database of 10000 old messages, then one more.
pt_kill 2
pt_py <<'P'
import sqlite3, uuid
from pool_client import *
t = Tap()
db = sqlite3.connect(os.path.join(os.environ["PT_TMP"], "h2", "state",
                                  "pool.db"))
have = db.execute("SELECT count(*) FROM message").fetchone()[0]
rows = []
for i in range(10000 - have):
    u = str(uuid.uuid4())
    rows.append(("OpaqueRef:" + str(uuid.uuid4()), u, "OLD_%d" % i, 5,
                 "VM", "", "20000101T00:00:00Z", ""))
db.executemany("INSERT INTO message (ref, uuid, name, priority, cls, "
               "obj_uuid, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               rows)
db.commit()
t.is_(db.execute("SELECT count(*) FROM message").fetchone()[0], 10000,
      "10000 messages in the master's database")
db.close()
t.done()
P
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start again"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
first = s.call("message.get_all")[0]
m = s.call("message.create", "NEWEST", 1, "VM", ids["uuid"], "")
refs = s.call("message.get_all")
t.is_((len(refs), refs[-1], first in refs), (10000, m, False),
      "one more: the newest 10000 are kept, the oldest went")
t.done()
P
pt_done
