#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest scenario with systemd as PID 1 (RBZ_GUEST_INIT=systemd-init.sh): the needlegate .deb installed,
# run and purged as on a hub, with Debian's dbus, bluetooth.service (bluetoothd 5.66) and mosquitto.service.
#
# Installs RBZ_DEB with apt (no network: its dependencies are on the host's tree); checks the service is
# enabled, active, READY (Type=notify) with its status line, runs as needlegate, and has the same
# systemd-analyze security exposure online as offline; configures it as docs/install.md says; then
# systemd-check.py: the bus policy (group needlegate or not), pairing with needlectl, the link quality
# (HCI Read RSSI without capabilities: -1 dBm from btvirt's dual-mode controllers, on MQTT, needlectl,
# D-Bus and as a weak_link event), sessions on the local Mosquitto across kill -9, systemctl restart
# bluetooth and the watchdog; last, apt purge leaves nothing behind. Every check prints one line PASS:
# or FAIL: (what was expected, what was seen).
# Logs in RBZ_RESULTS: test.log (this), apt-*.log, pen.log, needlegated.live.log, mqtt.txt
# (mosquitto_sub), link-quality.txt (the daemon's journal lines about it), and from run-scenario.sh
# journal.txt, bluetoothd.log, needlegated.log.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
res=${RBZ_RESULTS:?run this through run-guest.sh}
build=${RBZ_BUILDDIR:?run this through run-guest.sh}
deb=${RBZ_DEB:?run this through run-guest.sh with RBZ_DEB (the meson test realbluez-systemd sets it)}
export DEBIAN_FRONTEND=noninteractive
unit=needlegated.service
policy=/usr/share/dbus-1/system.d/org.needlegate.Gateway1.conf
fifo=/run/pen-control
failures=0
pids=()

say() { echo "scenario-systemd [$SECONDS s]: $*"; }
pass() { say "PASS: $*"; }
fail() {
	say "FAIL: $*"
	failures=$((failures + 1))
}
# A failed step that later ones cannot do without: stop here.
fatal() {
	fail "$*"
	exit 1
}
# shellcheck disable=SC2317 # called through the trap
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	say "$failures check(s) failed"
}
trap stop_all EXIT

# Bounded wait: wait_until SECONDS COMMAND...
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}
lines() { grep -Ec "$2" "$1" 2>/dev/null; }
more_lines() { [ "$(lines "$1" "$2")" -gt "$3" ]; }
prop() { systemctl show -p "$1" --value "$unit"; }

# ---- the guest ------------------------------------------------------------------------------------
[ "$(cat /proc/1/comm)" = systemd ] || fatal "PID 1: expected systemd, saw $(cat /proc/1/comm)"
for service in dbus bluetooth mosquitto; do
	state=$(systemctl is-active "$service")
	[ "$state" = active ] || fatal "$service.service: expected active, saw $state"
done
version=$(/usr/libexec/bluetooth/bluetoothd -v)
for hci in hci0 hci1; do
	busctl --system get-property org.bluez "/org/bluez/$hci" org.bluez.Adapter1 Address >/dev/null ||
		fatal "bluetoothd: expected the adapter $hci on the bus, saw none"
done
# Dual-mode (btvirt without -L) or LE-only: what the controller says, not what was asked. btmgmt quits at
# once on an empty stdin: it gets a pipe that stays open.
info=$(timeout 5 btmgmt --index 0 info < <(sleep 6) 2>/dev/null)
settings=$(sed -n 's/^\tsupported settings: //p' <<<"$info")
if [[ " $settings " == *" br/edr "* ]]; then
	current=$(sed -n 's/^\tcurrent settings: //p' <<<"$info")
	controllers="dual-mode (BR/EDR and LE; BR/EDR $([[ " $current " == *" br/edr "* ]] && echo on || echo off) in bluetoothd)"
	link_rssi=-1 # BlueZ 5.66's emulator answers Read RSSI with -1 dBm for any connection
else
	controllers="LE-only"
	link_rssi=none # its LE command set has no Read RSSI
fi
pass "systemd is PID 1; dbus, bluetooth (bluetoothd $version) and mosquitto active as Debian runs them; hci0, hci1 on the bus, $controllers (btvirt ${RBZ_BTVIRT:-?})"

