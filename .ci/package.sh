#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: builds the amd64 .deb, checks what it holds, then installs and purges it in a throw-away root
# (an overlay of / on a tmpfs, .ci/throwaway-root.sh) and checks what its postinst and purge did.
# It never installs or purges the package on the machine it runs on (it does install the build
# dependencies). Run as root on Debian 12. Output: build-ci-deb/amd64/*.deb.
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

step "installing and purging the package in a throw-away root"
# Never on this machine: a hub that builds its own package keeps its /etc/needlegate and
# /var/lib/needlegate. The root is an overlay of this machine's / on a tmpfs (.ci/throwaway-root.sh).
if ! bash .ci/throwaway-root.sh --check >/dev/null; then
	if [[ "${CI:-}" == true ]]; then
		echo "package.sh: FAIL: no throw-away root here (root and mount namespaces needed):"
		echo "package.sh: FAIL: the package's install and purge were not checked"
		exit 1
	fi
	echo "package.sh: no throw-away root here (root and mount namespaces needed):"
	echo "package.sh: SKIPPED the install and purge check; the package is in $out"
	exit 0
fi
timeout 900 bash .ci/throwaway-root.sh --copy "$deb" --copy .ci/deb-install-check.sh -- \
	bash /tmp/throwaway/deb-install-check.sh "/tmp/throwaway/$(basename "$deb")"
step "done: package built and checked, installed and purged in a throw-away root"
