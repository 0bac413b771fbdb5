#!/bin/bash
# pool.rolling_upgrade, the API call GUIs make: the master's own
# upgrade-hook (the test's: replace the host's xm-poold by the build one
# version newer and restart it) upgrades a pool of three, the master
# first.  The master's hook restarts the daemon that drives the upgrade:
# the new daemon goes on with the same task.  A hook that fails for host 3
# ends the task with HOST_UPGRADE_HOOK_FAILED, host 3 disabled and empty;
# calling again resumes and ends with every host newer, enabled, and
# every VM back home, running throughout.  The client follows the task
# across the master's restart by asking again until the task has ended.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup rolling-upgrade-api
pt_upgrade_hook
pt_start 2 host_check_interval=1 upgrade-hook="$PT_TMP/hook" ||
    pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"

pt_py <<'P'
from pool_client import *
t = Tap()
s, hosts, vms, uuids = upgrade_pool()
old = s.call("host.get_software_version", hosts["127.0.0.2"])[
    "product_version"]
t.fails_with(lambda: s.call("pool.rolling_upgrade", {}),
             "OPERATION_NOT_ALLOWED", "only as Async (it outlives the "
             "master's restart)")
bad = s.wait_task(s.call("Async.pool.rolling_upgrade",
                         {"move_back": "maybe"}))
t.is_((bad["status"], bad["error_info"][:1]), ("failure", ["INVALID_VALUE"]),
      "move_back=maybe: INVALID_VALUE")
save(hosts=hosts, vms=vms, uuids=uuids, old=old)
t.done()
P

# follow(task): its record once it has ended, across the master's
# restart: a new session each time the old one is gone.
follow='
def follow(task, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        try:
            s = Session(2)
            rec = s.call("task.get_record", task)
            if rec["status"] not in ("pending", "cancelling"):
                return s, rec
        except (OSError, Failure):
            pass
        time.sleep(0.5)
    raise TimeoutError(task)
'

: > "$PT_TMP/hook-fail.3"
FOLLOW=$follow pt_py <<'P'
import os, time
from pool_client import *
exec(os.environ["FOLLOW"])
t = Tap()
ids = load()
h, uuids = ids["hosts"], ids["uuids"]
s = Session(2)
task = s.call("Async.pool.rolling_upgrade", {"host_timeout": "60"})
s, rec = follow(task)
t.is_((rec["status"], rec["error_info"][:2]),
      ("failure", ["HOST_UPGRADE_HOOK_FAILED", h["127.0.0.3"]]),
      "a hook that fails for host 3 ends the task: HOST_UPGRADE_HOOK_FAILED")
ver = lambda n: s.call("host.get_software_version",
                       h["127.0.0.%d" % n])["product_version"]
t.ok(ver(2) != ids["old"] and ver(3) == ids["old"] == ver(4),
     "the master, first, runs the newer version (%s): the same task went "
     "on after its daemon restarted" % ver(2))
t.is_((s.call("host.get_enabled", h["127.0.0.3"]),
       [v for v in s.call("host.get_resident_VMs", h["127.0.0.3"])
        if not s.call("VM.get_is_control_domain", v)]), (False, []),
      "host 3 stays disabled and empty")
where = {n: running_on(uuids[n], (2, 3, 4)) for n in (2, 3, 4)}
t.ok(all(len(w) == 1 and w != [3] for w in where.values()),
     "every VM runs on exactly one host, none on host 3", repr(where))
t.done()
P

rm -f "$PT_TMP/hook-fail.3"
FOLLOW=$follow pt_py <<'P'
import os, time
from pool_client import *
exec(os.environ["FOLLOW"])
t = Tap()
ids = load()
h, uuids = ids["hosts"], ids["uuids"]
s = Session(2)
task = s.call("Async.pool.rolling_upgrade", {"host_timeout": "60"})
s, rec = follow(task)
t.is_(rec["status"], "success", "called again: it resumes and ends")
v = {n: s.call("host.get_software_version",
               h["127.0.0.%d" % n])["product_version"] for n in (2, 3, 4)}
t.ok(len(set(v.values())) == 1 and v[2] != ids["old"],
     "every host runs the newer version %s" % v[2], repr(v))
t.ok(all(s.call("host.get_enabled", h["127.0.0.%d" % n]) for n in (2, 3, 4)),
     "every host is enabled")
t.is_({n: running_on(uuids[n], (2, 3, 4)) for n in uuids},
      {n: [n] for n in uuids}, "every VM is back home, on one host")
t.ok(not [r for r in s.call("VM.get_all_records").values()
          if "xm:rpu-home" in r["other_config"]], "no VM keeps its home tag")
for n in uuids:
    st = host_local(n, "vm_status", uuids[n])
    t.is_(int(st["mismatches"]), 0, "vm%s ran throughout: its ledger is "
          "clean" % n)
t.done()
P
pt_is "$(grep -c 'host 2' "$PT_TMP/hook.log")" 1 \
    "the hook ran once for the master"
pt_done
