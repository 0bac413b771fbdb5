#!/bin/bash
# scripts/test.sh - set up (scripts/setup.sh) and run the whole test suite:
# `make check` in build/, then the unit tests again built with
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/; the Xen
# test lane (`make check-xen`) only with XM_TEST_XEN=1 (see below).  Prints
# automake's per-test summary for each, and one closing line
# "N passed, N failed, N skipped".  Exit status 0 only if nothing failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

jobs=$(nproc)
status=0
declare -A total=([pass]=0 [fail]=0 [skip]=0)

count() {   # count DIR: add a build's test-suite.log figures
    local log=$1/test-suite.log f
    [ -f "$log" ] || return 0
    for f in pass fail skip; do
        local key n
        key=$(echo "$f" | tr a-z A-Z)
        n=$(sed -n "s/^# $key: *\([0-9]*\).*/\1/p" "$log" | head -1)
        total[$f]=$(( ${total[$f]} + ${n:-0} ))
    done
    n=$(sed -n 's/^# ERROR: *\([0-9]*\).*/\1/p' "$log" | head -1)
    total[fail]=$(( ${total[fail]} + ${n:-0} ))
}

scripts/setup.sh || exit 1
echo "== make check (build/)"
make -C build -j"$jobs" check || status=1
count build

scripts/setup.sh --asan || exit 1
echo "== unit tests and the migration engine under ASan+UBSan (build-asan/)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make -C build-asan -j"$jobs" check-unit || status=1
count build-asan

# The Xen test lane (make check-xen: a real Xen under QEMU TCG) only when
# asked: it does not pass yet -- our migrations stop on checksum
# mismatches there, and the emulated host corrupts dom0's memory
# (docs/design/hv.md, "The Xen lane").
# Counted as one skip, with the reason, otherwise.
if [ "${XM_TEST_XEN:-0}" = 1 ]; then
    echo "== the Xen test lane (make check-xen)"
    if scripts/setup.sh --xen; then
        BUILDDIR=build tests/xen/run.sh 2>&1 | tee build/xen-lane.log
        xrc=${PIPESTATUS[0]}
    else
        echo "xen lane: SKIP: installing its packages failed"
        xrc=77
    fi
    if [ "$xrc" -eq 77 ]; then
        total[skip]=$(( ${total[skip]} + 1 ))
    else
        n=$(sed -n 's/^xen lane: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' build/xen-lane.log)
        n=${n:-0 1}
        total[pass]=$(( ${total[pass]} + ${n%% *} ))
        total[fail]=$(( ${total[fail]} + ${n##* } ))
        [ "$xrc" -eq 0 ] || status=1
    fi
else
    echo "== the Xen test lane: SKIP: not run by default (XM_TEST_XEN=1 runs it): it does not pass yet, see docs/design/hv.md"
    total[skip]=$(( ${total[skip]} + 1 ))
fi

echo "${total[pass]} passed, ${total[fail]} failed, ${total[skip]} skipped"
[ "${total[fail]}" -eq 0 ] || status=1
exit $status
