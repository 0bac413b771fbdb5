# The Xen driver's plain ops on a real Xen, through xm-migrate: list (with
# the domain's name and run state), log-dirty with peek and harvest
# (xm-migrate dirty), pause and unpause (the domU's ticks stop and go on;
# xl agrees), destroy (the domain and its xenstore tree are gone).
. "$SHARE/lib.sh"
XM="$BIN/xm-migrate"
domu_ready b1 pv
line=$("$XM" list --driver xen | awk -v d="$d0" '$1 == d')
note "xm-migrate list: $line"
check "list shows domain $d0 as b1, running" sh -c "echo '$line' | grep -Eq '^$d0 [0-9a-f-]{36} b1 [0-9]+ running$'"
check "list shows dom0" sh -c "'$XM' list --driver xen | grep -q '^0 '"
out=$("$XM" dirty --driver xen --domid "$d0")
note "xm-migrate dirty: $out"
val() { echo "$out" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
p1=$(val peek1) p2=$(val peek2) h1=$(val harvest1) h2=$(val harvest2)
check "log-dirty: a peek a second after sees pages ($p1)" [ "${p1:-0}" -gt 0 ]
check "log-dirty: a peek does not clear ($p1, then $p2)" [ "${p2:-0}" -ge "${p1:-1}" ]
check "log-dirty: a harvest returns at least that ($h1)" [ "${h1:-0}" -ge "${p2:-1}" ]
check "log-dirty: a harvest clears (the next, at once: $h2)" [ "${h2:-999999999}" -lt "${h1:-0}" ]
check "pause" "$XM" pause --driver xen --domid "$d0"
check "xl sees it paused" sh -c "xl list '$d0' | awk 'NR == 2 {print \$5}' | grep -q p"
check "list says paused" sh -c "'$XM' list --driver xen | grep -q '^$d0 .* paused$'"
t1=$(last_tick b1)
sleep 3
t2=$(last_tick b1)
check "no ticks while paused ($t1, then $t2)" [ "$t2" -le $((t1 + 1)) ]
check "unpause" "$XM" unpause --driver xen --domid "$d0"
check "ticks go on after unpause (from $t2)" wait_tick b1 $((t2 + 3)) 60
check "destroy" "$XM" destroy --driver xen --domid "$d0"
check "the domain is gone" sh -c "! xl list '$d0' >/dev/null 2>&1"
check "its xenstore tree is gone" sh -c "! xenstore-exists /local/domain/$d0"
check "the memory check was clean to the end" [ "$(last_bad b1)" = 0 ]
