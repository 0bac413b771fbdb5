# cli/: xm-pool, the command-line client (XML-RPC over HTTPS with libcurl),
# its man page and bash completion.  Needs api/local.mk (API_LIBS) and
# pool/local.mk (the object model; only pool_model.o is linked, no SQLite).

CLI_SOURCES = \
	cli/cli.h \
	cli/cli_main.c \
	cli/cli_rpc.c \
	cli/cli_pool.c \
	cli/cli_host.c \
	cli/cli_vm.c \
	cli/cli_param.c \
	cli/cli_task.c \
	cli/cli_event.c \
	cli/cli_message.c \
	cli/cli_sr.c \
	cli/cli_progress.c \
	cli/cli_upgrade.c
CLI_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/cli -I$(top_srcdir)/api \
	-I$(top_srcdir)/pool
CLI_LIBS = pool/libpool.a $(API_LIBS) $(CURL_LIBS) $(GNUTLS_LIBS) \
	common/libxt.a -lm

bin_PROGRAMS += cli/xm-pool
cli_xm_pool_SOURCES = $(CLI_SOURCES)
cli_xm_pool_CPPFLAGS = $(CLI_CPPFLAGS)
cli_xm_pool_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(GNUTLS_CFLAGS)
cli_xm_pool_LDADD = $(CLI_LIBS)

dist_man_MANS += man/xm-pool.1

bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = cli/xm-pool.bash-completion
# installed under the command's name, where bash-completion looks for it
install-data-hook: install-cli-completion
install-cli-completion:
	cd $(DESTDIR)$(bashcompletiondir) && \
	    mv -f xm-pool.bash-completion xm-pool
uninstall-hook: uninstall-cli-completion
uninstall-cli-completion:
	rm -f $(DESTDIR)$(bashcompletiondir)/xm-pool
.PHONY: install-cli-completion uninstall-cli-completion

CLI_UNIT_TESTS = tests/unit/cli/test_cli
check_PROGRAMS += $(CLI_UNIT_TESTS)
TESTS += $(CLI_UNIT_TESTS)
UNIT_TESTS += $(CLI_UNIT_TESTS)
tests_unit_cli_test_cli_SOURCES = tests/unit/cli/test_cli.c \
	$(CLI_SOURCES) tests/tap.h
tests_unit_cli_test_cli_CPPFLAGS = $(CLI_CPPFLAGS) -DCLI_NO_MAIN
tests_unit_cli_test_cli_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_cli_test_cli_LDADD = $(CLI_LIBS)

# Integration: xm-pool against a real one-host xm-poold.
CLI_POOL_TESTS = \
	tests/pool/cli-vm-lifecycle.sh \
	tests/pool/cli-event-wait.sh \
	tests/pool/cli-param.sh \
	tests/pool/cli-vm-migrate.sh \
	tests/pool/cli-tls-tofu.sh \
	tests/pool/cli-storage.sh
dist_check_SCRIPTS += $(CLI_POOL_TESTS)
TESTS += $(CLI_POOL_TESTS)
