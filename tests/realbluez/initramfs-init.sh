#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest's /init (busybox): mounts the host's / over 9p under a tmpfs overlay, then switch_roots.
#
# Reads from the kernel command line: rbz_init= (the program to run as PID 1 in the new root).
# The host exports two 9p tags: "hostroot" (/, read-only) and "results" (writable).
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "realbluez initramfs: $*"
	# PID 1 exiting panics the kernel; with panic=-1 and -no-reboot QEMU then exits at once.
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r mod; do
	insmod "/modules/$mod" || fail "insmod $mod failed"
done </modules/order

rbz_init=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	rbz_init=*) rbz_init=${arg#rbz_init=} ;;
	esac
done
[ -n "$rbz_init" ] || fail "no rbz_init= on the kernel command line"

# cache=loose: the lower layer never changes while the guest runs, and TCG makes every 9p round trip dear.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro hostroot /lower ||
	fail "cannot mount the host root (9p tag hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work /newroot ||
	fail "cannot mount the overlay root"
mkdir -p /newroot/rbz-results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 results /newroot/rbz-results ||
	fail "cannot mount the results share (9p tag results)"

for fs in dev proc sys; do
	mount --move "/$fs" "/newroot/$fs" || fail "cannot move /$fs into the new root"
done
exec switch_root /newroot "$rbz_init"
