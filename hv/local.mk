# hv/: the hypervisor driver table and its drivers.
noinst_LIBRARIES += hv/libhv.a
hv_libhv_a_SOURCES = hv/hv.h hv/hv_internal.h hv/hv.c hv/hv_state.c \
	hv/hv_vmmc.c hv/hv_vmmc.h hv/hv_kvm.c hv/hv_sim.c
hv_libhv_a_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS)
if HAVE_XEN
hv_libhv_a_SOURCES += hv/hv_xen.c hv/hv_xen_internal.h hv/hv_xen_priv.h
hv_libhv_a_SOURCES += hv/hv_xen_stream.c hv/hv_xen_stream.h
hv_libhv_a_SOURCES += hv/hv_xen_boot.c
hv_libhv_a_CFLAGS += $(XEN_CFLAGS)
endif
HV_LIBS = hv/libhv.a vmm/libvmmproto.a common/libxt.a $(XXHASH_LIBS)
if HAVE_XEN
HV_LIBS += $(XEN_LIBS)
endif
if HAVE_XEN
libexec_PROGRAMS += hv/xm-xen-reaper
hv_xm_xen_reaper_SOURCES = hv/xm_xen_reaper.c
hv_xm_xen_reaper_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)
hv_xm_xen_reaper_LDADD = $(XEN_LIBS)
endif

# Disk hot-plug end to end through the hv API: real xm-vmm processes, the
# test guest, nbdkit exports; once per driver, both under TSan too (vCPU
# threads do port I/O while the control thread plugs and unplugs).
HV_HOTPLUG_TESTS = tests/unit/hv/test_hv_hotplug \
	tests/unit/hv/test_hv_hotplug_sim
check_PROGRAMS += $(HV_HOTPLUG_TESTS)
TESTS += $(HV_HOTPLUG_TESTS)
SANITIZE_TESTS += $(HV_HOTPLUG_TESTS)
TSAN_TESTS += $(HV_HOTPLUG_TESTS)
tests_unit_hv_test_hv_hotplug_SOURCES = tests/unit/hv/test_hv_hotplug.c \
	tests/unit/hv/hv_disk_test.h tests/tap.h
tests_unit_hv_test_hv_hotplug_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
tests_unit_hv_test_hv_hotplug_LDADD = $(HV_LIBS) $(LIBNBD_LIBS)
tests_unit_hv_test_hv_hotplug_sim_SOURCES = \
	$(tests_unit_hv_test_hv_hotplug_SOURCES)
tests_unit_hv_test_hv_hotplug_sim_CPPFLAGS = $(AM_CPPFLAGS) \
	-DHOTPLUG_ENGINE='"sim"'
tests_unit_hv_test_hv_hotplug_sim_CFLAGS = \
	$(tests_unit_hv_test_hv_hotplug_CFLAGS)
tests_unit_hv_test_hv_hotplug_sim_LDADD = $(tests_unit_hv_test_hv_hotplug_LDADD)

# The switch-over of a storage live migration through the hv API (pause,
# copy, hv_disk_retarget, unpause): real xm-vmm processes, the test guest,
# nbdkit file exports; once per driver, both under the sanitizers too.
HV_RETARGET_TESTS = tests/unit/hv/test_hv_retarget \
	tests/unit/hv/test_hv_retarget_sim
check_PROGRAMS += $(HV_RETARGET_TESTS)
TESTS += $(HV_RETARGET_TESTS)
SANITIZE_TESTS += $(HV_RETARGET_TESTS)
TSAN_TESTS += $(HV_RETARGET_TESTS)
tests_unit_hv_test_hv_retarget_SOURCES = tests/unit/hv/test_hv_retarget.c \
	tests/unit/hv/hv_disk_test.h tests/tap.h
tests_unit_hv_test_hv_retarget_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
tests_unit_hv_test_hv_retarget_LDADD = $(HV_LIBS) $(LIBNBD_LIBS)
tests_unit_hv_test_hv_retarget_sim_SOURCES = \
	$(tests_unit_hv_test_hv_retarget_SOURCES)
tests_unit_hv_test_hv_retarget_sim_CPPFLAGS = $(AM_CPPFLAGS) \
	-DRETARGET_ENGINE='"sim"'
tests_unit_hv_test_hv_retarget_sim_CFLAGS = \
	$(tests_unit_hv_test_hv_retarget_CFLAGS)
tests_unit_hv_test_hv_retarget_sim_LDADD = \
	$(tests_unit_hv_test_hv_retarget_LDADD)
