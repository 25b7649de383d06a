#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, from Debian's archive, what the real-bluetoothd guest tests (tests/realbluez/) need on the host.
#
# The guest kernel itself is not installed: tests/realbluez/prepare.sh fetches it with `apt-get download`
# into the build folder, so only the package lists must know linux-image-amd64.
# Run by tests/run-tests.sh and CI, never by the demo. It never starts, stops or disables a service:
# the guest runs its own Mosquitto, and the host's tests use private brokers on free ports.
set -euo pipefail

packages=(
	qemu-system-x86 busybox-static kmod
	bluez bluez-test-tools dbus-daemon dbus-bin mosquitto
	python3 python3-dbus python3-gi gir1.2-glib-2.0 iproute2
	# realbluez-systemd: the guest boots the host's systemd and installs the .deb with apt, offline, so
	# what the package depends on or recommends must be there already (its build dependencies are).
	systemd mosquitto-clients bash-completion
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
lists_know_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null | grep -q 'Depends: linux-image-[0-9]'
}
if [ ${#missing[@]} -eq 0 ] && lists_know_kernel; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "needlegate: the realbluez tests need these Debian packages: ${missing[*]:-(none)}" >&2
	echo "needlegate: and package lists that know linux-image-amd64; run this as root (sudo)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
	echo "needlegate: installing ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
lists_know_kernel || { echo "needlegate: apt-cache still does not know linux-image-amd64" >&2; exit 1; }
