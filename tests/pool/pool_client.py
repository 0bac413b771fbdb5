"""pool_client.py - what the pool tests share: XenAPI calls through
python3's standard xmlrpc.client, as a GUI would make them."""
import os
import ssl
import time
import xmlrpc.client

PORT = int(os.environ.get("PT_PORT", "0"))
PASSWORD = os.environ.get("XM_POOL_ROOT_PASSWORD", "test-root-pw")


class Failure(Exception):
    def __init__(self, desc):
        super().__init__(desc)
        self.desc = desc


HTTPS = bool(os.environ.get("PT_HTTPS"))


def url(n):
    return "%s://127.0.0.%d:%d/" % ("https" if HTTPS else "http", n, PORT)


def proxy(n):
    if not HTTPS:
        return xmlrpc.client.ServerProxy(url(n), allow_none=True)
    # Self-signed certificates: the tests do not verify them.
    return xmlrpc.client.ServerProxy(
        url(n), allow_none=True, context=ssl._create_unverified_context())


def value(env):
    """The Value of an envelope, or raises Failure."""
    if env.get("Status") == "Success":
        return env["Value"]
    raise Failure(env.get("ErrorDescription"))


def task_result(text):
    """What a task's result holds: XAPI keeps an Async call's answer as
    XML-RPC text, <value>...</value>, or "" for a void call."""
    if not text:
        return ""
    return xmlrpc.client.loads(
        "<methodResponse><params><param>%s</param></params>"
        "</methodResponse>" % text)[0][0]


class Session:
    def __init__(self, n=2):
        self.n = n
        self.x = proxy(n)
        self.ref = value(self.x.session.login_with_password(
            "root", PASSWORD, "2.21", "pool-tests"))

    def call(self, method, *args):
        f = self.x
        for part in method.split("."):
            f = getattr(f, part)
        return value(f(self.ref, *args))

    def raw(self, method, *args):
        f = self.x
        for part in method.split("."):
            f = getattr(f, part)
        return f(self.ref, *args)

    def wait_task(self, task, timeout=120):
        """Follows the task with event.from until it ends; its record,
        with result as the value the call answered (task_result)."""
        token = self.call("event.from", ["task"], "", 0)["token"]
        end = time.time() + timeout
        while time.time() < end:
            rec = self.call("task.get_record", task)
            if rec["status"] not in ("pending", "cancelling"):
                rec["result_xml"] = rec["result"]
                rec["result"] = task_result(rec["result"])
                return rec
            token = self.call("event.from", ["task"], token, 5.0)["token"]
        raise TimeoutError(task)


def create_vm(s, name="vm1", mem=256 << 20):
    return s.call("VM.create", {
        "name_label": name,
        "memory_static_max": str(mem),
        "VCPUs_max": "1",
        "other_config": {},
    })


def host_local(n, method, *args):
    """A host_local call with the pool secret read from host n's state."""
    secret = open(os.path.join(os.environ["PT_TMP"], "h%d" % n, "state",
                               "pool-secret")).read().split()[0]
    f = proxy(n)
    for part in ("host_local." + method).split("."):
        f = getattr(f, part)
    return value(f(secret, *args))


class Tap:
    """TAP lines numbered after the shell's (PT_N); the count and the
    failures go back to the shell through PT_TMP/tap.state."""

    def __init__(self):
        self.n = int(os.environ.get("PT_N", "0"))
        self.failed = 0

    def ok(self, cond, name, *diag):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name))
        if not cond:
            self.failed += 1
            for d in diag:
                print("#   %s" % d)
        return cond

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got  %r" % (got,),
                       "want %r" % (want,))

    def fails_with(self, fn, code, name):
        try:
            r = fn()
        except Failure as e:
            return self.is_(e.desc[0] if e.desc else None, code, name)
        return self.ok(False, name, "succeeded: %r" % (r,))

    def done(self):
        with open(os.path.join(os.environ["PT_TMP"], "tap.state"), "w") as f:
            f.write("%d %d\n" % (self.n, self.failed))


def heartbeats(n, uuid, wait=3.0):
    """The heartbeat counter host n sees for the VM after wait seconds."""
    time.sleep(wait)
    return int(host_local(n, "vm_status", uuid)["hb_last_seq"])


def running_on(uuid, hosts=(2, 3, 4)):
    """The hosts (numbers) that run a domain of the VM."""
    out = []
    for n in hosts:
        try:
            if host_local(n, "vm_status", uuid)["running"]:
                out.append(n)
        except (OSError, Failure, FileNotFoundError):
            pass
    return out


