#!/bin/sh
# bench_mirror.sh - the mirrored-block engine's benchmarks, storage.mirror
# and storage.mirror_busy (issue 12; run by `make bench` as
# bench/bench-mirror).  Prints one JSON object per line on stdout, nothing
# else; diagnostics go to stderr.  The measuring is done by
# bench/bench_mirror.py; this wrapper finds the build and source trees.
#
# How storage.mirror measures.  A 4 GiB VDI of a shared-file SR holds
# 2 GiB of random bytes in 64 MiB extents, each followed by a 64 MiB hole
# (written and fdatasync'ed before anything is timed, so in the page
# cache and on disk).  It is idle.  Each copy goes to a fresh sparse VDI
# of the same size served as xm-poold exports a VDI to a peer
# (daemon/pd_blk.c xa_blk_export): nbdkit with our plugin on TCP
# 127.0.0.1, --tls=require --tls-psk=FILE, --filter=limit limit=4,
# peer=127.0.0.1, lock=connection.  The source is served as a VM's disk
# (--threads=1, a unix socket, here with ctl=).  Ours: the time from
# sending `start uri=nbds://xm-pool@127.0.0.1:PORT/?tls-psk-file=FILE
# target_zeroed=1` (default granule, chunk and conns) to `complete gen=G`
# returning, polling with `wait` (timeout_ms=100, see bench_mirror.py
# for why) until actively synced.  Baselines, same run, same target
# served the same way, a fresh target each time:
#   - nbdcopy --destination-is-zero --flush (its default 4 connections,
#     64 requests), from the source served by our plugin and from the raw
#     file itself; the faster of the two is the baseline (`baseline`,
#     `ratio`): the sceptic's choice;
#   - cp --sparse=always of the raw file in the same directory: no NBD,
#     no network, the local physical limit (ratio_cp, for reference);
#   - QEMU's blockdev-mirror sync=full (qemu-system-x86_64 -M none, over
#     QMP): a raw blockdev on the source file, an nbd blockdev of the
#     target with tls-creds-psk, timed from the target's blockdev-add to
#     BLOCK_JOB_COMPLETED after block-job-complete at BLOCK_JOB_READY
#     (ratio_qemu); skipped, saying why, without qemu-system-x86_64.
# Every copy, ours too, ends with an fdatasync of the target file from
# outside inside its time, so that each is measured to a durable target
# (~0 after our complete, which flushes; nbdcopy --flush and QEMU too).
# Each figure is the median of RUNS (3) runs, the tools interleaved;
# ratio_X = X's seconds / ours (>= 0.8 meets the issue's goal).  Also:
# the bytes we sent and zeroed (the status at complete), the bytes
# allocated on each target (st_blocks) against the source's, and
# mismatch_mib (1 MiB blocks differing from the source: cmp; 0 wanted).
#
# storage.mirror_busy: the same mirror of the same source while a writer
# (a minimal NBD client in bench_mirror.py) writes 16 MiB/s of random
# 64 KiB blocks of random bytes anywhere in the VDI, one at a time,
# through our plugin's unix socket, from 1 s before `start` on; once
# actively synced it goes on for 3 s of write-blocking writes, then stops
# (the guest's device stopped), and `complete` is sent.  total_s is start
# to complete, sync_s start to actively synced, sent_per_vdi = bytes sent
# / VDI size, wlat_copying_us and wlat_synced_us the mean latency of a
# write through the mirror in each state (wlat_*_ns / writes_*, the
# engine's figures), client_p50/p99_us the writer's own; mismatch_mib as
# above after complete.  There is no baseline (nbdcopy cannot copy a
# disk that is written).  Every line carries the 1-minute load average
# at its end (loadavg) and at its start (load_before); the env line the
# core count and the tools' versions.
#
# Big files go under $TMPDIR, else /var/tmp (sparse: ~4.3 GiB of disk
# at most), removed at the end.  About 3-4 minutes on 2 cores.
#
# Environment: XM_BUILDDIR (default: the directory above this script),
# XM_SRCDIR (default: the source tree this script was generated from).
# Options are passed to bench_mirror.py (--help lists them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${XM_BUILDDIR:=$(cd "$here/.." && pwd)}"
srcdir=${XM_SRCDIR:-%SRCDIR%}
case $srcdir in %*) srcdir=$(cd "$here/.." && pwd) ;; esac
export XM_BUILDDIR

if ! command -v python3 >/dev/null 2>&1; then
    echo '{"bench":"storage.mirror","skipped":"python3 not found"}'
    exit 0
fi

exec python3 "$srcdir/bench/bench_mirror.py" --builddir "$XM_BUILDDIR" "$@"
