#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest scenario: needlegated on hci0 pairs and serves needle-pensim --peripheral on hci1, through real bluetoothd.
#
# The technician's path (needlectl scan, needlectl pair with the passkey the pen shows), a session of
# 300 records on the broker, the link cut mid-session, the gap refilled by Report Stored Records.
# Runs inside the guest (run-guest.sh, with RBZ_DBUS_POLICY naming needlegated's policy); its logs,
# needlegated.log and pen.log, land beside the guest's.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
res=${RBZ_RESULTS:?run this through run-guest.sh}
build=${RBZ_BUILDDIR:?run this through run-guest.sh}
fifo=/run/pen-control
state=/tmp/needlegate-state
pids=()
# shellcheck disable=SC2317 # called through the trap
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
}
trap stop_all EXIT

# Bounded wait on a log line: wait_line SECONDS FILE REGEX PID.
wait_line() {
	local deadline=$((SECONDS + $1))
	until grep -Eq "$3" "$2" 2>/dev/null; do
		if [ $SECONDS -ge "$deadline" ] || ! kill -0 "$4" 2>/dev/null; then
			echo "scenario-gateway: no '$3' in $2 within $1 s:"
			tail -n 30 "$2"
			return 1
		fi
		sleep 0.1
	done
}

mkdir -p "$state"
cat >/run/needlegated.conf <<EOF
[gateway]
hub_id=rbz
state_dir=$state
info_interval=1
[mqtt]
url=mqtt://127.0.0.1:$RBZ_MQTT_PORT
[bluetooth]
adapter=hci0
connect_timeout=30
reconnect_min_delay=1
reconnect_max_delay=4
telemetry_notify=acquire
EOF

"$build/gateway/needlegated" --config /run/needlegated.conf -v >"$res/needlegated.log" 2>&1 &
pids+=($!)
# One bluetoothd serves both controllers and has one default agent: the pen's DisplayOnly agent must be
# it, so the pen starts only once the gateway's KeyboardOnly agent is registered.
wait_line 60 "$res/needlegated.log" "pairing agent registered" "${pids[0]}" || exit 1
echo "scenario-gateway: needlegated up on hci0"

"$build/pensim/needle-pensim" --peripheral --adapter hci1 --control "$fifo" \
	--passkey-file /run/pen-passkey >"$res/pen.log" 2>&1 &
pids+=($!)
wait_line 60 "$res/pen.log" "^ready" "${pids[1]}" || exit 1
echo "scenario-gateway: pen registered on hci1"

# The checks import the tests' harness (tests/harness), as every Python test does.
export NEEDLE_HARNESS_DIR="$here/../harness" PYTHONDONTWRITEBYTECODE=1
python3 "$here/gateway-check.py" --needlectl "$build/gateway/ctl/needlectl" --pen-control "$fifo" \
	--pen-log "$res/pen.log" --gateway-log "$res/needlegated.log" --passkey-file /run/pen-passkey \
	--mqtt-port "$RBZ_MQTT_PORT" --hub rbz --records 300 --cut-after 100
status=$?
echo "scenario-gateway: check exited with $status"
exit $status