# ---- install ------------------------------------------------------------------------------------------
say "installing $deb with apt"
t=$SECONDS
# Without --no-download: apt 2.6 then fails on a local .deb ("Pathname to install is not absolute"). The
# guest has no network, so nothing could be downloaded anyway.
apt-get install -y "$deb" >"$res/apt-install.log" 2>&1 ||
	fatal "apt-get install $deb: expected success, saw exit $? (apt-install.log: $(tail -n 3 "$res/apt-install.log" | tr '\n' ' '))"
pass "apt-get install of $(basename "$deb"), dependencies from the host's tree, no network ($((SECONDS - t)) s)"
journalctl -b -u "$unit" -f -o cat >"$res/needlegated.live.log" 2>&1 &
pids+=($!)

enabled=$(systemctl is-enabled "$unit")
active=$(systemctl is-active "$unit")
if [ "$enabled" = enabled ] && [ "$active" = active ]; then
	pass "$unit enabled and active right after the install"
else
	fatal "$unit after the install: expected enabled and active, saw $enabled and $active"
fi
# Type=notify: systemd calls the service active only once READY=1 came.
show=$(systemctl show -p Type,ActiveState,SubState,StatusText "$unit" | tr '\n' ' ')
if [[ "$show" == *"Type=notify"* && "$show" == *"ActiveState=active"* && "$show" == *"SubState=running"* &&
	"$show" =~ StatusText=[0-9]+\ pens\ connected ]]; then
	pass "READY reached (Type=notify): $show"
else
	fail "systemctl show: expected Type=notify, active, running and a StatusText 'N pens connected, ...', saw: $show"
fi
status_line=$(systemctl status --no-pager "$unit" | grep -E '^ +Status: "')
if [ -n "$status_line" ]; then
	pass "systemctl status shows the status line:$status_line"
else
	fail "systemctl status: expected a line 'Status: \"...\"', saw none"
fi
pid=$(prop MainPID)
user=$(ps -o user= -p "$pid")
groups=$(ps -o supgrp= -p "$pid")
if [ "$user" = needlegate ] && [[ ",$groups," == *,bluetooth,* ]]; then
	pass "needlegated (PID $pid) runs as user needlegate, supplementary groups $groups"
else
	fail "needlegated (PID $pid): expected user needlegate with the group bluetooth, saw user '$user', groups '$groups'"
