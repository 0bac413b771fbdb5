#!/bin/sh
# bench_sxm.sh - storage live migration to another host, storage.sxm
# (issue 12; run by `make bench` as bench/bench-sxm).  Prints one JSON
# object per line on stdout, nothing else; diagnostics go to stderr.  The
# measuring is done by bench/bench_sxm.py; this wrapper finds the build
# and source trees.
#
# Set-up.  Two xm-poold, children of bench_sxm.py, on 127.0.0.2 and
# 127.0.0.3 with plain HTTP on one free port, configured as
# tests/pool/lib.sh's pt_start does (state_dir, run_dir, log at
# log_level debug, password_cost 1, login_delay_ms 0, hv_driver kvm where
# /dev/kvm is usable else sim, guest_image build/guest/xm-guest.elf;
# XM_BUILDDIR for the nbdkit plugin); host 3 joins host 2 (pool.join).
# The XenAPI calls go through tests/pool/pool_client.py.  SRs: "file" on
# host 2 (l2) and on host 3 (l3), "shared-file" plugged on both (shared).
#
# Each run boots two VMs, one after the other, each alone on the machine,
# identical but for where its disk is: the test guest with 1 GiB of RAM
# (--mem-mib), one VCPU, xm:cmdline "ws_mib=256 rate_mib=64
# disk_rate_mib=16 disk_ws_mib=64" (scripts/pool-demo.sh's workload: 64
# MiB/s of memory dirtied in a 256 MiB working set, 16 MiB/s written to
# the first 64 MiB of its disk with a ledger it re-reads), one 4 GiB VDI
# (--disk-mib) into whose raw file, before the VM starts, 1 GiB
# (--data-mib) of random bytes is written in 64 MiB extents spread evenly
# after the guest's 64 MiB, holes between (fdatasync'ed, so in the page
# cache and on disk).  Started on host 2 (VM.start_on), it runs 5 s
# (--warmup-s) after its first disk writes and heartbeats, then moves to
# host 3:
#   - memory_only: its disk on shared, Async.VM.pool_migrate(vm, host 3,
#     {}): only memory moves (the block service changes hosts);
#   - sxm: its disk on l2, Async.VM.migrate_send(vm, Host.migrate_receive(
#     host 3), live, {vdi: l3}, {}, {}): the disk is mirrored to a new VDI
#     on l3 (host 3 exports it over NBD with TLS-PSK), then memory moves.
# total_s is the client's time from sending the Async call to seeing the
# task end (task.get_record after event.from wakes on it; the task's own
# created/finished have 1 s resolution).  ratio = sxm total_s /
# memory_only total_s (medians over --runs, default 1).
#
# Downtime, as the daemons record it: the task's result is the source
# engine's JSON line (mig_stats_json).  guest_downtime_ms is the longest
# gap between the guest's heartbeats (1 ms apart) as the hosts saw them
# in the migration: on the source before the pause (guest_src_gap_ms),
# from the source's last to the destination's first (guest_switch_gap_ms)
# and on the destination after (guest_dst_gap_ms); downtime_ms is the
# engine's own, source paused to destination resumed; hb_continuous that
# the destination's first heartbeat follows the source's last.
#
# Disk bytes: while migrate_send runs, a second client asks host 2 for
# the mirror's status every 200 ms (--poll-ms; host_local.
# vdi_motion_status with the pool secret, the call the master makes).
# disk_bytes_sent is the mirror's sent count at the last answer before the
# mirror stopped (the pause's final drain and at most one poll's writes,
# ~3 MiB at 16 MiB/s, not in it), disk_bytes_sent_at_sync the count at the
# first answer saying actively synced, disk_sync_s the time from the
# Async call to that answer; disk_alloc the source file's allocation
# (st_blocks) just before the move, dst_alloc the new file's after,
# disk_sent_per_alloc = disk_bytes_sent / disk_alloc.  mem_bytes_sent
# and engine_total_ms are the memory engine's.
#
# After each move the guest runs 3 s (--after-s) on host 3; then
# host_local.vm_status there: disk_writes_after and heartbeats_after (it
# goes on), disk_mismatches and disk_errors (its disk ledger), mismatches
# (memory); for sxm also that the VBD points at a new VDI on l3, whether
# the source VDI (VDI.get_record: HANDLE_INVALID) and its file were gone
# when the task was seen ending (src_vdi_gone_at_end,
# src_file_gone_at_end: the master destroys them after settling, so this
# is a race) and how long after that both were (src_gone_s, at most
# 60 s), and that the 16 data extents read from the new file have the
# SHA-256 written (data_intact).  ok in the summary says that the guest
# ran on host 3 only and went on writing, its ledgers were clean, the
# VBD was switched, the source went within 60 s and the data is intact.
# Lines: storage.sxm.env, then storage.sxm (medians, and the per-run
# lists of the main figures); each with the 1-minute load average at its
# end (loadavg); the per-move details, with the load average at each
# move's start (load_before), go to stderr.
#
# Big files go under $TMPDIR, else /var/tmp (sparse: ~2.2 GiB of disk at
# most), removed at the end with the daemons (SIGTERM, after
# VM.hard_shutdown of any VM still running) and any VMM or nbdkit whose
# command line names their directories.  About 2 minutes on 2 cores.
#
# Environment: XM_BUILDDIR (default: the directory above this script),
# XM_SRCDIR (default: the source tree this script was generated from).
# Options are passed to bench_sxm.py (--help lists them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${XM_BUILDDIR:=$(cd "$here/.." && pwd)}"
srcdir=${XM_SRCDIR:-%SRCDIR%}
case $srcdir in %*) srcdir=$(cd "$here/.." && pwd) ;; esac
export XM_BUILDDIR

if ! command -v python3 >/dev/null 2>&1; then
    echo '{"bench":"storage.sxm","skipped":"python3 not found"}'
    exit 0
fi

exec python3 "$srcdir/bench/bench_sxm.py" --builddir "$XM_BUILDDIR" \
    --srcdir "$srcdir" "$@"