def wait_until(fn, timeout=60.0, what="a condition"):
    """Calls fn until it returns something true (returned), at most
    timeout seconds; raises TimeoutError naming what."""
    end = time.time() + timeout
    while True:
        try:
            r = fn()
        except (OSError, Failure):
            r = None
        if r:
            return r
        if time.time() >= end:
            raise TimeoutError(what)
        time.sleep(0.1)


def domains(uuid, hosts=(2, 3, 4)):
    """{host number: hv state} of the hosts that have a domain of the VM,
    asked of each host directly (vm_status: "running", "paused", ...)."""
    out = {}
    for n in hosts:
        try:
            st = host_local(n, "vm_status", uuid)
        except (OSError, Failure, FileNotFoundError):
            continue
        if st["running"]:
            out[n] = st["state"]
    return out


def migration_record(s, vm):
    """The master's record of the VM's migration: xm:migration or None."""
    return s.call("VM.get_other_config", vm).get("xm:migration")


def settled(s, vm, task=None):
    """Whether the master has ended the migration: no operation on the
    VM, the task (if any) no longer pending, no record left."""
    if s.call("VM.get_current_operations", vm):
        return False
    if task and s.call("task.get_status", task) in ("pending",
                                                    "cancelling"):
        return False
    return migration_record(s, vm) is None


def journals(n):
    """The migration journals host n keeps."""
    d = os.path.join(os.environ["PT_TMP"], "h%d" % n, "state", "migrations")
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def fault_dir(n):
    return os.path.join(os.environ["PT_TMP"], "h%d" % n, "faults")


def arm(n, spec):
    """Host n's faults from now on (see lib.sh pt_arm)."""
    d = fault_dir(n)
    for f in os.listdir(d) if os.path.isdir(d) else ():
        if f.endswith(".hit") or f.endswith(".go"):
            os.unlink(os.path.join(d, f))
    with open(os.path.join(os.environ["PT_TMP"], "h%d" % n, "fault"),
              "w") as f:
        f.write(spec + "\n")


def hit(n, point, timeout=120.0):
    """Waits until host n holds at point (armed "wait")."""
    wait_until(lambda: os.path.exists(os.path.join(fault_dir(n),
                                                   point + ".hit")),
               timeout, "host %d at %s" % (n, point))


def go(n, point):
    """Host n goes on from point."""
    open(os.path.join(fault_dir(n), point + ".go"), "w").close()


def save(**kw):
    """Hands values to the next pt_py block (load())."""
    with open(os.path.join(os.environ["PT_TMP"], "ids"), "w") as f:
        f.write(repr(kw))


def load():
    import ast
    with open(os.path.join(os.environ["PT_TMP"], "ids")) as f:
        return ast.literal_eval(f.read())


def check_end(t, s, vm, uuid, task, where, hosts, hnum, status, label=""):
    """The end state every fault test wants: exactly one running domain of
    the VM, on host number where, and no other domain of it (a paused copy
    counts); the database says that host, Running; no operation left; the
    task ended with status."""
    d = domains(uuid, hosts)
    p = " " + label if label else ""
    t.is_(d, {where: "running"}, "one running domain, on host %d%s"
          % (where, p))
    t.is_(s.call("VM.get_resident_on", vm), hnum[where],
          "the database says host %d%s" % (where, p))
    t.is_(s.call("VM.get_power_state", vm), "Running", "Running" + p)
    t.is_(s.call("VM.get_current_operations", vm), {},
          "no operation left" + p)
    if task:
        t.is_(s.call("task.get_status", task), status,
              "the task ends %s%s" % (status, p))


def upgrade_pool():
    """The rolling upgrade tests' pool: hosts 3 and 4 join host 2, and one
    VM of 128 MiB dirtying 2 MiB/s runs on each host.  Returns the session,
    hosts (address -> ref), vms and uuids (host number -> VM)."""
    MiB = 1 << 20
    for n in (3, 4):
        Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
    s = Session(2)
    hosts = {h["address"]: r
             for r, h in s.call("host.get_all_records").items()}
    vms, uuids = {}, {}
    for n in (2, 3, 4):
        vm = s.call("VM.create", {"name_label": "vm%d" % n,
                                  "memory_static_max": str(128 * MiB),
                                  "VCPUs_max": "1",
                                  "other_config": {"xm:cmdline":
                                                   "ws_mib=8 rate_mib=2"}})
        s.call("VM.start_on", vm, hosts["127.0.0.%d" % n], False, False)
        vms[n], uuids[n] = vm, s.call("VM.get_uuid", vm)
    wait_until(lambda: all(running_on(uuids[n], (2, 3, 4)) == [n]
                           for n in (2, 3, 4)), 30, "VMs up")
    return s, hosts, vms, uuids
