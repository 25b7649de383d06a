#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test command of the README: installs what is missing, builds with -Werror, runs every suite.
#
#   sudo bash tests/run-tests.sh [BUILDDIR] [extra meson setup options...]
#
# MESON_TEST_ARGS adds options to meson test (e.g. --no-suite realbluez).
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-build}
shift || true

bash .ci/install-deps.sh
# The realbluez suite's QEMU guest (amd64 kernel, qemu-system-x86, ...): only the tests need it.
bash .ci/realbluez-deps.sh
# The realbluez-systemd test installs the amd64 package in a systemd guest: built here when it is
# missing (CI's .ci/run builds it first).
if [ "$(dpkg --print-architecture)" = amd64 ] && ! compgen -G "build-ci-deb/amd64/needlegate_*.deb" >/dev/null; then
	bash .ci/package.sh
fi
if [ -d "$builddir" ]; then
	meson setup --reconfigure "$builddir" -Dwerror=true "$@"
else
	meson setup "$builddir" -Dwerror=true "$@"
fi
meson compile -C "$builddir"
status=0
# shellcheck disable=SC2086
meson test -C "$builddir" --print-errorlogs --num-processes 2 ${MESON_TEST_ARGS:-} || status=$?
python3 .ci/summarize.py "$builddir/meson-logs/testlog.json" || status=1
exit $status
