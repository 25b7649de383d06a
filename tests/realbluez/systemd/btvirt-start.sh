#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ExecStart of rbz-btvirt.service (Type=forking): starts btvirt and returns once hci0 and hci1 are set up.
#
# The kernel resets each new controller at once; when btvirt is not scheduled in time (a loaded host under
# TCG) the reset times out ("Opcode 0x0c03 failed: -110") and that controller never reaches mgmt. Such a
# controller is not repaired later, so btvirt starts again, at most three times (as guest-init.sh does).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
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
	btvirt -L -l2 &
	pid=$!
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
