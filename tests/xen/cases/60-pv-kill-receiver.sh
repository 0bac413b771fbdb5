# Failure injection on a PV domU moved through libxenguest's stream: our
# receiver dies mid-stream and after the suspend.  See kill_case in lib.sh.
. "$SHARE/lib.sh"
kill_case pv3 pv 7006 mig.recv.precopy mig.recv.stopcopy
