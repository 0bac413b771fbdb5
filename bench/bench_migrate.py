#!/usr/bin/env python3
"""bench_migrate.py - live-migration benchmarks, run through bench_migrate.sh.

One JSON object per line on stdout, nothing else (diagnostics on stderr).
Every migration is between two xm-vmm processes on this host, over
127.0.0.1 with ports chosen by the kernel (listen on port 0), driven by
xl-migrate/xm-migrate, the test guest being guest/xm-guest.elf.  VMM
sockets live in a private XM_VMM_RUN_DIR; at exit every domain in it and
every process this script started (by its pid) is stopped.  Migrations
run over plain TCP (--plain: loopback) unless a figure says TLS, so that
they compare with the raw TCP copies and with QEMU's plain migration;
migrate.tls measures what TLS costs.  Figures are
medians over the runs unless named otherwise; every line carries the
1-minute load average of the host at its end ("loadavg"): the machine is
shared, and a busy host shows in every figure.

migrate.throughput (one line per stream count, 1 and 2)
    A 1024 MiB guest booted with "ws_mib=1020 rate=max pattern=random"
    fills all but ~3 MiB of its RAM with incompressible data; once every
    working-set page has been written (pages_written >= ws pages) it is
    paused (xm-migrate pause) and migrated paused, with --no-digest (the
    post-commit digest is not copying).  With a paused source round 0
    sends every page and the next harvest is empty, so the migration is a
    pure stop-and-copy (checked: rounds == 2).  The destination guest is
    paused again right after each migration, so that no guest vCPU runs
    during the next measurement, and the same guest goes back and forth.
      round0_ms   the time of round 0 alone: the sender measures round 0's
                  guest bytes over its duration (from queueing its first
                  batch to the workers draining) and reports it as the
                  bandwidth of its last progress line, "done" (--progress;
                  nothing is reported while the source is paused);
                  round0_ms = bytes_sent / that bandwidth
                  (bytes_sent also holds the few control records: < 0.01 %).
                  Set-up (connect, VM config, destination VM creation,
                  log-dirty on), the empty final round, the commit
                  handshake and the source's destruction are excluded.
      ours_mib_s  guest_mib / round0_ms (the 1 GiB of guest RAM, zero
                  pages included, moved in that time).
      wire_mib_s  the sender's own round-0 bandwidth (wire bytes / s).
      raw_tcp_mib_s  bench/tcp_copy --mode memfd, run in the same loop as
                  ours: 1 GiB of random data from a memfd mapping written
                  over one loopback TCP connection (4 MiB writes, sockets
                  tuned as mig_net.c does) to a second process that reads
                  4 MiB at a time and copies it into a fresh 1 GiB memfd
                  mapping -- the work our receiver does per batch, first
                  touches of the destination memory included.  Timed from
                  connect() to the receiver's acknowledgement of the last
                  byte.
      raw_tcp_discard_mib_s  the same, the receiver dropping the data.
      raw_tcp_prefault_mib_s  the physical limit of the path: the same
                  copy (bench/tcp_copy --mode prefault), the receiver
                  recv()ing it straight into a 1 GiB memfd mapping, with
                  no intermediate buffer, every page of which it wrote
                  once beforehand (no page fault left to take), after one
                  untimed warm-up pass of the whole copy over its own
                  connection.  Timed the same way.
      raw_tcp_fresh_mib_s  the limit of the path into memory never
                  touched before, as the destination VM's is (bench/
                  tcp_copy --mode fresh): the receiver backs each 4 MiB
                  chunk of a fresh memfd in one fallocate() (no page
                  fault per page) and recv()s it straight into it; what
                  it loses against prefault is the cost of first touch
                  on this host.
      ratio       ours_mib_s / raw_tcp_mib_s (1.0 = as fast as the pipe);
                  ratio_discard likewise against raw_tcp_discard_mib_s,
                  ratio_prefault against raw_tcp_prefault_mib_s (the
                  fraction of the path's limit we reach), ratio_fresh
                  against raw_tcp_fresh_mib_s (of the limit into fresh
                  memory).
      ours_cpu_ms, raw_tcp_cpu_ms  CPU time (user + system) for the
                  copy: for ours, that of the sender and receiver
                  processes over the whole migration (getrusage of waited
                  children; the VMMs are not counted: one is paused, the
                  other not yet running); for tcp_copy, its own report.
                  cpu_ratio = raw_tcp_cpu_ms / ours_cpu_ms.  CPU time
                  suffers less than wall time from a busy host.
                  raw_tcp_discard_cpu_ms and raw_tcp_prefault_cpu_ms
                  likewise for those modes (for prefault, the receiver's
                  share is its own from the accept() of the timed
                  connection to its acknowledgement: the pre-faulting and
                  the warm-up are not the copy).
migrate.tls
    The cost of the channel's TLS (TLS 1.3, GnuTLS's record layer in user
    space, AES-128-GCM; the receiver's key pinned): the guest of
    migrate.throughput, its round 0 (measured as there) over plain TCP and
    over TLS alternately, `runs` times each, 1 stream.
      plain_mib_s, tls_mib_s   medians; ratio = tls_mib_s / plain_mib_s
                  (1.0: TLS costs nothing);
      downtime_64mib_{plain,tls}_{p50,p99}_ms   guest-observed downtime
                  (as migrate.downtime) of a guest dirtying 64 MiB/s of a
                  512 MiB working set, 2 * runs moves each way.
migrate.idle
    A 1024 MiB guest booted with "rate=0" (it only sends heartbeats: its
    RAM is zero but for the image, page tables and ledger) migrated with
    the default options (1 stream, checksums, digest) back and forth:
    total_ms, setup_ms, downtime_ms, guest_downtime_ms, bytes_sent,
    pages_zero and pages_normal are those of xm-migrate send's JSON line.
    total_ms runs from the start of mig_send to the source's destruction
    and includes the digest of the source (a hash of all its RAM).
migrate.downtime (one line per dirty rate)
    A 1024 MiB guest with a 512 MiB working set dirtied at D MiB/s
    ("ws_mib=512 rate_mib=D", D = 0, 64, 256, or "rate=max"), once its
    working set has been written through (at most 10 s of waiting), is
    migrated back and forth `runs` times with the default options
    (downtime target 10 ms, auto-converge, digest).
      p50_ms, p99_ms, max_ms   of guest_downtime_ms from the sender's
                  JSON: the longest gap between two heartbeats (1 ms
                  apart when the guest runs) seen by either VMM from the
                  start of the migration until the destination's first
                  heartbeats -- what the guest itself experienced;
                  p99 is nearest-rank (with 10 runs, the largest);
      engine_p50_ms, engine_p99_ms  of downtime_ms: from the sender's
                  pause of the source to the receiver's resume (one
                  CLOCK_MONOTONIC, same host);
      total_ms_p50, rounds_p50, throttle_pct_max, forced_stops: from the
                  same JSON; mismatches: the sum over the runs of the
                  destination guest's ledger mismatches (must be 0);
                  hb_continuous / digest_equal: true when every run had it;
      control_max_gap_ms, control_hb_per_s  the control: the longest
                  heartbeat gap of the guest before its first migration
                  (from its first heartbeat, over at least 5 s) and its
                  heartbeats per second then (1000 when its vCPU gets all
                  the CPU it wants): what the host's load alone does to
                  the guest, to read the figures above against;
      send_steps_p50_ms, recv_steps_p50_ms  medians of the step timings
                  the sender (from its pause of the source) and the
                  receiver (from the STOPCOPY record) log at
                  --log-level debug ("STEP at +X ms"), whatever steps the
                  engine logs: where the downtime goes.
migrate.vs_qemu
    The same guest image under QEMU (qemu-system-x86_64 -enable-kvm -m 1024
    -kernel xm-guest.elf -append "ws_mib=512 rate_mib=64 tsc_khz=T", T from
    KVM_GET_TSC_KHZ on a vCPU: bench/kvm_tsc_khz), its heartbeat port 0xea
    an isa-debugcon whose chardev is a Unix socket read by bench/hb_reader,
    which timestamps every byte (one per heartbeat) with CLOCK_MONOTONIC.
    After the guest's first heartbeat (allowed 40 s: SeaBIOS and the ring-0
    prologue are emulated) and 9 s of filling its working set, it migrates
    `runs` times along a chain of QEMUs, each started with -incoming defer
    and the same devices, then migrate-incoming tcp:127.0.0.1:0; the
    source gets migrate-set-parameters max-bandwidth 2^40 B/s (unlimited)
    and downtime-limit 10 ms (like ours), then migrate, and query-migrate
    is polled every 5 ms until "completed".  QEMU's own downtime and
    total-time are reported (qemu_downtime_ms, qemu_total_ms); the
    guest-observed downtime (qemu_guest_downtime_ms) is the longest gap
    between consecutive heartbeat bytes of the source's and the
    destination's readers together, from the migrate command to 200 ms
    after completion -- the window ours uses; qemu_switchover_gap_ms is
    the gap from the source's last byte to the destination's first.
    Ours runs the same workload (the same command line in our VMM, which
    passes the TSC frequency itself) `runs` times back and forth with the
    default options, before QEMU runs, never at the same time (each guest
    keeps a vCPU busy), with --no-digest (QEMU compares no digest); its
    total_ms still includes the source's destruction, QEMU's total-time
    does not include quitting.  ratio_downtime = ours_downtime_ms /
    qemu_downtime_ms; ratio_guest_downtime and ratio_total likewise (below
    1: ours is shorter).  ours_control_* and qemu_control_* are the
    control figures of migrate.downtime for each guest before it first
    migrates (for QEMU, from the reader's timestamps).
"""

