#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# PID 1 of the guest: starts dbus, btvirt, bluetoothd, btmon and Mosquitto, runs the scenario, powers off.
#
# Reads /rbz-results/guest.env (written by run-guest.sh): RBZ_SCENARIO (a script on the host's / tree),
# RBZ_ARGS, RBZ_MODULES (the guest kernel's modules folder), RBZ_KVER, RBZ_SCENARIO_TIMEOUT and
# RBZ_DBUS_POLICY (extra system-bus policy files). Writes every log into /rbz-results and, last,
# the scenario's exit status into /rbz-results/status; no status file means the guest died before.
# Setup failures have statuses of their own: 90 guest.env, 91 loopback, 92 modules folder, 93 modprobe,
# 94 D-Bus policy, 95 dbus-daemon, 96 btvirt, 97 bluetoothd's adapters, 98 Mosquitto.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 HOME=/root
res=/rbz-results
t0=$(date +%s%N)

log() {
	local ms=$((($(date +%s%N) - t0) / 1000000))
	printf 'rbz-guest [%d.%03d s] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" |
		tee -a "$res/guest.log" >/dev/console
}

pids=()
finish() {
	local status=$1
	log "scenario status $status; stopping services"
	# bluetoothd and btmon flush their logs on SIGTERM; a bounded wait, then the hard way.
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for _ in $(seq 20); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	echo "$status" >"$res/status"
	log "powering off"
	sync
	umount "$res" 2>/dev/null
	echo o >/proc/sysrq-trigger
	# The root is gone once the power-off starts, so wait with a builtin: PID 1 exiting would panic the kernel.
	mkfifo /run/rbz-hold
	read -r -t 10 <>/run/rbz-hold
	exit "$status"
}

# Bounded wait: wait_for SECONDS DESCRIPTION COMMAND... polls COMMAND every 0.1 s. The limits are generous:
# under TCG on a loaded two-core host a step can take ten times its usual second.
wait_for() {
	local limit=$1 what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			log "timed out after ${limit} s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
}

# shellcheck disable=SC2317 # called through wait_for
bluez_has_adapters() {
	local hci
	for hci in hci0 hci1; do
		dbus-send --system --print-reply --dest=org.bluez "/org/bluez/$hci" \
			org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Address || return 1
	done
}

# Both emulated controllers have passed their kernel setup once mgmt lists them.
# shellcheck disable=SC2317 # called through wait_for
controllers_ready() {
	local info
	info=$(timeout 5 btmgmt info) || return 1
	grep -q '^hci0:' <<<"$info" && grep -q '^hci1:' <<<"$info"
}

mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus /run/lock /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# shellcheck source=/dev/null
. "$res/guest.env" || finish 90
: >"$res/guest.log"
log "guest up: kernel $(uname -r), $(nproc) cpus, scenario $RBZ_SCENARIO"

hostname rbz-guest
ip link set lo up || finish 91
mkdir -p "/lib/modules/$RBZ_KVER"
mount --bind "$RBZ_MODULES" "/lib/modules/$RBZ_KVER" || finish 92
for mod in bluetooth hci_vhci ecdh_generic cmac; do
	modprobe "$mod" || { log "modprobe $mod failed"; finish 93; }
done

log "kernel modules loaded"
btmon -w "$res/btmon.snoop" >/dev/null 2>&1 &
pids+=($!)
# The text is decoded live, by a second btmon: btmon 5.66 crashes reading some captures back with -r.
btmon -T >"$res/btmon.txt" 2>&1 &
pids+=($!)

for policy in $RBZ_DBUS_POLICY; do
	cp "$policy" /etc/dbus-1/system.d/ || finish 94
done
dbus-daemon --system --fork --nopidfile || finish 95
wait_for 30 "the system bus" test -S /run/dbus/system_bus_socket || finish 95

log "system bus up"
# The kernel resets each new controller at once; when btvirt is not scheduled in time (a loaded host under
# TCG) the reset times out ("Opcode 0x0c03 failed: -110") and that controller never reaches mgmt. Such a
# controller is not repaired later, so btvirt starts again, at most three times.
for attempt in 1 2 3; do
	btvirt -L -l2 >>"$res/btvirt.log" 2>&1 &
	btvirt_pid=$!
	wait_for 20 "hci0 and hci1 to finish their setup" controllers_ready && break
	log "btvirt attempt $attempt: a controller failed its setup; $(timeout 5 btmgmt info | grep -c '^hci') in mgmt"
	kill -TERM $btvirt_pid
	wait $btvirt_pid
	wait_for 10 "the old controllers to go" test ! -e /sys/class/bluetooth/hci0 -a ! -e /sys/class/bluetooth/hci1
	[ $attempt -eq 3 ] && finish 96
done
pids+=("$btvirt_pid")

log "btvirt's controllers up"
bluetoothd -n -d -f "$(dirname "$0")/main.conf" >"$res/bluetoothd.log" 2>&1 &
pids+=($!)
wait_for 60 "bluetoothd's adapters hci0 and hci1" bluez_has_adapters || finish 97

log "bluetoothd manages hci0 and hci1"
# The guest has its own network stack with nothing else on it, yet the port is picked free all the same.
# Bash alone, since a python start costs a second under TCG: a random high port that nothing answers on.
for _ in $(seq 20); do
	RBZ_MQTT_PORT=$((20000 + RANDOM % 40000))
	(exec 3<>"/dev/tcp/127.0.0.1/$RBZ_MQTT_PORT") 2>/dev/null || break
done
cat >/run/mosquitto.conf <<EOF
listener $RBZ_MQTT_PORT 127.0.0.1
allow_anonymous true
user root
persistence false
log_dest file $res/mosquitto.log
log_type all
EOF
mosquitto -c /run/mosquitto.conf >/dev/null 2>&1 &
pids+=($!)
wait_for 30 "mosquitto on port $RBZ_MQTT_PORT" \
	bash -c "exec 3<>/dev/tcp/127.0.0.1/$RBZ_MQTT_PORT" || finish 98
export RBZ_MQTT_PORT RBZ_RESULTS=$res

log "services up; running $RBZ_SCENARIO $RBZ_ARGS (limit ${RBZ_SCENARIO_TIMEOUT} s)"
# shellcheck disable=SC2086 # RBZ_ARGS is a word list by design
timeout -k 5 "$RBZ_SCENARIO_TIMEOUT" "$RBZ_SCENARIO" $RBZ_ARGS >"$res/test.log" 2>&1
status=$?
[ $status -eq 124 ] && log "the scenario overran its ${RBZ_SCENARIO_TIMEOUT} s"
finish $status
