#!/bin/bash
# The first start generates the certificate and prints its fingerprint;
# --print-fingerprint prints the same; a restart keeps the certificate.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup fingerprint

"$DT_POOLD" --config "$DT_CONF" --print-fingerprint > /dev/null 2>&1
dt_is "$?" 1 "--print-fingerprint before the first start fails"

dt_start
dt_wait_ready || dt_bail "xm-poold did not get ready"
printed=$(sed -n 's/^certificate fingerprint: //p' "$DT_TMP/out")
dt_check "first start prints the fingerprint" \
    grep -Eq '^([0-9A-F]{2}:){31}[0-9A-F]{2}$' <<< "$printed"
dt_check "and logs it" \
    grep -q "certificate fingerprint: $printed" "$DT_LOG"
dt_is "$(stat -c %a "$DT_TMP/state/xm-poold.key")" 600 "key is 0600"
dt_is "$("$DT_POOLD" --config "$DT_CONF" --print-fingerprint)" "$printed" \
    "--print-fingerprint agrees"
if command -v openssl > /dev/null; then
    dt_is "$(openssl x509 -in "$DT_TMP/state/xm-poold.pem" -noout \
        -fingerprint -sha256 | sed 's/.*=//')" "$printed" \
        "openssl agrees"
fi
dt_stop
dt_is "$DT_RC" 0 "stopped"

dt_start
dt_wait_ready || dt_bail "xm-poold did not restart"
dt_is "$(cat "$DT_TMP/out")" "" "a restart prints nothing"
dt_is "$("$DT_POOLD" --config "$DT_CONF" --print-fingerprint)" "$printed" \
    "same certificate after the restart"
dt_stop
dt_is "$DT_RC" 0 "stopped again"

dt_done
