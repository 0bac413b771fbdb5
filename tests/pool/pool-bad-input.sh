#!/bin/bash
# Bad requests get a clear XenAPI failure (HTTP 200, or 413 for an
# oversized body) and the daemon keeps serving: malformed XML, a 100 MiB
# body, nesting 10000 deep, an unknown method, a wrong parameter count, an
# invalid session, bad JSON-RPC.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup bad-input
pt_start 2 || pt_bail "host 2 did not start"
pt_py <<'P'
import http.client, json, xmlrpc.client
from pool_client import *
t = Tap()

def post(body, path="/", ctype="text/xml"):
    c = http.client.HTTPConnection("127.0.0.2", PORT, timeout=60)
    try:
        c.request("POST", path, body, {"Content-Type": ctype})
        r = c.getresponse()
        return r.status, r.read()
    except (ConnectionError, http.client.HTTPException) as e:
        return None, str(e).encode()
    finally:
        c.close()

def code(body):
    try:
        env = xmlrpc.client.loads(body)[0][0]
        return env.get("ErrorDescription", [None])[0]
    except Exception as e:
        return "unparsable: %r" % (body[:200],)

st, b = post(b"<methodCall><methodName>x</methodName><params>")
t.is_((st, code(b)), (200, "XMLRPC_UNMARSHAL_FAILURE"), "malformed XML")
st, b = post(b"<?xml version='1.0'?><methodCall>" + b"x" * (100 << 20))
t.ok(st in (413, None), "a 100 MiB body is refused", "status %r" % (st,))
deep = ("<value><array><data>" * 10000 + "</data></array></value>" * 10000)
st, b = post(("<methodCall><methodName>VM.get_all</methodName><params>"
              "<param>%s</param></params></methodCall>" % deep).encode())
t.is_((st, code(b)), (200, "XMLRPC_UNMARSHAL_FAILURE"), "nesting 10000 deep")
t.fails_with(lambda: value(proxy(2).VM.frobnicate("x")),
             "MESSAGE_METHOD_UNKNOWN", "an unknown method")
s = Session(2)
t.fails_with(lambda: value(proxy(2).VM.get_all(s.ref, "extra")),
             "MESSAGE_PARAMETER_COUNT_MISMATCH", "a wrong parameter count")
t.fails_with(lambda: value(proxy(2).VM.get_all("OpaqueRef:x")),
             "SESSION_INVALID", "an invalid session")
t.fails_with(lambda: value(proxy(2).host_local.hello("not-the-secret")),
             "PERMISSION_DENIED", "host_local without the pool secret")
st, b = post(b'{"jsonrpc":"2.0","method":', "/jsonrpc", "application/json")
j = json.loads(b) if st == 200 else {}
t.is_(j.get("error", {}).get("message"), "JSONRPC_UNMARSHAL_FAILURE",
      "malformed JSON-RPC")
st, b = post(json.dumps({"jsonrpc": "2.0", "method": "host.get_all",
                         "params": [s.ref], "id": 1}).encode(),
             "/jsonrpc", "application/json")
t.is_(len(json.loads(b).get("result", [])), 1, "JSON-RPC works")
t.is_(len(s.call("host.get_all")), 1, "the daemon still serves")
t.done()
P
pt_done
