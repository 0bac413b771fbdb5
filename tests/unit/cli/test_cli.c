/*
 * test_cli.c - xm-pool's argument parsing, rc file, command suggestion,
 * key checking, selectors, --minimal and record output, progress lines
 * and the migration summary.  No server: the RPC side is tested by
 * tests/pool/cli-*.sh against a real xm-poold.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../../tap.h"

struct cap {
    char *out, *err;
    size_t outlen, errlen;
};

static void cap_start(struct cli_ctx *cli, struct cap *c)
{
    memset(c, 0, sizeof(*c));
    cli->out = open_memstream(&c->out, &c->outlen);
    cli->err = open_memstream(&c->err, &c->errlen);
}

static void cap_end(struct cli_ctx *cli, struct cap *c)
{
    fclose(cli->out);
    fclose(cli->err);
    cli->out = stdout;
    cli->err = stderr;
    (void)c;
}

static void cap_free(struct cap *c)
{
    free(c->out);
    free(c->err);
}

/* Each line of text as a TAP comment. */
static void diag_lines(const char *text)
{
    while (text && *text) {
        size_t l = strcspn(text, "\n");

        tap_diag("%.*s", (int)l, text);
        text += l;
        if (*text)
            text++;
    }
}

static int parse(struct cli_ctx *cli, struct xt_ctx *xt, const char **cmd,
                 int argc, const char **argv)
{
    cli_ctx_init(cli, xt);
    return cli_parse_argv(cli, argc, (char **)argv, cmd);
}

static void test_argv(struct xt_ctx *xt)
{
    const char *argv[] = {
        "xm-pool", "-s", "h1", "-p", "8080", "-u", "admin", "-pw", "pw1",
        "--http", "vm-shutdown", "vm=web01", "--force", "cmdline=a=b c",
        "--minimal",
    };
    struct cli_ctx cli;
    const char *cmd = NULL;
    bool force = false;
    int rc;

    rc = parse(&cli, xt, &cmd, 15, argv);
    tap_is_int(rc, 0, "argv parsed");
    tap_is_str(cmd, "vm-shutdown", "command found");
    tap_is_str(cli.opts.server, "h1", "-s");
    tap_is_int(cli.opts.port, 8080, "-p");
    tap_is_str(cli.opts.user, "admin", "-u");
    tap_is_str(cli.opts.password, "pw1", "-pw");
    tap_ok(cli.opts.http && cli.opts.minimal, "--http, --minimal after "
           "the command");
    tap_is_str(cli_arg(&cli, "vm"), "web01", "vm=web01");
    tap_is_str(cli_arg(&cli, "cmdline"), "a=b c", "value keeps its '='");
    tap_is_int(cli_arg_bool(&cli, "force", false, &force), 0, "--force");
    tap_ok(force, "--force means force=true");
    cli_ctx_clear(&cli);
}

static void test_argv_errors(struct xt_ctx *xt)
{
    const char *a1[] = { "xm-pool", "-p", "99999", "vm-list" };
    const char *a2[] = { "xm-pool", "vm-list", "bare" };
    const char *a3[] = { "xm-pool", "-pw" };
    struct cli_ctx cli;
    struct cap c;
    const char *cmd;

    cli_ctx_init(&cli, xt);
    cap_start(&cli, &c);
    tap_is_int(cli_parse_argv(&cli, 4, (char **)a1, &cmd), -EINVAL,
               "port out of range refused");
    tap_is_int(cli.status, CLI_EXIT_USAGE, "usage exit status");
    cap_end(&cli, &c);
    tap_ok(strstr(c.err, "bad port '99999'") != NULL, "says which port");
    cap_free(&c);
    cli_ctx_clear(&cli);

    cli_ctx_init(&cli, xt);
    cap_start(&cli, &c);
    tap_is_int(cli_parse_argv(&cli, 3, (char **)a2, &cmd), -EINVAL,
               "bare word refused");
    cap_end(&cli, &c);
    tap_ok(strstr(c.err, "'bare' is not key=value") != NULL,
           "message names the argument");
    cap_free(&c);
    cli_ctx_clear(&cli);

    cli_ctx_init(&cli, xt);
    cap_start(&cli, &c);
    tap_is_int(cli_parse_argv(&cli, 2, (char **)a3, &cmd), -EINVAL,
               "-pw without a value refused");
    cap_end(&cli, &c);
    cap_free(&c);
    cli_ctx_clear(&cli);
}

