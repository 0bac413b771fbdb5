/*
 * cli_task.c - the task commands (task-list, task-cancel) and waiting for
 * a task: event.from when the server has it, else task.get_record every
 * 200 ms.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "cli.h"

static const char *const task_dflt[] = {
    "uuid", "name_label", "status", "progress", NULL
};

int cli_task_list(struct cli_ctx *cli)
{
    return cli_list(cli, "task", task_dflt);
}

static int one_ref_call(struct cli_ctx *cli, const char *method,
                        const char *arg, struct api_value **v_r)
{
    struct api_value *params = api_array();
    int rc = api_array_append(params, api_string(arg));

    if (rc) {
        api_value_free(params);
        return rc;
    }
    return cli_rpc_call(cli, method, params, v_r);
}

int cli_task_cancel(struct cli_ctx *cli)
{
    const char *uuid = cli_arg(cli, "uuid");
    struct api_value *ref = NULL, *v = NULL;
    int rc;

    if (!uuid)
        return cli_usage_error(cli, "task-cancel needs uuid=");
    rc = one_ref_call(cli, "task.get_by_uuid", uuid, &ref);
    if (!rc)
        rc = one_ref_call(cli, "task.cancel", api_value_string(ref) ?: "",
                          &v);
    api_value_free(ref);
    api_value_free(v);
    return rc;
}

static unsigned term_width(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

/* Waits for a change of a task with event.from; -ENOTSUP when the server
 * cannot (the caller polls then). */
static int wait_event(struct cli_ctx *cli, char **token)
{
    struct api_value *params = api_array(), *classes = api_array();
    struct api_value *env = NULL;
    const struct api_value *v, *t;
    int rc;

    rc = api_array_append(classes, api_string("task"));
    if (!rc) {
        rc = api_array_append(params, classes);
        classes = NULL;
    }
    if (!rc)
        rc = api_array_append(params, api_string(*token ? *token : ""));
    if (!rc)
        rc = api_array_append(params, api_double(1.0));
    api_value_free(classes);
    if (rc) {
        api_value_free(params);
        return rc;
    }
    rc = cli_rpc_call_env(cli, "event.from", params, &env);
    if (rc)
        return rc;
    if (!api_is_success(env)) {
        api_value_free(env);
        return -ENOTSUP;
    }
    v = api_struct_get(env, "Value");
    t = v ? api_struct_get(v, "token") : NULL;
    if (t && api_value_string(t)) {
        free(*token);
        *token = strdup(api_value_string(t));
    }
    api_value_free(env);
    return 0;
}

/* Shows a task's progress line and fn's lines under it (fn NULL: none):
 * redrawn in place on a terminal (*drawn_r the lines it drew), else
 * printed when they changed from last. */
static void show_task(struct cli_ctx *cli, const struct api_value *rec,
                      cli_task_lines_fn fn, char *last, size_t lsize,
                      unsigned *drawn_r)
{
    char line[256], more[4096] = "", block[4400];
    struct cli_progress p;
    unsigned n = 1, i;
    const char *c;
    size_t l;

    cli_progress_from_task(rec, &p);
    cli_progress_format(&p, cli->tty, cli->tty ? term_width() : 0, line,
                        sizeof(line));
    if (fn)
        fn(cli, rec, more, sizeof(more));
    if (!cli->tty) {
        snprintf(block, sizeof(block), "%s\n%s", line, more);
        if (strcmp(block, last))
            fputs(block, cli->out);
        snprintf(last, lsize, "%s", block);
        fflush(cli->out);
        return;
    }
    /* Back to the block's first line, then each line cleared after it;
     * lines it drew before and no longer has are cleared too. */
    if (*drawn_r > 1)
        fprintf(cli->out, "\033[%uA", *drawn_r - 1);
    fprintf(cli->out, "\r%s\033[K", line);
    for (c = more; *c; c += l + (c[l] == '\n'), n++) {
        l = strcspn(c, "\n");
        fprintf(cli->out, "\n%.*s\033[K", (int)l, c);
    }
    for (i = n; i < *drawn_r; i++)
        fputs("\n\033[K", cli->out);
    if (*drawn_r > n)
        fprintf(cli->out, "\033[%uA", *drawn_r - n);
    *drawn_r = n;               /* the cursor is on the block's last line */
    fflush(cli->out);
}

/* rec (a task record) with its result as the value it holds: XAPI keeps
 * an Async call's answer as XML-RPC text, <value>...</value>, or "". */
static struct api_value *decode_result(struct cli_ctx *cli,
                                       struct api_value *rec)
{
    const char *res = api_value_string(api_struct_get(rec, "result"));
    struct api_value *out, *v = NULL;
    size_t i;

    if (!res || !*res ||
        api_xmlrpc_parse_value(cli->xt, res, strlen(res), NULL, &v) < 0) {
        cli->xt->err_rc = 0;
        return rec;             /* "" (void), or kept as it came */
    }
    out = api_struct();
    for (i = 0; out && i < api_value_count(rec); i++) {
        const char *k = api_struct_key(rec, i);

        if (api_struct_add_new(out, k, strcmp(k, "result") ?
                               api_value_copy(api_struct_value(rec, i)) :
                               api_value_copy(v)) < 0) {
            api_value_free(out);
            out = NULL;
        }
    }
    api_value_free(v);
    if (!out)
        return rec;
    api_value_free(rec);
    return out;
}

static int task_wait(struct cli_ctx *cli, const char *ref, bool show,
                     cli_task_lines_fn fn, struct api_value **rec_r)
{
    struct api_value *rec = NULL;
    char *token = NULL, last[4400] = "";
    bool events = true;
    unsigned drawn = 0;
    int rc;

    *rec_r = NULL;
    for (;;) {
        const char *status;

        rc = one_ref_call(cli, "task.get_record", ref, &rec);
        if (rc)
            break;
        status = api_value_string(api_struct_get(rec, "status")) ?: "";
        if (show)
            show_task(cli, rec, fn, last, sizeof(last), &drawn);
        if (strcmp(status, "pending") && strcmp(status, "cancelling"))
            break;
        api_value_free(rec);
        rec = NULL;
        if (events) {
            rc = wait_event(cli, &token);
            if (rc == -ENOTSUP)
                events = false;
            else if (rc)
                break;
        }
        if (!events) {
            struct timespec ts = { 0, 200 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    if (drawn)
        fputc('\n', cli->out);
    free(token);
    if (rc) {
        api_value_free(rec);
        return rc;
    }
    *rec_r = decode_result(cli, rec);
    return 0;
}

int cli_task_wait(struct cli_ctx *cli, const char *ref, bool show,
                  struct api_value **rec_r)
{
    return task_wait(cli, ref, show, NULL, rec_r);
}

int cli_task_watch(struct cli_ctx *cli, const char *ref,
                   cli_task_lines_fn fn, struct api_value **rec_r)
{
    return task_wait(cli, ref, true, fn, rec_r);
}
