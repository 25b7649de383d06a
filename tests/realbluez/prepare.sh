#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Prepares the guest of the real-bluetoothd tests: Debian's kernel and a busybox initramfs, cached.
#
#   bash tests/realbluez/prepare.sh BUILDDIR
#
# Everything lands in BUILDDIR/realbluez/: kernel/ (the unpacked linux-image .deb, depmod'ed), initramfs.img,
# and prepared.env (the paths run-guest.sh reads). A re-run with nothing changed only checks the stamp.
set -euo pipefail

die() {
	echo "realbluez/prepare: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: prepare.sh BUILDDIR"
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1/realbluez" && cd "$1/realbluez" && pwd)

for tool in busybox depmod modprobe dpkg gzip; do
	command -v "$tool" >/dev/null || die "'$tool' is missing: run .ci/realbluez-deps.sh as root"
done
busybox_bin=/bin/busybox
# Debian's dynamically linked busybox cannot run in an initramfs that has no libc; busybox-static's can.
if LC_ALL=C ldd "$busybox_bin" >/dev/null 2>&1; then
	die "$busybox_bin is dynamically linked: install busybox-static (.ci/realbluez-deps.sh)"
fi

# The kernel: a cached unpack wins, so that a re-run needs neither apt nor the network.
kroot=$out/kernel
if ! compgen -G "$kroot/boot/vmlinuz-*" >/dev/null; then
	# The metapackage names the current ABI (linux-image-6.1.0-N-amd64), so no version is hard-coded here.
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "apt-cache does not know linux-image-amd64: run 'apt-get update' first"
	dl=$out/download
	rm -rf "$dl" "$kroot.tmp"
	mkdir -p "$dl"
	echo "realbluez/prepare: downloading $pkg"
	# The sandbox user _apt cannot write into a build folder owned by someone else; that is only a warning.
	(cd "$dl" && { apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; })
	deb=$(compgen -G "$dl/${pkg}_*.deb" | head -n 1) || true
	if [ -z "$deb" ] || [ ! -f "$deb" ]; then
		die "apt-get download $pkg produced no .deb in $dl"
	fi
	dpkg -x "$deb" "$kroot.tmp"
	mv "$kroot.tmp" "$kroot"
	rm -rf "$dl"
fi
vmlinuz=$(compgen -G "$kroot/boot/vmlinuz-*" | head -n 1)
kver=${vmlinuz##*/vmlinuz-}
[ -d "$kroot/lib/modules/$kver" ] || die "no modules for $kver under $kroot/lib/modules"
[ -f "$kroot/lib/modules/$kver/modules.dep.bin" ] || depmod -b "$kroot" "$kver"

# The initramfs is rebuilt when its inputs change: the init script, busybox, the kernel.
stamp_in=$(cat "$here/initramfs-init.sh" "$0" | sha256sum | cut -c1-16)-$kver-$(stat -c %s "$busybox_bin")
if [ -f "$out/initramfs.img" ] && [ -f "$out/prepared.env" ] &&
	[ "$(cat "$out/initramfs.stamp" 2>/dev/null)" = "$stamp_in" ]; then
	exit 0
fi

stage=$out/initramfs.d
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,lower,upper,newroot,modules}
cp "$busybox_bin" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/initramfs-init.sh" "$stage/init"
chmod 755 "$stage/init"

# Only what mounting the root needs goes into the initramfs; the guest loads the rest from the 9p root later.
# modprobe --show-depends prints the insmod lines in load order, dependencies first.
: >"$stage/modules/order"
for mod in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$mod" | while read -r verb path _; do
		[ "$verb" = insmod ] || continue
		name=${path##*/}
		grep -qx "$name" "$stage/modules/order" && continue
		cp "$path" "$stage/modules/$name"
		echo "$name" >>"$stage/modules/order"
	done
done
[ -s "$stage/modules/order" ] || die "modprobe resolved no module for the initramfs"

(cd "$stage" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) |
	gzip -1 >"$out/initramfs.img.tmp"
mv "$out/initramfs.img.tmp" "$out/initramfs.img"
rm -rf "$stage"

cat >"$out/prepared.env" <<EOF
RBZ_KVER=$kver
RBZ_KERNEL=$vmlinuz
RBZ_INITRAMFS=$out/initramfs.img
RBZ_MODULES=$kroot/lib/modules/$kver
EOF
echo "$stamp_in" >"$out/initramfs.stamp"
echo "realbluez/prepare: kernel $kver and initramfs ready in $out"
