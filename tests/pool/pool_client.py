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
        """Follows the task with event.from until it ends."""
        token = self.call("event.from", ["task"], "", 0)["token"]
        end = time.time() + timeout
        while time.time() < end:
            rec = self.call("task.get_record", task)
            if rec["status"] not in ("pending", "cancelling"):
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
