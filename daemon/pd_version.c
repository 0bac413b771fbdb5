/*
 * pd_version.c - the version this xm-poold says it is (host_local.hello,
 * the host's software_version): the package's, or one newer for the
 * rolling upgrade's test build (XM_POOLD_NEXT, tests/pool/xm-poold-next).
 */
#include "config.h"

#include "pd_xenapi.h"

#ifdef XM_POOLD_NEXT
#define XM_POOLD_VERSION PACKAGE_VERSION ".1"
#else
#define XM_POOLD_VERSION PACKAGE_VERSION
#endif

const char *xa_version(void)
{
    return XM_POOLD_VERSION;
}
