#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ExecStart of rbz-btvirt.service (Type=forking): starts btvirt and returns once hci0 and hci1 are set up.
#
# btvirt's arguments are RBZ_BTVIRT (run-guest.sh), by default '-l2': two dual-mode (BR/EDR and LE)
# controllers. BlueZ 5.66's emulated controller answers HCI Read RSSI (the daemon's link quality) only in
# its BR/EDR command set; the LE-only ones of '-L -l2' refuse it (Unknown HCI Command).
#
# The kernel resets each new controller at once; when btvirt is not scheduled in time (a loaded host under
# TCG) the reset times out ("Opcode 0x0c03 failed: -110") and that controller never reaches mgmt. Such a
# controller is not repaired later, so btvirt starts again, at most three times (as guest-init.sh does).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=/dev/null
. /rbz-results/guest.env || exit 1
read -ra btvirt_args <<<"${RBZ_BTVIRT:--l2}"
for mod in bluetooth hci_vhci ecdh_generic cmac; do
	modprobe "$mod" || exit 1
done

# btmgmt quits at once on an empty stdin (systemd gives /dev/null): it gets a pipe that stays open.
controllers_ready() {
	local info
	info=$(timeout 5 btmgmt info 2>/dev/null < <(sleep 6)) || return 1
	grep -q '^hci0:' <<<"$info" && grep -q '^hci1:' <<<"$info"
}

for attempt in 1 2 3; do
	btvirt "${btvirt_args[@]}" &
	pid=$!
	echo "btvirt-start: attempt $attempt: btvirt ${btvirt_args[*]} (PID $pid)"
	deadline=$((SECONDS + 20))
	while [ $SECONDS -lt $deadline ]; do
		if controllers_ready; then
			echo "$pid" >/run/rbz-btvirt.pid
			echo "btvirt-start: hci0 and hci1 ready (attempt $attempt)"
			exit 0
		fi
		sleep 0.1
	done
	echo "btvirt-start: attempt $attempt: a controller failed its setup; $(timeout 5 btmgmt info < <(sleep 6) | grep -c '^hci') in mgmt"
	kill -TERM "$pid"
	wait "$pid"
	deadline=$((SECONDS + 10))
	while [ $SECONDS -lt $deadline ]; do
		[ ! -e /sys/class/bluetooth/hci0 ] && [ ! -e /sys/class/bluetooth/hci1 ] && break
		sleep 0.1
	done
done
exit 1
