#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: installs what is missing, builds, then runs three simulated pens, a local Mosquitto
# and needlegated on a private bus, with a live view of what reaches the broker. Ctrl-C stops it.
#
#   sudo bash deploy/demo.sh [--pens N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh --demo
builddir=build-demo
[ -d "$builddir" ] || meson setup "$builddir" >/dev/null
meson compile -C "$builddir" >/dev/null
NEEDLE_HARNESS_DIR=$PWD/tests/harness exec /usr/bin/python3 deploy/demo/demo.py --build "$builddir" "$@"
