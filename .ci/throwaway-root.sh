#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a command as root in a throw-away copy of this machine: an overlay whose lower layer is the
# root file system (never written) and whose upper layer is a tmpfs, chrooted to, in a mount
# namespace of its own. Whatever the command installs, purges or writes (/etc, /var, the dpkg
# database) is gone when it ends; this machine's files and services are not touched. Nothing runs
# as init inside (no /run/systemd, a policy-rc.d that says no): maintainer scripts start nothing.
#
#   .ci/throwaway-root.sh --check                    # exit 0 if a throw-away root can be made here
#   .ci/throwaway-root.sh [--copy FILE]... -- COMMAND [ARG...]
#
# Each FILE is copied into /tmp/throwaway/ inside. Needs root and mount namespaces (unshare(1)):
# a VM or a privileged container. Only the root file system is seen: other mounts (/home, ...)
# show as the empty folders under them, so copy in what the command needs.
set -euo pipefail

die() {
	echo "throwaway-root.sh: $*" >&2
	exit 1
}

if [[ "${1:-}" != --inside ]]; then
	[[ "$(id -u)" -eq 0 ]] || die "must run as root"
	tmp="$(mktemp -d /tmp/needlegate-throwaway.XXXXXX)"
	# The mounts live in the namespace and vanish with it: only the empty folder is left here.
	trap 'rmdir "$tmp" 2>/dev/null || true' EXIT
	status=0
	unshare --mount --propagation private -- bash "$0" --inside "$tmp" "$@" || status=$?
	exit $status
fi

# ---- inside the private mount namespace -----------------------------------------------------
tmp="$2"
shift 2
check=false
copies=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--check) check=true ;;
	--copy)
		copies+=("$2")
		shift
		;;
	--)
		shift
		break
		;;
	*) die "unknown option $1" ;;
	esac
	shift
done
$check || [[ $# -gt 0 ]] || die "usage: $0 [--copy FILE]... -- COMMAND [ARG...]"

mount -t tmpfs -o mode=0755 needlegate-throwaway "$tmp"
mkdir "$tmp/upper" "$tmp/work" "$tmp/root"
root="$tmp/root"
mount -t overlay -o "lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work" needlegate-throwaway "$root"
# Never go on in anything but the overlay just made.
[[ "$(findmnt -n -o FSTYPE,SOURCE --mountpoint "$root")" == "overlay needlegate-throwaway" ]] ||
	die "$root is not the throw-away overlay"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$root/dev"
for dev in null zero full random urandom; do
	touch "$root/dev/$dev"
	mount --bind "/dev/$dev" "$root/dev/$dev"
done
ln -s /proc/self/fd "$root/dev/fd"
# Pseudo-terminals of its own (apt logs through one).
mkdir "$root/dev/pts"
if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts" 2>/dev/null; then
	ln -s pts/ptmx "$root/dev/ptmx"
fi
printf '#!/bin/sh\n# throw-away root: no service starts here\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# For apt's downloads (the host's may be a link into /run or a file mounted over the root's).
rm -f "$root/etc/resolv.conf"
cat /etc/resolv.conf >"$root/etc/resolv.conf" 2>/dev/null || true
if $check; then
	chroot "$root" /bin/true || die "cannot run programs in the throw-away root"
	echo "throwaway-root.sh: a throw-away root works here"
	exit 0
fi
mkdir "$root/tmp/throwaway"
for f in "${copies[@]}"; do
	cp -- "$f" "$root/tmp/throwaway/"
done
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive NEEDLEGATE_THROWAWAY_ROOT=1 "$@"
