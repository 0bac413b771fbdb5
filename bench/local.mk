# bench/: benchmarks.  Each prints one JSON object per line on stdout;
# `make bench` runs every program in BENCHES.

# Hypervisor drivers against a real test guest: dirty rates with log-dirty
# off and on, harvest cost, write-protect fault cost.
noinst_PROGRAMS += bench/bench-hv
BENCHES += bench/bench-hv
bench_bench_hv_SOURCES = bench/bench_hv.c
bench_bench_hv_LDADD = $(HV_LIBS)

# The evacuation planner (pool/pool_evac.c) for 64 hosts and 4000 VMs, in
# process, against a plain sort of the same VMs (pool.plan of issue 13).
noinst_PROGRAMS += bench/bench-plan
BENCHES += bench/bench-plan
bench_bench_plan_SOURCES = bench/bench_plan.c
bench_bench_plan_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
bench_bench_plan_LDADD = pool/libpool.a common/libxt.a

# Live migration against a raw-TCP baseline and against QEMU: stop-and-copy
# throughput, an idle guest, guest-observed downtime, QEMU's migration of
# the same guest image (bench/bench_migrate.py says how each figure is
# measured).  bench_migrate.sh is copied into the build tree as
# bench/bench-migrate with the source directory written in, so that
# `make bench` can run it as ./bench/bench-migrate in a VPATH build.
noinst_PROGRAMS += bench/tcp_copy bench/hb_reader bench/kvm_tsc_khz
bench_tcp_copy_SOURCES = bench/tcp_copy.c
bench_hb_reader_SOURCES = bench/hb_reader.c
bench_kvm_tsc_khz_SOURCES = bench/kvm_tsc_khz.c
noinst_SCRIPTS = bench/bench-migrate
BENCHES += bench/bench-migrate
EXTRA_DIST += bench/bench_migrate.sh bench/bench_migrate.py
CLEANFILES += bench/bench-migrate
bench/bench-migrate: $(srcdir)/bench/bench_migrate.sh
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_migrate.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# XenAPI request cost over HTTPS against one xm-poold (hv_driver = sim):
# VM.get_all_records with 1000 VMs, login+logout at the default password
# cost (bench/bench_api.py says how each figure is measured).  Generated
# like bench/bench-migrate.
noinst_SCRIPTS += bench/bench-api
BENCHES += bench/bench-api
EXTRA_DIST += bench/bench_api.sh bench/bench_api.py
CLEANFILES += bench/bench-api
bench/bench-api: $(srcdir)/bench/bench_api.sh
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_api.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# The block service's NBD path: a 1 GiB VDI written and read through our
# nbdkit plugin, through qemu-nbd and between files directly; the
# allocation-aware read of a half-written VDI; the test guest's disk
# workload under xm-vmm (kvm) through our plugin against fio on the same
# kind of file (bench/bench_storage.py says how each figure is measured).
# Generated like bench/bench-migrate.  It creates its SRs and VDIs with
# tests/vdi/sr-tool, a check program, hence the prerequisite.
noinst_SCRIPTS += bench/bench-storage
BENCHES += bench/bench-storage
EXTRA_DIST += bench/bench_storage.sh bench/bench_storage.py
CLEANFILES += bench/bench-storage
noinst_PROGRAMS += bench/nbd_cycle
bench_nbd_cycle_SOURCES = bench/nbd_cycle.c
bench_nbd_cycle_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
bench_nbd_cycle_LDADD = $(LIBNBD_LIBS)
bench/bench-storage: $(srcdir)/bench/bench_storage.sh tests/vdi/sr-tool$(EXEEXT) \
		bench/nbd_cycle$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_storage.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# The mirrored-block engine moving a 4 GiB half-allocated idle VDI to a
# peer over TCP with TLS-PSK, against nbdcopy, cp and QEMU's
# blockdev-mirror over the same path; and the same mirror under a 16 MiB/s
# writer (bench/bench_mirror.sh says how each figure is measured).
# Generated like bench/bench-storage.
noinst_SCRIPTS += bench/bench-mirror
BENCHES += bench/bench-mirror
EXTRA_DIST += bench/bench_mirror.sh bench/bench_mirror.py
CLEANFILES += bench/bench-mirror
bench/bench-mirror: $(srcdir)/bench/bench_mirror.sh tests/vdi/sr-tool$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_mirror.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# Storage live migration to another host: VM.migrate_send of a running
# 1 GiB VM with a 4 GiB half-empty disk on a local SR, its disk mapped to
# the other host's local SR, against VM.pool_migrate of the same VM with
# its disk on a shared SR (memory only), on a pool of two xm-poold on
# loopback: total time, guest-observed downtime, disk bytes sent, the
# guest's ledgers (bench/bench_sxm.sh says how each figure is measured).
# Generated like bench/bench-migrate.
noinst_SCRIPTS += bench/bench-sxm
BENCHES += bench/bench-sxm
EXTRA_DIST += bench/bench_sxm.sh bench/bench_sxm.py bench/benchpool.py
CLEANFILES += bench/bench-sxm
bench/bench-sxm: $(srcdir)/bench/bench_sxm.sh
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_sxm.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@

# Host evacuation with each host's migration link capped (pool.evacuate
# of issue 13): batch 1, 3, 10 and auto against the bound, bytes over the
# cap (bench/bench_evacuate.sh says how each figure is measured).
# Generated like bench/bench-migrate.
noinst_SCRIPTS += bench/bench-evacuate
BENCHES += bench/bench-evacuate
EXTRA_DIST += bench/bench_evacuate.sh bench/bench_evacuate.py
CLEANFILES += bench/bench-evacuate
bench/bench-evacuate: $(srcdir)/bench/bench_evacuate.sh
	$(AM_V_GEN)$(MKDIR_P) bench && \
	sed -e 's|%SRCDIR%|$(abs_top_srcdir)|g' \
	    $(srcdir)/bench/bench_evacuate.sh > $@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@
