#!/bin/sh
# bench_storage.sh - the block service's benchmarks, storage.nbd and
# storage.io (run by `make bench` as bench/bench-storage).  Prints one
# JSON object per line on stdout, nothing else; diagnostics go to stderr.
# The measuring is done by bench/bench_storage.py, whose header says how
# each figure is measured; this wrapper finds the build and source trees.
#
# Environment: XM_BUILDDIR (default: the directory above this script),
# XM_SRCDIR (default: the source tree this script was generated from).
# Options are passed to bench_storage.py (--help lists them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${XM_BUILDDIR:=$(cd "$here/.." && pwd)}"
srcdir=${XM_SRCDIR:-%SRCDIR%}
case $srcdir in %*) srcdir=$(cd "$here/.." && pwd) ;; esac
export XM_BUILDDIR

if ! command -v python3 >/dev/null 2>&1; then
    echo '{"bench":"storage.nbd","skipped":"python3 not found"}'
    echo '{"bench":"storage.io","skipped":"python3 not found"}'
    exit 0
fi

exec python3 "$srcdir/bench/bench_storage.py" --builddir "$XM_BUILDDIR" "$@"
