#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# PID 1 of the systemd guest, for a moment: readies the overlay root for systemd, then execs it.
#
# initramfs-init.sh switch_roots here (run-guest.sh with RBZ_GUEST_INIT=systemd-init.sh). Everything
# written here lands in the tmpfs upper layer of the guest's root, never on the host: the guest kernel's
# modules bound where modprobe looks, the units of tests/realbluez/systemd/ (btvirt before bluetooth.service,
# btmon, the scenario after multi-user.target, then power-off), the host's services that make no sense in
# a guest masked, Mosquitto enabled. dbus, bluetooth.service (bluetoothd 5.66) and mosquitto.service
# are Debian's own units, started by systemd as on any Debian 12 machine; bluetoothd reads
# tests/realbluez/main.conf as its /etc/bluetooth/main.conf (Enhanced ATT off, as in every scenario).
# A failure here writes status 90 (guest.env) or 92 (the guest's root) and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
res=/rbz-results
here=$(cd "$(dirname "$0")" && pwd)
units=/etc/systemd/system

fail() {
	echo "realbluez systemd-init: $2" >/dev/console
	echo "$1" >"$res/status"
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
	exit "$1"
}

# shellcheck source=/dev/null
. "$res/guest.env" || fail 90 "cannot read $res/guest.env"
{ mkdir -p "/lib/modules/$RBZ_KVER" && mount --bind "$RBZ_MODULES" "/lib/modules/$RBZ_KVER"; } ||
	fail 92 "cannot bind the guest kernel's modules"
echo rbz-guest >/etc/hostname
# /tmp is the host's, as the rest of the tree (a build folder may live there, CI's clone too); but
# systemd-tmpfiles must not empty it at boot (Debian's tmp.conf: "D /tmp"): on the overlay that means a
# whiteout for each file of the host's /tmp, minutes under TCG. This override only makes sure it exists.
mkdir -p /etc/tmpfiles.d && echo "d /tmp 1777 root root -" >/etc/tmpfiles.d/tmp.conf ||
	fail 92 "cannot write /etc/tmpfiles.d/tmp.conf"

# The units and their helpers: the helpers at a fixed path, so that the units need no substitution.
mkdir -p /usr/local/lib/rbz "$units/multi-user.target.wants" "$units/bluetooth.service.d" \
	/etc/systemd/journald.conf.d /etc/systemd/system.conf.d || fail 92 "cannot write into /etc"
{ cp "$here"/systemd/*.sh /usr/local/lib/rbz/ &&
	cp "$here"/systemd/*.service "$units/" &&
	cp "$here/systemd/bluetooth-after-btvirt.conf" "$units/bluetooth.service.d/" &&
	cp "$here/systemd/journald.conf" /etc/systemd/journald.conf.d/rbz.conf &&
	cp "$here/systemd/system.conf" /etc/systemd/system.conf.d/rbz.conf &&
	cp "$here/main.conf" /etc/bluetooth/main.conf; } || fail 92 "cannot install the guest's units"
# Dual-mode controllers (RBZ_BTVIRT without -L, the default: btvirt-start.sh): bluetoothd keeps BR/EDR off
# on them, as on the LE-only ones. With BR/EDR on, LE Secure Connections pairing also derives a BR/EDR
# link key (both sides are btvirt's, so both offer it, which an LE-only pen never does); bluetoothd then
# pages the pen over BR/EDR, both adapters page each other at once, and guest kernel 6.1 hits
# "list_del corruption" in hci_chan_del as bluetoothd closes the failed socket, killing bluetoothd.
# The controllers stay dual-mode and keep answering HCI Read RSSI, which is what the guest needs them for.
if [[ " ${RBZ_BTVIRT:--l2} " != *" -L "* ]]; then
	printf '\n[General]\n# systemd-init.sh: dual-mode btvirt, BR/EDR off (see there)\nControllerMode = le\n' \
		>>/etc/bluetooth/main.conf || fail 92 "cannot write /etc/bluetooth/main.conf"
fi
ln -sf /lib/systemd/system/multi-user.target "$units/default.target"
# A build host made from a container image may carry Docker's policy-rc.d ("exit 101": never start a
# service from a package's scripts); the guest is a machine, where a package starts its service.
rm -f /usr/sbin/policy-rc.d
# man-db's trigger rebuilds its index after every install and purge: minutes under TCG. This is what
# the debconf answer man-db/auto-update=false does.
rm -f /var/lib/man-db/auto-update
for unit in rbz-btvirt.service bluetooth.service mosquitto.service rbz-scenario.service; do
	ln -sf "$([ -e "$units/$unit" ] && echo "$units" || echo /lib/systemd/system)/$unit" \
		"$units/multi-user.target.wants/$unit"
done

# What the host (a build machine) enables and a guest has no use for: logins, network setup, time sync,
# other servers, periodic jobs, and first-boot updates of caches that the host's tree already has (under
# TCG, systemd-hwdb-update alone would take minutes).
for unit in getty.target postgresql.service e2scrub_reap.service systemd-timesyncd.service \
	systemd-pstore.service systemd-networkd.service networking.service remote-fs.target \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
	man-db.timer systemd-tmpfiles-clean.timer systemd-hwdb-update.service ldconfig.service \
	systemd-journal-catalog-update.service systemd-update-done.service systemd-firstboot.service \
	systemd-machine-id-commit.service systemd-repart.service; do
	ln -sf /dev/null "$units/$unit"
done
exec /lib/systemd/systemd
