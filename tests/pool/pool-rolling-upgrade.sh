#!/bin/bash
# The rolling pool upgrade (xm-pool pool-rolling-upgrade): a pool of three
# hosts (2 the master, 3, 4), a VM on each; the hook "upgrades" a host by
# stopping its xm-poold and starting tests/pool/xm-poold-next, the same
# daemon one version newer.  The first run's hook fails for host 3: the
# master is upgraded, host 3 stays disabled and empty, every VM runs
# elsewhere; meanwhile the pool is in upgrade mode (XAPI's
# rolling_upgrade_in_progress): no VM goes from the newer host 2 to the
# older host 4, SR.create is NOT_SUPPORTED_DURING_UPGRADE.  The second run
# resumes (host 2 is skipped), upgrades hosts 3 and 4 and moves every VM
# back home; upgrade mode ends.  Every VM ran throughout, ledgers clean.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup rolling-upgrade
pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
pt_upgrade_hook

pt_py <<'P'
import os
from pool_client import *
t = Tap()
s, hosts, vms, uuids = upgrade_pool()
v = {n: s.call("host.get_software_version",
               hosts["127.0.0.%d" % n])["product_version"] for n in (2, 3, 4)}
t.ok(len(set(v.values())) == 1, "the three hosts run one version, %s" % v[2])
save(hosts=hosts, vms=vms, uuids=uuids, old=v[2])
t.done()
P

pt_cli_login 2
: > "$PT_TMP/hook-fail.3"
out=$(x pool-rolling-upgrade hook="$PT_TMP/hook" host-timeout=60 2>&1)
st=$?
pt_diag "$out"
[ "$st" -ne 0 ] && pt_ok "a hook that fails for host 3 stops the upgrade (status $st)" ||
    pt_fail "a hook that fails stops the upgrade" "$out"
case $out in *"hook failed for host"*"stays disabled"*"resume"*)
    pt_ok "  saying which host, that it stays disabled, how to resume" ;;
*) pt_fail "  saying which host" "$out" ;; esac
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
h, uuids = ids["hosts"], ids["uuids"]
s = wait_until(lambda: Session(2), 30, "the master")
ver = lambda n: s.call("host.get_software_version",
                       h["127.0.0.%d" % n])["product_version"]
t.ok(ver(2) != ids["old"] and ver(3) == ids["old"] == ver(4),
     "the master runs the newer version (%s), hosts 3 and 4 the old" %
     ver(2))
t.is_((s.call("host.get_enabled", h["127.0.0.3"]),
       [v for v in s.call("host.get_resident_VMs", h["127.0.0.3"])
        if not s.call("VM.get_is_control_domain", v)]), (False, []),
      "host 3 stays disabled and empty (but its control domain)")
where = {n: running_on(uuids[n], (2, 3, 4)) for n in (2, 3, 4)}
t.ok(all(len(w) == 1 and w != [3] for w in where.values()),
     "every VM runs on exactly one host, none on host 3", repr(where))
t.is_(s.call("pool.get_other_config", s.call("pool.get_all")[0])
      .get("rolling_upgrade_in_progress"), "true",
      "the pool says rolling_upgrade_in_progress")
# Which VMs the evacuations put on host 2 depends on placement: a VM of
# its own is started there (and gone again before the upgrade resumes).
probe = s.call("VM.create", {"name_label": "probe",
                             "memory_static_max": str(64 << 20),
                             "VCPUs_max": "1", "other_config": {}})
s.call("VM.start_on", probe, h["127.0.0.2"], False, False)
t.fails_with(lambda: s.call("VM.pool_migrate", probe, h["127.0.0.4"], {}),
             "NOT_SUPPORTED_DURING_UPGRADE",
             "a VM does not go from the newer host 2 to the older host 4")
s.call("VM.hard_shutdown", probe)
s.call("VM.destroy", probe)
t.fails_with(lambda: s.call("SR.create", h["127.0.0.4"],
                            {"location": "/nonexistent"}, 0, "x", "",
                            "file", "user", False, {}),
             "NOT_SUPPORTED_DURING_UPGRADE", "SR.create waits for the "
             "upgrade's end")
t.done()
P

rm -f "$PT_TMP/hook-fail.3"
out=$(x pool-rolling-upgrade hook="$PT_TMP/hook" move-back=true \
      host-timeout=60 2>&1)
st=$?
pt_diag "$out"
pt_is "$st" 0 "run again: the upgrade resumes and ends"
case $out in *"version"*"already"*) pt_ok "  host 2 is not upgraded twice" ;;
*) pt_fail "  host 2 is not upgraded twice" "$out" ;; esac
pt_is "$(grep -c 'host 2' "$PT_TMP/hook.log")" 1 \
    "  the hook ran once for the master"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
h, uuids = ids["hosts"], ids["uuids"]
s = Session(2)
v = {n: s.call("host.get_software_version",
               h["127.0.0.%d" % n])["product_version"] for n in (2, 3, 4)}
t.ok(len(set(v.values())) == 1 and v[2] != ids["old"],
     "every host runs the newer version %s" % v[2], repr(v))
t.ok(all(s.call("host.get_enabled", h["127.0.0.%d" % n]) for n in (2, 3, 4)),
     "every host is enabled")
t.is_(s.call("pool.get_other_config", s.call("pool.get_all")[0])
      .get("rolling_upgrade_in_progress"), None, "upgrade mode is over")
t.is_({n: running_on(uuids[n], (2, 3, 4)) for n in uuids},
      {n: [n] for n in uuids}, "every VM is back home, on one host")
t.ok(not [r for r in s.call("VM.get_all_records").values()
          if "xm:rpu-home" in r["other_config"]], "no VM keeps its home tag")
for n in uuids:
    st = host_local(n, "vm_status", uuids[n])
    t.is_(int(st["mismatches"]), 0, "vm%s ran throughout: its ledger is "
          "clean (heartbeat %s)" % (n, st["hb_last_seq"]))
t.done()
P
pt_done
