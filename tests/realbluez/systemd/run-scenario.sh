#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ExecStart of rbz-scenario.service: runs the scenario once the system is up, copies the logs into the
# results folder, writes the scenario's status (run-guest.sh exits with it), and powers off.
#
# The scenario runs as root with RBZ_RESULTS, RBZ_SRCDIR, RBZ_BUILDDIR, RBZ_DEB (the package, when
# run-guest.sh was given one), RBZ_BTVIRT (btvirt's arguments, as btvirt-start.sh ran it) and RBZ_MQTT_PORT
# (1883: Debian's Mosquitto, as the distribution runs it).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 HOME=/root
res=/rbz-results

log() {
	printf 'rbz-guest [%s s] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*" | tee -a "$res/guest.log" >/dev/console
}

# shellcheck source=/dev/null
. "$res/guest.env" || { echo 90 >"$res/status"; systemctl poweroff --no-block; exit 1; }
export RBZ_RESULTS=$res RBZ_MQTT_PORT=1883 RBZ_DEB=${RBZ_DEB:-} RBZ_BTVIRT=${RBZ_BTVIRT:--l2}
log "systemd up: kernel $(uname -r), $(nproc) cpus, PID 1 $(cat /proc/1/comm), state $(systemctl is-system-running)"
log "failed units at start: $(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | xargs)"
log "running $RBZ_SCENARIO $RBZ_ARGS (limit ${RBZ_SCENARIO_TIMEOUT} s)"
# shellcheck disable=SC2086 # RBZ_ARGS is a word list by design
timeout -k 5 "$RBZ_SCENARIO_TIMEOUT" "$RBZ_SCENARIO" $RBZ_ARGS >"$res/test.log" 2>&1
status=$?
[ $status -eq 124 ] && log "the scenario overran its ${RBZ_SCENARIO_TIMEOUT} s"
log "scenario status $status; copying the logs"

journalctl -b --no-pager -o short-monotonic >"$res/journal.txt" 2>&1
journalctl -b --no-pager -o short-monotonic -u bluetooth >"$res/bluetoothd.log" 2>&1
journalctl -b --no-pager -o short-monotonic -u needlegated >"$res/needlegated.log" 2>&1
journalctl -b --no-pager -o short-monotonic -u mosquitto >"$res/mosquitto-unit.log" 2>&1
cp /var/log/mosquitto/mosquitto.log "$res/mosquitto.log" 2>/dev/null
systemd-analyze blame --no-pager >"$res/boot-blame.txt" 2>&1
systemctl list-units --all --no-pager >"$res/units.txt" 2>&1

echo "$status" >"$res/status"
sync
log "powering off"
systemctl poweroff --no-block
