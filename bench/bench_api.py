#!/usr/bin/env python3
"""bench_api.py - XenAPI request cost over HTTPS (run by bench/bench-api).

Prints one JSON object per line on stdout and nothing else; diagnostics go
to stderr.  Standard library only.

Set-up: one xm-poold (--foreground, a child of ours) in a temporary
directory, listening on 127.0.0.1 with `port = 0` (the kernel picks the
HTTPS port, which we read from the log's "listening on https://..." line),
hv_driver = sim, log_level = info, and the *default* password_cost (0,
libxcrypt's yescrypt cost 5: what users get) - so api.login measures the
real hash cost.  login_delay_ms only delays failed logins and none fail.
The root password comes from XM_POOL_ROOT_PASSWORD.

The client does not verify the certificate chain (it is self-signed) but
checks that the SHA-256 fingerprint of the certificate the server presents
equals `xm-poold --config CONF --print-fingerprint`, on every connection.

Figures (both with THREADS client threads, each with its own
xmlrpc.client.ServerProxy over one kept-alive TLS connection):
  api.get_all_records: VMS VMs are created with VM.create (nothing is
    started), then VM.get_all_records is called GAR_CALLS times in all,
    over XML-RPC (as below) and again over JSON-RPC 2.0 (http.client and
    Python's json module, one kept-alive pinned connection per thread);
    with --baseline-builddir the same is measured against that build (an
    earlier commit's daemon, started afresh with the same VMs) in the
    same run, and ratio_calls_s / ratio_last_byte compare (above 1: this
    build is faster);
    each result must have VMS entries.  calls_s = calls / wall time;
    p50/p99 = per-call latency (request sent to reply parsed, client side,
    so XML decoding in Python is included: with 1000 VMs the reply is
    about 1.6 MB and xmlrpc.client's decoding, serialised by the GIL
    across the threads, is more than half of it).  last_byte_p50_ms is the
    median time from sending to the reply's last byte (server, TLS,
    transfer, waiting for the GIL), before decoding; reply_bytes its size.
  api.login: LOGINS times session.login_with_password as root followed by
    session.logout; one "call" is the login+logout pair (the logout is
    cheap next to the password hash).
  api.events: EV_CLIENTS clients (threads, each its own session and TLS
    connection) loop on event.from(["VM"], token, 1.0) from a token that
    event.inject gives them, while one writer renames a VM (round robin
    over the VMS VMs) EV_RATE times a second, EV_CHANGES changes in all.
    A change's latency, per client, is from just before the writer sends
    VM.set_name_label to the last byte of the event.from reply carrying
    it (so it includes the writer's request); every client must see every
    change (missed counts them).  cpu_cores is the daemon's user+system
    time over the phase's wall time (/proc/PID/stat); idle_cpu_cores the
    same over IDLE_S seconds with the clients waiting and nothing changing.

The daemon is stopped with SIGTERM and the temporary directory removed
at the end, whatever happens.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

PASSWORD = os.environ.get("XM_POOL_ROOT_PASSWORD") or "bench-root-pw"


def log(msg):
    print("bench-api: " + msg, file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def fingerprint(der):
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


class PinnedTransport(xmlrpc.client.SafeTransport):
    """HTTPS without chain verification, but the peer certificate's
    SHA-256 fingerprint must be the expected one."""

    def __init__(self, fp):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        super().__init__(context=ctx)
        self.fp = fp

    def make_connection(self, host):
        conn = super().make_connection(host)
        if conn.sock is None:
            conn.connect()
            got = fingerprint(conn.sock.getpeercert(binary_form=True))
            if got != self.fp:
                conn.close()
                raise RuntimeError("server certificate fingerprint %s, "
                                   "expected %s" % (got, self.fp))
        return conn

    def parse_response(self, response):
        # Read the whole body first, so that the time to its last byte
        # (server work, TLS, transfer) is known apart from the client's
        # XML decoding; run_threads picks it up from tls.
        data = response.read()
        _tls.ttlb = time.perf_counter()
        _tls.nbytes = len(data)
        p, u = self.getparser()
        p.feed(data)
        p.close()
        return u.close()


_tls = threading.local()


def value(env):
    if env.get("Status") == "Success":
        return env["Value"]
    raise RuntimeError("XenAPI failure: %r" % (env.get("ErrorDescription"),))


def pct(sorted_s, p):
    i = min(len(sorted_s) - 1, max(0, int(round(p / 100.0 *
                                                  (len(sorted_s) - 1)))))
    return sorted_s[i] * 1000.0


def run_threads(nthreads, total, make_state, one_call):
    """total calls split over nthreads threads; returns (wall, latencies)."""
    lat = []
    ttlb = []
    nbytes = []
    errors = []
    lock = threading.Lock()
    states = [make_state() for _ in range(nthreads)]
    barrier = threading.Barrier(nthreads + 1)

    def worker(k):
        n = total // nthreads + (1 if k < total % nthreads else 0)
        mine = []
        mine_ttlb = []
        barrier.wait()
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                _tls.ttlb = None
                one_call(states[k])
                mine.append(time.perf_counter() - t0)
                if _tls.ttlb is not None:
                    mine_ttlb.append(_tls.ttlb - t0)
                    nbytes.append(_tls.nbytes)
        except Exception as e:  # reported by the main thread
            errors.append(e)
        with lock:
            lat.extend(mine)
            ttlb.extend(mine_ttlb)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    lat.sort()
    ttlb.sort()
    return wall, lat, ttlb, max(nbytes) if nbytes else 0


def cpu_seconds(pid):
    """User + system CPU time of process pid so far, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def events_bench(a, pid, proxy, login):
    """api.events (see the header)."""
    x = proxy()
    s = login(x)
    vms = [r for r, v in value(x.VM.get_all_records(s)).items()
           if not v["is_control_domain"]]
    pool = value(x.pool.get_all(s))[0]
    sent = {}                   # name_label -> when its change was sent
    lat, errors = [], []
    seen = [0] * a.ev_clients
    lock = threading.Lock()
    stop = threading.Event()
    started = threading.Barrier(a.ev_clients + 1)

    def client(k):
        try:
            px = proxy()
            ss = login(px)
            tok = value(px.event.inject(ss, "pool", pool))
            started.wait()
            efrom = getattr(px.event, "from")
            while not stop.is_set():
                _tls.ttlb = None
                r = value(efrom(ss, ["VM"], tok, 1.0))
                t = _tls.ttlb
                tok = r["token"]
                for e in r["events"]:
                    label = e.get("snapshot", {}).get("name_label")
                    with lock:
                        t0 = sent.get(label)
                        if t0 is not None:
                            lat.append(t - t0)
                            seen[k] += 1
            value(px.session.logout(ss))
        except Exception as e:  # reported by the main thread
            errors.append(e)
            try:
                started.abort()
            except threading.BrokenBarrierError:
                pass

    ts = [threading.Thread(target=client, args=(k,))
          for k in range(a.ev_clients)]
    for t in ts:
        t.start()
    started.wait()
    time.sleep(0.5)             # every client is in its event.from
    c0, w0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(a.idle_s)
    idle = (cpu_seconds(pid) - c0) / (time.perf_counter() - w0)
    c0, w0 = cpu_seconds(pid), time.perf_counter()
    for i in range(a.ev_changes):
        label = "ev-%d" % i
        due = w0 + i / a.ev_rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        with lock:
            sent[label] = time.perf_counter()
        value(x.VM.set_name_label(s, vms[i % len(vms)], label))
    # Every change seen by every client, or 10 s more at most.
    deadline = time.perf_counter() + 10
    while (sum(seen) < a.ev_changes * a.ev_clients and not errors and
           time.perf_counter() < deadline):
        time.sleep(0.05)
    wall = time.perf_counter() - w0
    cpu = (cpu_seconds(pid) - c0) / wall
    stop.set()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    value(x.session.logout(s))
    lat.sort()
    emit({"bench": "api.events", "vms": len(vms), "clients": a.ev_clients,
          "changes": a.ev_changes, "rate_s": a.ev_rate,
          "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
          "max_ms": round(lat[-1] * 1000, 2) if lat else None,
          "missed": a.ev_changes * a.ev_clients - len(lat),
          "cpu_cores": round(cpu, 3), "idle_cpu_cores": round(idle, 3),
          "transport": "https"})


