#!/bin/bash
# VDI.copy(vdi, sr) on a pool of two hosts: a halted VM's disk, with data
# written into its raw file, copied to another local SR of its host (the
# same bytes, as sparse as the source, name and size kept, the source
# untouched), to a shared SR, from the shared SR to host 3's local SR
# (host 3's agent copies), into its own SR; VDI_IN_USE while a running
# VM holds it read-write; SR_FULL on a small SR and OPERATION_NOT_ALLOWED
# for host 3's local SR as the target of host 2's, each leaving nothing;
# base_vdi/into_vdi refused.  Faults at named states: a failure after the
# VDI is made and one mid-copy leave no new VDI; a copy held mid-copy
# shows its VDI tagged xm:copy-of, untagged when done; the master killed
# mid-copy leaves the tagged VDI to be found.  And the CLI's vdi-copy.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vdi-copy
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/a" "$PT_TMP/b" "$PT_TMP/s" "$PT_TMP/small" "$PT_TMP/l3"

pt_py <<'P'
import glob, hashlib, os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
SIZE = 32 * MiB
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
def sr(name, host, d, size=0, typ="file"):
    return s.call("SR.create", host, {"location": tmp + "/" + d}, size,
                  name, "", typ, "user", typ == "shared-file", {})
a, b = sr("A", h2, "a"), sr("B", h2, "b")
sh = sr("shared", h2, "s", typ="shared-file")
small = sr("small", h2, "small", 4 * MiB)
l3 = sr("on host 3", h3, "l3")
vdi = s.call("VDI.create", {"SR": a, "virtual_size": str(SIZE),
                            "name_label": "data disk",
                            "name_description": "written by the test"})
u = s.call("VDI.get_uuid", vdi)
vm = s.call("VM.create", {"name_label": "vm-copy",
                          "memory_static_max": str(256 * MiB),
                          "VCPUs_max": "1", "other_config": {}})
s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})

