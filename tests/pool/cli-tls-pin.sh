#!/bin/bash
# xm-pool pins the server's key in the TLS handshake of every connection,
# so a man in the middle that lets the first connection through to the
# real daemon and takes the next one receives no byte of any request (the
# password of session.login_with_password least of all).
#
# The man in the middle is a TLS listener of ours on 127.0.0.4: the
# first connection it accepts gets host 2's real certificate and key and
# has at most one request relayed to host 2 with "Connection: close" (so
# a client must reconnect for the next request); every later connection
# gets host 3's certificate and key, and everything the client sends on it
# is logged.  The rc file records host 2's fingerprint for 127.0.0.4 (an
# rc file with only the fingerprint line, as older versions wrote).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
CLI=$PT_BUILDDIR/cli/xm-pool
[ -x "$CLI" ] || pt_bail "$CLI is not built"
pt_setup cli-tls-pin
free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
P=$(free_port)
M=$(free_port)
pt_start 2 port="$P" || pt_bail "host 2 did not start"
pt_start 3 port="$P" || pt_bail "host 3 did not start"
fp2=$("$PT_POOLD" --print-fingerprint --config "$PT_TMP/h2/conf")
fp3=$("$PT_POOLD" --print-fingerprint --config "$PT_TMP/h3/conf")
[ -n "$fp2" ] && [ "$fp2" != "$fp3" ] || pt_bail "fingerprints '$fp2' '$fp3'"
export XM_POOLRC=$PT_TMP/xm-poolrc
echo "fingerprint.127.0.0.4:$M=$fp2" > "$XM_POOLRC"
x() { "$CLI" -s 127.0.0.4 -p "$M" -pw "$XM_POOL_ROOT_PASSWORD" "$@"; }

# mitm MODE LOG: MODE "first" (real key on the first connection only) or
# "all" (on every connection: a relay, the control case).  Ready once
# LOG.ready exists; on SIGTERM it finishes the connection in hand, so
# LOG is complete once it has exited.
mitm() {
    python3 - "$1" "$2" "$M" "$PT_TMP/h2/state" "$PT_TMP/h3/state" "$P" \
        <<'EOP' &
import os, signal, socket, ssl, sys
mode, log, port, real, other, up_port = sys.argv[1:]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)

def ctx(d):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(d + "/xm-poold.pem", d + "/xm-poold.key")
    return c