import argparse
import atexit
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

GUEST_MIB = 1024
PAGES_PER_MIB = 256
CONTROL_S = 5.0             # at least this long without migrating first


def log(msg):
    print('bench-migrate: ' + msg, file=sys.stderr, flush=True)


def emit(obj):
    obj['loadavg'] = round(os.getloadavg()[0], 2)
    print(json.dumps(obj, separators=(',', ':')), flush=True)


def median(v):
    v = sorted(v)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def pct(v, p):
    """Nearest-rank percentile."""
    v = sorted(v)
    if not v:
        return None
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def r3(x):
    return None if x is None else round(x, 3)


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith('{'):
            return json.loads(line)
    raise RuntimeError('no JSON line in output: %r' % text[-500:])


class BenchError(Exception):
    pass


class Skip(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.bdir = os.path.abspath(args.builddir)
        self.sdir = os.path.abspath(args.srcdir)
        self.xm_bin = os.path.join(self.bdir, 'xl-migrate', 'xm-migrate')
        tls = os.path.join(self.sdir, 'tests', 'data', 'tls')
        self.tls_cert = os.path.join(tls, 'a.crt')
        self.tls_key = os.path.join(tls, 'a.key')
        self.guest = os.path.join(self.bdir, 'guest', 'xm-guest.elf')
        self.tmp = tempfile.mkdtemp(prefix='xm-bench-migrate.')
        self.run_dir = os.path.join(self.tmp, 'vmm')
        os.makedirs(self.run_dir)
        self.env = dict(os.environ, XM_BUILDDIR=self.bdir,
                        XM_VMM_RUN_DIR=self.run_dir)
        self.procs = []         # every Popen we started
        atexit.register(self.cleanup)

    # ---- processes ---------------------------------------------------------

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, env=self.env, **kw)
        self.procs.append(p)
        return p

    def stop_proc(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        for p in list(self.procs):
            try:
                self.stop_proc(p, wait=3)
            except Exception:
                pass
        try:
            out = subprocess.run([self.xm_bin, 'list'], env=self.env,
                                 capture_output=True, text=True, timeout=30)
            for line in out.stdout.splitlines():
                if line.split():
                    subprocess.run([self.xm_bin, 'destroy', '--domid',
                                    line.split()[0]], env=self.env,
                                   capture_output=True, timeout=30)
        except Exception:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- xm-migrate --------------------------------------------------------

    def xm(self, *args, timeout=120):
        r = subprocess.run([self.xm_bin] + [str(a) for a in args],
                           env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise BenchError('xm-migrate %s: exit %d: %s' %
                             (' '.join(map(str, args)), r.returncode,
                              r.stderr.strip()[-400:]))
        return r.stdout

    def boot(self, cmdline, mem_mib=GUEST_MIB):
        return int(self.xm('boot', '--mem-mib', mem_mib, '--cmdline',
                           cmdline).split()[0])

    def stats(self, domid):
        return json.loads(self.xm('stats', '--domid', domid))

    def destroy(self, domid):
        self.xm('destroy', '--domid', domid)

    def wait_guest(self, domid, pages=0, timeout=60.0, soft=False):
        """Until the guest is ready and has written `pages` pages."""
        end = time.monotonic() + timeout
        while True:
            st = self.stats(domid)
            if st['exited']:
                raise BenchError('guest %d exited: %s' % (domid, st))
            if st['ready'] and st['pages_written'] >= pages:
                return st
            if time.monotonic() > end:
                if soft and st['ready']:
                    return st
                raise BenchError('guest %d not ready after %.0f s: %s' %
                                 (domid, timeout, st))
            time.sleep(0.1)

    @staticmethod
    def children_cpu_ms():
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (ru.ru_utime + ru.ru_stime) * 1000.0

    def channel(self, tls):
        """The receiver's and the sender's channel options: TLS with the
        test identity of tests/data/tls (its key pinned), or plain TCP."""
        if not tls:
            return ['--plain'], ['--plain']
        if not hasattr(self, 'tls_pin'):
            self.tls_pin = self.xm('tls-pin', '--tls-cert',
                                   self.tls_cert).strip()
        return (['--tls-cert', self.tls_cert, '--tls-key', self.tls_key],
                ['--tls-pin', self.tls_pin])

    def migrate(self, domid, send_args=(), tls=False):
        """One migration of domid to a new receiver, over plain TCP unless
        tls; returns a dict: send, recv (the two JSON lines), send_log,
        recv_log (their stderr, debug level), cpu_ms (CPU time of the
        sender and receiver processes).  Raises on failure (the source then
        still runs, and stays ours to clean up)."""
        rchan, schan = self.channel(tls)
        cpu0 = self.children_cpu_ms()
        rerr = open(os.path.join(self.tmp, 'recv.err'), 'w+')
        rp = self.spawn([self.xm_bin, 'receive', '--listen', '127.0.0.1:0',
                         '--log-level', 'debug'] + rchan,
                        stdout=subprocess.PIPE, stderr=rerr, text=True)
        try:
            first = json.loads(rp.stdout.readline())
            port = first['port']
            sp = subprocess.run([self.xm_bin, 'send', '--to',
                                 '127.0.0.1:%d' % port, '--domid', str(domid),
                                 '--progress', '--log-level', 'debug'] +
                                schan + [str(a) for a in send_args],
                                env=self.env, capture_output=True, text=True,
                                timeout=400)
            rout, _ = rp.communicate(timeout=60)
        finally:
            self.stop_proc(rp)
            rerr.seek(0)
            rlog = rerr.read()
            rerr.close()
        try:
            sj = last_json(sp.stdout)
            rj = last_json(rout)
        except (RuntimeError, ValueError) as e:
            raise BenchError('migration of %d: %s; sender: %s; receiver: %s'
                             % (domid, e, sp.stderr.strip()[-400:],
                                rlog.strip()[-400:]))
        if sp.returncode != 0 or not sj.get('committed'):
            raise BenchError('migration of %d failed (exit %d): %s; %s' %
                             (domid, sp.returncode, sp.stderr.strip()[-400:],
                              json.dumps(sj)))
        return {'send': sj, 'recv': rj, 'send_log': sp.stderr,
                'recv_log': rlog, 'cpu_ms': self.children_cpu_ms() - cpu0}

    @staticmethod
    def commit_bandwidth(stderr):
        """The round-0 bandwidth (MiB/s) that the last progress line (the
        "done" one: nothing is reported while the source is paused)
        carries: the last bandwidth the sender measured."""
        bw = None
        for line in stderr.splitlines():
            m = re.match(r'(?:commit|done)\s+round \d+ .* (\d+) MiB/s\s+'
                         r'throttle', line)
            if m:
                bw = float(m.group(1))
        if bw is None:
            raise BenchError('no done progress line in: %r' % stderr[-400:])
        return bw

    @staticmethod
    def step_timings(stderr):
        """The "...: STEP at +X ms" debug lines of a sender or receiver."""
        t = {}
        for line in stderr.splitlines():
            m = re.search(r'debug: (.+?) at \+([\d.]+) ms', line)
            if m:
                t[m.group(1)] = float(m.group(2))
        return t

    def tcp_copy(self, mode):
        r = subprocess.run([os.path.join(self.bdir, 'bench', 'tcp_copy'),
                            '--mode', mode, '--mib', str(GUEST_MIB)],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise BenchError('tcp_copy --mode %s: %s' % (mode, r.stderr))
        return last_json(r.stdout)

    # ---- migrate.throughput ------------------------------------------------

    def bench_throughput(self):
        runs = self.args.runs_throughput
        ws_mib = GUEST_MIB - 4
        streams = (1, 2)
        d = self.boot('ws_mib=%d rate=max pattern=random' % ws_mib)
        self.wait_guest(d, pages=ws_mib * PAGES_PER_MIB, timeout=120)
        ours = {s: [] for s in streams}
        wire = {s: [] for s in streams}
        r0ms = {s: [] for s in streams}
        cpu = {s: [] for s in streams}
        modes = ('memfd', 'discard', 'prefault', 'fresh')
        raw = {m: [] for m in modes}
        raw_cpu = {m: [] for m in modes}
        for run in range(runs):
            for mode in modes:
                t = self.tcp_copy(mode)
                raw[mode].append(t['mib_s'])
                raw_cpu[mode].append(t['cpu_ms'])
                log('throughput run %d: tcp %s %.0f MiB/s' %
                    (run, mode, t['mib_s']))
            for s in streams:
                self.xm('pause', '--domid', d)
                m = self.migrate(d, ['--streams', s, '--no-digest'])
                sj = m['send']
                d = m['recv']['dst_domid']
                self.xm('pause', '--domid', d)
                if sj['rounds'] != 2:
                    raise BenchError('paused source took %d rounds' %
                                     sj['rounds'])
                bw = self.commit_bandwidth(m['send_log'])
                round0_s = sj['bytes_sent'] / 1048576.0 / bw
                ours[s].append(GUEST_MIB / round0_s)
                wire[s].append(bw)
                r0ms[s].append(round0_s * 1000)
                cpu[s].append(m['cpu_ms'])
                log('throughput run %d streams %d: %.0f MiB/s (round 0 '
                    '%.0f ms, total %.0f ms, cpu %.0f ms)' %
                    (run, s, ours[s][-1], r0ms[s][-1], sj['total_ms'],
                     m['cpu_ms']))
        self.destroy(d)
        base = median(raw['memfd'])
        limit = median(raw['prefault'])
        for s in streams:
            o = median(ours[s])
            emit({'bench': 'migrate.throughput', 'guest_mib': GUEST_MIB,
                  'streams': s, 'runs': runs, 'ours_mib_s': round(o, 1),
                  'raw_tcp_mib_s': round(base, 1),
                  'raw_tcp_discard_mib_s': round(median(raw['discard']), 1),
                  'raw_tcp_prefault_mib_s': round(limit, 1),
                  'raw_tcp_fresh_mib_s': round(median(raw['fresh']), 1),
                  'ratio': round(o / base, 3),
                  'ratio_discard': round(o / median(raw['discard']), 3),
                  'ratio_prefault': round(o / limit, 3),
                  'ratio_fresh': round(o / median(raw['fresh']), 3),
                  'round0_ms': r3(median(r0ms[s])),
                  'wire_mib_s': round(median(wire[s]), 1),
                  'ours_cpu_ms': round(median(cpu[s])),
                  'raw_tcp_cpu_ms': round(median(raw_cpu['memfd'])),
                  'raw_tcp_discard_cpu_ms': round(median(raw_cpu['discard'])),
                  'raw_tcp_prefault_cpu_ms':
                      round(median(raw_cpu['prefault'])),
                  'cpu_ratio': round(median(raw_cpu['memfd']) /
                                     median(cpu[s]), 3),
                  'ours_mib_s_all': [round(x, 1) for x in ours[s]],
                  'raw_tcp_mib_s_all': [round(x, 1) for x in raw['memfd']],
                  'raw_tcp_discard_mib_s_all':
                      [round(x, 1) for x in raw['discard']],
                  'raw_tcp_prefault_mib_s_all':
                      [round(x, 1) for x in raw['prefault']],
                  'raw_tcp_fresh_mib_s_all':
                      [round(x, 1) for x in raw['fresh']],
                  'opts': '--no-digest, paused source, checksums on'})

    # ---- migrate.tls -------------------------------------------------------

    def round0_mib_s(self, d, tls):
        """One stop-and-copy of the paused 1 GiB guest d (see
        migrate.throughput): its round-0 MiB/s and the new domain."""
        self.xm('pause', '--domid', d)
        m = self.migrate(d, ['--no-digest'], tls=tls)
        sj = m['send']
        d = m['recv']['dst_domid']
        self.xm('pause', '--domid', d)
        if sj['rounds'] != 2 or sj['tls'] != tls:
            raise BenchError('paused source: %d rounds, tls %s' %
                             (sj['rounds'], sj['tls']))
        bw = self.commit_bandwidth(m['send_log'])
        return GUEST_MIB / (sj['bytes_sent'] / 1048576.0 / bw), d

    def bench_tls(self):
        runs = self.args.runs_tls
        ws_mib = GUEST_MIB - 4
        d = self.boot('ws_mib=%d rate=max pattern=random' % ws_mib)
        self.wait_guest(d, pages=ws_mib * PAGES_PER_MIB, timeout=120)
        mib_s = {False: [], True: []}
        for run in range(runs):
            for tls in (False, True):
                v, d = self.round0_mib_s(d, tls)
                mib_s[tls].append(v)
                log('tls run %d: %s %.0f MiB/s' %
                    (run, 'tls' if tls else 'plain', v))
        self.destroy(d)
        down = {}
        for tls in (False, True):
            res, _, control = self.downtime_series(
                'ws_mib=512 rate_mib=64', self.args.runs_tls * 2,
                512 * PAGES_PER_MIB, 'tls %s downtime' % tls, tls=tls)
            down[tls] = [x['guest_downtime_ms'] for x in res]
        p, t = median(mib_s[False]), median(mib_s[True])
        emit({'bench': 'migrate.tls', 'guest_mib': GUEST_MIB, 'runs': runs,
              'plain_mib_s': round(p, 1), 'tls_mib_s': round(t, 1),
              'ratio': round(t / p, 3),
              'plain_mib_s_all': [round(x, 1) for x in mib_s[False]],
              'tls_mib_s_all': [round(x, 1) for x in mib_s[True]],
              'downtime_64mib_plain_p50_ms': r3(median(down[False])),
              'downtime_64mib_plain_p99_ms': r3(pct(down[False], 99)),
              'downtime_64mib_tls_p50_ms': r3(median(down[True])),
              'downtime_64mib_tls_p99_ms': r3(pct(down[True], 99)),
              'downtime_runs': len(down[True]),
              'opts': 'TLS 1.3 (GnuTLS, AES-128-GCM, user space) vs plain '
                      'TCP; round 0 of a paused 1 GiB random guest, '
                      '--no-digest, 1 stream, checksums on; downtime: 512 '
                      'MiB working set at 64 MiB/s, defaults'})

    # ---- migrate.idle ------------------------------------------------------

    def bench_idle(self):
        runs = self.args.runs_idle
        d = self.boot('rate=0')
        self.wait_guest(d)
        res = []
        for run in range(runs):
            m = self.migrate(d)
            sj = m['send']
            d = m['recv']['dst_domid']
            res.append(sj)
            log('idle run %d: total %.1f ms downtime %.1f ms' %
                (run, sj['total_ms'], sj['downtime_ms']))
        self.destroy(d)

        def med(k):
            return median([x[k] for x in res])
        emit({'bench': 'migrate.idle', 'guest_mib': GUEST_MIB, 'runs': runs,
              'total_ms': r3(med('total_ms')), 'setup_ms': r3(med('setup_ms')),
              'downtime_ms': r3(med('downtime_ms')),
              'guest_downtime_ms': r3(med('guest_downtime_ms')),
              'bytes_sent': int(med('bytes_sent')),
              'pages_zero': int(med('pages_zero')),
              'pages_normal': int(med('pages_normal')),
              'rounds': int(med('rounds')),
              'total_ms_all': [x['total_ms'] for x in res],
              'downtime_ms_all': [x['downtime_ms'] for x in res],
              'opts': 'defaults (1 stream, checksums, digest)'})

    # ---- migrate.downtime --------------------------------------------------

    def downtime_series(self, cmdline, runs, fill_pages, what, send_args=(),
                        tls=False):
        """Boots a guest, waits for its working set to be written through
        (at most 10 s) and at least CONTROL_S, migrates it back and forth
        runs times; returns the send JSON lines, the step timings and the
        control figures (heartbeats before any migration)."""
        d = self.boot(cmdline)
        st = self.wait_guest(d)
        t_ready = time.monotonic()
        if fill_pages:
            self.wait_guest(d, pages=fill_pages, timeout=10, soft=True)
        time.sleep(max(0.0, t_ready + CONTROL_S - time.monotonic()))
        st2 = self.stats(d)
        control = {'control_max_gap_ms': st2['hb_max_gap_ms'],
                   'control_hb_per_s': round(
                       (st2['hb_count'] - st['hb_count']) /
                       (time.monotonic() - t_ready), 1)}
        res, steps = [], []
        try:
            for run in range(runs):
                m = self.migrate(d, send_args, tls=tls)
                sj = m['send']
                d = m['recv']['dst_domid']
                res.append(sj)
                steps.append((self.step_timings(m['send_log']),
                              self.step_timings(m['recv_log'])))
                log('%s run %d: guest downtime %.1f ms (longest gaps: '
                    'pre-copy %.1f, switch-over %.1f, after %.1f), downtime '
                    '%.1f ms, total %.0f ms, %d rounds, throttle %d%%' %
                    (what, run, sj['guest_downtime_ms'],
                     sj.get('guest_src_gap_ms', 0),
                     sj.get('guest_switch_gap_ms', 0),
                     sj.get('guest_dst_gap_ms', 0), sj['downtime_ms'],
                     sj['total_ms'], sj['rounds'], sj['throttle_pct']))
        finally:
            self.destroy(d)
        return res, steps, control

    def bench_downtime(self):
        runs = self.args.runs_downtime
        ws_mib = 512
        for rate in self.args.rates:
            rate_arg = 'rate=max' if rate == 'max' else 'rate_mib=%s' % rate
            fill = ws_mib * PAGES_PER_MIB if rate != '0' else 0
            res, steps, control = self.downtime_series(
                'ws_mib=%d %s' % (ws_mib, rate_arg), runs, fill,
                'downtime %s MiB/s' % rate)
            g = [x['guest_downtime_ms'] for x in res]
            e = [x['downtime_ms'] for x in res]

            def step_medians(side):
                keys = sorted({k for s in steps for k in s[side]})
                return {k: r3(median([s[side][k] for s in steps
                                      if k in s[side]])) for k in keys}
            emit({'bench': 'migrate.downtime', 'guest_mib': GUEST_MIB,
                  'ws_mib': ws_mib,
                  'dirty_mib_s': 'max' if rate == 'max' else int(rate),
                  'runs': runs,
                  'p50_ms': r3(median(g)), 'p99_ms': r3(pct(g, 99)),
                  'max_ms': r3(max(g)),
                  'engine_p50_ms': r3(median(e)),
                  'engine_p99_ms': r3(pct(e, 99)),
                  'total_ms_p50': r3(median([x['total_ms'] for x in res])),
                  'rounds_p50': median([x['rounds'] for x in res]),
                  'throttle_pct_max': max(x['throttle_pct'] for x in res),
                  'forced_stops': sum(1 for x in res if x['forced_stop']),
                  'mismatches': sum(x['mismatches'] or 0 for x in res),
                  'hb_continuous': all(x.get('hb_continuous') for x in res),
                  'digest_equal': all(x.get('digest_equal') for x in res),
                  'guest_downtime_ms_all': g, 'downtime_ms_all': e,
                  'send_steps_p50_ms': step_medians(0),
                  'recv_steps_p50_ms': step_medians(1), **control})

    # ---- migrate.vs_qemu ---------------------------------------------------

    def bench_vs_qemu(self):
        if self.args.qemu_skip:
            raise Skip(self.args.qemu_skip)
        qemu = shutil.which('qemu-system-x86_64')
        if not qemu:
            raise Skip('qemu-system-x86_64 not found')
        r = subprocess.run([os.path.join(self.bdir, 'bench', 'kvm_tsc_khz')],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip('no TSC frequency from KVM: ' + r.stderr.strip())
        tsc_khz = int(r.stdout)
        runs = self.args.runs_qemu
        ws_mib, rate_mib = 512, 64
        fill_s = ws_mib / rate_mib + 1
        cmdline = 'ws_mib=%d rate_mib=%d' % (ws_mib, rate_mib)

        # Ours first, on the same workload; without the digest, which
        # QEMU has no counterpart of.
        ours, _, control = self.downtime_series(
            cmdline, runs, ws_mib * PAGES_PER_MIB, 'ours vs qemu',
            ['--no-digest'])

        q = QemuChain(self, qemu, cmdline + ' tsc_khz=%d' % tsc_khz)
        qres = []
        try:
            q.boot(first_hb_timeout=40)
            t_first = time.monotonic()
            time.sleep(max(fill_s, CONTROL_S))
            qc = q.control(time.monotonic() - t_first)
            for run in range(runs):
                qres.append(q.migrate_once())
                log('qemu run %d: %s' % (run, json.dumps(qres[-1])))
        finally:
            q.close()

        def med(v):
            return r3(median(v))
        o_dt = med([x['downtime_ms'] for x in ours])
        o_g = med([x['guest_downtime_ms'] for x in ours])
        o_t = med([x['total_ms'] for x in ours])
        q_dt = med([x['downtime_ms'] for x in qres])
        q_g = med([x['guest_downtime_ms'] for x in qres])
        q_t = med([x['total_ms'] for x in qres])
        emit({'bench': 'migrate.vs_qemu', 'guest_mib': GUEST_MIB,
              'ws_mib': ws_mib, 'dirty_mib_s': rate_mib, 'runs': runs,
              'ours_downtime_ms': o_dt, 'qemu_downtime_ms': q_dt,
              'ours_total_ms': o_t, 'qemu_total_ms': q_t,
              'ours_guest_downtime_ms': o_g, 'qemu_guest_downtime_ms': q_g,
              'qemu_switchover_gap_ms':
                  med([x['switchover_gap_ms'] for x in qres]),
              'ratio_downtime': r3(o_dt / q_dt) if q_dt else None,
              'ratio_guest_downtime': r3(o_g / q_g) if q_g else None,
              'ratio_total': r3(o_t / q_t) if q_t else None,
              'ours_bytes_sent': int(median([x['bytes_sent'] for x in ours])),
              'qemu_bytes_sent': int(median([x['bytes'] for x in qres])),
              'ours_rounds_p50': median([x['rounds'] for x in ours]),
              'qemu_dirty_syncs_p50': median([x['dirty_syncs'] for x in qres]),
              'ours_guest_downtime_ms_all':
                  [x['guest_downtime_ms'] for x in ours],
              'qemu_guest_downtime_ms_all':
                  [x['guest_downtime_ms'] for x in qres],
              'qemu_downtime_ms_all': [x['downtime_ms'] for x in qres],
              'ours_control_max_gap_ms': control['control_max_gap_ms'],
              'ours_control_hb_per_s': control['control_hb_per_s'],
              'qemu_control_max_gap_ms': qc['control_max_gap_ms'],
              'qemu_control_hb_per_s': qc['control_hb_per_s'],
              'tsc_khz': tsc_khz,
              'ours_opts': 'defaults but --no-digest (1 stream, checksums, '
                           '10 ms target, auto-converge); ours_total_ms '
                           'includes destroying the source',
              'qemu_params': q.params()})


class Qmp:
    """A minimal QMP client (standard library only)."""

    def __init__(self, path, timeout=60):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise BenchError('QMP socket %s: no QEMU' % path)
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile('rwb')
        self._read()                    # the greeting
        self.cmd('qmp_capabilities')

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise BenchError('QMP: QEMU closed the connection')
            msg = json.loads(line)
            if 'event' not in msg:
                return msg

    def cmd(self, name, **args):
        self.f.write(json.dumps({'execute': name,
                                 'arguments': args}).encode() + b'\n')
        self.f.flush()
        r = self._read()
        if 'error' in r:
            raise BenchError('QMP %s: %s' % (name, r['error']))
        return r['return']

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


class QemuChain:
    """A guest under QEMU migrating along a chain of QEMU processes."""

    MAX_BANDWIDTH = 1 << 40             # bytes/s: unlimited in practice
    DOWNTIME_LIMIT_MS = 10

    def __init__(self, bench, qemu, cmdline):
        self.b = bench
        self.qemu = qemu
        self.cmdline = cmdline
        self.n = 0
        # The running guest: (QEMU Popen, hb_reader Popen, Qmp, hb file).
        self.cur = None

    def params(self):
        return ('qemu-system-x86_64 -enable-kvm -m %d -smp 1 -nodefaults '
                '-display none -kernel xm-guest.elf -append "%s" -device '
                'isa-debugcon,iobase=0xea (heartbeats) and 0xe9 (console); '
                'destination -incoming defer + migrate-incoming '
                'tcp:127.0.0.1:0; migrate-set-parameters max-bandwidth=%d '
                'downtime-limit=%d; other parameters and capabilities '
                'default (no multifd, xbzrle, compression, auto-converge or '
                'postcopy)' % (GUEST_MIB, self.cmdline, self.MAX_BANDWIDTH,
                               self.DOWNTIME_LIMIT_MS))

    def start(self, incoming):
        i = self.n
        self.n += 1
        t = self.b.tmp
        hb_sock = os.path.join(t, 'hb%d.sock' % i)
        hb_file = os.path.join(t, 'hb%d.txt' % i)
        qmp_sock = os.path.join(t, 'qmp%d.sock' % i)
        rd = self.b.spawn([os.path.join(self.b.bdir, 'bench', 'hb_reader'),
                           '--listen', hb_sock, '--out', hb_file],
                          stdout=subprocess.PIPE, text=True)
        if json.loads(rd.stdout.readline()).get('event') != 'listening':
            raise BenchError('hb_reader did not start')
        argv = [self.qemu, '-enable-kvm', '-m', str(GUEST_MIB), '-smp', '1',
                '-nodefaults', '-no-user-config', '-display', 'none',
                '-kernel', self.b.guest, '-append', self.cmdline,
                '-chardev', 'socket,id=hb,path=' + hb_sock,
                '-device', 'isa-debugcon,iobase=0xea,chardev=hb',
                '-chardev', 'file,id=con,path=%s/con%d.txt' % (t, i),
                '-device', 'isa-debugcon,iobase=0xe9,chardev=con',
                '-qmp', 'unix:%s,server=on,wait=off' % qmp_sock]
        if incoming:
            argv += ['-incoming', 'defer']
        qp = self.b.spawn(argv, stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(t, 'qemu%d.err' % i), 'w'))
        qmp = Qmp(qmp_sock)
        return qp, rd, qmp, hb_file

    def stop(self, node):
        qp, rd, qmp, _ = node
        try:
            qmp.cmd('quit')
        except Exception:
            pass
        qmp.close()
        self.b.stop_proc(qp)
        self.b.stop_proc(rd)

    @staticmethod
    def beats(path):
        out = []
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    out.append(int(p[0]))
        return out

    def boot(self, first_hb_timeout):
        self.cur = self.start(incoming=False)
        end = time.monotonic() + first_hb_timeout
        while not self.beats(self.cur[3]):
            if self.cur[0].poll() is not None:
                raise BenchError('QEMU exited during boot')
            if time.monotonic() > end:
                raise Skip('no heartbeat from the guest under QEMU within '
                           '%d s' % first_hb_timeout)
            time.sleep(0.2)

    def control(self, seconds):
        """Heartbeats of the running source so far (no migration yet):
        the longest gap, and how many came per second over the last
        `seconds`."""
        b = self.beats(self.cur[3])
        gap = max((y - x for x, y in zip(b, b[1:])), default=0)
        since = b[-1] - int(seconds * 1e9)
        return {'control_max_gap_ms': round(gap / 1e6, 3),
                'control_hb_per_s':
                    round(sum(1 for t in b if t > since) / seconds, 1)}

    def migrate_once(self):
        src = self.cur
        dst = self.start(incoming=True)
        try:
            dst[2].cmd('migrate-incoming', uri='tcp:127.0.0.1:0')
            addr = dst[2].cmd('query-migrate')['socket-address'][0]
            src[2].cmd('migrate-set-parameters',
                       **{'max-bandwidth': self.MAX_BANDWIDTH,
                          'downtime-limit': self.DOWNTIME_LIMIT_MS})
            t0 = time.monotonic_ns()
            src[2].cmd('migrate', uri='tcp:%s:%s' % (addr['host'],
                                                    addr['port']))
            while True:
                st = src[2].cmd('query-migrate')
                if st.get('status') in ('completed', 'failed', 'cancelled'):
                    break
                time.sleep(0.005)
            t1 = time.monotonic_ns()
            if st['status'] != 'completed':
                raise BenchError('QEMU migration %s: %s' %
                                 (st['status'], json.dumps(st)))
            # The destination's first heartbeats, then the same 200 ms
            # window our receiver waits.
            end = time.monotonic() + 5
            while not self.beats(dst[3]) and time.monotonic() < end:
                time.sleep(0.01)
            time.sleep(0.2)
            s_beats = self.beats(src[3])
            d_beats = self.beats(dst[3])
        except Exception:
            self.stop(dst)
            raise
        self.stop(src)
        self.cur = dst
        if not d_beats:
            raise BenchError('no heartbeat from the destination QEMU')
        stop_at = t1 + 200_000_000
        allb = sorted(s_beats + d_beats)
        before = [t for t in allb if t <= t0]
        window = ([before[-1]] if before else []) + \
            [t for t in allb if t0 < t <= stop_at]
        gap = max(b - a for a, b in zip(window, window[1:]))
        s_last = max(t for t in s_beats if t <= stop_at)
        return {'downtime_ms': st['downtime'], 'total_ms': st['total-time'],
                'setup_ms': st.get('setup-time'),
                'guest_downtime_ms': round(gap / 1e6, 3),
                'switchover_gap_ms': round((d_beats[0] - s_last) / 1e6, 3),
                'bytes': st['ram']['transferred'],
                'dirty_syncs': st['ram'].get('dirty-sync-count')}

    def close(self):
        if self.cur:
            self.stop(self.cur)
            self.cur = None


def kvm_unusable():
    try:
        fd = os.open('/dev/kvm', os.O_RDWR)
        os.close(fd)
        return None
    except OSError as e:
        return '/dev/kvm: ' + e.strerror


BENCHES = ('throughput', 'tls', 'idle', 'downtime', 'vs_qemu')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--builddir', default=os.environ.get('XM_BUILDDIR', '.'))
    ap.add_argument('--srcdir', default=os.environ.get(
        'XM_SRCDIR', os.path.join(os.path.dirname(__file__), '..')))
    ap.add_argument('--only', default=os.environ.get('XM_BENCH_MIGRATE', ''),
                    help='comma-separated subset of ' + ','.join(BENCHES))
    ap.add_argument('--qemu-skip', default='',
                    help='skip migrate.vs_qemu with this reason')
    ap.add_argument('--runs-throughput', type=int, default=3)
    ap.add_argument('--runs-tls', type=int, default=3)
    ap.add_argument('--runs-idle', type=int, default=3)
    ap.add_argument('--runs-downtime', type=int, default=10)
    ap.add_argument('--runs-qemu', type=int, default=5)
    ap.add_argument('--rates', default='0,64,256,max',
                    help='dirty rates of migrate.downtime, MiB/s or max')
    args = ap.parse_args()
    args.rates = [r.strip() for r in args.rates.split(',') if r.strip()]
    only = [b.strip() for b in args.only.split(',') if b.strip()] or BENCHES
    for b in only:
        if b not in BENCHES:
            ap.error('unknown bench %r' % b)

    def on_signal(sig, frame):
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    why = kvm_unusable()
    if why:
        for b in only:
            emit({'bench': 'migrate.' + b, 'skipped': why})
        return 0
    bench = Bench(args)
    failed = 0
    for b in only:
        t = time.monotonic()
        try:
            getattr(bench, 'bench_' + b)()
        except Skip as e:
            emit({'bench': 'migrate.' + b, 'skipped': str(e)})
        except (BenchError, subprocess.SubprocessError, OSError,
                KeyError, ValueError) as e:
            log('%s failed: %s' % (b, e))
            emit({'bench': 'migrate.' + b, 'failed': str(e)[:500]})
            failed += 1
        log('%s took %.0f s' % (b, time.monotonic() - t))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
