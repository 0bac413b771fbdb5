# vmm/: xm-vmm, one process per VM (kvm and sim engines), and its control
# protocol, which hv/ speaks as a client.
noinst_LIBRARIES += vmm/libvmmproto.a
vmm_libvmmproto_a_SOURCES = vmm/vmm_proto.h vmm/vmm_proto.c

libexec_PROGRAMS += vmm/xm-vmm
vmm_xm_vmm_SOURCES = vmm/vmm_internal.h vmm/vmm_main.c vmm/vmm_guest.c \
	vmm/vmm_kvm.c vmm/vmm_sim.c guest/workload.c guest/workload.h \
	vmm/vmm_pci.h vmm/vmm_pci.c vmm/vmm_blk.h vmm/vmm_blk.c \
	hv/hv_state.c \
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
