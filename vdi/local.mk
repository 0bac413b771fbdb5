# vdi/: the block service: an nbdkit plugin serving one VDI through sr/
# (docs/design/storage.md).  nbdkit loads it by path:
#     nbdkit -U SOCK $(libexecdir)/nbdkit-xmvdi-plugin.so ...
# A shared object, so sr/ and common/ are compiled into it again with
# -fPIC (their static libraries are position-dependent).

libexec_PROGRAMS += vdi/nbdkit-xmvdi-plugin.so
vdi_nbdkit_xmvdi_plugin_so_SOURCES = vdi/nbdkit_xmvdi.c \
	$(sr_libsr_a_SOURCES) $(common_libxt_a_SOURCES)
vdi_nbdkit_xmvdi_plugin_so_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
vdi_nbdkit_xmvdi_plugin_so_CFLAGS = $(AM_CFLAGS) $(NBDKIT_CFLAGS) -fPIC
vdi_nbdkit_xmvdi_plugin_so_LDFLAGS = -shared
vdi_nbdkit_xmvdi_plugin_so_LDADD = $(NBDKIT_LIBS)

dist_check_SCRIPTS += tests/vdi/lib.sh tests/vdi/nbd-interop.sh \
	tests/vdi/nbd-durability.sh tests/vdi/nbd-bad-client.sh \
	tests/vdi/nbd-handover.sh
TESTS += tests/vdi/nbd-interop.sh tests/vdi/nbd-durability.sh \
	tests/vdi/nbd-bad-client.sh tests/vdi/nbd-handover.sh

check_PROGRAMS += tests/vdi/sr-tool
tests_vdi_sr_tool_SOURCES = tests/vdi/sr-tool.c
tests_vdi_sr_tool_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
tests_vdi_sr_tool_LDADD = $(SR_LIBS)
EXTRA_DIST += tests/vdi/nbd_raw.py
