# vmm/: xm-vmm, one process per VM (kvm and sim engines), and its control
# protocol, which hv/ speaks as a client.
noinst_LIBRARIES += vmm/libvmmproto.a
vmm_libvmmproto_a_SOURCES = vmm/vmm_proto.h vmm/vmm_proto.c

libexec_PROGRAMS += vmm/xm-vmm
vmm_xm_vmm_SOURCES = vmm/vmm_internal.h vmm/vmm_main.c vmm/vmm_guest.c \
	vmm/vmm_kvm.c vmm/vmm_sim.c guest/workload.c guest/workload.h \
	hv/hv_state.c \
	guest/xmg_abi.h
vmm_xm_vmm_CPPFLAGS = $(AM_CPPFLAGS) -DXMG_HOSTED
vmm_xm_vmm_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS)
vmm_xm_vmm_LDADD = vmm/libvmmproto.a common/libxt.a $(XXHASH_LIBS)
