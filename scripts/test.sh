#!/bin/bash
# scripts/test.sh - set up (scripts/setup.sh) and run the whole test suite:
# `make check` in build/, then the unit tests again built with
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/, then the
# threaded engines' tests built with ThreadSanitizer in build-tsan/; then the
# Xen test lane (`make check-xen`) where the machine can run it (see
# below; XM_TEST_XEN=0 leaves it out).  Prints
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

# A data race fails the test that ran into it (halt_on_error: the racing
# process exits 66) and the run: every report is kept in
# build-tsan/tsan-reports and its first lines are printed here.
scripts/setup.sh --tsan || exit 1
echo "== the threaded engines under ThreadSanitizer (build-tsan/)"
rm -rf build-tsan/tsan-reports && mkdir -p build-tsan/tsan-reports
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
log_path=$top/build-tsan/tsan-reports/report" \
    make -C build-tsan -j"$jobs" check-tsan || status=1
for f in build-tsan/tsan-reports/report*; do
    [ -f "$f" ] || continue
    echo "== ThreadSanitizer report $f"
    head -n 60 "$f"
    status=1
done
count build-tsan

# The Xen test lane (make check-xen: a real Xen under QEMU TCG, about 15
# minutes, 2 more to build its image the first time) where the machine
# can: it needs root (to install its packages and build its dom0 image)
# and 6 GiB free; tests/xen/run.sh says why it cannot run (exit 77).
# Counted as one skip, with the reason, otherwise.
xen_skip() {
    echo "== the Xen test lane: SKIP: $*"
    total[skip]=$(( ${total[skip]} + 1 ))
}
if [ "${XM_TEST_XEN:-1}" = 0 ]; then
    xen_skip "XM_TEST_XEN=0 leaves it out"
elif [ "$(id -u)" -ne 0 ]; then
    xen_skip "it needs root (packages, its dom0 image); this is uid $(id -u)"
elif ! scripts/setup.sh --xen; then
    xen_skip "installing its packages (scripts/setup.sh --xen) failed"
else
    echo "== the Xen test lane (make check-xen)"
    BUILDDIR=build tests/xen/run.sh 2>&1 | tee build/xen-lane.log
    xrc=${PIPESTATUS[0]}
    if [ "$xrc" -eq 77 ]; then
        total[skip]=$(( ${total[skip]} + 1 ))
    else
        n=$(sed -n 's/^xen lane: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' build/xen-lane.log)
        n=${n:-0 1}
        total[pass]=$(( ${total[pass]} + ${n%% *} ))
        total[fail]=$(( ${total[fail]} + ${n##* } ))
        [ "$xrc" -eq 0 ] || status=1
    fi
fi

# Every failure again, last, where a truncated log still shows it.
for d in build build-asan build-tsan; do
    [ -f "$d/test-suite.log" ] || continue
    grep -E '^(FAIL|ERROR): ' "$d/test-suite.log" | sed "s|^|== $d: |"
done
[ -f build/xen-lane.log ] && grep -E '^not ok |^xen lane: FAIL' build/xen-lane.log |
    sed "s|^|== |"
echo "${total[pass]} passed, ${total[fail]} failed, ${total[skip]} skipped"
[ "${total[fail]}" -eq 0 ] || status=1
exit $status
