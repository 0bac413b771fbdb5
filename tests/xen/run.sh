#!/bin/bash
# tests/xen/run.sh - the Xen test lane (`make check-xen`).
#
# Boots a real Xen 4.17 (Debian's) with a PV dom0 under QEMU TCG, runs our
# test programme inside dom0 and brings the results back:
#   - our engine (xm-migrate --driver xen) live-migrates a PVH and a PV
#     domU to localhost, each checked for continuity (its tick counter
#     goes on) and integrity (its memory self-check stays clean);
#   - `xl migrate` moves the same kind of domU, side by side, for reference;
#   - our receiver is killed mid-migration: the source must be running
#     afterwards and no half-built domain may be left.
#
#   tests/xen/run.sh [CASE...]     CASE: a file name under tests/xen/cases
#                                  (default: all of them)
# Environment: BUILDDIR (default ./build) holds our built binaries;
# XM_XEN_CACHE the image cache (see image.sh); XEN_LANE_TIMEOUT_S the
# whole boot's time limit (default 2400; a whole run takes about 15
# minutes on 2 cores).
#
# The emulated machine needs three settings to be sound:
#  - spec-ctrl=eager-fpu on Xen's command line.  QEMU's CPU model is an
#    AMD one, on which Xen switches vCPUs' FPU/SSE state lazily (CR0.TS
#    and #NM); under QEMU 7.2 TCG that leaks SSE registers from one domain
#    into another (case 03 measures it: hundreds to thousands of clobbered
#    XMM words a minute in dom0 while any domU runs), which looked like memory
#    corruption (garbage copies, malloc and ld.so failures, our stream's
#    checksum mismatches).  Eager switching saves and restores them on
#    every context switch.
#  - AVX and its relatives left out of the CPU model: QEMU 7.2's TCG is
#    the first with AVX/AVX2 and dom0's glibc would pick them.
#  - PVH domUs on shadow paging (tests/xen/lib.sh): with HAP, QEMU's
#    emulation of nested paging made 2 of 8 PVH migrations end in a guest
#    triple fault, once with a Xen address in the guest's RIP (CS e008);
#    with shadow paging, none (docs/design/hv.md, "The Xen lane").
#
# Exit: 0 all passed, 1 a failure, 77 the lane cannot run on this machine
# (the reason is printed: not root, no QEMU, not enough disk).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir=$(cd "${BUILDDIR:-$top/build}" 2>/dev/null && pwd) || {
    echo "xen lane: no build directory (run scripts/setup.sh first)" >&2; exit 1; }
timeout_s=${XEN_LANE_TIMEOUT_S:-2400}

