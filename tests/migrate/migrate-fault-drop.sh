#!/bin/sh
# A receiver that drops its connections in round 0, in a later pre-copy
# round, in stop-and-copy or right after READY: the migration fails, the
# source runs on as the only copy, the destination keeps nothing.
. "$(dirname "$0")/lib.sh"
mt_setup fault-drop
action=drop
. "$(dirname "$0")/fault-receiver.sh"
mt_done
