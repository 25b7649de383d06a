#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, from Debian's archive, everything needlegate needs to build, test and run its demo.
set -euo pipefail

packages=(
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	libglib2.0-dev libglib2.0-bin libjson-glib-dev libpaho-mqtt-dev libsqlite3-dev libsystemd-dev
	libbluetooth-dev
	dbus-daemon dbus-bin bluez mosquitto mosquitto-clients
	python3 python3-paho-mqtt python3-gi python3-dbus gir1.2-glib-2.0
	openssl util-linux procps iproute2 clang-format systemd
)

# The real-bluetoothd guest tests (tests/realbluez/) have their own list.
bash "$(dirname "$0")/realbluez-deps.sh"

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "needlegate: these Debian packages are missing: ${missing[*]}" >&2
	echo "needlegate: run this as root (sudo) so that apt-get can install them" >&2
	exit 1
fi
echo "needlegate: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The broker is started by the tests and the demo on loopback ports of their own.
systemctl disable --now mosquitto >/dev/null 2>&1 || true
