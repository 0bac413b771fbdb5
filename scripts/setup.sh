#!/bin/bash
# scripts/setup.sh - set up xm-pool on Debian 12: install the Debian packages
# the build, the tests and the demo need (as root, idempotent), then
# autoreconf, configure and build out of tree.
#
#   scripts/setup.sh            build in build/
#   scripts/setup.sh --asan     build in build-asan/ with AddressSanitizer +
#                               UndefinedBehaviorSanitizer
#   scripts/setup.sh --tsan     build in build-tsan/ with ThreadSanitizer
#   scripts/setup.sh --bench    the same packages (QEMU, which the tests
#                               also boot the guest under, is in the list)
#   scripts/setup.sh --xen      also install what the Xen test lane needs
#                               (debootstrap, cpio)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

asan=no
tsan=no
bench=no
xen=no
for arg in "$@"; do
    case "$arg" in
    --asan) asan=yes ;;
    --tsan) tsan=yes ;;
    --bench) bench=yes ;;
    --xen) xen=yes ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

# Every package, by Debian name: keep this list the single source of truth.
packages=(
    build-essential autoconf automake libtool pkg-config binutils make
    python3 procps iproute2
    zlib1g-dev libzstd-dev libxxhash-dev
    libxen-dev
    libxml2-dev libjson-c-dev libsqlite3-dev
    libmicrohttpd-dev libgnutls28-dev libcurl4-gnutls-dev libcrypt-dev
    linux-libc-dev
    nbdkit nbdkit-plugin-dev libnbd-bin libnbd-dev qemu-utils
    qemu-system-x86 fio openssl
    nodejs
)
# npm, for the test with a JavaScript XenAPI client (tests/interop/): only
# where no npm is found, as a nodejs from elsewhere (nodesource's) bundles
# its own and Debian's npm would conflict with it.
command -v npm >/dev/null || packages+=(npm)
[ "$xen" = yes ] && packages+=(debootstrap cpio e2fsprogs gzip)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: missing Debian packages: ${missing[*]}" >&2
        echo "setup.sh: run this script as root to install them" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] ||
        [ -n "$(find . -name local.mk -newer configure -print -quit)" ] ||
        [ Makefile.am -nt configure ]; then
    autoreconf -fi >/dev/null
fi

if [ "$asan" = yes ]; then
    dir=build-asan
    cflags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
-fno-sanitize-recover=undefined"
elif [ "$tsan" = yes ]; then
    dir=build-tsan
    cflags="-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
else
    dir=build
    cflags="-O2 -g"
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ ../configure -nt config.status ]; then
    ../configure -q CFLAGS="$cflags" LDFLAGS="${cflags/-O[12] -g/}"
fi
make -s -j"$(nproc)" >/dev/null
# The same daemon one version newer: what the demo's rolling upgrade
# installs (and the suite's test of it).
make -s tests/pool/xm-poold-next >/dev/null
echo "setup.sh: built in $top/$dir"
