#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer targets with clang and runs each for a bounded time; fails on any crash.
#   bash .ci/fuzz.sh BUILDDIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-build-fuzz}
seconds=${2:-60}
if [ ! -d "$builddir" ]; then
	CC=clang meson setup "$builddir" -Dfuzzing=enabled -Db_lundef=false
fi
meson compile -C "$builddir"
bash tests/fuzz/run-fuzzers.sh "$builddir" "$seconds"
