#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the needlegate .deb from a copy of the tree with deploy/debian placed at ./debian.
#
# usage: deploy/build-deb.sh [--arch ARCH] OUTDIR
#   --arch arm64   cross-build (needs .ci/arm64.sh's packages); the unit tests
#                  run under qemu-user inside the build.
# The build dependencies must be installed already:
#   apt-get build-dep ./deploy            (native)
#   apt-get build-dep -a arm64 -P cross ./deploy   (arm64)
set -euo pipefail

arch=""
if [[ "${1:-}" == "--arch" ]]; then
	arch="$2"
	shift 2
fi
if [[ $# -ne 1 ]]; then
	echo "usage: $0 [--arch ARCH] OUTDIR" >&2
	exit 2
fi
src="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
version="$(dpkg-parsechangelog -l "$src/deploy/debian/changelog" -S Version)"

work="$(mktemp -d /tmp/needlegate-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
tree="$work/needlegate-$version"
mkdir "$tree"

# The files git knows plus new ones it does not ignore: no build directories.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do if [[ -e "$f" ]]; then printf '%s\0' "$f"; fi; done |
		xargs -0 cp -a --parents -t "$tree")
else
	tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi
# (A file git lists that the work tree has deleted is skipped.)
rm -rf "$tree/debian"
cp -a "$src/deploy/debian" "$tree/debian"

args=(-b -uc -us)
if [[ -n "$arch" && "$arch" != "$(dpkg --print-architecture)" ]]; then
	args+=(-a "$arch" -Pcross)
	# qemu-user runs the arm64 unit tests inside the build.
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} crossbuildcanrunhostbinaries"
fi
(cd "$tree" && dpkg-buildpackage "${args[@]}")
cp "$work"/*.deb "$out"/
ls -l "$out"/*.deb
