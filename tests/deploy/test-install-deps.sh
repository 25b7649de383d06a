#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The dependency scripts, run against stand-ins for dpkg-query, apt-get, apt-cache and systemctl (on a
# machine where every package seems missing), so that nothing is installed:
# - they never start, stop or disable a service (a hub's own Mosquitto keeps running);
# - the demo's list (install-deps.sh --demo, what deploy/demo.sh runs) holds nothing that only the
#   amd64 QEMU guest tests need, so the demo installs on a Raspberry Pi (arm64);
# - the test command and CI still install the realbluez guest's packages.
#
#   test-install-deps.sh SRCDIR
set -euo pipefail
src="$1"
fail() {
	echo "FAIL: $*"
	exit 1
}
work="$(mktemp -d /tmp/needlegate-test-deps.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
log="$work/calls"
stub() { printf '#!/bin/sh\n%s\n' "$2" >"$work/bin/$1" && chmod +x "$work/bin/$1"; }
stub dpkg-query 'exit 1'
stub id 'echo 0'
stub apt-get "echo \"apt-get \$*\" >>$log"
stub apt-cache "echo \"apt-cache \$*\" >>$log; echo '  Depends: linux-image-6.1.0-99-amd64'"
for tool in systemctl service invoke-rc.d deb-systemd-invoke; do
	stub "$tool" "echo \"SERVICE $tool \$*\" >>$log"
done

run() {
	: >"$log"
	PATH="$work/bin:$PATH" bash "$@" >"$work/out" 2>&1 || fail "$* failed: $(cat "$work/out")"
	if grep '^SERVICE' "$log"; then
		fail "$* touched a system service"
	fi
}
installed() { sed -n 's/^apt-get install .*--no-install-recommends //p' "$log" | tr ' ' '\n'; }
guest_only='^(qemu-.*|linux-image-.*|busybox-static|kmod|bluez-test-tools)$'

run "$src/.ci/install-deps.sh" --demo
installed >"$work/demo"
grep -qx mosquitto "$work/demo" || fail "the demo's list lacks mosquitto: $(cat "$work/demo")"
grep -qx meson "$work/demo" || fail "the demo's list lacks meson: $(cat "$work/demo")"
if grep -E "$guest_only" "$work/demo"; then
	fail "the demo installs the realbluez guest's packages (above)"
fi
if grep -q '^apt-cache' "$log"; then
	fail "install-deps.sh --demo asks about the guest's kernel"
fi
echo "ok: the demo's packages: $(tr '\n' ' ' <"$work/demo")"

run "$src/.ci/install-deps.sh"
installed >"$work/tests"
if grep -E "$guest_only" "$work/tests"; then
	fail "install-deps.sh installs the realbluez guest's packages (above): that is realbluez-deps.sh's job"
fi
missing_from_tests="$(comm -23 <(sort "$work/demo") <(sort "$work/tests"))"
[[ -z "$missing_from_tests" ]] || fail "the tests' list lacks demo packages: $missing_from_tests"
echo "ok: install-deps.sh (the tests' list) starts or stops no service"

run "$src/.ci/realbluez-deps.sh"
installed | grep -qx qemu-system-x86 || fail "realbluez-deps.sh does not install qemu-system-x86"
echo "ok: realbluez-deps.sh installs the guest's packages and starts or stops no service"

# Who runs which list.
grep -qE '^\s*bash \.ci/install-deps\.sh --demo$' "$src/deploy/demo.sh" || fail "deploy/demo.sh does not run install-deps.sh --demo"
if grep -n 'realbluez-deps' "$src/deploy/demo.sh" "$src/.ci/install-deps.sh" | grep -v ':#'; then
	fail "the demo's path runs realbluez-deps.sh (above)"
fi
grep -qE '^bash \.ci/realbluez-deps\.sh$' "$src/tests/run-tests.sh" || fail "tests/run-tests.sh does not run realbluez-deps.sh"
grep -q 'bash .ci/realbluez-deps.sh' "$src/.ci/run" || fail ".ci/run does not run realbluez-deps.sh"
echo "ok: the demo runs install-deps.sh --demo; the test command and CI add realbluez-deps.sh"

# No script of the demo, the tests or CI touches a system service.
scripts=("$src"/.ci/*.sh "$src/.ci/run" "$src/tests/run-tests.sh" "$src/deploy/demo.sh")
if grep -nE '(^|[;&|(]|\s)(systemctl|invoke-rc\.d|deb-systemd-invoke)\s' "${scripts[@]}" | grep -vE ':\s*#'; then
	fail "a script touches a system service (above)"
fi
echo "ok: no script of the demo, the tests or CI calls systemctl, service or invoke-rc.d"
