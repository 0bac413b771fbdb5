#!/bin/bash
# SR, PBD and VDI through the XenAPI on a pool of two hosts: a shared-file
# SR plugged on both and a file SR on one; VDIs created, resized, cloned
# and destroyed on the medium and in the database together; XAPI's errors
# (SR_UNKNOWN_DRIVER, SR_FULL, VDI_IN_USE while a block service holds the
# VDI, SR_HAS_PBD, SR_NOT_EMPTY, SR_NOT_ATTACHED); SR.scan repairs the
# database from the medium; SR.destroy and SR.forget.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup storage
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
mkdir -p "$PT_TMP/shared" "$PT_TMP/local3"
PT_PLUGIN=$PT_BUILDDIR/vdi/nbdkit-xmvdi-plugin.so \
PT_SRTOOL=$PT_BUILDDIR/tests/vdi/sr-tool pt_py <<'P'
import os, subprocess, time
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
shared, local3 = tmp + "/shared", tmp + "/local3"
MiB = 1 << 20   # XenAPI ints travel as strings
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]

def files(d):
    return sorted(os.listdir(d))

t.fails_with(lambda: s.call("SR.create", h2, {"location": shared}, 0, "x",
                            "", "lvm", "user", False, {}),
             "SR_UNKNOWN_DRIVER", "an unknown type: SR_UNKNOWN_DRIVER")
t.fails_with(lambda: s.call("SR.create", h2, {"location": shared}, 0, "x",
                            "", "shared-file", "user", False, {}),
             "INVALID_VALUE", "shared-file must be shared")
t.fails_with(lambda: s.call("SR.create", h2, {"location": "relative"}, 0,
                            "x", "", "file", "user", False, {}),
             "SR_BACKEND_FAILURE", "a bad location: SR_BACKEND_FAILURE")
t.fails_with(lambda: s.call("SR.create", h2, {"location": shared}, str(1 << 62),
                            "x", "", "shared-file", "user", True, {}),
             "SR_BACKEND_FAILURE_44", "larger than the filesystem: "
             "SR_BACKEND_FAILURE_44 (no space), as SM says it")
arm(2, "pd.sr-create.records=fail")
t.fails_with(lambda: s.call("SR.create", h2, {"location": shared}, 0, "x",
                            "", "shared-file", "user", True, {}),
             "INTERNAL_ERROR", "the records cannot be written (a fault "
             "point): SR.create fails")
arm(2, "")
t.is_(s.call("SR.get_all"), [], "the failures left no SR")
t.is_(files(shared), [], "and nothing on the medium: the create was undone")
sr = s.call("SR.create", h2, {"location": shared}, 64 * MiB, "shared",
            "on both hosts", "shared-file", "user", True, {})
rec = s.call("SR.get_record", sr)
t.ok(rec["type"] == "shared-file" and rec["shared"] and
     int(rec["physical_size"]) == 64 * MiB and
     int(rec["virtual_allocation"]) == 0,
     "SR.create: a shared-file SR of 64 MiB", repr(rec))
pbds = [s.call("PBD.get_record", p) for p in rec["PBDs"]]
t.is_(sorted(p["host"] for p in pbds), sorted([h2, h3]), "a PBD per host")
t.ok(all(p["currently_attached"] for p in pbds), "both plugged")
t.is_(files(shared), [".xm-sr"], "the SR's marker is on the medium")
lsr = s.call("SR.create", h3, {"location": local3}, 0, "local", "", "file",
             "user", False, {})
t.is_([s.call("PBD.get_host", p) for p in s.call("SR.get_PBDs", lsr)], [h3],
      "a file SR has one PBD, on its host")

# VDIs
def vdi_rec(size, name="d"):
    return {"SR": sr, "virtual_size": size, "name_label": name,
            "name_description": "", "type": "user", "sharable": False,
            "read_only": False, "other_config": {}}
v1 = s.call("VDI.create", vdi_rec(40 * MiB + 1, "d1"))
r1 = s.call("VDI.get_record", v1)
t.is_(int(r1["virtual_size"]), 40 * MiB + 512, "VDI.create: size rounded up to "
      "a sector")
t.ok(r1["name_label"] == "d1" and r1["SR"] == sr and
     r1["location"] == r1["uuid"], "its record", repr(r1))
t.is_(files(shared), sorted([".xm-sr", r1["uuid"] + ".meta",
                             r1["uuid"] + ".raw"]), "its files")
t.is_(int(s.call("SR.get_virtual_allocation", sr)), 40 * MiB + 512,
      "the SR's virtual_allocation")
try:
    s.call("VDI.create", vdi_rec(30 * MiB))
    t.ok(False, "30 MiB more: SR_FULL", "it was created")
except Failure as e:
    t.is_(e.desc, ["SR_FULL", str(30 * MiB), str(24 * MiB - 512)],
          "30 MiB more: SR_FULL [requested, maximum]")
t.is_(len(files(shared)), 3, "SR_FULL wrote nothing")
t.is_(len(s.call("VDI.get_all")), 1, "and created no record")
s.call("VDI.resize", v1, 48 * MiB)
t.is_(int(s.call("VDI.get_virtual_size", v1)), 48 * MiB, "VDI.resize")
t.is_(os.path.getsize("%s/%s.raw" % (shared, r1["uuid"])), 48 * MiB,
      "the data file grew")

