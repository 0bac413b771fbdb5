#!/bin/bash
# scripts/demo.sh - set up (scripts/setup.sh) and run the live demo:
#  1. boot the test guest under the KVM driver (sim where /dev/kvm is
#     missing) and show its heartbeat and dirty rate live for a few
#     seconds (build/demo/xm-hv-demo);
#  2. the main job (scripts/pool-demo.sh): a three-host pool on this
#     machine, a VM running the test guest live-migrated host1 -> host2 ->
#     host3 -> host1 with xm-pool's progress bar, each move's total time
#     and guest-observed downtime printed; the pool is left running.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/setup.sh
driver=kvm
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "demo: /dev/kvm is not usable here: using the sim driver" >&2
    driver=sim
fi
export XM_BUILDDIR="$top/build"
run_dir=$(mktemp -d /tmp/xm-demo.XXXXXX)
echo "== the test guest under the $driver driver, live"
XM_VMM_RUN_DIR=$run_dir build/demo/xm-hv-demo --driver "$driver" \
    --seconds "${DEMO_SECONDS:-4}"
rmdir "$run_dir" 2>/dev/null || true
echo
exec scripts/pool-demo.sh
