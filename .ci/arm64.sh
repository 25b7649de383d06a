#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: cross-builds needlegate for arm64 (the Pi), runs the unit suite under qemu-user, builds the arm64 .deb.
# Run as root on Debian 12. Installs Debian's cross toolchain and the :arm64 -dev packages (multiarch).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
bdir=build-arm64
out=build-ci-deb/arm64

step() { echo "== arm64.sh: $* ($(($(date +%s) - start)) s)"; }

step "installing the cross toolchain, arm64 libraries and qemu-user"
dpkg --add-architecture arm64
timeout 180 apt-get update -q >/dev/null
# This may upgrade some amd64 libraries to the archive's current versions:
# both architectures of a multiarch library must be the same version.
timeout 300 apt-get install -y -q --no-install-recommends crossbuild-essential-arm64 qemu-user \
	libglib2.0-dev:arm64 libjson-glib-dev:arm64 libpaho-mqtt-dev:arm64 libsqlite3-dev:arm64 \
	libsystemd-dev:arm64 libbluetooth-dev:arm64 \
	dpkg-dev debhelper dh-sequence-installsysusers >/dev/null

step "cross-building with meson (deploy/cross/arm64.ini)"
rm -rf "$bdir"
log="$(mktemp /tmp/needlegate-arm64-setup.XXXXXX)"
timeout 300 meson setup "$bdir" --cross-file deploy/cross/arm64.ini -Dfuzzing=disabled -Dwerror=true \
	>"$log" 2>&1 ||
	{ tail -30 "$log"; exit 1; }
grep -E 'Host machine cpu|exe_wrapper|Program .*qemu' "$log" || true
timeout 900 meson compile -C "$bdir" >"$log" 2>&1 || { tail -60 "$log"; exit 1; }
rm -f "$log"
ctl="$(find "$bdir" -name needlectl -type f -perm -u+x -print -quit)"
machine="$(readelf -h "$ctl" | sed -n 's/ *Machine: *//p')"
echo "arm64.sh: needlectl is built for: $machine"
[[ "$machine" == AArch64 ]] || { echo "arm64.sh: FAIL: not an AArch64 binary"; exit 1; }

step "running the unit suite under qemu-aarch64"
# Each test has its meson timeout (meson kills its process group); this outer
# bound catches a hung meson itself. A spinning qemu ignores SIGTERM: KILL.
timeout -s KILL 600 meson test -C "$bdir" --suite unit --print-errorlogs --timeout-multiplier 4

step "building the arm64 package"
timeout 300 apt-get build-dep -y -q -a arm64 -P cross ./deploy >/dev/null
rm -rf "$out"
# The package build runs the unit suite under qemu again, inside its own
# build tree, as a Debian cross-builder with qemu would.
log="$(mktemp /tmp/needlegate-package-arm64.XXXXXX)"
if ! timeout -s KILL 900 deploy/build-deb.sh --arch arm64 "$out" >"$log" 2>&1; then
	tail -80 "$log"
	echo "arm64.sh: FAIL: the arm64 package build failed (last 80 lines above)"
	exit 1
fi
grep -E '^ *[0-9]+/[0-9]+ needlegate:|^(Ok|Fail|Timeout):' "$log" || true
rm -f "$log"
deploy/check-deb.sh "$(ls "$out"/needlegate_*_arm64.deb)" arm64
step "done: arm64 build, unit tests under emulation and package"
