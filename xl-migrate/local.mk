# xl-migrate/: the live-migration engine (libmig: the stream format of
# docs/specs/migration-stream.md, pre-copy sender, receiver, commit
# handshake) and xm-migrate, its low-level command.

noinst_LIBRARIES += xl-migrate/libmig.a
xl_migrate_libmig_a_SOURCES = \
	xl-migrate/mig.h \
	xl-migrate/mig_internal.h \
	xl-migrate/mig_stream.h \
	xl-migrate/mig_stream.c \
	xl-migrate/mig_chan.h \
	xl-migrate/mig_chan.c \
	xl-migrate/mig_net.c \
	xl-migrate/mig_proto.c \
	xl-migrate/mig_report.c \
	xl-migrate/mig_policy.c \
	xl-migrate/mig_limit.c \
	xl-migrate/mig_send.c \
	xl-migrate/mig_send_pages.c \
	xl-migrate/mig_recv.c \
	xl-migrate/mig_recv_pages.c \
	xl-migrate/mig_opaque.h \
	xl-migrate/mig_opaque.c \
	xl-migrate/mig_stats.c
xl_migrate_libmig_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xl-migrate
xl_migrate_libmig_a_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS) $(ZSTD_CFLAGS) \
	$(XXHASH_CFLAGS) $(GNUTLS_CFLAGS)
MIG_LIBS = xl-migrate/libmig.a $(ZLIB_LIBS) $(ZSTD_LIBS) $(XXHASH_LIBS) \
	$(GNUTLS_LIBS)

bin_PROGRAMS += xl-migrate/xm-migrate
xl_migrate_xm_migrate_SOURCES = xl-migrate/xm_migrate.c
xl_migrate_xm_migrate_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xl-migrate
xl_migrate_xm_migrate_LDADD = $(MIG_LIBS) $(HV_LIBS)

MIGRATE_UNIT_TESTS = \
	tests/unit/migrate/test_policy \
	tests/unit/migrate/test_limit \
	tests/unit/migrate/test_stream \
	tests/unit/migrate/test_opaque \
	tests/unit/migrate/test_sparse

check_PROGRAMS += $(MIGRATE_UNIT_TESTS)
TESTS += $(MIGRATE_UNIT_TESTS)
UNIT_TESTS += $(MIGRATE_UNIT_TESTS)
TSAN_TESTS += $(MIGRATE_UNIT_TESTS)

tests_unit_migrate_test_stream_SOURCES = \
	tests/unit/migrate/test_stream.c tests/tap.h
tests_unit_migrate_test_stream_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_unit_migrate_test_stream_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS) \
	$(ZSTD_CFLAGS) $(XXHASH_CFLAGS)
tests_unit_migrate_test_stream_LDADD = $(MIG_LIBS) common/libxt.a

MIGRATE_LOOPBACK = tests/unit/migrate/loopback.c \
	tests/unit/migrate/loopback.h

tests_unit_migrate_test_opaque_SOURCES = \
	tests/unit/migrate/test_opaque.c tests/tap.h $(MIGRATE_LOOPBACK)
tests_unit_migrate_test_opaque_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_unit_migrate_test_opaque_LDADD = $(MIG_LIBS) $(HV_LIBS)

tests_unit_migrate_test_sparse_SOURCES = \
	tests/unit/migrate/test_sparse.c tests/tap.h $(MIGRATE_LOOPBACK)
tests_unit_migrate_test_sparse_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_unit_migrate_test_sparse_LDADD = $(MIG_LIBS) $(HV_LIBS)

tests_unit_migrate_test_limit_SOURCES = \
	tests/unit/migrate/test_limit.c tests/tap.h
tests_unit_migrate_test_limit_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_unit_migrate_test_limit_LDADD = $(MIG_LIBS) $(HV_LIBS)

tests_unit_migrate_test_policy_SOURCES = \
	tests/unit/migrate/test_policy.c tests/tap.h
tests_unit_migrate_test_policy_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_unit_migrate_test_policy_LDADD = $(MIG_LIBS) $(HV_LIBS)