# VDI.clone: a full copy in the same SR, checked for space first.
v3 = s.call("VDI.create", vdi_rec(4 * MiB, "small"))
u3 = s.call("VDI.get_uuid", v3)
with open("%s/%s.raw" % (shared, u3), "r+b") as f:
    f.seek(MiB)
    f.write(b"clone me" * 512)
try:
    s.call("VDI.clone", v1, {})
    t.ok(False, "cloning 48 MiB into 12 MiB: SR_FULL", "it was cloned")
except Failure as e:
    t.is_(e.desc[0], "SR_FULL", "cloning 48 MiB into 12 MiB: SR_FULL")
c3 = s.call("VDI.clone", v3, {})
rc3 = s.call("VDI.get_record", c3)
t.ok(rc3["name_label"] == "small" and int(rc3["virtual_size"]) == 4 * MiB and
     rc3["uuid"] != u3, "VDI.clone: a new VDI of the same size and name")
with open("%s/%s.raw" % (shared, rc3["uuid"]), "rb") as f:
    f.seek(MiB)
    t.is_(f.read(4096), b"clone me" * 512, "holding the source's data")
s.call("VDI.destroy", c3)
s.call("VDI.destroy", v3)

# A block service holds the VDI (as for a running VM): in use.
sock = tmp + "/v1.sock"
nbd = subprocess.Popen(["nbdkit", "-f", "-U", sock, os.environ["PT_PLUGIN"],
                        "sr_type=shared-file", "sr_uuid=" + rec["uuid"],
                        "location=" + shared, "vdi=" + r1["uuid"]])
wait_until(lambda: os.path.exists(sock), 30, "the block service's socket")
try:
    s.call("VDI.destroy", v1)
    t.ok(False, "VDI.destroy while served: VDI_IN_USE", "destroyed")
except Failure as e:
    t.is_(e.desc, ["VDI_IN_USE", v1, "destroy"],
          "VDI.destroy while served: VDI_IN_USE [vdi, destroy]")
t.is_(s.call("VDI.get_uuid", v1), r1["uuid"], "the VDI is still there")
nbd.terminate()
nbd.wait()

# SR.scan repairs the database from the medium.
stray = "5f0e8b52-7a35-4b1c-9d5e-1c0ffee00001"
subprocess.check_call([os.environ["PT_SRTOOL"], "vdi-create", "shared-file",
                       shared, rec["uuid"], stray, str(MiB)])
s.call("SR.scan", sr)
t.ok(any(s.call("VDI.get_uuid", v) == stray for v in s.call("SR.get_VDIs", sr)),
     "SR.scan finds a VDI made behind the pool's back")
for ext in (".meta", ".raw"):
    os.unlink("%s/%s%s" % (shared, stray, ext))
s.call("SR.scan", sr)
t.is_(s.call("SR.get_VDIs", sr), [v1], "and forgets one removed behind its "
      "back")

s.call("VDI.destroy", v1)
t.is_(files(shared), [".xm-sr"], "VDI.destroy: its files are gone")
t.is_(s.call("VDI.get_all"), [], "and its record")
t.is_(int(s.call("SR.get_virtual_allocation", sr)), 0, "the space is back")

# Destroy and forget.
v2 = s.call("VDI.create", vdi_rec(MiB))
t.fails_with(lambda: s.call("SR.destroy", sr), "SR_HAS_PBD",
             "SR.destroy while plugged: SR_HAS_PBD")
for p in s.call("SR.get_PBDs", sr):
    s.call("PBD.unplug", p)
t.fails_with(lambda: s.call("VDI.create", vdi_rec(MiB)), "SR_NOT_ATTACHED",
             "VDI.create on an unplugged SR: SR_NOT_ATTACHED")
t.fails_with(lambda: s.call("SR.destroy", sr), "SR_NOT_EMPTY",
             "SR.destroy with a VDI: SR_NOT_EMPTY")
s.call("PBD.plug", s.call("SR.get_PBDs", sr)[0])
t.ok(any(s.call("PBD.get_currently_attached", p)
         for p in s.call("SR.get_PBDs", sr)), "PBD.plug plugs it again")
s.call("VDI.destroy", v2)
for p in s.call("SR.get_PBDs", sr):
    s.call("PBD.unplug", p)
s.call("SR.destroy", sr)
t.is_(files(shared), [], "SR.destroy: the medium is empty")
t.ok(sr not in s.call("SR.get_all") and s.call("PBD.get_all") ==
     s.call("SR.get_PBDs", lsr), "its records are gone")
t.fails_with(lambda: s.call("SR.forget", lsr), "SR_HAS_PBD",
             "SR.forget while plugged: SR_HAS_PBD")
s.call("PBD.unplug", s.call("SR.get_PBDs", lsr)[0])
s.call("SR.forget", lsr)
t.is_(s.call("SR.get_all"), [], "SR.forget: no record left")
t.is_(files(local3), [".xm-sr"], "but the medium keeps the SR")
t.done()
P
pt_done
