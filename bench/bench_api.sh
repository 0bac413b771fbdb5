#!/bin/sh
# bench_api.sh - XenAPI request-cost benchmarks (run by `make bench` as
# bench/bench-api).  Prints one JSON object per line on stdout, nothing
# else; diagnostics go to stderr.  The measuring is done by
# bench/bench_api.py, whose header says how each figure is measured; this
# wrapper finds the build and source trees.
#
# Environment: XM_BUILDDIR (default: the directory above this script),
# XM_SRCDIR (default: the source tree this script was generated from),
# XM_POOL_ROOT_PASSWORD (optional: the root password the daemon is given).
# Options are passed to bench_api.py (--help lists them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${XM_BUILDDIR:=$(cd "$here/.." && pwd)}"
srcdir=${XM_SRCDIR:-%SRCDIR%}
case $srcdir in %*) srcdir=$(cd "$here/.." && pwd) ;; esac
export XM_BUILDDIR

if ! command -v python3 >/dev/null 2>&1; then
    echo '{"bench":"api","skipped":"python3 not found"}'
    exit 0
fi

exec python3 "$srcdir/bench/bench_api.py" --builddir "$XM_BUILDDIR" "$@"
