/*
 * hv_disk_test.h - what the hv-level disk tests (test_hv_hotplug.c,
 * test_hv_retarget.c) share: nbdkit exports as children, and a probe of
 * whether an export lets another client in.
 */
#ifndef TEST_HV_DISK_TEST_H
#define TEST_HV_DISK_TEST_H

#include <libnbd.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xt.h"
#include "../../tap.h"

/* nbdkit PLUGIN ARG on the unix socket sock, one client at a time, our
 * child (it exits with us); its pid once it serves, -1 if it did not. */
static inline pid_t start_nbdkit(const char *sock, const char *plugin,
                                 const char *arg)
{
    struct stat st;
    pid_t pid = fork();
    int i;

    if (pid < 0)
        tap_bail("fork");
    if (pid == 0) {
        execlp("nbdkit", "nbdkit", "-f", "--exit-with-parent", "-U", sock,
               "--filter=limit", plugin, arg, "limit=1", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 500; i++) {
        if (stat(sock, &st) == 0)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(10000);
    }
    return -1;
}

/* Can another client get at the export (within ms)? */
static inline bool export_free(const char *uri, int ms)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)ms * 1000000;

    do {
        struct nbd_handle *n = nbd_create();
        bool ok = n && nbd_connect_uri(n, uri) == 0;

        if (ok)
            nbd_shutdown(n, 0);
        if (n)
            nbd_close(n);
        if (ok)
            return true;
        if (ms)
            usleep(10000);
    } while (xt_now_ns() < t_end);
    return false;
}

#endif /* TEST_HV_DISK_TEST_H */
