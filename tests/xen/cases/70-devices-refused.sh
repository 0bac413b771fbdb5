# A domU with a device whose backend our driver does not recreate (here a
# vbd node written into its xenstore device/ directory, as a toolstack
# writes it for a disk) is refused before anything is sent (the driver's
# can_migrate, asked before the sender connects), for both guest types,
# with a clear error: the source keeps running as the same domain and
# nothing is left half-built.
. "$SHARE/lib.sh"
for type in pv pvh; do
    name=dev$type
    domu_ready "$name" "$type"
    xenstore-write "/local/domain/$d0/device/vbd/51712/backend-id" 0
    # The sender asks the driver (can_migrate) before it connects: the
    # receiver hears nothing and gives up after --accept-ms.
    our_migrate "$d0" 7007 --accept-ms 5000
    check "$type domU with a vbd: the sender refuses (exit 1)" [ "$MIG_SEND_RC" -eq 1 ]
    check "$type domU with a vbd: the error names the device" grep -q "devices this driver cannot move yet (vbd" /tmp/send.err
    check "$type domU with a vbd: refused before anything was sent" grep -q "no valid migration connection" /tmp/recv.err
    source_kept "$type domU with a vbd" "$name"
    xl destroy "$name"
done
