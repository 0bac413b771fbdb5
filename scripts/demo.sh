#!/bin/bash
# scripts/demo.sh - set up (scripts/setup.sh) and run the live demo: boot
# the test guest under the KVM driver (the sim driver where /dev/kvm is
# missing) and show its heartbeat and dirty rate live for a few seconds.
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
export XM_VMM_RUN_DIR="${XM_VMM_RUN_DIR:-$(mktemp -d /tmp/xm-demo.XXXXXX)}"
exec build/demo/xm-hv-demo --driver "$driver" --seconds "${DEMO_SECONDS:-6}" "$@"
