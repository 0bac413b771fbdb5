# pool/: the pool database (SQLite): the XenAPI object model, schema
# migrations, transactions, the event log.  Public header pool/pool.h.
# Needs SQLITE_CFLAGS/SQLITE_LIBS from configure.ac:
#     XM_REQUIRE([SQLITE], [sqlite3], [libsqlite3-dev])

noinst_LIBRARIES += pool/libpool.a
pool_libpool_a_SOURCES = \
	pool/pool.h \
	pool/pool_internal.h \
	pool/pool_model.c \
	pool/pool_value.c \
	pool/pool_schema.c \
	pool/pool_db.c \
	pool/pool_obj.c \
	pool/pool_event.c \
	pool/pool_evac.c
pool_libpool_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
pool_libpool_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
POOL_LIBS = pool/libpool.a common/libxt.a $(SQLITE_LIBS)

POOL_UNIT_TESTS = \
	tests/unit/pool/test_db \
	tests/unit/pool/test_db_crash \
	tests/unit/pool/test_db_commit \
	tests/unit/pool/test_evac \
	tests/unit/pool/test_xapi_fields

check_PROGRAMS += $(POOL_UNIT_TESTS)
TESTS += $(POOL_UNIT_TESTS)
UNIT_TESTS += $(POOL_UNIT_TESTS)

tests_unit_pool_test_db_SOURCES = tests/unit/pool/test_db.c tests/tap.h
tests_unit_pool_test_db_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
tests_unit_pool_test_db_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_pool_test_db_LDADD = $(POOL_LIBS)
tests_unit_pool_test_db_crash_SOURCES = tests/unit/pool/test_db_crash.c \
	tests/tap.h
tests_unit_pool_test_db_crash_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
tests_unit_pool_test_db_crash_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_pool_test_db_crash_LDADD = $(POOL_LIBS)
tests_unit_pool_test_db_commit_SOURCES = tests/unit/pool/test_db_commit.c \
	tests/tap.h
tests_unit_pool_test_db_commit_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
tests_unit_pool_test_db_commit_LDADD = $(POOL_LIBS)
tests_unit_pool_test_evac_SOURCES = tests/unit/pool/test_evac.c tests/tap.h
tests_unit_pool_test_evac_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/pool
tests_unit_pool_test_evac_LDADD = $(POOL_LIBS)
tests_unit_pool_test_xapi_fields_SOURCES = tests/unit/pool/test_xapi_fields.c \
	tests/tap.h
tests_unit_pool_test_xapi_fields_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/pool
tests_unit_pool_test_xapi_fields_LDADD = $(POOL_LIBS)
# The XAPI record fields it checks the model against (from
# scripts/xapi-fields.py) and the differences allowed.
EXTRA_DIST += tests/data/xapi-fields.txt tests/data/xapi-fields-allowed.txt
