# A domU with a device whose backend our driver does not recreate (here a
# vbd node written into its xenstore device/ directory, as a toolstack
# writes it for a disk) is refused before anything moves, for both guest
# types, with a clear error: the source keeps running as the same domain
# and nothing is left half-built.
. "$SHARE/lib.sh"
for type in pv pvh; do
    name=dev$type
    domu_ready "$name" "$type"
    xenstore-write "/local/domain/$d0/device/vbd/51712/backend-id" 0
    our_migrate "$d0" 7007
    check "$type domU with a vbd: the sender refuses (exit 1)" [ "$MIG_SEND_RC" -eq 1 ]
    check "$type domU with a vbd: the error names the device" grep -q "devices this driver cannot move yet (vbd" /tmp/send.err
    source_kept "$type domU with a vbd" "$name"
    xl destroy "$name"
done
