#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks that a built needlegate .deb holds what a hub needs and that its postinst sets the service up.
# usage: deploy/check-deb.sh PACKAGE.deb [ARCH]
set -euo pipefail
deb="$1"
want_arch="${2:-}"
work="$(mktemp -d /tmp/needlegate-check-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents.txt"
expected=(
	/usr/sbin/needlegated
	/usr/bin/needlectl
	/usr/bin/needle-pensim
	/lib/systemd/system/needlegated.service
	/usr/share/dbus-1/system.d/org.needlegate.Gateway1.conf
	/usr/lib/sysusers.d/needlegate.conf
	/usr/lib/tmpfiles.d/needlegate.conf
	/etc/needlegate/needlegated.conf
	/usr/share/man/man8/needlegated.8.gz
	/usr/share/man/man5/needlegated.conf.5.gz
	/usr/share/man/man1/needlectl.1.gz
	/usr/share/man/man1/needle-pensim.1.gz
	/usr/share/doc/needlegate/copyright
	/usr/share/doc/needlegate/README.md
	/usr/share/doc/needlegate/daemon.md
	/usr/share/doc/needlegate/mqtt-api.md
	/usr/share/doc/needlegate/mqtt-api.yaml
	/usr/share/doc/needlegate/schemas/pen-state.schema.json
	/usr/share/needlegate/mosquitto/hub.conf
	/usr/share/needlegate/mosquitto/hub.acl
	/usr/share/needlegate/mosquitto/central-bridge.conf
	/usr/share/needlegate/mosquitto/central.conf
	/usr/share/needlegate/mosquitto/central.acl
	/usr/share/needlegate/plan.schema.json
	/usr/share/needlegate/plans/face-course.json
	/usr/share/needlegate/dashboard/index.html
	/usr/share/needlegate/dashboard/app.js
	/usr/share/needlegate/dashboard/app.css
	/usr/share/bash-completion/completions/needlectl
)
problems=0
problem() {
	echo "check-deb: $deb: $*"
	problems=$((problems + 1))
}
for f in "${expected[@]}"; do
	grep -qxF "$f" "$work/contents.txt" || problem "missing $f"
done
dpkg-deb -e "$deb" "$work/control"
grep -q 'systemd-sysusers.*needlegate.conf' "$work/control/postinst" ||
	problem "postinst does not create the user"
grep -q "deb-systemd-helper enable 'needlegated.service'" "$work/control/postinst" ||
	problem "postinst does not enable needlegated.service"
grep -qx '/etc/needlegate/needlegated.conf' "$work/control/conffiles" 2>/dev/null ||
	problem "/etc/needlegate/needlegated.conf is not a conffile"
if [[ -n "$want_arch" ]]; then
	arch="$(dpkg-deb -f "$deb" Architecture)"
	[[ "$arch" == "$want_arch" ]] || problem "Architecture is $arch, not $want_arch"
	# The binaries themselves, not just the label: readelf names the machine.
	dpkg-deb -x "$deb" "$work/root"
	machine="$(readelf -h "$work/root/usr/bin/needlectl" 2>/dev/null | sed -n 's/ *Machine: *//p')"
	case "$want_arch" in
	arm64) [[ "$machine" == AArch64 ]] || problem "needlectl is built for '$machine', not AArch64" ;;
	amd64) [[ "$machine" == *X86-64* ]] || problem "needlectl is built for '$machine', not x86-64" ;;
	esac
	# The link quality of connected pens (HCI Read RSSI) is there only when built with libbluetooth.
	readelf -d "$work/root/usr/sbin/needlegated" 2>/dev/null | grep -q 'NEEDED.*libbluetooth\.so' ||
		problem "needlegated is not linked with libbluetooth: no link quality (build with -Dhci=enabled)"
fi
if [[ $problems -ne 0 ]]; then
	echo "check-deb: FAIL: $problems problem(s); the package holds:"
	cat "$work/contents.txt"
	exit 1
fi
echo "check-deb: $deb: all ${#expected[@]} expected files present;" \
	"postinst creates the user and enables the unit"