def read_message(s):
    """One HTTP message (headers, Content-Length body), b"" on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            return data
        data += b
    head, body = data.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            break
        body += b
    return head + b"\r\n\r\n" + body

def relay(conn):
    req = read_message(conn)
    if not req:
        return "no request"
    up = ssl._create_unverified_context().wrap_socket(
        socket.create_connection(("127.0.0.2", int(up_port))))
    up.sendall(req)
    resp = read_message(up)
    up.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n")
             if not l.lower().startswith(b"connection:")]
    conn.sendall(b"\r\n".join(lines + [b"Connection: close"]) +
                 b"\r\n\r\n" + body)
    return "relayed %d bytes" % len(req)

def drain(conn):
    got = b""
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            got += b
    except (OSError, ssl.SSLError):
        pass
    return got

real_ctx, other_ctx = ctx(real), ctx(other)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.4", int(port)))
ls.listen(8)
ls.settimeout(0.1)
out = open(log, "w")
open(log + ".ready", "w").close()
n = 0
while not stop:
    try:
        raw, _ = ls.accept()
    except socket.timeout:
        continue
    raw.settimeout(30)
    n += 1
    genuine = mode == "all" or n == 1
    try:
        conn = (real_ctx if genuine else other_ctx).wrap_socket(
            raw, server_side=True)
    except (OSError, ssl.SSLError) as e:
        out.write("conn %d %s: handshake failed (%s)\n" %
                  (n, "real" if genuine else "other", e))
        out.flush()
        raw.close()
        continue
    if genuine:
        try:
            what = relay(conn)
        except (OSError, ssl.SSLError) as e:
            what = "no request (%s)" % e
        out.write("conn %d real: %s\n" % (n, what))
    else:
        got = drain(conn)
        out.write("conn %d other: received %d bytes\n" % (n, len(got)))
        if got:
            out.write(got.decode("latin-1") + "\n")
    out.flush()
    conn.close()
EOP
    PT_PID[mitm]=$!
    local i
    for i in $(seq 1 100); do
        [ -e "$2.ready" ] && return 0
        kill -0 "${PT_PID[mitm]}" 2>/dev/null || break
        sleep 0.1
    done
    pt_bail "the man in the middle did not start"
}
mitm_stop() { pt_kill mitm; }

# Control: every connection reaches host 2's key; each request comes on
# a connection of its own, all pass the pin.
mitm all "$PT_TMP/all.log"
x host-list --minimal >"$PT_TMP/o" 2>"$PT_TMP/e"
pt_is "$?:$(cat "$PT_TMP/e")" "0:" "through a relay with the real key: accepted"
mitm_stop
n=$(grep -c 'real: relayed' "$PT_TMP/all.log")
[ "$n" -ge 2 ] && pt_ok "each request came on a new connection ($n)" ||
    pt_fail "each request came on a new connection" "$(cat "$PT_TMP/all.log")"

# no_request_reached LOG: the other key was met, and got no byte
no_request_reached() {
    grep -q '^conn 2 other: ' "$1" &&
        pt_ok "the client did reach the other key" ||
        pt_fail "the client did reach the other key" "$(cat "$1")"
    if grep -q 'other: received [1-9]' "$1"; then
        pt_fail "no byte of a request reached the other key"
    else
        pt_ok "no byte of a request reached the other key"
    fi
    if grep -q "$XM_POOL_ROOT_PASSWORD" "$1"; then
        pt_fail "the password did not reach it"
    else
        pt_ok "the password did not reach it"
    fi
    if grep -q 'real: relayed' "$1"; then
        pt_fail "the check of the real key's certificate sent no request"
    else
        pt_ok "the check of the real key's certificate sent no request"
    fi
}

# The attack: the first connection meets the real key, the next one
# another; the login must not reach it.
mitm first "$PT_TMP/first.log"
x host-list --minimal >"$PT_TMP/o" 2>"$PT_TMP/e"
pt_is "$?" 3 "another key on a later connection: refused (3)"
mitm_stop
pt_diag "$(cat "$PT_TMP/first.log")"
no_request_reached "$PT_TMP/first.log"
e=$(cat "$PT_TMP/e")
[[ $e == *"127.0.0.4:$M: the certificate changed"* &&
   $e == *"expected $fp2"* && $e == *"received $fp3"* &&
   $e == *"$XM_POOLRC"* ]] &&
    pt_ok "the error names server:port, both fingerprints, the rc file" ||
    pt_fail "the error names server:port, both fingerprints, the rc file" \
        "$e"
pt_is "$(cat "$XM_POOLRC")" "fingerprint.127.0.0.4:$M=$fp2" \
    "the rc file is left as it was"

# The same on first use: the key trusted on the first connection is the
# one every later connection must present.
: > "$XM_POOLRC"
mitm first "$PT_TMP/tofu.log"
x host-list --minimal >"$PT_TMP/o" 2>"$PT_TMP/e"
pt_is "$?" 3 "first use, another key on a later connection: refused (3)"
mitm_stop
pt_diag "$(cat "$PT_TMP/tofu.log")"
no_request_reached "$PT_TMP/tofu.log"
grep -q "first connection to 127.0.0.4:$M" "$PT_TMP/e" &&
    grep -q "fingerprint $fp2" "$PT_TMP/e" &&
    pt_ok "first use printed the real fingerprint" ||
    pt_fail "first use printed the real fingerprint" "$(cat "$PT_TMP/e")"
pt_is "$(cat "$XM_POOLRC")" "fingerprint.127.0.0.4:$M=$fp2" \
    "and recorded it"
pt_done
