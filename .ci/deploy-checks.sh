#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CI: systemd-analyze verify and security of the unit (score printed and bounded), sysusers/tmpfiles checks.
# Run as root on Debian 12 (systemd 252). Uses build-ci if .ci/run built it, else its own build dir.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
# Highest exposure score (systemd-analyze security, 0.0 to 10.0) that passes.
MAX_EXPOSURE=2.0

command -v systemd-analyze >/dev/null || { apt-get update -q && apt-get install -y -q systemd; }
work="$(mktemp -d /tmp/needlegate-deploy-checks.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail=0

# 1. The unit as installed, with its ExecStart pointing at the built daemon:
#    verify checks the syntax and that the command exists and is executable.
bdir="${NEEDLEGATE_BUILD_DIR:-build-ci}"
if [[ ! -f $bdir/build.ninja ]]; then
	bdir=build-ci-deploy
	if [[ ! -f $bdir/build.ninja ]] &&
		! timeout 300 meson setup "$bdir" --prefix=/usr >"$work/setup.log" 2>&1; then
		tail -20 "$work/setup.log"
		echo "deploy-checks: FAIL: meson setup"
		exit 1
	fi
fi
if ! timeout 600 meson install -C "$bdir" --destdir "$work/dest" >"$work/install.log" 2>&1; then
	tail -30 "$work/install.log"
	echo "deploy-checks: FAIL: meson install"
	exit 1
fi
unit="$(find "$work/dest" -name needlegated.service -print -quit)"
[[ -n "$unit" ]] || { echo "deploy-checks: FAIL: meson install put no needlegated.service"; exit 1; }
sed -E "s|^ExecStart=([^ ]+)|ExecStart=$work/dest\\1|" "$unit" >"$work/needlegated.service"
echo "== systemd-analyze verify ($(systemd-analyze --version | head -1))"
# A line systemd cannot parse is only a warning to verify ("ignoring"), but for
# us it is a setting that silently does not apply: any output fails.
if timeout 60 systemd-analyze verify --man=no "$work/needlegated.service" >"$work/verify.txt" 2>&1 &&
	[[ ! -s "$work/verify.txt" ]]; then
	echo "deploy-checks: unit verified, no warnings"
else
	cat "$work/verify.txt"
	echo "deploy-checks: FAIL: systemd-analyze verify reported the above"
	fail=1
fi

# The daemon must accept the unit's arguments: run them with --help appended
# (GOption rejects an unknown option before printing help).
read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' "$work/needlegated.service")"
if timeout 30 "${exec_start[@]}" --help >/dev/null; then
	echo "deploy-checks: needlegated accepts the unit's ExecStart arguments: ${exec_start[*]:1}"
else
	echo "deploy-checks: FAIL: needlegated rejects the unit's ExecStart line: ${exec_start[*]}"
	fail=1
fi

# 2. Security exposure of the unit as shipped (offline: no running systemd).
echo "== systemd-analyze security --offline=true"
timeout 60 systemd-analyze security --offline=true "$unit" >"$work/security.txt" 2>&1 || true
grep -E '✗' "$work/security.txt" || true
score="$(sed -nE 's/.*Overall exposure level for [^:]+: ([0-9.]+).*/\1/p' "$work/security.txt")"
if [[ -z "$score" ]]; then
	cat "$work/security.txt"
	echo "deploy-checks: FAIL: no exposure score"
	fail=1
else
	echo "deploy-checks: needlegated.service exposure score: $score (must be <= $MAX_EXPOSURE)"
	if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
		echo "deploy-checks: FAIL: exposure $score above $MAX_EXPOSURE"
		fail=1
	fi
fi

# 3. sysusers and tmpfiles, applied to a copy of this machine's user database.
echo "== sysusers.d and tmpfiles.d in a scratch root"
root="$work/root"
mkdir -p "$root/etc"
cp /etc/passwd /etc/group /etc/shadow /etc/gshadow "$root/etc/"
sysusers="$(find "$work/dest" -path '*sysusers.d/needlegate.conf' -print -quit)"
tmpfiles="$(find "$work/dest" -path '*tmpfiles.d/needlegate.conf' -print -quit)"
if systemd-sysusers --root="$root" "$sysusers" && systemd-tmpfiles --root="$root" --create "$tmpfiles"; then
	uid="$(awk -F: '$1 == "needlegate" { print $3 }' "$root/etc/passwd")"
	got="$(stat -c '%u %a' "$root/var/lib/needlegate" 2>&1 || true)"
	if [[ -n "$uid" && "$got" == "$uid 750" ]]; then
		echo "deploy-checks: user needlegate (uid $uid) and /var/lib/needlegate (0750) made"
	else
		echo "deploy-checks: FAIL: state dir is '$got', expected owner uid '$uid' mode 750"
		fail=1
	fi
else
	echo "deploy-checks: FAIL: systemd-sysusers or systemd-tmpfiles rejected our files"
	fail=1
fi

# 4. The D-Bus policy is well-formed XML (the integration test checks what it allows).
policy="$(find "$work/dest" -name org.needlegate.Gateway1.conf -print -quit)"
if /usr/bin/python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$policy"; then
	echo "deploy-checks: D-Bus policy installed at ${policy#"$work/dest"} parses"
else
	echo "deploy-checks: FAIL: D-Bus policy is not well-formed"
	fail=1
fi
exit $fail
