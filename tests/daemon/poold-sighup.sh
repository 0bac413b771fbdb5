#!/bin/bash
# SIGHUP reopens the log file: after logrotate-style renaming, new lines
# go to a new file at the configured path.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup sighup

dt_start
dt_wait_ready || dt_bail "xm-poold did not get ready"
mv "$DT_LOG" "$DT_LOG.1"
kill -HUP "$DT_PID"
for i in $(seq 50); do
    grep -q 'SIGHUP: log reopened' "$DT_LOG" 2>/dev/null && break
    sleep 0.1
done
dt_check "the new log file says it was reopened" \
    grep -q 'SIGHUP: log reopened' "$DT_LOG"
dt_is "$(dt_http GET /)" 405 "still serving"
dt_stop
dt_is "$DT_RC" 0 "stopped"
dt_check "later lines in the new file" grep -q 'shutting down' "$DT_LOG"
dt_check "none in the old one" \
    eval "! grep -q 'shutting down' '$DT_LOG.1'"
dt_check "log lines carry a UTC timestamp" \
    grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z \[[0-9]+\] ' \
    "$DT_LOG"

dt_done
