#!/bin/bash
# Interoperability with a real JavaScript XenAPI connector: Vates' xen-api
# (Xen Orchestra's, the version pinned in tests/interop/package.json, from
# the npm registry), run by node against a pool of two hosts on HTTPS.  It
# connects and logs in; its object cache holds every object the pool has,
# as python3's xmlrpc.client gets them from get_all_records; an
# Async.VM.pool_migrate moves the VM's resident_on and ends its task in
# success, seen through the library's events alone; a callAsync of
# VM.pool_migrate cancelled with the library's cancel token ends cancelled
# with the VM running on exactly one host; a callAsync that succeeds
# resolves and leaves the caller's event loop going.  The client's steps are
# tests/interop/xen-api-check.js; skipped without node (>= 18.17) and npm,
# or when the registry cannot be reached and npm's cache lacks a package.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
PT_HTTPS=1
JS_DIR=$PT_BUILDDIR/tests/interop

# js_install: the pinned packages under $JS_DIR/node_modules (npm ci, npm's
# cache first); done again only when the lock file has changed.
js_install()
{
    local src=$PT_SRCDIR/tests/interop f
    command -v node >/dev/null || pt_skip_all "node is missing (nodejs)"
    command -v npm >/dev/null || pt_skip_all "npm is missing"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)' ||
        pt_skip_all "node $(node --version) is older than xen-api needs (18.17)"
    mkdir -p "$JS_DIR" || pt_bail "cannot make $JS_DIR"
    for f in package.json package-lock.json xen-api-check.js; do
        [ "$src/$f" -ef "$JS_DIR/$f" ] || cp "$src/$f" "$JS_DIR/$f" ||
            pt_bail "cannot copy $f to $JS_DIR"
    done
    cmp -s "$JS_DIR/package-lock.json" "$JS_DIR/node_modules/.xm-lock" &&
        return 0
    if ! npm ci --prefix "$JS_DIR" --prefer-offline --no-audit --no-fund \
            --fetch-retries=1 --fetch-retry-mintimeout=1000 \
            --fetch-retry-maxtimeout=5000 --loglevel=error \
            >"$PT_TMP/npm.log" 2>&1; then
        timeout 60 npm ping >/dev/null 2>&1 ||
            pt_skip_all "the npm registry ($(npm config get registry))" \
                "cannot be reached and npm's cache lacks the packages"
        pt_diag "npm ci --prefix $JS_DIR failed:"
        tail -n 20 "$PT_TMP/npm.log" | sed 's/^/#   /'
        pt_bail "npm ci failed"
    fi
    cp "$JS_DIR/package-lock.json" "$JS_DIR/node_modules/.xm-lock"
}

# pt_js [succeed]: the client's steps 1-4, or its step 5; its TAP lines
# follow ours (tap.state).
pt_js()
{
    local st rc
    PT_N=$PT_N PT_TMP=$PT_TMP PT_PORT=$PT_PORT \
        timeout 900 node "$JS_DIR/xen-api-check.js" "$@"
    rc=$?
    if [ -f "$PT_TMP/tap.state" ]; then
        read -r PT_N st < "$PT_TMP/tap.state"
        PT_FAILED=$((PT_FAILED + st))
        rm -f "$PT_TMP/tap.state"
    fi
    [ "$rc" -eq 0 ] || pt_fail "the node steps ended with status $rc"
}

pt_setup interop-js
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
js_install
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"

# A pool with an object of most classes: two hosts, an SR with its PBD, a
# VDI, a halted VM with a VBD on it, and a VM running on host 2; then what
# xmlrpc.client gets from each get_all_records, just before node connects.
pt_py <<'P'
import json, os
from pool_client import *
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
os.mkdir(tmp + "/sr2")
sr = s.call("SR.create", h2, {"location": tmp + "/sr2"}, 0, "local 2", "",
            "file", "user", False, {})
vdi = s.call("VDI.create", {"SR": sr, "virtual_size": str(16 * MiB),
                            "name_label": "a disk"})
halted = create_vm(s, "halted", 64 * MiB)
s.call("VBD.create", {"VM": halted, "VDI": vdi, "userdevice": "0"})
vm = create_vm(s, "mover", 128 * MiB)
s.call("VM.start_on", vm, h2, False, False)
classes = [m.split(".")[0] for m in value(proxy(2).system.listMethods())
           if m.endswith(".get_all_records")]
expected = {}
for c in classes:
    expected[c] = {r: {"uuid": rec.get("uuid"),
                       "name_label": rec.get("name_label"),
                       "fields": sorted(rec)}
                   for r, rec in s.call(c + ".get_all_records").items()}
json.dump({"vm": vm, "uuid": s.call("VM.get_uuid", vm), "h2": h2, "h3": h3,
           "pool": s.call("pool.get_all")[0], "expected": expected},
          open(tmp + "/interop-in.json", "w"))
P
pt_js
# What the hosts themselves run, and what the master settles to.
pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
i = json.load(open(os.environ["PT_TMP"] + "/interop-in.json"))
s = Session(2)
t.is_(domains(i["uuid"], (2, 3)), {3: "running"},
      "after the cancel the VM runs on host 3 only")
wait_until(lambda: settled(s, i["vm"]), 60, "the migration to settle")
t.is_((s.call("VM.get_resident_on", i["vm"]),
       s.call("VM.get_power_state", i["vm"])), (i["h3"], "Running"),
      "  and the database says so")
t.done()
P
pt_js succeed
pt_py <<'P'
import json, os
from pool_client import *
t = Tap()
i = json.load(open(os.environ["PT_TMP"] + "/interop-in.json"))
s = Session(2)
wait_until(lambda: settled(s, i["vm"]), 60, "the migration to settle")
t.is_(domains(i["uuid"], (2, 3)), {2: "running"},
      "after callAsync the VM runs on host 2 only")
t.done()
P
pt_done
