# daemon/: the core of xm-poold, the per-host daemon of a pool
# (configuration, log, TLS certificate, HTTP(S) server, authentication
# store, lifecycle) as libpoold.a, which the final daemon links with the
# API layer; xm-poold itself until then; its systemd unit and man pages.

noinst_LIBRARIES += daemon/libpoold.a
daemon_libpoold_a_SOURCES = \
	daemon/poold.h \
	daemon/pd_internal.h \
	daemon/pd_config.c \
	daemon/pd_log.c \
	daemon/pd_tls.c \
	daemon/pd_http.c \
	daemon/pd_auth.c \
	daemon/pd_util.c \
	daemon/pd_main.c
daemon_libpoold_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
daemon_libpoold_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(GNUTLS_CFLAGS) \
	$(LIBCRYPT_CFLAGS)
# What a program using libpoold.a links (add -I$(top_srcdir)/daemon to its
# CPPFLAGS for poold.h).
POOLD_LIBS = daemon/libpoold.a common/libxt.a $(MHD_LIBS) $(GNUTLS_LIBS) \
	$(LIBCRYPT_LIBS)

# The XenAPI service (handler and method table, VM and pool methods, the
# master's migrations and their settling, the host agent, a migration's
# source side and the host-to-host client) as libxapi.a; xm-poold is
# main() and its version on top, so that a test can build the same daemon
# as a newer version (tests/pool/xm-poold-next, for the rolling upgrade).
noinst_LIBRARIES += daemon/libxapi.a
daemon_libxapi_a_SOURCES = \
	daemon/pd_xenapi.h \
	daemon/pd_service.c daemon/pd_thread.c daemon/pd_value.c \
	daemon/pd_dispatch.c daemon/pd_generic.c daemon/pd_session.c \
	daemon/pd_task.c daemon/pd_event.c daemon/pd_host_local.c \
	daemon/pd_allowed.c daemon/pd_dom0.c daemon/pd_rpu.c \
	daemon/pd_methods_vm.c \
	daemon/pd_migrate.c \
	daemon/pd_settle.c \
	daemon/pd_shutdown.c \
	daemon/pd_shutdown.h \
	daemon/pd_methods_pool.c \
	daemon/pd_liveness.c \
	daemon/pd_agent.c \
	daemon/pd_migsrc.c \
	daemon/pd_verdict.h \
	daemon/pd_verdict.c \
	daemon/pd_methods_sr.c \
	daemon/pd_sr_agent.c daemon/pd_blk.c \
	daemon/pd_methods_vbd.c daemon/pd_motion.c daemon/pd_evacuate.c \
	daemon/pd_import.c daemon/pd_xpool.c daemon/pd_upgrade.c \
	daemon/pd_memory.c daemon/pd_evac_sxm.c daemon/pd_message.c \
	daemon/pd_metrics.c
XAPI_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	-I$(top_srcdir)/api -I$(top_srcdir)/pool -I$(top_srcdir)/xl-migrate \
	-I$(top_srcdir)/sr -I$(top_srcdir)/vdi
daemon_libxapi_a_CPPFLAGS = $(XAPI_CPPFLAGS)
daemon_libxapi_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(XML2_CFLAGS)
XAPI_LIBS = daemon/libxapi.a $(POOLD_LIBS) api/libapi.a pool/libpool.a \
	vdi/libmirrorctl.a sr/libsr.a $(MIG_LIBS) $(HV_LIBS) $(XML2_LIBS) \
	$(SQLITE_LIBS) $(CURL_LIBS)

sbin_PROGRAMS += daemon/xm-poold
daemon_xm_poold_SOURCES = daemon/xm_poold.c daemon/pd_version.c
daemon_xm_poold_CPPFLAGS = $(XAPI_CPPFLAGS)
daemon_xm_poold_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
daemon_xm_poold_LDADD = $(XAPI_LIBS)

# The same daemon, one version newer (XM_POOLD_NEXT): what the rolling
# upgrade's test installs.
check_PROGRAMS += tests/pool/xm-poold-next
tests_pool_xm_poold_next_SOURCES = daemon/xm_poold.c daemon/pd_version.c
tests_pool_xm_poold_next_CPPFLAGS = $(XAPI_CPPFLAGS) -DXM_POOLD_NEXT
tests_pool_xm_poold_next_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
tests_pool_xm_poold_next_LDADD = $(XAPI_LIBS)

dist_man_MANS += man/xm-poold.8 man/xm-pool.conf.5

# The systemd unit, naming the sbindir of this installation.
EXTRA_DIST += daemon/xm-poold.service.in
CLEANFILES += daemon/xm-poold.service
if INSTALL_SYSTEMD_UNIT
systemdsystemunit_DATA = daemon/xm-poold.service
endif
daemon/xm-poold.service: $(srcdir)/daemon/xm-poold.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    $(srcdir)/daemon/xm-poold.service.in > $@.tmp && mv $@.tmp $@

DAEMON_UNIT_TESTS = \
	tests/unit/daemon/test_config \
	tests/unit/daemon/test_auth \
	tests/unit/daemon/test_http \
	tests/unit/daemon/test_verdict

check_PROGRAMS += $(DAEMON_UNIT_TESTS)
TESTS += $(DAEMON_UNIT_TESTS)
UNIT_TESTS += $(DAEMON_UNIT_TESTS)

tests_unit_daemon_test_config_SOURCES = \
	tests/unit/daemon/test_config.c tests/tap.h
tests_unit_daemon_test_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_daemon_test_config_LDADD = $(POOLD_LIBS)
tests_unit_daemon_test_auth_SOURCES = \
	tests/unit/daemon/test_auth.c tests/tap.h
tests_unit_daemon_test_auth_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_daemon_test_auth_LDADD = $(POOLD_LIBS)
tests_unit_daemon_test_http_SOURCES = \
	tests/unit/daemon/test_http.c tests/tap.h
tests_unit_daemon_test_http_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_daemon_test_http_CFLAGS = $(AM_CFLAGS) $(GNUTLS_CFLAGS) \
	$(CURL_CFLAGS)
tests_unit_daemon_test_http_LDADD = $(POOLD_LIBS) $(CURL_LIBS)
# The decision table of a migration's settling (pd_verdict.c is pure).
tests_unit_daemon_test_verdict_SOURCES = \
	tests/unit/daemon/test_verdict.c tests/tap.h daemon/pd_verdict.c \
	daemon/pd_verdict.h
tests_unit_daemon_test_verdict_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/daemon

# The daemon's life as a process: one behaviour per script.
DAEMON_SH_TESTS = \
	tests/daemon/poold-start-stop.sh \
	tests/daemon/poold-detach.sh \
	tests/daemon/poold-fingerprint.sh \
	tests/daemon/poold-sighup.sh \
	tests/daemon/poold-bad-config.sh \
	tests/daemon/poold-notify.sh
dist_check_SCRIPTS += $(DAEMON_SH_TESTS)
TESTS += $(DAEMON_SH_TESTS)
EXTRA_DIST += tests/daemon/lib.sh
