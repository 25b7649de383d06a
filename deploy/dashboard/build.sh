#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the dashboard into OUTDIR/{index.html,app.js,app.css}: npm ci (the versions of
# package-lock.json, from the npm registry) into OUTDIR's node_modules, then esbuild.
#
#   deploy/dashboard/build.sh OUTDIR
#
# The source tree stays untouched (meson builds out of tree): the packages go to OUTDIR.npm, beside
# OUTDIR, so that OUTDIR holds the three files only (Mosquitto serves all of it). NPM_CONFIG_CACHE
# may point the npm cache elsewhere (by default OUTDIR.npm/cache: a package build's HOME may not be
# writable).
set -eu
if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
src="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
work="$out.npm"
mkdir -p "$work"

# npm ci installs exactly the lock file's versions, checked against its integrity hashes; no
# install scripts run (esbuild's binary comes as a plain optional package).
cp "$src/package.json" "$src/package-lock.json" "$work/"
if [ -z "${NPM_CONFIG_CACHE:-}" ]; then
	NPM_CONFIG_CACHE="$work/cache"
	export NPM_CONFIG_CACHE
fi
if ! (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
	echo "$0: npm ci failed: the dashboard's build needs the npm registry" \
		"(or configure with -Ddashboard=disabled)" >&2
	exit 1
fi

# NODE_PATH: the sources live in the source tree, their packages in the work folder.
NODE_PATH="$work/node_modules" node "$work/node_modules/esbuild/bin/esbuild" \
	"$src/src/main.js" --bundle --minify --format=iife --target=es2020 \
	--legal-comments=eof --outfile="$out/app.js" --log-level=warning \
	--banner:js="/* needlegate dashboard (LGPL-2.1-or-later). Bundles MQTT.js and its browser dependencies (MIT, BSD-3-Clause), Preact (MIT), htm (Apache-2.0) and uPlot (MIT), at the versions of deploy/dashboard/package-lock.json. */"
NODE_PATH="$work/node_modules" node "$work/node_modules/esbuild/bin/esbuild" \
	"$src/src/app.css" --bundle --minify --outfile="$out/app.css" --log-level=warning
cp "$src/src/index.html" "$out/index.html"
