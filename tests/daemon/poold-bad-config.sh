#!/bin/bash
# A configuration error stops xm-poold at once with status 1 and names
# the file and line; bad options exit 2; first start without a root
# password says where to put it.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup bad-config

cp "$DT_CONF" "$DT_TMP/bad.conf"
echo "colour = blue" >> "$DT_TMP/bad.conf"
line=$(wc -l < "$DT_TMP/bad.conf")
"$DT_POOLD" --config "$DT_TMP/bad.conf" --foreground 2> "$DT_TMP/err"
dt_is "$?" 1 "unknown key: exit status 1"
dt_check "error names file:line and key" \
    grep -q "$DT_TMP/bad.conf:$line: unknown key 'colour'" "$DT_TMP/err"
dt_check "nothing created" test ! -e "$DT_TMP/state"

"$DT_POOLD" --no-such-option 2> /dev/null
dt_is "$?" 2 "unknown option: exit status 2"
"$DT_POOLD" --config "$DT_TMP/missing.conf" --foreground 2> "$DT_TMP/err"
dt_is "$?" 1 "missing --config file: exit status 1"
dt_check "it is named" grep -q "$DT_TMP/missing.conf" "$DT_TMP/err"

unset XM_POOL_ROOT_PASSWORD
"$DT_POOLD" --config "$DT_CONF" --foreground > /dev/null 2> "$DT_TMP/err"
dt_is "$?" 1 "first start without a root password: exit status 1"
dt_check "the terminal is told where to put it" \
    grep -q "write it to $DT_TMP/state/root-password" "$DT_TMP/err"
echo "from-file" > "$DT_TMP/state/root-password"
dt_start
dt_check "with root_password_file it starts" dt_wait_ready
dt_stop
dt_is "$DT_RC" 0 "stopped"

dt_done
