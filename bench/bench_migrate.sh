#!/bin/sh
# bench_migrate.sh - live-migration benchmarks (run by `make bench` as
# bench/bench-migrate).  Prints one JSON object per line on stdout, nothing
# else; diagnostics go to stderr.  The measuring is done by
# bench/bench_migrate.py, whose header says how each figure is measured;
# this wrapper does the set-up: find the build and source trees, and make
# sure QEMU is there for migrate.vs_qemu.
#
# Environment: XM_BUILDDIR (default: the directory above this script),
# XM_SRCDIR (default: the source tree this script was generated from),
# XM_BENCH_MIGRATE (optional: a comma-separated subset of throughput,
# idle, downtime, vs_qemu).  Options are passed to bench_migrate.py
# (--help lists them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${XM_BUILDDIR:=$(cd "$here/.." && pwd)}"
srcdir=${XM_SRCDIR:-%SRCDIR%}
case $srcdir in %*) srcdir=$(cd "$here/.." && pwd) ;; esac
export XM_BUILDDIR

if ! command -v python3 >/dev/null 2>&1; then
    echo '{"bench":"migrate","skipped":"python3 not found"}'
    exit 0
fi

# migrate.vs_qemu needs Debian's qemu-system-x86.  Install it if missing
# and we are root; otherwise bench_migrate.py prints a skipped line.
qemu_skip=
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench-migrate: installing qemu-system-x86" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            qemu-system-x86 >&2 || true
    fi
    command -v qemu-system-x86_64 >/dev/null 2>&1 ||
        qemu_skip="qemu-system-x86_64 missing; apt-get install -y \
qemu-system-x86 failed or we are not root"
fi

exec python3 "$srcdir/bench/bench_migrate.py" --builddir "$XM_BUILDDIR" \
    ${qemu_skip:+--qemu-skip "$qemu_skip"} "$@"