static void test_rc_file(struct xt_ctx *xt)
{
    char dir[] = "/tmp/test_cli.XXXXXX", rc_path[128], pw_path[128];
    const char *argv[] = { "xm-pool", "-s", "cmdline-host", "vm-list" };
    const char *argv2[] = { "xm-pool", "-pw", "given", "vm-list" };
    struct cli_ctx cli;
    const char *cmd;
    FILE *f;

    if (!mkdtemp(dir)) {
        tap_ok(false, "mkdtemp");
        return;
    }
    snprintf(rc_path, sizeof(rc_path), "%s/rc", dir);
    snprintf(pw_path, sizeof(pw_path), "%s/pw", dir);
    f = fopen(pw_path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    f = fopen(rc_path, "w");
    fprintf(f, "# defaults\nserver = rc-host\nport=8443\nusername=ops\n"
            "password_file=%s\nfingerprint.rc-host:8443=AB:CD\n", pw_path);
    fclose(f);
    setenv("XM_POOLRC", rc_path, 1);

    parse(&cli, xt, &cmd, 4, argv);
    tap_is_int(cli_rc_load(&cli), 0, "rc file read");
    tap_is_str(cli.opts.rc_path, rc_path, "XM_POOLRC names the rc file");
    tap_is_str(cli.opts.server, "cmdline-host", "-s wins over server=");
    tap_is_int(cli.opts.port, 8443, "port= from the rc file");
    tap_is_str(cli.opts.user, "ops", "username= from the rc file");
    tap_is_int(cli_password_load(&cli), 0, "password file read");
    tap_is_str(cli.opts.password, "s3cret", "-pwf/password_file= read, "
               "newline dropped");
    cli_ctx_clear(&cli);

    parse(&cli, xt, &cmd, 4, argv2);
    cli_rc_load(&cli);
    cli_password_load(&cli);
    tap_is_str(cli.opts.password, "given", "-pw wins over password_file=");
    cli_ctx_clear(&cli);

    unlink(pw_path);
    unlink(rc_path);
    rmdir(dir);
    unsetenv("XM_POOLRC");
}

static void test_suggest(void)
{
    tap_is_int((long long)cli_levenshtein("kitten", "sitting"), 3,
               "levenshtein kitten/sitting");
    tap_is_int((long long)cli_levenshtein("", "abc"), 3, "levenshtein empty");
    tap_is_str(cli_suggest("vm-migrat"), "vm-migrate", "vm-migrat");
    tap_is_str(cli_suggest("vm-lsit"), "vm-list", "vm-lsit");
    tap_is_str(cli_suggest("hostlist"), "host-list", "hostlist");
    tap_ok(cli_suggest("frobnicate") == NULL, "nothing close: no advice");
    tap_ok(cli_command_find("vm-migrate") != NULL, "table lookup");
}

static void test_keys(struct xt_ctx *xt)
{
    const char *a1[] = { "xm-pool", "vm-start", "vm=a", "hots=h1" };
    const char *a2[] = { "xm-pool", "vm-list", "power-state=Running",
                         "params=all" };
    const char *a3[] = { "xm-pool", "vm-param-set", "uuid=x",
                         "other-config:foo=1", "name-label=n" };
    struct cli_ctx cli;
    struct cap c;
    const char *cmd;

    parse(&cli, xt, &cmd, 4, a1);
    cli.cmd = cli_command_find(cmd);
    cap_start(&cli, &c);
    tap_is_int(cli_check_keys(&cli), -EINVAL, "unknown key refused");
    cap_end(&cli, &c);
    tap_ok(c.err && strstr(c.err, "unknown key 'hots'") &&
           strstr(c.err, "Valid keys: vm, on, multiple") &&
           strstr(c.err, "name-label"), "message lists the valid keys");
    diag_lines(c.err);
    tap_is_int(cli.status, CLI_EXIT_USAGE, "usage exit status");
    cap_free(&c);
    cli_ctx_clear(&cli);

    parse(&cli, xt, &cmd, 4, a2);
    cli.cmd = cli_command_find(cmd);
    tap_is_int(cli_check_keys(&cli), 0, "field selectors accepted");
    cli_ctx_clear(&cli);

    parse(&cli, xt, &cmd, 5, a3);
    cli.cmd = cli_command_find(cmd);
    tap_is_int(cli_check_keys(&cli), 0, "FIELD:KEY accepted by "
               "vm-param-set");
    cli_ctx_clear(&cli);
}

static struct api_value *vm_rec(const char *uuid, const char *name,
                                const char *state, int64_t mem)
{
    struct api_value *r = api_struct(), *oc = api_struct();

    api_struct_add(r, "uuid", api_string(uuid));
    api_struct_add(r, "name_label", api_string(name));
    api_struct_add(r, "power_state", api_string(state));
    api_struct_add(r, "memory_static_max", api_int(mem));
    api_struct_add(oc, "xm:kernel", api_string("/boot/k"));
    api_struct_add(oc, "a", api_string("b"));
    api_struct_add(r, "other_config", oc);
    return r;
}

static void test_select_and_output(struct xt_ctx *xt)
{
    const char *a1[] = { "xm-pool", "vm-list", "power-state=Running" };
    const char *a2[] = { "xm-pool", "vm-start", "vm=web01" };
    const char *a3[] = { "xm-pool", "vm-list",
                         "memory-static-max=268435456", "name-label=db" };
    const struct pool_class *vm = pool_class_find("VM");
    struct api_value *r1 = vm_rec("11111111-1111-4111-8111-111111111111",
                                  "web01", "Running", 268435456);
    struct api_value *r2 = vm_rec("22222222-2222-4222-8222-222222222222",
                                  "db", "Halted", 268435456);
    const struct api_value *both[2] = { r1, r2 };
    static const char *const dflt[] = { "uuid", "name_label",
                                        "power_state", NULL };
    struct cli_ctx cli;
    struct cap c;
    const char *cmd;

    parse(&cli, xt, &cmd, 3, a1);
    tap_ok(cli_record_matches(&cli, vm, NULL, r1), "power-state=Running "
           "matches a running VM");
    tap_ok(!cli_record_matches(&cli, vm, NULL, r2), "... not a halted one");
    cli_ctx_clear(&cli);

    parse(&cli, xt, &cmd, 3, a2);
    tap_ok(cli_record_matches(&cli, vm, "vm", r1), "vm=NAME matches");
    tap_ok(!cli_record_matches(&cli, vm, "vm", r2), "vm=NAME excludes");
    cli_ctx_clear(&cli);
    a2[2] = "vm=22222222-2222-4222-8222-222222222222";
    parse(&cli, xt, &cmd, 3, a2);
    tap_ok(cli_record_matches(&cli, vm, "vm", r2), "vm=UUID matches");
    cli_ctx_clear(&cli);

    parse(&cli, xt, &cmd, 4, a3);
    tap_ok(cli_record_matches(&cli, vm, NULL, r2) &&
           !cli_record_matches(&cli, vm, NULL, r1),
           "int field and name-label selectors together");
    cli_ctx_clear(&cli);

    cli_ctx_init(&cli, xt);
    cap_start(&cli, &c);
    cli_print_minimal(&cli, both, 2);
    cap_end(&cli, &c);
    tap_is_str(c.out, "11111111-1111-4111-8111-111111111111,"
               "22222222-2222-4222-8222-222222222222\n",
               "--minimal: comma-separated uuids");
    cap_free(&c);

    cap_start(&cli, &c);
    cli_print_minimal(&cli, both, 0);
    cap_end(&cli, &c);
    tap_is_str(c.out, "\n", "--minimal with no match: empty line");
    cap_free(&c);

    cap_start(&cli, &c);
    cli_print_record(&cli, vm, r1, NULL, dflt);
    cap_end(&cli, &c);
    tap_is_str(c.out,
               "       uuid ( RO): 11111111-1111-4111-8111-111111111111\n"
               " name-label ( RW): web01\n"
               "power-state ( RO): Running\n\n",
               "record block as xe prints it");
    cap_free(&c);

    cap_start(&cli, &c);
    cli_print_record(&cli, vm, r1, "other-config,memory_static_max", dflt);
    cap_end(&cli, &c);
    tap_is_str(c.out,
               "memory-static-max ( RW): 268435456\n"
               "     other-config ( RW): xm:kernel: /boot/k; a: b\n\n",
               "params= chooses fields; maps as k: v; ...");
    cap_free(&c);

    cap_start(&cli, &c);
    cli_print_record(&cli, vm, r1, "all", dflt);
    cap_end(&cli, &c);
    tap_ok(strstr(c.out, "memory-static-max") && strstr(c.out, "uuid"),
           "params=all prints every field");
    cap_free(&c);
    cli_ctx_clear(&cli);
    api_value_free(r1);
    api_value_free(r2);
}

static void test_server_error(struct xt_ctx *xt)
{
    struct api_value *env = api_failure("VM_BAD_POWER_STATE", "OpaqueRef:1",
                                        "running", "halted", NULL);
    struct cli_ctx cli;
    struct cap c;

    cli_ctx_init(&cli, xt);
    cap_start(&cli, &c);
    tap_is_int(cli_server_error(&cli, env), -EREMOTEIO, "server error rc");
    cap_end(&cli, &c);
    tap_ok(strstr(c.err, "VM_BAD_POWER_STATE") &&
           strstr(c.err, "OpaqueRef:1") && strstr(c.err, "meaning: "),
           "code, parameters and meaning printed");
    diag_lines(c.err);
    tap_is_int(cli.status, CLI_EXIT_SERVER, "server exit status");
    cap_free(&c);
    cli_ctx_clear(&cli);
    api_value_free(env);
}

static void test_progress(void)
{
    struct api_value *t = api_struct(), *oc = api_struct();
    struct cli_progress p;
    char buf[256], sum[256];

    api_struct_add(t, "status", api_string("pending"));
    api_struct_add(t, "progress", api_double(0.42));
    api_struct_add(oc, "mig:bytes", api_string("1073741824"));
    api_struct_add(oc, "mig:rate", api_string("367001600"));
    api_struct_add(oc, "mig:round", api_string("3"));
    api_struct_add(oc, "mig:eta", api_string("2"));
    api_struct_add(t, "other_config", oc);
    cli_progress_from_task(t, &p);
    tap_ok(p.fraction > 0.41 && p.fraction < 0.43 && p.round == 3 &&
           p.bytes == 1073741824, "progress read from the task");
    tap_is_str(cli_progress_format(&p, false, 0, buf, sizeof(buf)),
               "progress:  42% sent=1.0 GiB rate=350.0 MiB/s round=3 eta=2s",
               "plain progress line");
    tap_is_str(cli_progress_format(&p, true, 80, buf, sizeof(buf)),
               "[############.................]  42%  1.0 GiB  "
               "350.0 MiB/s  round 3  ETA 2 s", "TTY progress bar");
    tap_ok(strlen(buf) <= 80, "bar fits 80 columns (%zu)", strlen(buf));
    api_value_free(t);

    t = api_struct();
    cli_progress_from_task(t, &p);
    tap_is_str(cli_progress_format(&p, false, 0, buf, sizeof(buf)),
               "progress: ?", "nothing known: says so");
    api_value_free(t);

    tap_is_str(cli_migrate_summary("web01", "h2",
               "{\"total_ms\": 1234, \"guest_downtime_ms\": 4.5, "
               "\"downtime_ms\": 9}", sum, sizeof(sum)),
               "migrated web01 to h2 in 1.23 s, guest-observed downtime "
               "4.5 ms", "summary line");
    tap_is_str(cli_migrate_summary("web01", "h2",
               "{\"total_ms\":800,\"downtime_ms\":7}", sum, sizeof(sum)),
               "migrated web01 to h2 in 0.80 s, downtime 7 ms",
               "summary without guest-observed downtime");
    tap_is_str(cli_migrate_summary("web01", "h2", NULL, sum, sizeof(sum)),
               "migrated web01 to h2", "summary without stats");
}

int main(void)
{
    struct xt_ctx *xt = xt_ctx_new("test_cli");

    xt->quiet_errors = true;
    api_init();
    test_argv(xt);
    test_argv_errors(xt);
    test_rc_file(xt);
    test_suggest();
    test_keys(xt);
    test_select_and_output(xt);
    test_server_error(xt);
    test_progress();
    api_fini();
    xt_ctx_free(xt);
    return tap_done();
}
