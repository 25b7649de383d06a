#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Validates an AsyncAPI document with @asyncapi/parser, installed (npm ci, the versions of
# package-lock.json) into DIR the first time and again when the lock file changes.
#
#   bash run-asyncapi.sh DIR DOCUMENT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
doc=$2
mkdir -p "$dir"
if ! cmp -s "$here/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/@asyncapi/parser" ]; then
	cp "$here/package.json" "$here/package-lock.json" "$dir/"
	echo "installing @asyncapi/parser into $dir (npm ci)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$here/validate-asyncapi.mjs" "$dir/"
exec node "$dir/validate-asyncapi.mjs" "$doc"
