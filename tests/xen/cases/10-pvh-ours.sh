# A PVH domU live-migrated to localhost by our engine and stream: hv_xen
# creates, populates and restores the destination, introduces it to
# xenstore and xenconsoled, resumes it; the source is destroyed after the
# commit handshake.
. "$SHARE/lib.sh"
ours_case pvh1 pvh 7001
