# vmm/: xm-vmm, one process per VM (kvm and sim engines), and its control
# protocol, which hv/ speaks as a client.
noinst_LIBRARIES += vmm/libvmmproto.a
vmm_libvmmproto_a_SOURCES = vmm/vmm_proto.h vmm/vmm_proto.c

libexec_PROGRAMS += vmm/xm-vmm
vmm_xm_vmm_SOURCES = vmm/vmm_internal.h vmm/vmm_main.c vmm/vmm_guest.c \
	vmm/vmm_kvm.c vmm/vmm_sim.c guest/workload.c guest/workload.h \
	vmm/vmm_pci.h vmm/vmm_pci.c vmm/vmm_blk.h vmm/vmm_blk.c \
	vmm/vmm_hotplug.c hv/hv_state.c \
	guest/xmg_abi.h
vmm_xm_vmm_CPPFLAGS = $(AM_CPPFLAGS) -DXMG_HOSTED
vmm_xm_vmm_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS) $(LIBNBD_CFLAGS)
vmm_xm_vmm_LDADD = vmm/libvmmproto.a common/libxt.a $(XXHASH_LIBS) \
	$(LIBNBD_LIBS)

# The virtio-blk device and PCI bus against a real nbdkit.
VMM_BLK_TESTS = tests/unit/vmm/test_blk
check_PROGRAMS += $(VMM_BLK_TESTS)
TESTS += $(VMM_BLK_TESTS)
UNIT_TESTS += $(VMM_BLK_TESTS)
tests_unit_vmm_test_blk_SOURCES = tests/unit/vmm/test_blk.c \
	vmm/vmm_pci.h vmm/vmm_pci.c vmm/vmm_blk.h vmm/vmm_blk.c tests/tap.h
tests_unit_vmm_test_blk_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
tests_unit_vmm_test_blk_LDADD = common/libxt.a $(LIBNBD_LIBS)

# The disks end to end: the test guest in an xm-vmm on a real nbdkit,
# pause/resume handing the export over, a migration by hand; once per
# engine, the sim one under TSan too (GUEST_STATS reads the hosted
# workload's counters while its thread writes them: atomically).
VMM_DISKS_TESTS = tests/unit/vmm/test_vmm_disks \
	tests/unit/vmm/test_vmm_disks_sim
check_PROGRAMS += $(VMM_DISKS_TESTS)
TESTS += $(VMM_DISKS_TESTS)
SANITIZE_TESTS += $(VMM_DISKS_TESTS)
TSAN_TESTS += $(VMM_DISKS_TESTS)
tests_unit_vmm_test_vmm_disks_SOURCES = tests/unit/vmm/test_vmm_disks.c \
	tests/tap.h
tests_unit_vmm_test_vmm_disks_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
tests_unit_vmm_test_vmm_disks_LDADD = vmm/libvmmproto.a common/libxt.a \
	$(LIBNBD_LIBS)
tests_unit_vmm_test_vmm_disks_sim_SOURCES = \
	$(tests_unit_vmm_test_vmm_disks_SOURCES)
tests_unit_vmm_test_vmm_disks_sim_CPPFLAGS = $(AM_CPPFLAGS) \
	-DVMM_DISKS_ENGINE='"sim"'
tests_unit_vmm_test_vmm_disks_sim_CFLAGS = \
	$(tests_unit_vmm_test_vmm_disks_CFLAGS)
tests_unit_vmm_test_vmm_disks_sim_LDADD = $(tests_unit_vmm_test_vmm_disks_LDADD)
