#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs, from Debian's archive, what needlegate needs to build and run its demo (--demo) or, by
# default, to build and run its tests. Any architecture (amd64, a Raspberry Pi's arm64).
#
#   sudo bash .ci/install-deps.sh [--demo]
#
# The real-bluetoothd guest tests (tests/realbluez/, amd64) have their own list:
# .ci/realbluez-deps.sh, which tests/run-tests.sh and CI run as well.
# It installs packages and nothing else: it never starts, stops or disables a service (a hub's own
# Mosquitto keeps running; the tests and the demo start private brokers on free loopback ports).
set -euo pipefail

# Build needlegate and run the demo: simulated pens, a private bus and broker, the gateway.
packages=(
	meson ninja-build pkg-config gcc
	libglib2.0-dev libglib2.0-bin libjson-glib-dev libpaho-mqtt-dev libsqlite3-dev libsystemd-dev
	dbus-daemon dbus-bin mosquitto
	python3 python3-paho-mqtt python3-gi gir1.2-glib-2.0
	openssl util-linux procps systemd
)
case "${1:-}" in
--demo) ;;
"")
	# The tests also need the fuzzers' and the formatter's clang, BlueZ's tools and headers, ...
	packages+=(
		clang libclang-rt-14-dev clang-format libbluetooth-dev
		bluez mosquitto-clients python3-dbus iproute2
		python3-docutils man-db groff-base python3-jsonschema python3-yaml
		chromium
	)
	# The web dashboard's build, its browser test and the AsyncAPI check need node and npm: a
	# machine that has them from elsewhere (NodeSource's nodejs, which carries npm) keeps them.
	command -v node >/dev/null || packages+=(nodejs)
	command -v npm >/dev/null || packages+=(npm)
	;;
*)
	echo "usage: $0 [--demo]" >&2
	exit 2
	;;
esac

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
