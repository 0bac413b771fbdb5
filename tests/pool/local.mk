# tests/pool/: integration tests of a pool of xm-poold daemons on
# 127.0.0.2-5 with plain HTTP, driven with python3's xmlrpc.client as a
# XenAPI client would; one behaviour per script.  Faults are made at named
# states (fault points, lib.sh pt_arm), never after a delay.
POOL_SH_TESTS = \
	tests/pool/pool-records.sh \
	tests/pool/pool-events.sh \
	tests/pool/pool-vm-start.sh \
	tests/pool/pool-vm-clean-shutdown.sh \
	tests/pool/pool-join.sh \
	tests/pool/pool-migrate.sh \
	tests/pool/pool-migrate-network.sh \
	tests/pool/pool-host-live.sh \
	tests/pool/pool-bad-input.sh \
	tests/pool/pool-migrate-busy.sh \
	tests/pool/pool-migrate-cancel.sh \
	tests/pool/pool-allowed-ops.sh \
	tests/pool/pool-control-domain.sh \
	tests/pool/pool-api-calls.sh \
	tests/pool/pool-api-bad-input.sh \
	tests/pool/pool-messages.sh \
	tests/pool/pool-metrics.sh \
	tests/pool/pool-migrate-checks.sh \
	tests/pool/pool-eject.sh \
	tests/pool/pool-master-kill.sh \
	tests/pool/pool-migrate-link-cut.sh \
	tests/pool/pool-migrate-unknown.sh \
	tests/pool/pool-migrate-source-kill.sh \
	tests/pool/pool-migrate-dest-fault.sh \
	tests/pool/pool-shutdown.sh \
	tests/pool/pool-storage.sh \
	tests/pool/pool-vm-disk.sh \
	tests/pool/pool-vdi-race.sh \
	tests/pool/pool-vdi-export.sh \
	tests/pool/pool-vm-provision.sh \
	tests/pool/pool-vm-disk-restart.sh \
	tests/pool/pool-migrate-disk-fault.sh \
	tests/pool/pool-vbd-hotplug.sh \
	tests/pool/pool-vdi-motion.sh \
	tests/pool/pool-vdi-motion-agent.sh \
	tests/pool/pool-sxm.sh \
	tests/pool/pool-xpool.sh \
	tests/pool/pool-rolling-upgrade.sh \
	tests/pool/pool-rolling-upgrade-api.sh \
	tests/pool/pool-sxm-faults.sh \
	tests/pool/pool-motion-faults.sh \
	tests/pool/pool-vdi-copy.sh \
	tests/pool/pool-evacuate.sh \
	tests/pool/pool-evacuate-stop.sh \
	tests/pool/pool-memory.sh \
	tests/pool/pool-evacuate-sxm.sh \
	tests/pool/pool-evacuate-rollback.sh \
	tests/pool/pool-evacuate-many.sh \
	tests/pool/cli-vm-disk.sh \
	tests/pool/pool-https.sh \
	tests/pool/pool-https-operator.sh \
	tests/pool/pool-forward.sh \
	tests/pool/cli-tls-pin.sh \
	tests/pool/api-interop-js.sh
dist_check_SCRIPTS += $(POOL_SH_TESTS)
TESTS += $(POOL_SH_TESTS)
EXTRA_DIST += tests/pool/lib.sh tests/pool/pool_client.py tests/pool/tcp_proxy.py
EXTRA_DIST += tests/interop/package.json tests/interop/package-lock.json \
	tests/interop/xen-api-check.js
