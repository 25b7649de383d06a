#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the browser test's packages (playwright-core, from package-lock.json) into OUTDIR/node_modules
# and touches STAMP.   npm-ci.sh SRCDIR OUTDIR STAMP
set -eu
stamp="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
mkdir -p "$2"
cp "$1/package.json" "$1/package-lock.json" "$2/"
cd "$2"
NPM_CONFIG_CACHE="${NPM_CONFIG_CACHE:-$PWD/cache}" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
touch "$stamp"
