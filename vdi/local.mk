# vdi/: the block service: an nbdkit plugin serving one VDI through sr/
# (docs/design/storage.md).  nbdkit loads it by path:
#     nbdkit -U SOCK $(libexecdir)/nbdkit-xmvdi-plugin.so ...
# A shared object, so sr/ and common/ are compiled into it again with
# -fPIC (their static libraries are position-dependent).

libexec_PROGRAMS += vdi/nbdkit-xmvdi-plugin.so
vdi_nbdkit_xmvdi_plugin_so_SOURCES = vdi/nbdkit_xmvdi.c \
	$(vdi_mirror_sources) $(sr_libsr_a_SOURCES) $(common_libxt_a_SOURCES)
vdi_nbdkit_xmvdi_plugin_so_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr \
	-I$(top_srcdir)/vdi
vdi_nbdkit_xmvdi_plugin_so_CFLAGS = $(AM_CFLAGS) $(NBDKIT_CFLAGS) \
	$(LIBNBD_CFLAGS) -fPIC
vdi_nbdkit_xmvdi_plugin_so_LDFLAGS = -shared
vdi_nbdkit_xmvdi_plugin_so_LDADD = $(NBDKIT_LIBS) $(LIBNBD_LIBS)

# The mirror engine and its control codec (vdi/mirror.h, mirror_ctl.h):
# both in the plugin; the engine (libnbd) as a library for its tests, the
# codec alone for the daemon, which needs no libnbd (the Xen lane's dom0
# has none).
vdi_mirror_sources = vdi/mirror.c vdi/mirror.h vdi/mirror_ctl.c \
	vdi/mirror_ctl.h
noinst_LIBRARIES += vdi/libmirror.a vdi/libmirrorctl.a
vdi_libmirror_a_SOURCES = vdi/mirror.c vdi/mirror.h
vdi_libmirror_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
vdi_libmirror_a_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
vdi_libmirrorctl_a_SOURCES = vdi/mirror_ctl.c vdi/mirror_ctl.h
vdi_libmirrorctl_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr

dist_check_SCRIPTS += tests/vdi/lib.sh tests/vdi/nbd-interop.sh \
	tests/vdi/nbd-durability.sh tests/vdi/nbd-bad-client.sh \
	tests/vdi/nbd-handover.sh tests/vdi/mirror.sh tests/vdi/mirror-corrupt.sh
TESTS += tests/vdi/nbd-interop.sh tests/vdi/nbd-durability.sh \
	tests/vdi/nbd-bad-client.sh tests/vdi/nbd-handover.sh \
	tests/vdi/mirror.sh tests/vdi/mirror-corrupt.sh

check_PROGRAMS += tests/vdi/sr-tool
tests_vdi_sr_tool_SOURCES = tests/vdi/sr-tool.c
tests_vdi_sr_tool_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
tests_vdi_sr_tool_LDADD = $(SR_LIBS)
EXTRA_DIST += tests/vdi/nbd_raw.py tests/vdi/mirror_ctl.py

# The engine on a real VDI and a real NBD target, writer threads racing
# the copy: also under ASan/UBSan and ThreadSanitizer.
VDI_MIRROR_TESTS = tests/unit/vdi/test_mirror
check_PROGRAMS += $(VDI_MIRROR_TESTS)
TESTS += $(VDI_MIRROR_TESTS)
UNIT_TESTS += $(VDI_MIRROR_TESTS)
TSAN_TESTS += $(VDI_MIRROR_TESTS)
tests_unit_vdi_test_mirror_SOURCES = tests/unit/vdi/test_mirror.c \
	tests/unit/sr/sr_test.h tests/tap.h
tests_unit_vdi_test_mirror_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr \
	-I$(top_srcdir)/vdi
tests_unit_vdi_test_mirror_CFLAGS = $(AM_CFLAGS) $(LIBNBD_CFLAGS)
tests_unit_vdi_test_mirror_LDADD = vdi/libmirror.a $(SR_LIBS) $(LIBNBD_LIBS)
