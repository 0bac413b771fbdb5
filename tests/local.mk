# tests/: suites that cross modules (unit tests live with their module's
# local.mk).

# The hv conformance suite, run once per driver against a real guest.
check_PROGRAMS += tests/hv/test_hv_conformance
tests_hv_test_hv_conformance_SOURCES = tests/hv/test_hv_conformance.c \
	tests/tap.h
tests_hv_test_hv_conformance_LDADD = $(HV_LIBS)
dist_check_SCRIPTS += tests/hv/conformance-kvm.sh tests/hv/conformance-sim.sh
TESTS += tests/hv/conformance-kvm.sh tests/hv/conformance-sim.sh
