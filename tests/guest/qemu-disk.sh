#!/bin/sh
# The test guest's disk workload under QEMU, on real legacy virtio-blk
# devices (two raw files), prints TAP.
#
# Every run ends by the guest's state, not by time: disk_stop_after=N makes
# the guest print its disk summary once N block writes are done (and
# flushed); the script waits for that line (or for QEMU to die, or a
# generous timeout, which are failures) and then stops QEMU.  QEMU has no
# device on the guest's exit port here: an isa-debug-exit there would also
# catch bytes of the neighbouring heartbeat and ready ports.
#
#   1. a fresh pair of disks: 1024 writes, each block read back before its
#      next write, no mismatch, the disk holds the stamps the spec says;
#   2. a second boot resumes (disk_resume=, same nonce) for 1024 more;
#   3. a third boot on a copy re-reads every block: still no mismatch;
#   4. the same on a copy where one block was corrupted and another put
#      back to an older boot's content: exactly those two are reported.
#
# Skips when qemu-system-x86_64 or a usable /dev/kvm is missing.
# XM_TEST_KEEP=1 keeps the temporary directory.

BUILDDIR=${XM_BUILDDIR:-.}
GUEST=$BUILDDIR/guest/xm-guest.elf
QEMU=${XM_QEMU:-qemu-system-x86_64}
NONCE=0x5eed1234
# 1 MiB of each disk: 256 blocks each, 512 in all
COMMON="ws_mib=1 tsc_khz=2000000 disk_rate_mib=8 disk_ws_mib=1"
COMMON="$COMMON disk_nonce=$NONCE"
N=0
FAILED=0
TMP=
QPID=

ok()
{
    N=$((N + 1))
    printf 'ok %d - %s\n' "$N" "$1"
}

not_ok()
{
    N=$((N + 1))
    FAILED=$((FAILED + 1))
    printf 'not ok %d - %s\n' "$N" "$1"
}

# check NAME COMMAND...: ok when the command succeeds
check()
{
    name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# has STRING PART...: STRING contains every PART
has()
{
    str=$1
    shift
    for part in "$@"; do
        case $str in *"$part"*) ;; *) return 1 ;; esac
    done
    return 0
}

diag_file()
{
    [ -s "$1" ] && sed 's/^/#   /' "$1"
}

