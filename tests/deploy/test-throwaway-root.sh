#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# .ci/package.sh installs and purges the needlegate package only in a throw-away root: check that
# what a package does there (its files, its postinst, the dpkg database, its purge) never reaches
# this machine, and that deb-install-check.sh refuses to run anywhere else.
#
#   test-throwaway-root.sh SRCDIR          (root and mount namespaces; else skipped, exit 77, and
#                                           under CI=true a failure: CI must check this)
set -euo pipefail
src="$1"
fail() {
	echo "FAIL: $*"
	exit 1
}
if [[ "$(id -u)" -ne 0 ]] || ! bash "$src/.ci/throwaway-root.sh" --check >/dev/null 2>&1; then
	[[ "${CI:-}" == true ]] && fail "needs root and mount namespaces, which CI must have"
	echo "SKIP: needs root and mount namespaces"
	exit 77
fi

work="$(mktemp -d /tmp/needlegate-test-throwaway.XXXXXX)"
trap 'rm -rf "$work"' EXIT
tag="needlegate-probe-$$-$RANDOM"
pkg="$work/pkg"
mkdir -p "$pkg/DEBIAN" "$pkg/etc/$tag" "$pkg/usr/share/$tag"
echo "key=value" >"$pkg/etc/$tag/probe.conf"
echo probe >"$pkg/usr/share/$tag/file"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: $tag
Version: 1.0
Architecture: all
Maintainer: needlegate tests <needlegate@localhost>
Description: throw-away root probe
CONTROL
echo "/etc/$tag/probe.conf" >"$pkg/DEBIAN/conffiles"
printf '#!/bin/sh\nset -e\nmkdir -p /var/lib/%s\necho made >/var/lib/%s/state\n' "$tag" "$tag" >"$pkg/DEBIAN/postinst"
chmod 0755 "$pkg/DEBIAN/postinst"
dpkg-deb --root-owner-group -b "$pkg" "$work/$tag.deb" >/dev/null

cat >"$work/inside.sh" <<INSIDE
set -e
apt-get install -y -q /tmp/throwaway/$tag.deb >/dev/null
dpkg-query -W -f='\${Status}\n' $tag | grep -qx 'install ok installed'
test -f /etc/$tag/probe.conf && test -f /var/lib/$tag/state && test -f /usr/share/$tag/file
echo leaked >/etc/$tag-written
apt-get purge -y -q $tag >/dev/null
test ! -e /etc/$tag/probe.conf && test ! -e /usr/share/$tag/file
echo inside-ok
INSIDE
out="$(bash "$src/.ci/throwaway-root.sh" --copy "$work/$tag.deb" --copy "$work/inside.sh" -- \
	bash /tmp/throwaway/inside.sh 2>&1)" || fail "install and purge in the throw-away root failed: $out"
[[ "$out" == *inside-ok* ]] || fail "the command inside did not finish: $out"
echo "ok: the probe package was installed, checked and purged inside"

dpkg-query -W "$tag" >/dev/null 2>&1 && fail "the probe package is known to this machine's dpkg"
for path in "/etc/$tag" "/etc/$tag-written" "/var/lib/$tag" "/usr/share/$tag" "/var/lib/dpkg/info/$tag.list"; do
	[[ ! -e "$path" ]] || fail "$path reached this machine"
done
if grep -qs 'throw-away root' /usr/sbin/policy-rc.d; then
	fail "the throw-away root's policy-rc.d reached this machine"
fi
if compgen -G "/tmp/needlegate-throwaway.*" >/dev/null; then
	fail "a throw-away root's folder was left in /tmp"
fi
echo "ok: nothing of it reached this machine"

# The install check itself refuses this machine, even when told it is a throw-away root.
if out="$(NEEDLEGATE_THROWAWAY_ROOT=1 bash "$src/.ci/deb-install-check.sh" "$work/$tag.deb" 2>&1)"; then
	fail "deb-install-check.sh ran on this machine: $out"
fi
[[ "$out" == *"refusing to run"* ]] || fail "deb-install-check.sh failed otherwise: $out"
dpkg-query -W "$tag" >/dev/null 2>&1 && fail "deb-install-check.sh installed the package here"
echo "ok: deb-install-check.sh refuses to run outside a throw-away root"
