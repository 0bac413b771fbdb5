#!/bin/bash
# tests/xen/image.sh - build (or find in the cache) the dom0 image of the
# Xen test lane, from Debian packages only.
#
#   tests/xen/image.sh            prints the image directory on stdout
#
# The image directory holds:
#   rootfs.ext4   dom0's root filesystem (debootstrap of bookworm with Xen
#                 4.17, Debian's kernel and the libraries our binaries use)
#   xen           the hypervisor, gunzipped (QEMU's -kernel wants an ELF)
#   vmlinuz       Debian's kernel: dom0 (PV) and the test domUs (PV, PVH)
#   initrd.img    Debian's initramfs for that kernel (dom0 needs it to
#                 reach virtio_blk)
#
# Nothing of ours is in the image except the few lines of /xm-lane-init
# (below), which mount the 9p share and hand over to the share's
# dom0-run.sh: our binaries and test scripts come through the share, so a
# code change needs no new image.  The image is cached under
# $XM_XEN_CACHE (default /var/cache/xm-pool/xen-lane), keyed by a hash of
# this script, so it is rebuilt only when its inputs (package list, init,
# suite, mirror) change.  Needs root (debootstrap, mkfs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${XM_XEN_CACHE:-/var/cache/xm-pool/xen-lane}
suite=bookworm

# The mirror apt itself uses (CI machines reach only Debian's registry).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
         grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' \
                             /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

packages=xen-utils-4.17,xen-hypervisor-4.17-amd64,linux-image-amd64
packages+=,libxenstore4,kmod,procps,iproute2,udev,busybox
packages+=,zlib1g,libzstd1,libxxhash0,liblzma5,libgnutls30
# xm-poold and xm-pool (case 80: the pool's own migration)
packages+=,libsqlite3-0,libmicrohttpd12,libcurl3-gnutls,libxml2,libssl3

key=$( (cat "$0"; echo "$mirror") | sha256sum | cut -c1-16)
dir=$cache/$key
if [ -f "$dir/done" ]; then
    echo "$dir"
    exit 0
fi

for tool in debootstrap mkfs.ext4; do
    command -v "$tool" >/dev/null || {
        echo "image.sh: $tool missing: run scripts/setup.sh --xen" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "image.sh: needs root (debootstrap)" >&2; exit 1; }

# One image at a time: older ones are 3 GiB each.
for old in "$cache"/*/; do
    [ -d "$old" ] && [ "${old%/}" != "$dir" ] && rm -rf "$old"
done
mkdir -p "$dir"
root=$dir/root
echo "image.sh: debootstrap $suite from $mirror into $root (a few minutes)" >&2
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" \
        "$mirror" >"$dir/debootstrap.log" 2>&1; then
    echo "image.sh: debootstrap failed; last lines of $dir/debootstrap.log:" >&2
    tail -n 20 "$dir/debootstrap.log" >&2
    exit 1
fi

# The one file of ours in the image: mount what the share needs and run
# the share's dom0-run.sh (PID 1 must never exit: power off instead).
cat >"$root/xm-lane-init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /mnt/share
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
for m in virtio_pci 9pnet 9pnet_virtio 9p; do modprobe "$m"; done
i=0
until mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share; do
    i=$((i + 1))
    [ $i -ge 20 ] && break
    sleep 0.5
done
if [ -x /mnt/share/dom0-run.sh ]; then
    /mnt/share/dom0-run.sh
else
    echo "xm-lane-init: the 9p share or its dom0-run.sh is missing" >&2
    ls /sys/bus/virtio/devices >&2
    dmesg | tail -n 30 >&2
fi
sync
echo o >/proc/sysrq-trigger
sleep 60
INIT
chmod 755 "$root/xm-lane-init"
echo xm-lane-dom0 >"$root/etc/hostname"

cp "$root"/boot/vmlinuz-* "$dir/vmlinuz"
cp "$root"/boot/initrd.img-* "$dir/initrd.img"
gzip -dc "$root"/boot/xen-4.17-amd64.gz >"$dir/xen"
# Kernels and Xen are read from the image directory; keep them out of
# the root filesystem's size budget only by not duplicating anything else.
mkfs.ext4 -q -F -L xm-dom0 -d "$root" "$dir/rootfs.ext4" 3G >&2
rm -rf "$root"
touch "$dir/done"
echo "$dir"