class Daemon:
    """One xm-poold of builddir in a temporary directory (see the header);
    stop() ends it and removes the directory (unless keep)."""

    def __init__(self, builddir, keep=False):
        self.keep = keep
        self.proc = None
        poold = os.path.join(builddir, "daemon", "xm-poold")
        guest = os.path.join(builddir, "guest", "xm-guest.elf")
        self.tmp = tempfile.mkdtemp(prefix="xm-bench-api.")
        conf = os.path.join(self.tmp, "xm-pool.conf")
        logf = os.path.join(self.tmp, "xm-poold.log")
        with open(conf, "w") as f:
            f.write("# written by bench/bench_api.py\n"
                    "state_dir = %s/state\nrun_dir = %s/run\n"
                    "pid_file = %s/run/xm-poold.pid\n"
                    "listen_address = 127.0.0.1\nport = 0\n"
                    "log = %s\nlog_level = info\n"
                    "hv_driver = sim\nguest_image = %s\n"
                    % (self.tmp, self.tmp, self.tmp, logf, guest))
        env = dict(os.environ, XM_BUILDDIR=builddir,
                   XM_POOL_ROOT_PASSWORD=PASSWORD)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("XM_POOL_CONF", None)
        self.proc = subprocess.Popen(
            [poold, "--config", conf, "--foreground"], env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.tmp, "out"), "w"),
            stderr=open(os.path.join(self.tmp, "err"), "w"))
        port = None
        deadline = time.time() + 15
        while time.time() < deadline and port is None:
            if self.proc.poll() is not None:
                break
            try:
                text = open(logf).read()
            except OSError:
                text = ""
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)/", text)
            if m and re.search(r"info: ready$", text, re.M):
                port = int(m.group(1))
            else:
                time.sleep(0.05)
        if port is None:
            for name in ("err", "xm-poold.log"):
                try:
                    sys.stderr.write(open(os.path.join(self.tmp,
                                                       name)).read())
                except OSError:
                    pass
            raise RuntimeError("xm-poold did not get ready")
        self.fp = subprocess.run(
            [poold, "--config", conf, "--print-fingerprint"], env=env,
            check=True, stdout=subprocess.PIPE,
            universal_newlines=True).stdout.strip()
        self.port = port
        self.url = "https://127.0.0.1:%d/" % port
        log("xm-poold of %s on %s, certificate %s" % (builddir, self.url,
                                                      self.fp))

    def proxy(self):
        return xmlrpc.client.ServerProxy(
            self.url, transport=PinnedTransport(self.fp), allow_none=True)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log("xm-poold ignored SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        if self.keep:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def login(x):
    return value(x.session.login_with_password(
        "root", PASSWORD, "2.21", "bench-api"))


def create_vms(d, n):
    x = d.proxy()
    s = login(x)
    t0 = time.perf_counter()
    for i in range(n):
        value(x.VM.create(s, {
            "name_label": "bench-vm-%d" % i,
            "memory_static_max": str(256 << 20),
            "VCPUs_max": "1",
            "other_config": {},
        }))
    log("%d VM.create in %.2f s" % (n, time.perf_counter() - t0))
    value(x.session.logout(s))


def count_vms(recs, want):
    n = sum(1 for r in recs.values() if not r.get("is_control_domain"))
    if n != want:
        raise RuntimeError("VM.get_all_records: %d VMs, expected %d"
                           % (n, want))


class JsonRpc:
    """One kept-alive pinned HTTPS connection posting JSON-RPC 2.0."""

    def __init__(self, d):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.c = http.client.HTTPSConnection("127.0.0.1", d.port,
                                             context=ctx, timeout=120)
        self.c.connect()
        got = fingerprint(self.c.sock.getpeercert(binary_form=True))
        if got != d.fp:
            raise RuntimeError("server certificate fingerprint %s" % got)
        self.n = 0

    def call(self, method, *params):
        self.n += 1
        self.c.request("POST", "/jsonrpc", json.dumps({
            "jsonrpc": "2.0", "method": method, "params": list(params),
            "id": self.n}), {"Content-Type": "application/json"})
        data = self.c.getresponse().read()
        _tls.ttlb = time.perf_counter()
        _tls.nbytes = len(data)
        r = json.loads(data)
        if "error" in r:
            raise RuntimeError("JSON-RPC failure: %r" % (r["error"],))
        return r["result"]


def gar_bench(a, d, label):
    """api.get_all_records over XML-RPC and over JSON-RPC against d."""
    def xml_state():
        px = d.proxy()
        return (px, login(px))

    def xml_call(st):
        px, sess = st
        count_vms(value(px.VM.get_all_records(sess)), a.vms)

    def json_state():
        j = JsonRpc(d)
        return (j, j.call("session.login_with_password", "root", PASSWORD,
                          "2.21", "bench-api"))

    def json_call(st):
        j, sess = st
        count_vms(j.call("VM.get_all_records", sess), a.vms)

    out = {}
    for proto, state, call in (("xmlrpc", xml_state, xml_call),
                               ("jsonrpc", json_state, json_call)):
        call(state())  # warm-up, and the check once untimed
        wall, lat, ttlb, nb = run_threads(a.threads, a.gar_calls, state,
                                          call)
        out[proto] = {"calls_s": round(len(lat) / wall, 2),
                      "p50_ms": round(pct(lat, 50), 2),
                      "p99_ms": round(pct(lat, 99), 2),
                      "reply_bytes": nb,
                      "last_byte_p50_ms": round(pct(ttlb, 50), 2)}
        log("%s %s: %r" % (label, proto, out[proto]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("XM_BUILDDIR", "."))
    ap.add_argument("--baseline-builddir",
                    help="also measure api.get_all_records with this build "
                    "(an earlier commit's) in the same run: the ratio")
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--gar-calls", type=int, default=60)
    ap.add_argument("--logins", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ev-clients", type=int, default=10)
    ap.add_argument("--ev-rate", type=float, default=50.0)
    ap.add_argument("--ev-changes", type=int, default=500)
    ap.add_argument("--idle-s", type=float, default=3.0)
    ap.add_argument("--only", choices=("gar", "login", "events"),
                    help="one figure only")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    a = ap.parse_args()

    builddir = os.path.abspath(a.builddir)
    poold = os.path.join(builddir, "daemon", "xm-poold")
    if not os.access(poold, os.X_OK):
        emit({"bench": "api", "skipped": "%s is not built" % poold})
        return 0
    d = None
    try:
        d = Daemon(builddir, a.keep)
        create_vms(d, a.vms)
        if a.only in (None, "events"):
            events_bench(a, d.proc.pid, d.proxy, login)
        if a.only in (None, "gar"):
            g = gar_bench(a, d, "this build")
            base = None
            if a.baseline_builddir:
                d.stop()
                d = Daemon(os.path.abspath(a.baseline_builddir), a.keep)
                create_vms(d, a.vms)
                base = gar_bench(a, d, "baseline")
            for proto in ("xmlrpc", "jsonrpc"):
                r = dict(g[proto], bench="api.get_all_records", vms=a.vms,
                         transport="https " + proto, calls=a.gar_calls,
                         threads=a.threads)
                if base:
                    r["baseline"] = base[proto]
                    r["ratio_calls_s"] = round(
                        g[proto]["calls_s"] / base[proto]["calls_s"], 2)
                    r["ratio_last_byte"] = round(
                        base[proto]["last_byte_p50_ms"] /
                        g[proto]["last_byte_p50_ms"], 2)
                emit(r)
        if a.only not in (None, "login"):
            return 0

        # session.login_with_password + session.logout.
        def lo(px):
            sess = login(px)
            value(px.session.logout(sess))

        wall, lat, _, _ = run_threads(a.threads, a.logins, d.proxy, lo)
        emit({"bench": "api.login",
              "calls_s": round(len(lat) / wall, 1),
              "p50_ms": round(pct(lat, 50), 2),
              "p99_ms": round(pct(lat, 99), 2),
              "transport": "https", "calls": len(lat),
              "threads": a.threads, "password_cost": "default"})
        return 0
    finally:
        if d is not None:
            d.stop()


if __name__ == "__main__":
    # SIGTERM/SIGHUP as an exception, so that main's finally still stops
    # the daemon and removes the temporary directory.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, f: sys.exit(128 + n))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
