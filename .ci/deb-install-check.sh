#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs a needlegate .deb as an admin would, checks what its postinst did, purges it and checks
# that the purge removed it. It runs ONLY inside a throw-away root (.ci/throwaway-root.sh, as
# .ci/package.sh does): the purge deletes /etc/needlegate and /var/lib/needlegate.
#
#   .ci/throwaway-root.sh --copy DEB --copy .ci/deb-install-check.sh -- \
#       bash /tmp/throwaway/deb-install-check.sh /tmp/throwaway/DEB
set -euo pipefail
deb="$1"

# Refuse anything but the overlay that throwaway-root.sh made (seen from inside as "/").
if [[ "${NEEDLEGATE_THROWAWAY_ROOT:-}" != 1 ||
	"$(findmnt -n -o FSTYPE,SOURCE --mountpoint /)" != "overlay needlegate-throwaway" ]]; then
	echo "deb-install-check.sh: refusing to run: / is not a throw-away root (see .ci/throwaway-root.sh)" >&2
	exit 1
fi

# The root is a copy of the build machine: start from a machine that never had needlegate (here
# only, in the copy: a hub that built the package keeps its own).
if dpkg-query -W -f='${Status}' needlegate 2>/dev/null | grep -q ' installed$\| config-files$'; then
	timeout 300 apt-get purge -y -q needlegate >/dev/null
fi
rm -rf /etc/needlegate /var/lib/needlegate

# What an admin does on a Pi. Without a running systemd the postinst still
# creates the user and enables the unit (symlinks), it only does not start it.
timeout 300 apt-get install -y -q "$deb" >/dev/null
problems=0
expect() { if ! eval "$1"; then echo "package.sh: FAIL: $2"; problems=$((problems + 1)); fi; }
expect 'getent passwd needlegate >/dev/null' "no needlegate user"
expect 'getent group needlegate >/dev/null' "no needlegate group"
expect '[[ -L /etc/systemd/system/multi-user.target.wants/needlegated.service ]]' \
	"needlegated.service not enabled"
# shellcheck disable=SC2016 # expect evaluates its first argument
expect '[[ "$(stat -c %U:%a /var/lib/needlegate)" == needlegate:750 ]]' \
	"/var/lib/needlegate not needlegate:750 ($(stat -c %U:%a /var/lib/needlegate 2>&1))"
expect '[[ -d /etc/needlegate ]]' "no /etc/needlegate"
expect '[[ -x /usr/sbin/needlegated ]]' "no /usr/sbin/needlegated"
expect '/usr/bin/needlectl --help >/dev/null' "needlectl --help fails"

echo "== package.sh: purging the package (in the throw-away root)"
timeout 300 apt-get purge -y -q needlegate >/dev/null
expect '[[ ! -e /usr/sbin/needlegated ]]' "purge left /usr/sbin/needlegated"
expect '[[ ! -e /var/lib/needlegate && ! -e /etc/needlegate ]]' \
	"purge left /var/lib/needlegate or /etc/needlegate"
expect '[[ ! -e /etc/systemd/system/multi-user.target.wants/needlegated.service ]]' \
	"purge left the unit enabled"
if [[ $problems -ne 0 ]]; then
	echo "package.sh: FAIL: $problems problem(s) after install or purge"
	exit 1
fi
