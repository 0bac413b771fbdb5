# common/local.mk - libxt: context, logging, errors, UUIDs, config, I/O,
# bitmaps.  Included by the top-level Makefile.am.

noinst_LIBRARIES += common/libxt.a
common_libxt_a_SOURCES = \
	common/xt.h \
	common/xt_ctx.c \
	common/xt_uuid.c \
	common/xt_config.c \
	common/xt_io.c \
	common/xt_bitmap.c \
	common/xt_err.c \
	common/xt_fault.c \
	common/xt_version.c

COMMON_UNIT_TESTS = \
	tests/unit/common/test_log \
	tests/unit/common/test_uuid \
	tests/unit/common/test_config \
	tests/unit/common/test_io \
	tests/unit/common/test_bitmap \
	tests/unit/common/test_fault \
	tests/unit/common/test_version

check_PROGRAMS += $(COMMON_UNIT_TESTS)
TESTS += $(COMMON_UNIT_TESTS)
UNIT_TESTS += $(COMMON_UNIT_TESTS)

tests_unit_common_test_log_SOURCES = \
	tests/unit/common/test_log.c tests/tap.h
tests_unit_common_test_log_LDADD = common/libxt.a
tests_unit_common_test_uuid_SOURCES = \
	tests/unit/common/test_uuid.c tests/tap.h
tests_unit_common_test_uuid_LDADD = common/libxt.a
tests_unit_common_test_config_SOURCES = \
	tests/unit/common/test_config.c tests/tap.h
tests_unit_common_test_config_LDADD = common/libxt.a
tests_unit_common_test_io_SOURCES = \
	tests/unit/common/test_io.c tests/tap.h
tests_unit_common_test_io_LDADD = common/libxt.a
tests_unit_common_test_bitmap_SOURCES = \
	tests/unit/common/test_bitmap.c tests/tap.h
tests_unit_common_test_bitmap_LDADD = common/libxt.a
tests_unit_common_test_fault_SOURCES = \
	tests/unit/common/test_fault.c tests/tap.h
tests_unit_common_test_fault_LDADD = common/libxt.a
tests_unit_common_test_version_SOURCES = \
	tests/unit/common/test_version.c tests/tap.h
tests_unit_common_test_version_LDADD = common/libxt.a