fi
exposure() { sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p'; }
online=$(systemd-analyze security --no-pager "$unit" 2>&1 | exposure)
offline=$(systemd-analyze security --no-pager --offline=true "/lib/systemd/system/$unit" 2>&1 | exposure)
if [ -n "$online" ] && [ "$online" = "$offline" ]; then
	pass "systemd-analyze security: exposure $online online, the same as --offline on the unit file"
else
	fail "systemd-analyze security: expected the same exposure online as --offline, saw '$online' and '$offline'"
fi

# ---- configure, as docs/install.md step 3 -------------------------------------------------------
# reconnect_max_delay 4 s: the pen comes back within seconds here; the default (60) would make the
# test wait for the back-off rather than the gateway. Link quality every 2 s, and weak below 0 dBm for 4 s:
# the emulated controller's -1 dBm counts as weak, so that the weak_link event comes within seconds.
cat >/etc/needlegate/needlegated.conf <<EOF
[gateway]
hub_id=rbz
[mqtt]
url=mqtt://localhost:$RBZ_MQTT_PORT
[bluetooth]
adapter=hci0
connect_timeout=30
reconnect_min_delay=1
reconnect_max_delay=4
link_quality_interval=2
weak_link_dbm=0
weak_link_seconds=4
EOF
chown root:needlegate /etc/needlegate/needlegated.conf
chmod 0640 /etc/needlegate/needlegated.conf
agents=$(lines "$res/needlegated.live.log" 'pairing agent registered')
systemctl restart "$unit" || fatal "systemctl restart $unit after configuring: exit $?"
wait_until 60 more_lines "$res/needlegated.live.log" 'pairing agent registered' "$agents" ||
	fatal "needlegated after configuring: expected 'pairing agent registered' in its journal within 60 s, saw none"
pass "configured (hub_id=rbz, adapter hci0) and restarted: $(prop StatusText)"

# ---- users, pen, subscriber ------------------------------------------------------------------------
useradd --no-create-home --groups needlegate tech || fatal "useradd tech: exit $?"
useradd --no-create-home visitor || fatal "useradd visitor: exit $?"
for who in tech visitor; do
	printf '#!/bin/sh\nexec runuser -u %s -- /usr/bin/needlectl "$@"\n' "$who" >"/usr/local/bin/needlectl-$who"
	chmod 755 "/usr/local/bin/needlectl-$who"
done
mosquitto_sub -h localhost -p "$RBZ_MQTT_PORT" -q 1 -v -t 'needlegate/rbz/#' >"$res/mqtt.txt" 2>&1 &
pids+=($!)
# One bluetoothd has one default agent: the pen's DisplayOnly one must be it, so the pen starts last.
"$build/pensim/needle-pensim" --peripheral --adapter hci1 --control "$fifo" \
	--passkey-file /run/pen-passkey >"$res/pen.log" 2>&1 &
pids+=($!)
wait_until 60 grep -q '^ready' "$res/pen.log" ||
	fatal "needle-pensim --peripheral on hci1: expected 'ready' within 60 s, saw: $(tail -n 5 "$res/pen.log")"
say "pen registered on hci1"

# ---- the policy, pairing, sessions, disruptions -------------------------------------------------
export NEEDLE_HARNESS_DIR="$here/../harness" PYTHONDONTWRITEBYTECODE=1
python3 "$here/systemd-check.py" --needlectl-tech /usr/local/bin/needlectl-tech \
	--needlectl-visitor /usr/local/bin/needlectl-visitor --pen-control "$fifo" --pen-log "$res/pen.log" \
	--gateway-log "$res/needlegated.live.log" --passkey-file /run/pen-passkey --mqtt-port "$RBZ_MQTT_PORT" \
	--hub rbz --link-rssi "$link_rssi" || fail "systemd-check.py: exit $? (its FAIL line is above)"
ended=$(grep -c '^needlegate/rbz/pens/[^/]*/session .*"event": *"ended"' "$res/mqtt.txt")
if [ "$ended" -ge 3 ]; then
	pass "mosquitto_sub on the local broker saw the sessions ($ended session ends under needlegate/rbz/pens/)"
else
	fail "mosquitto_sub on the local broker: expected 3 session ends, saw $ended (mqtt.txt)"
fi

# ---- purge ------------------------------------------------------------------------------------------
apt-get purge -y needlegate >"$res/apt-purge.log" 2>&1 || fail "apt-get purge needlegate: exit $?"
left=()
status=$(dpkg-query -W -f='${db:Status-Status}' needlegate 2>/dev/null)
[ "$status" = not-installed ] || [ -z "$status" ] || left+=("dpkg status '$status'")
procs=$(pgrep -a -x needlegated)
[ -z "$procs" ] || left+=("process: $procs")
load=$(systemctl show -p LoadState --value "$unit")
[ "$load" = not-found ] || left+=("LoadState=$load")
units=$(systemctl list-units --all --plain --no-legend 'needlegated*' | awk '{print $1}' | xargs)
[ -z "$units" ] || left+=("units: $units")
for path in /lib/systemd/system/$unit /etc/systemd/system/multi-user.target.wants/$unit \
	/etc/systemd/system/$unit.d /run/systemd/system/$unit.d "$policy" /usr/lib/sysusers.d/needlegate.conf \
	/usr/lib/tmpfiles.d/needlegate.conf /etc/needlegate /var/lib/needlegate /usr/sbin/needlegated /usr/bin/needlectl; do
	[ ! -e "$path" ] || left+=("$path")
done
busctl --system status org.needlegate.Gateway1 >/dev/null 2>&1 && left+=("the bus name org.needlegate.Gateway1 has an owner")
if [ ${#left[@]} -eq 0 ]; then
	pass "apt purge: no process, unit, D-Bus policy, config or state left"
else
	fail "apt purge: expected nothing left, saw: ${left[*]}"
fi
getent passwd needlegate >/dev/null && say "note: the system user needlegate stays after the purge (Debian keeps system users)"
[ $failures -eq 0 ]
