# tests/migrate/: the migration integration suite.  Real test guests on
# the kvm driver when /dev/kvm is usable (else sim), real TCP sockets on
# 127.0.0.1, one behaviour per script; each prints TAP.  lib.sh holds the
# shared shell helpers.

MIGRATE_INTEGRATION_TESTS = \
	tests/migrate/migrate-back-and-forth.sh \
	tests/migrate/migrate-fast-dirty.sh \
	tests/migrate/migrate-fault-kill.sh \
	tests/migrate/migrate-fault-drop.sh \
	tests/migrate/migrate-fault-corrupt.sh \
	tests/migrate/migrate-fault-commit.sh \
	tests/migrate/migrate-channel.sh \
	tests/migrate/migrate-streams-compress.sh \
	tests/migrate/migrate-64mib.sh \
	tests/migrate/migrate-idle.sh \
	tests/migrate/migrate-dirty-cli.sh

dist_check_SCRIPTS += $(MIGRATE_INTEGRATION_TESTS)
TESTS += $(MIGRATE_INTEGRATION_TESTS)
EXTRA_DIST += tests/migrate/lib.sh tests/migrate/fault-receiver.sh

# Ten migrations in one process: no fd, thread or heap left behind.  An
# integration test (real guests), not one of UNIT_TESTS.
check_PROGRAMS += tests/migrate/test_mig_leak
TESTS += tests/migrate/test_mig_leak
SANITIZE_TESTS += tests/migrate/test_mig_leak
# The engine's threads end to end, and xm-migrate's (two streams,
# compression; faults at every state of the commit).
TSAN_TESTS += tests/migrate/test_mig_leak \
	tests/migrate/migrate-streams-compress.sh \
	tests/migrate/migrate-fault-commit.sh
tests_migrate_test_mig_leak_SOURCES = tests/migrate/test_mig_leak.c \
	tests/tap.h
tests_migrate_test_mig_leak_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/xl-migrate
tests_migrate_test_mig_leak_LDADD = $(MIG_LIBS) $(HV_LIBS)
