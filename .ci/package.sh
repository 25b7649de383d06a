#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: builds the amd64 .deb, checks what it holds, installs it and checks what its postinst did.
# Run as root on Debian 12 (CI is a fresh machine). Output: build-ci-deb/*.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
out=build-ci-deb/amd64

step() { echo "== package.sh: $* ($(($(date +%s) - start)) s)"; }

step "installing build dependencies"
timeout 120 apt-get update -q >/dev/null
timeout 300 apt-get install -y -q --no-install-recommends dpkg-dev debhelper dh-sequence-installsysusers \
	>/dev/null
timeout 300 apt-get build-dep -y -q ./deploy >/dev/null

step "building the package"
rm -rf "$out"
log="$(mktemp /tmp/needlegate-package.XXXXXX)"
if ! timeout 600 deploy/build-deb.sh "$out" >"$log" 2>&1; then
	tail -80 "$log"
	echo "package.sh: FAIL: the package build failed (last 80 lines above)"
	exit 1
fi
# The unit suite ran inside the package build: show its verdicts.
grep -E '^ *[0-9]+/[0-9]+ needlegate:|^(Ok|Fail|Timeout):' "$log" || true
rm -f "$log"
deb="$(ls "$out"/needlegate_*_amd64.deb)"

step "checking the contents of $deb"
deploy/check-deb.sh "$deb" amd64

step "installing the package"
# What an admin does on a Pi. Without a running systemd the postinst still
# creates the user and enables the unit (symlinks), it only does not start it.
trap 'apt-get purge -y -q needlegate >/dev/null 2>&1 || true' EXIT
timeout 300 apt-get install -y -q "./$deb" >/dev/null
problems=0
expect() { if ! eval "$1"; then echo "package.sh: FAIL: $2"; problems=$((problems + 1)); fi; }
expect 'getent passwd needlegate >/dev/null' "no needlegate user"
expect 'getent group needlegate >/dev/null' "no needlegate group"
expect '[[ -L /etc/systemd/system/multi-user.target.wants/needlegated.service ]]' \
	"needlegated.service not enabled"
expect '[[ "$(stat -c %U:%a /var/lib/needlegate)" == needlegate:750 ]]' \
	"/var/lib/needlegate not needlegate:750 ($(stat -c %U:%a /var/lib/needlegate 2>&1))"
expect '[[ -x /usr/sbin/needlegated ]]' "no /usr/sbin/needlegated"
expect '/usr/bin/needlectl --help >/dev/null' "needlectl --help fails"

step "purging the package"
trap - EXIT
timeout 300 apt-get purge -y -q needlegate >/dev/null
expect '[[ ! -e /usr/sbin/needlegated ]]' "purge left /usr/sbin/needlegated"
expect '[[ ! -e /var/lib/needlegate && ! -e /etc/needlegate ]]' \
	"purge left /var/lib/needlegate or /etc/needlegate"
expect '[[ ! -e /etc/systemd/system/multi-user.target.wants/needlegated.service ]]' \
	"purge left the unit enabled"
if [[ $problems -ne 0 ]]; then
	echo "package.sh: FAIL: $problems problem(s) after install or purge"
	exit 1
fi
step "done: package built, checked, installed and purged"