cleanup()
{
    if [ -n "$QPID" ]; then
        kill "$QPID" 2>/dev/null
        wait "$QPID" 2>/dev/null
    fi
    if [ -n "$TMP" ] && [ -z "$XM_TEST_KEEP" ]; then
        rm -rf "$TMP"
    elif [ -n "$TMP" ]; then
        echo "# kept $TMP"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "1..0 # SKIP $QEMU not installed (Debian: qemu-system-x86)"
    exit 0
fi
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "1..0 # SKIP /dev/kvm not usable (the guest needs KVM under QEMU)"
    exit 0
fi
if ! [ -f "$GUEST" ]; then
    echo "Bail out! $GUEST not built"
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/xm-qemu-disk.XXXXXX") || exit 1

# boot LOG DISK0 DISK1 CMDLINE: runs the guest until it prints its disk
# summary; 0 when it did, 1 (QEMU's output shown) otherwise.
boot()
{
    log=$1
    : >"$log"
    "$QEMU" -enable-kvm -m 256 -nodefaults -display none -no-reboot \
        -kernel "$GUEST" -append "$4" \
        -drive "file=$2,format=raw,if=none,id=d0" \
        -device virtio-blk-pci,drive=d0,disable-modern=on \
        -drive "file=$3,format=raw,if=none,id=d1" \
        -device virtio-blk-pci,drive=d1,disable-modern=on \
        -debugcon "file:$log" >"$log.qemu" 2>&1 &
    QPID=$!
    i=0
    # The whole summary line, its newline included: QEMU writes the
    # console as the guest prints it, so a line can be read half done.
    while ! python3 -c 'import re, sys
sys.exit(not re.search(r"^xm-guest: disk writes [^\n]* errors \d+\n",
                       open(sys.argv[1], errors="replace").read(), re.M))' \
            "$log" 2>/dev/null; do
        if ! kill -0 "$QPID" 2>/dev/null || [ $i -ge 1200 ]; then
            kill "$QPID" 2>/dev/null
            wait "$QPID" 2>/dev/null
            QPID=
            echo "# the guest did not finish ($i/1200 ticks):"
            diag_file "$log"
            diag_file "$log.qemu"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    kill "$QPID" 2>/dev/null
    wait "$QPID" 2>/dev/null
    QPID=
    return 0
}

# summary LOG: the guest's disk summary line
summary()
{
    grep '^xm-guest: disk writes ' "$1"
}

# word FILE BLOCK WORD: the 64-bit word of a block, as 0x%x
word()
{
    v=$(od -A n -t x8 -j $(($2 * 4096 + $3 * 8)) -N 8 "$1" | tr -d ' ')
    printf '0x%x' "0x$v"
}

echo "1..11"
truncate -s 16M "$TMP/a0.raw" "$TMP/a1.raw" || exit 1

# 1. fresh disks
if boot "$TMP/1.log" "$TMP/a0.raw" "$TMP/a1.raw" \
        "$COMMON disk_stop_after=1024"; then
    ok "fresh disks: the guest ran to disk_stop_after"
else
    not_ok "fresh disks: the guest ran to disk_stop_after"
fi
check "two legacy virtio-blk devices found, both with flush" \
    [ "$(grep -c '^xm-guest: virtio-blk at 00:0..0: io 0x.* flush' \
        "$TMP/1.log")" = 2 ]
s=$(summary "$TMP/1.log")
echo "# $s"
check "1024 writes, 1024 reads, no mismatch, no error" \
    has "$s" "writes 1024 reads 1024 " "mismatches 0 errors 0"
# 1024 writes over 512 blocks in batches of 4 alternating disks: every
# block written twice; disk 1 block 9 is global index 37.
w=$(for i in 0 1 2 3 4; do word "$TMP/a1.raw" 9 $i; echo; done | xargs)
echo "# disk 1 block 9 starts $w"
check "disk 1 block 9 holds the stamp: magic, nonce, disk, block, gen 2" \
    [ "$w" = "0x31424b5349444d58 $NONCE 0x1 0x9 0x2" ]
check "nothing written past the 1 MiB working set" \
    [ "$(word "$TMP/a0.raw" 256 0)" = "0x0" ]
cp "$TMP/a1.raw" "$TMP/old1.raw"           # disk 1 at gen 2, for step 4

# 2. a second boot continues the first's disks
if boot "$TMP/2.log" "$TMP/a0.raw" "$TMP/a1.raw" \
        "$COMMON disk_resume=1024 disk_stop_after=1024"; then
    s=$(summary "$TMP/2.log")
    echo "# $s"
    check "second boot resumes: 1024 more writes, no mismatch" \
        has "$s" "writes 1024 " "mismatches 0 errors 0"
else
    not_ok "second boot resumes: 1024 more writes, no mismatch"
fi
check "disk 1 block 9 now at gen 4" [ "$(word "$TMP/a1.raw" 9 4)" = "0x4" ]

# 3. a copy, re-read in full (512 writes: every block checked first)
cp "$TMP/a0.raw" "$TMP/g0.raw" && cp "$TMP/a1.raw" "$TMP/g1.raw" || exit 1
cp "$TMP/a0.raw" "$TMP/b0.raw" && cp "$TMP/a1.raw" "$TMP/b1.raw" || exit 1
if boot "$TMP/3.log" "$TMP/g0.raw" "$TMP/g1.raw" \
        "$COMMON disk_resume=2048 disk_stop_after=512"; then
    s=$(summary "$TMP/3.log")
    echo "# $s"
    check "intact copy: every block re-read, no mismatch" \
        has "$s" "reads 512 " "mismatches 0 errors 0"
else
    not_ok "intact copy: every block re-read, no mismatch"
fi

# 4. corrupt disk 0 block 37 (one byte of word 300), and put disk 1 block 9
# back to its gen-2 content (a lost write)
printf '\377' | dd of="$TMP/b0.raw" bs=1 seek=$((37 * 4096 + 300 * 8 + 2)) \
    conv=notrunc 2>/dev/null || exit 1
dd if="$TMP/old1.raw" of="$TMP/b1.raw" bs=4096 skip=9 seek=9 count=1 \
    conv=notrunc 2>/dev/null || exit 1
if boot "$TMP/4.log" "$TMP/b0.raw" "$TMP/b1.raw" \
        "$COMMON disk_resume=2048 disk_stop_after=512"; then
    s=$(summary "$TMP/4.log")
    echo "# $s"
    check "damaged copy: exactly two mismatches" \
        has "$s" "mismatches 2 errors 0"
else
    not_ok "damaged copy: exactly two mismatches"
fi
grep 'mismatch' "$TMP/4.log" | sed 's/^/# /'
MM='^xm-guest: disk ledger mismatch at disk'
check "the corrupted block is named, at word 300" \
    grep -q "$MM 0 block 37 gen 4 word 300 " "$TMP/4.log"
STALE="$MM 1 block 9 gen 4 word 4 is 0x2 want 0x4"
STALE="$STALE (holds disk 1 block 9 gen 2)"
check "the stale block is named: gen 2 where 4 is due" \
    grep -q "$STALE" "$TMP/4.log"

[ "$FAILED" -eq 0 ]
