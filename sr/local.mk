# sr/: storage repositories, the SR drivers behind struct sr_ops ("file",
# "shared-file").  Public header sr/sr.h; drivers implement
# sr/sr_internal.h.

noinst_LIBRARIES += sr/libsr.a
sr_libsr_a_SOURCES = \
	sr/sr.h \
	sr/sr_internal.h \
	sr/sr_dir.h \
	sr/sr.c \
	sr/sr_file.c \
	sr/sr_file_vdi.c \
	sr/sr_fileio.c \
	sr/sr_shared_file.c
SR_LIBS = sr/libsr.a common/libxt.a

SR_UNIT_TESTS = \
	tests/unit/sr/test_sr_file \
	tests/unit/sr/test_sr_crash

check_PROGRAMS += $(SR_UNIT_TESTS)
TESTS += $(SR_UNIT_TESTS)
UNIT_TESTS += $(SR_UNIT_TESTS)

tests_unit_sr_test_sr_file_SOURCES = tests/unit/sr/test_sr_file.c \
	tests/unit/sr/sr_test.h tests/tap.h
tests_unit_sr_test_sr_file_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
tests_unit_sr_test_sr_file_LDADD = $(SR_LIBS)
tests_unit_sr_test_sr_crash_SOURCES = tests/unit/sr/test_sr_crash.c \
	tests/unit/sr/sr_test.h tests/tap.h
tests_unit_sr_test_sr_crash_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sr
tests_unit_sr_test_sr_crash_LDADD = $(SR_LIBS)
