#!/bin/bash
# xm-poold in the foreground: creates its state directory (0700) and pid
# file, serves plain HTTP (405 for GET, 404 elsewhere, the XenAPI service
# for POST), and on SIGTERM exits 0 and removes its pid file.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup start-stop

dt_start
dt_wait_ready || dt_bail "xm-poold did not get ready"
dt_is "$(stat -c %a "$DT_TMP/state")" 700 "state directory is 0700"
dt_is "$(cat "$DT_TMP/run/xm-poold.pid")" "$DT_PID" "pid file holds its pid"
dt_is "$(stat -c %a "$DT_TMP/state/users")" 600 "users file is 0600"
dt_is "$(stat -c %a "$DT_TMP/state/pool-secret")" 600 \
    "pool secret is 0600"
dt_is "$(dt_http GET /)" 405 "GET / is 405"
dt_is "$(dt_http POST /jsonrpc)" 200 "POST /jsonrpc reaches the service"
dt_is "$(dt_http GET /elsewhere)" 404 "GET /elsewhere is 404"
dt_check "log names the HTTPS listener" \
    grep -q 'listening on https://127.0.0.1:[0-9]*/' "$DT_LOG"
dt_stop TERM
dt_is "$DT_RC" 0 "SIGTERM: exit status 0"
dt_check "pid file removed" test ! -e "$DT_TMP/run/xm-poold.pid"
dt_check "log says why it stopped" grep -q 'SIGTERM: shutting down' "$DT_LOG"

dt_start
dt_wait_ready || dt_bail "xm-poold did not restart"
dt_stop INT
dt_is "$DT_RC" 0 "SIGINT: exit status 0"

dt_done
