#!/bin/bash
# HTTPS with a certificate the operator installs (tls_cert, tls_key: one
# signed by the operator's own CA, for the host's address): XenAPI clients
# that verify the chain against that CA - Python's xmlrpc.client over
# XML-RPC and http.client over JSON-RPC - connect and call; one that does
# not trust the CA is refused; the daemon serves that certificate, not a
# self-signed one of its own.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
PT_HTTPS=1
command -v openssl >/dev/null || pt_skip_all "openssl not found"
pt_setup https-operator
d=$PT_TMP/pki
mkdir -p "$d"
(
    cd "$d" &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Test Ops CA" \
        -keyout ca.key -out ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.2" \
        -keyout host.key -out host.csr &&
    printf 'subjectAltName = IP:127.0.0.2\nbasicConstraints = CA:FALSE\n' \
        > ext.cnf &&
    openssl x509 -req -in host.csr -CA ca.pem -CAkey ca.key \
        -CAcreateserial -days 2 -extfile ext.cnf -out host.pem &&
    chmod 600 host.key
) >"$PT_TMP/openssl.log" 2>&1 || pt_bail "openssl: $(tail -3 "$PT_TMP/openssl.log")"
pt_start 2 tls_cert="$d/host.pem" tls_key="$d/host.key" ||
    pt_bail "host 2 did not start"
PKI=$d pt_py <<'P'
import hashlib, http.client, json, os, ssl, subprocess, xmlrpc.client
from pool_client import *
t = Tap()
pki = os.environ["PKI"]
url = "https://127.0.0.2:%d/" % PORT
ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
x = xmlrpc.client.ServerProxy(url, context=ctx)
sess = value(x.session.login_with_password("root", PASSWORD, "2.21", "t"))
t.ok(sess.startswith("OpaqueRef:"),
     "XML-RPC, verifying the chain against the operator's CA: login")
t.is_(len(value(x.host.get_all(sess))), 1, "and calls")

c = http.client.HTTPSConnection("127.0.0.2", PORT, context=ctx, timeout=30)
c.request("POST", "/jsonrpc", json.dumps({
    "jsonrpc": "2.0", "method": "host.get_all", "params": [sess], "id": 1}),
    {"Content-Type": "application/json"})
r = json.loads(c.getresponse().read())
t.is_(len(r.get("result", [])), 1, "JSON-RPC over the same HTTPS")
der = c.sock.getpeercert(binary_form=True)
c.close()
pem = open(os.path.join(pki, "host.pem")).read()
want = ssl.PEM_cert_to_DER_cert(pem)
t.is_(hashlib.sha256(der).hexdigest(), hashlib.sha256(want).hexdigest(),
      "the daemon serves the operator's certificate")
try:
    plain = xmlrpc.client.ServerProxy(url,
                                      context=ssl.create_default_context())
    plain.session.login_with_password("root", PASSWORD, "2.21", "t")
    t.ok(False, "a client that does not trust the CA is refused")
except ssl.SSLCertVerificationError as e:
    t.ok(True, "a client that does not trust the CA is refused")
t.done()
P
pt_done
