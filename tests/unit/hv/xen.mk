# tests/unit/hv/xen.mk - unit tests of the Xen driver's hypervisor-free
# parts.  Included by hv/local.mk (or Makefile.am) after hv/local.mk, which
# defines HV_LIBS.
if HAVE_XEN
check_PROGRAMS += tests/unit/hv/test_hv_xen
TESTS += tests/unit/hv/test_hv_xen
UNIT_TESTS += tests/unit/hv/test_hv_xen
tests_unit_hv_test_hv_xen_SOURCES = tests/unit/hv/test_hv_xen.c tests/tap.h
tests_unit_hv_test_hv_xen_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)
tests_unit_hv_test_hv_xen_LDADD = $(HV_LIBS)
endif
# hv/hv_xen_stream.c's pure part: libxenguest's pre-copy questions.
if HAVE_XEN
check_PROGRAMS += tests/unit/hv/test_hv_xen_stream
TESTS += tests/unit/hv/test_hv_xen_stream
UNIT_TESTS += tests/unit/hv/test_hv_xen_stream
tests_unit_hv_test_hv_xen_stream_SOURCES = \
	tests/unit/hv/test_hv_xen_stream.c tests/tap.h
tests_unit_hv_test_hv_xen_stream_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/hv
tests_unit_hv_test_hv_xen_stream_CFLAGS = $(AM_CFLAGS) $(XEN_CFLAGS)
tests_unit_hv_test_hv_xen_stream_LDADD = $(HV_LIBS)
endif