skip() { echo "xen lane: SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and the image)"
command -v qemu-system-x86_64 >/dev/null ||
    skip "qemu-system-x86_64 missing (scripts/setup.sh --xen installs it)"
command -v debootstrap >/dev/null ||
    skip "debootstrap missing (scripts/setup.sh --xen installs it)"
cache=${XM_XEN_CACHE:-/var/cache/xm-pool/xen-lane}
mkdir -p "$cache"
avail_kb=$(df -Pk "$cache" | awk 'NR == 2 {print $4}')
[ "${avail_kb:-0}" -ge $((6 * 1024 * 1024)) ] ||
    skip "less than 6 GiB free under $cache"
for b in xl-migrate/xm-migrate hv/xm-xen-reaper daemon/xm-poold cli/xm-pool; do
    [ -x "$builddir/$b" ] || {
        echo "xen lane: $builddir/$b missing: the build has no Xen driver (libxen-dev)" >&2
        exit 1; }
done

img=$("$here/image.sh") || { echo "xen lane: building the dom0 image failed" >&2; exit 1; }

# The share: our binaries, the domU initramfs, the dom0 scripts and cases
# in; results out.
work=$builddir/xen-lane
share=$work/share
rm -rf "$share"
mkdir -p "$share/bin" "$share/domu" "$share/cases" "$share/results" \
    "$share/tls"
cp "$builddir/xl-migrate/xm-migrate" "$builddir/hv/xm-xen-reaper" \
    "$builddir/daemon/xm-poold" "$builddir/cli/xm-pool" "$share/bin/"
# The test TLS identities (tests/data/tls/README): a for our receivers.
cp "$top"/tests/data/tls/a.crt "$top"/tests/data/tls/a.key "$share/tls/"
cp "$here/dom0-run.sh" "$here/lib.sh" "$share/"
chmod 755 "$share/dom0-run.sh"
if [ $# -gt 0 ]; then
    for c in "$@"; do cp "$here/cases/$(basename "$c")" "$share/cases/" || exit 1; done
else
    cp "$here"/cases/*.sh "$share/cases/"
fi

# The domU's initramfs: our static init and nothing else.
gcc -static -O2 -Wall -Wextra -Werror -o "$work/xm-domu-init" \
    "$here/domu/xm_domu_init.c" || exit 1
rm -rf "$work/initramfs"
mkdir -p "$work/initramfs/dev"
cp "$work/xm-domu-init" "$work/initramfs/init"
cp "$work/xm-domu-init" "$share/domu/"
gcc -static -O1 -fno-tree-vectorize -Wall -Wextra -Werror \
    -o "$share/domu/xm-lane-regcheck" "$here/domu/xm_lane_regcheck.c" || exit 1
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) \
    >"$share/domu/initrd.gz" || exit 1

log=$work/console.log
echo "xen lane: image $img"
echo "xen lane: booting Xen + dom0 under QEMU TCG (console: $log)"
start=$(date +%s)
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
    -accel "tcg,thread=${XEN_LANE_TCG_THREAD:-multi}" \
    -cpu "${XEN_LANE_CPU:-max,avx=off,avx2=off,fma=off,f16c=off,vaes=off,vpclmulqdq=off}" -m 3072 -smp "${XEN_LANE_SMP:-2}" -machine q35 \
    -nographic -no-reboot -serial "file:$log" -monitor none \
    -kernel "$img/xen" \
    -append "dom0_mem=1024M,max:1024M dom0_max_vcpus=${XEN_LANE_SMP:-2} console=com1 com1=115200,8n1 smap=0 asid=0 spec-ctrl=eager-fpu loglvl=warning guest_loglvl=warning" \
    -initrd "$img/vmlinuz root=/dev/vda rw console=hvc0 init=/xm-lane-init quiet,$img/initrd.img" \
    -drive "file=$img/rootfs.ext4,if=virtio,format=raw,snapshot=on" \
    -virtfs "local,path=$share,mount_tag=share,security_model=none" \
    </dev/null >"$work/qemu.out" 2>&1
qrc=$?
echo "xen lane: QEMU exited with $qrc after $(( $(date +%s) - start )) s"
# Guest faults Xen saw (a triple fault is also how the emulated machine's
# own faults show up: see docs/design/hv.md, "The Xen lane").
if grep -a -q 'Triple fault' "$log"; then
    echo "xen lane: Xen reported guest triple faults:"
    grep -a -A5 'Triple fault' "$log" | grep -a -E 'Triple|RIP'
fi

res=$share/results
if [ -f "$res/dom0.log" ]; then
    echo "---- dom0 log ----"
    cat "$res/dom0.log"
    echo "------------------"
fi
if [ ! -f "$res/tap" ]; then
    echo "xen lane: FAIL: no results came back (see $log and $work/qemu.out)"
    tail -n 40 "$log" 2>/dev/null
    exit 1
fi
pass=$(grep '^ok ' "$res/tap" | grep -c -v '# SKIP')
skipped=$(grep '^ok ' "$res/tap" | grep -c '# SKIP')
fail=$(grep -c '^not ok ' "$res/tap")
[ "$skipped" -eq 0 ] || grep '^ok .*# SKIP' "$res/tap" | sed 's/^/xen lane: /'
if ! grep -q '^# lane complete' "$res/tap"; then
    echo "xen lane: FAIL: the run inside dom0 did not complete (timeout $timeout_s s?)"
    fail=$((fail + 1))
fi
# (scripts/test.sh reads this line as it is.)
echo "xen lane: $pass passed, $fail failed"
[ "$skipped" -eq 0 ] || echo "xen lane: $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
