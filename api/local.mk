# api/: the wire layer of the XenAPI-compatible API - values, XML-RPC
# (libxml2) and JSON-RPC (our own strict parser), the XenAPI envelopes, the
# table of error codes and method dispatch.  No HTTP, no database.  The
# conventions are docs/specs/api-wire.md.

noinst_LIBRARIES += api/libapi.a
api_libapi_a_SOURCES = \
	api/api.h \
	api/api_internal.h \
	api/api_value.c \
	api/api_text.c \
	api/api_xml_guard.c \
	api/api_xmlrpc_read.c \
	api/api_xmlrpc_write.c \
	api/api_json_read.c \
	api/api_json_write.c \
	api/api_errors.c \
	api/api_dispatch.c
api_libapi_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
api_libapi_a_CFLAGS = $(AM_CFLAGS) $(XML2_CFLAGS)
API_LIBS = api/libapi.a common/libxt.a $(XML2_LIBS)

API_UNIT_TESTS = \
	tests/unit/api/test_value \
	tests/unit/api/test_xmlrpc \
	tests/unit/api/test_json \
	tests/unit/api/test_dispatch

check_PROGRAMS += $(API_UNIT_TESTS)
TESTS += $(API_UNIT_TESTS)
UNIT_TESTS += $(API_UNIT_TESTS)

tests_unit_api_test_value_SOURCES = \
	tests/unit/api/test_value.c tests/tap.h
tests_unit_api_test_value_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
tests_unit_api_test_value_LDADD = $(API_LIBS)
tests_unit_api_test_xmlrpc_SOURCES = \
	tests/unit/api/test_xmlrpc.c tests/unit/api/api_test.h tests/tap.h
tests_unit_api_test_xmlrpc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
tests_unit_api_test_xmlrpc_LDADD = $(API_LIBS)
tests_unit_api_test_json_SOURCES = \
	tests/unit/api/test_json.c tests/unit/api/api_test.h tests/tap.h
tests_unit_api_test_json_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
tests_unit_api_test_json_LDADD = $(API_LIBS)
tests_unit_api_test_dispatch_SOURCES = \
	tests/unit/api/test_dispatch.c tests/unit/api/api_test.h tests/tap.h
tests_unit_api_test_dispatch_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/api
tests_unit_api_test_dispatch_LDADD = $(API_LIBS)
