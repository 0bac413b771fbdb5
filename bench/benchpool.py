"""benchpool.py - the pool the pool benchmarks run on (bench_sxm.py,
bench_evacuate.py): xm-poold hosts on 127.0.0.N, configured as
tests/pool/lib.sh's pt_start does, their XenAPI through
tests/pool/pool_client.py (imported by Pool as the global pc).  Standard
library only.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

PASSWORD = os.environ.get("XM_POOL_ROOT_PASSWORD") or "bench-root-pw"
pc = None


class BenchError(Exception):
    pass


def log(msg):
    print(os.path.basename(sys.argv[0]) + ": " + msg, file=sys.stderr,
          flush=True)


def cannot_run(builddir, files, tools=()):
    """Why a pool benchmark cannot run here (a tool missing, a file not
    built, no 127.0.0.2), or None."""
    for t in tools:
        if not shutil.which(t):
            return t + " not found"
    for f in files:
        if not os.path.exists(os.path.join(builddir, f)):
            return f + " not built"
    try:
        socket.socket().bind(("127.0.0.2", 0))
    except OSError:
        return "cannot bind 127.0.0.2"
    return None


def exit_on_signals():
    """SIGTERM, SIGHUP and SIGINT end the benchmark through its finally
    clauses (which stop the pool)."""
    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def version(*argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=10).stdout
        return out.splitlines()[0].strip() if out else None
    except (OSError, subprocess.SubprocessError):
        return None


class Pool:
    """xm-poold hosts on 127.0.0.N (start(n)), host 2 the master: a's
    builddir, srcdir, hv (None: kvm where /dev/kvm is usable, else sim)
    and keep (keep the temporary directory); conf, more lines of each
    host's configuration."""

    def __init__(self, a, name, conf=""):
        self.a = a
        self.conf = conf
        self.bdir = os.path.abspath(a.builddir)
        base = os.environ.get("TMPDIR") or "/var/tmp"
        self.tmp = tempfile.mkdtemp(prefix="xm-bench-%s." % name, dir=base)
        self.port = free_port()
        if a.hv:
            self.hv = a.hv
        elif os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.hv = "kvm"
        else:
            self.hv = "sim"
        self.procs = {}
        self.vms = []           # refs to shut down at the end
        # pool_client reads these when it is imported (PORT) or called.
        os.environ.update(PT_PORT=str(self.port), PT_TMP=self.tmp,
                          XM_POOL_ROOT_PASSWORD=PASSWORD,
                          XM_BUILDDIR=self.bdir)
        os.environ.pop("PT_HTTPS", None)
        sys.path.insert(0, os.path.join(os.path.abspath(a.srcdir), "tests",
                                        "pool"))
        global pc
        import pool_client as pc

    def start(self, n):
        d = os.path.join(self.tmp, "h%d" % n)
        os.makedirs(d)
        with open(os.path.join(d, "conf"), "w") as f:
            f.write("state_dir = %s/state\nrun_dir = %s/run\n"
                    "listen_address = 127.0.0.%d\nport = 0\n"
                    "http_port = %d\nlog = %s/log\nlog_level = debug\n"
                    "password_cost = 1\nlogin_delay_ms = 0\n"
                    "hv_driver = %s\nguest_image = %s\n" %
                    (d, d, n, self.port, d, self.hv,
                     os.path.join(self.bdir, "guest", "xm-guest.elf")) +
                    self.conf)
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "XM_POOL_CONF"):
            env.pop(k, None)
        with open(os.path.join(d, "out"), "w") as out, \
                open(os.path.join(d, "err"), "w") as err:
            p = subprocess.Popen([os.path.join(self.bdir, "daemon",
                                               "xm-poold"),
                                  "--config", os.path.join(d, "conf"),
                                  "--foreground"], env=env, stdout=out,
                                 stderr=err, stdin=subprocess.DEVNULL)
        self.procs[n] = p
        x = xmlrpc.client.ServerProxy(pc.url(n), allow_none=True)
        for _ in range(100):
            try:
                x.host_local.hello("x")
                return
            except OSError:
                pass
            if p.poll() is not None:
                break
            time.sleep(0.1)
        raise BenchError("host %d did not start: %s" %
                         (n, open(os.path.join(d, "err")).read()[-500:]))

    def vmm_pids(self):
        """Processes whose command line names our hosts' directories: the
        VMMs and block services our daemons started."""
        me = os.getpid()
        out = []
        for p in glob.glob("/proc/[0-9]*/cmdline"):
            pid = int(p.split("/")[2])
            try:
                cmd = open(p, "rb").read().decode(errors="replace")
            except OSError:
                continue
            if pid != me and (self.tmp + "/h") in cmd:
                out.append(pid)
        return out

    def tail_logs(self, more=()):
        """The last 30 lines of each host's log, and of the files more
        names, on stderr: why a benchmark failed."""
        for path in [os.path.join(self.tmp, "h%d" % n, "log")
                     for n in sorted(self.procs)] + list(more):
            try:
                with open(path) as f:
                    log("%s, its tail:\n%s" %
                        (path, "".join(f.readlines()[-30:])))
            except OSError:
                pass

    def close(self):
        if self.procs.get(2) and self.procs[2].poll() is None:
            try:
                s = pc.Session(2)
                for vm in self.vms:
                    try:
                        if s.call("VM.get_power_state", vm) != "Halted":
                            s.call("VM.hard_shutdown", vm)
                    except Exception as e:
                        log("hard_shutdown %s: %s" % (vm, e))
            except Exception as e:
                log("cleanup session: %s" % e)
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for n, p in self.procs.items():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log("host %d ignored SIGTERM; killing it" % n)
                p.kill()
                p.wait()
        for pid in self.vmm_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.a.keep:
            log("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