# A pattern in three places of the raw file; the rest stays holes.
src = "%s/a/%s.raw" % (tmp, u)
with open(src, "r+b") as f:
    for off, n in ((0, 64 << 10), (5 * MiB, MiB), (SIZE - 4096, 4096)):
        f.seek(off)
        f.write(bytes((off // 4096 + i) % 251 for i in range(n)))
def digest(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()
def used(p):
    return os.stat(p).st_blocks * 512
src_sum, src_used = digest(src), used(src)
def raw(d, ref):
    return "%s/%s/%s.raw" % (tmp, d, s.call("VDI.get_uuid", ref))
def raws(d):
    return sorted(glob.glob("%s/%s/*.raw" % (tmp, d)))

new = s.call("VDI.copy", vdi, b)
rec = s.call("VDI.get_record", new)
t.ok(new != vdi and rec["SR"] == b, "VDI.copy to SR B: a new VDI on B")
t.is_((rec["name_label"], rec["name_description"], rec["virtual_size"]),
      ("data disk", "written by the test", str(SIZE)),
      "  with the source's name, description and size")
dst = raw("b", new)
t.is_((os.path.getsize(dst), digest(dst)), (SIZE, src_sum),
      "  the same bytes (size and sha256)")
t.ok(src_used <= used(dst) <= src_used + 256 * 1024,
     "  as sparse as the source", "source %d, copy %d bytes allocated" %
     (src_used, used(dst)))
t.is_((digest(src), used(src)), (src_sum, src_used),
      "  the source is untouched")
t.ok(int(rec["physical_utilisation"]) > 0 and "xm:copy-of" not in
     rec["other_config"], "  its record: allocation known, no copy tag",
     repr(rec))

new_s = s.call("VDI.copy", vdi, sh)
t.is_((s.call("VDI.get_SR", new_s), digest(raw("s", new_s))), (sh, src_sum),
      "host 2's local SR to the shared SR: the same bytes")
new_3 = s.call("VDI.copy", new_s, l3)
t.is_((s.call("VDI.get_SR", new_3), digest(raw("l3", new_3))),
      (l3, src_sum), "the shared SR to host 3's local SR (host 3 copies)")
m = s.call("VDI.copy", vdi, a)
t.is_((s.call("VDI.get_SR", m), digest(raw("a", m))), (a, src_sum),
      "into the same SR")
s.call("VDI.destroy", m)
n0 = s.call("VDI.copy", vdi, b, "OpaqueRef:NULL", "OpaqueRef:NULL")
t.ok(digest(raw("b", n0)) == src_sum, "null base_vdi and into_vdi: a copy")
s.call("VDI.destroy", n0)
t.fails_with(lambda: s.call("VDI.copy", vdi, b, "OpaqueRef:NULL", new),
             "OPERATION_NOT_ALLOWED", "into_vdi: not supported")

before = (raws("small"), raws("l3"), len(s.call("VDI.get_all")))
t.fails_with(lambda: s.call("VDI.copy", vdi, small), "SR_FULL",
             "to an SR without the room: SR_FULL")
try:
    s.call("VDI.copy", vdi, l3)
    t.ok(False, "host 3's local SR for host 2's VDI: refused")
except Failure as e:
    t.ok(e.desc[0] == "OPERATION_NOT_ALLOWED" and "across hosts" in e.desc[1],
         "host 3's local SR for host 2's VDI: OPERATION_NOT_ALLOWED, "
         "across hosts", repr(e.desc))
t.is_((raws("small"), raws("l3"), len(s.call("VDI.get_all"))), before,
      "  and neither leaves a VDI")

s.call("VM.start_on", vm, h2, False, False)
try:
    s.call("VDI.copy", vdi, b)
    t.ok(False, "a running VM's disk: VDI_IN_USE")
except Failure as e:
    t.is_(e.desc, ["VDI_IN_USE", vdi, "copy"],
          "a running VM's disk: VDI_IN_USE [vdi, copy]")
s.call("VM.hard_shutdown", vm)
save(vdi=vdi, b=b, sum=src_sum, nb=len(raws("b")))
with open(tmp + "/uuids", "w") as f:
    print(u, s.call("SR.get_uuid", b), s.call("SR.get_uuid", l3), file=f)
t.done()
P

# A failure once the VDI is made, and one mid-copy: nothing is left.
pt_py <<'P'
import glob, os
from pool_client import *
t = Tap()
ids = load()
tmp = os.environ["PT_TMP"]
s = Session(2)
def state():
    return (len(glob.glob(tmp + "/b/*.raw")), len(s.call("SR.get_VDIs",
                                                          ids["b"])))
for point, code in (("pd.vdi-copy.created", None),
                    ("pd.vdi-copy.copying", "SR_BACKEND_FAILURE")):
    arm(2, point + "=fail")
    try:
        s.call("VDI.copy", ids["vdi"], ids["b"])
        t.ok(False, point + " failing: the copy fails")
    except Failure as e:
        t.ok(code is None or e.desc[0] == code,
             point + " failing: the copy fails", repr(e.desc))
    arm(2, "")
    t.is_(state(), (ids["nb"], ids["nb"]), "  and leaves no new VDI")
t.done()
P

# Held mid-copy: the new VDI is there, tagged with its source.
pt_arm 2 "pd.vdi-copy.copying=wait"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
ids["task"] = Session(2).call("Async.VDI.copy", ids["vdi"], ids["b"])
save(**ids)
t.done()
P
pt_hit 2 pd.vdi-copy.copying || pt_fail "the copy reached its fault point"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
tagged = [r for r, v in s.call("VDI.get_all_records").items()
          if v["other_config"].get("xm:copy-of") == ids["vdi"]]
t.is_(len(tagged), 1, "mid-copy: the new VDI is tagged xm:copy-of source")
p = float(s.call("task.get_progress", ids["task"]))
t.ok(0.05 < p < 0.95, "  the task shows the copy's progress (%.3f)" % p)
ids["tagged"] = tagged
save(**ids)
t.done()
P
pt_arm 2 ""
pt_go 2 pd.vdi-copy.copying
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
rec = s.wait_task(ids["task"], 60)
t.is_((rec["status"], [rec["result"]]), ("success", ids["tagged"]),
      "let go: Async.VDI.copy succeeds with that VDI")
t.ok("xm:copy-of" not in s.call("VDI.get_other_config", rec["result"]),
     "  and its tag is gone")
s.call("VDI.destroy", rec["result"])
t.done()
P

# The master (the copying agent too) killed mid-copy: the tagged VDI stays.
pt_arm 2 "pd.vdi-copy.copying=kill"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
Session(2).call("Async.VDI.copy", ids["vdi"], ids["b"])
t.done()
P
pt_gone 2 || pt_fail "host 2 killed itself mid-copy"
pt_arm 2 ""
pt_start 2 || pt_bail "host 2 did not start again"
pt_py <<'P'
from pool_client import *
t = Tap()
ids = load()
s = Session(2)
tagged = [r for r, v in s.call("VDI.get_all_records").items()
          if v["other_config"].get("xm:copy-of") == ids["vdi"]]
t.is_([s.call("VDI.get_SR", r) for r in tagged], [ids["b"]],
      "after a crash mid-copy the half-made VDI is found by its tag")
for r in tagged:
    s.call("VDI.destroy", r)
t.done()
P

# The CLI's vdi-copy.
pt_cli_login 2
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
read -r src b l3 < "$PT_TMP/uuids"
copy=$(x vdi-copy uuid="$src" sr-uuid="$b" 2>"$PT_TMP/e")
[[ $copy =~ $uuid_re ]] && pt_ok "vdi-copy prints the new VDI's uuid" ||
    pt_fail "vdi-copy prints the new VDI's uuid" "got '$copy'" \
        "$(cat "$PT_TMP/e")"
cmp -s "$PT_TMP/a/$src.raw" "$PT_TMP/b/$copy.raw" &&
    pt_ok "  its file on B holds the source's bytes" ||
    pt_fail "  its file on B holds the source's bytes"
x vdi-copy uuid="$src" 2>/dev/null
pt_is "$?" 2 "vdi-copy without sr-uuid=: usage error, exit 2"
x vdi-copy uuid="$src" sr-uuid="$b" new-name-label=x 2>/dev/null
pt_is "$?" 2 "vdi-copy with an unknown key: exit 2"
x vdi-copy uuid="$src" sr-uuid="$l3" 2>"$PT_TMP/e" >/dev/null
pt_is "$?" 1 "vdi-copy to host 3's local SR: a server error, exit 1"
grep -q OPERATION_NOT_ALLOWED "$PT_TMP/e" &&
    pt_ok "  OPERATION_NOT_ALLOWED" ||
    pt_fail "  OPERATION_NOT_ALLOWED" "$(cat "$PT_TMP/e")"
pt_done
