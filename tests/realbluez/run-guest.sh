#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots the QEMU guest on the host's / tree, runs one scenario script in it, brings its logs back.
#
#   bash tests/realbluez/run-guest.sh BUILDDIR SCENARIO [ARGS...]
#
# SCENARIO runs as root inside the guest with dbus, btvirt (hci0, hci1), bluetoothd and Mosquitto up;
# it sees RBZ_RESULTS (a folder shared with the host) and RBZ_MQTT_PORT. Exits with its status.
# Results: BUILDDIR/realbluez/results/NAME[-ARG...]/ (test.log, guest.log, console.log, bluetoothd.log,
# btmon.snoop and its live text btmon.txt, mosquitto.log, btvirt.log).
# Environment: RBZ_TIMEOUT (hard limit of the whole guest, s, default 240), RBZ_SCENARIO_TIMEOUT
# (default RBZ_TIMEOUT - 30), RBZ_MEM (default 512M), RBZ_DBUS_POLICY (extra system-bus policy files),
# RBZ_CRASH_RETRIES (boots again after a bluetoothd segfault, default 1), RBZ_GUEST_INIT (the guest's
# first program: guest-init.sh, the default, starts the services itself; systemd-init.sh boots systemd),
# RBZ_DEB (a needlegate .deb, or a folder holding one, that the scenario installs: passed on as RBZ_DEB;
# none there fails under CI=true and skips the test, status 77, elsewhere), RBZ_BTVIRT (btvirt's arguments
# in the systemd guest, default '-l2': two dual-mode controllers; '-L -l2' makes them LE-only, as
# guest-init.sh always does).
set -euo pipefail

die() {
	echo "realbluez: $*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: run-guest.sh BUILDDIR SCENARIO [ARGS...]"
here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "$1" && pwd)
scenario=$(realpath "$2")
shift 2
[ -x "$scenario" ] || die "scenario $scenario is not an executable file"
# The guest mounts fresh file systems over these, so a path under them would vanish inside the guest.
case "$builddir" in
/run/* | /dev/* | /proc/* | /sys/*) die "the build folder must not live under /run, /dev, /proc or /sys" ;;
esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: run .ci/realbluez-deps.sh"
command -v btvirt >/dev/null || die "btvirt is missing (package bluez-test-tools): run .ci/realbluez-deps.sh"

guest_init=$here/${RBZ_GUEST_INIT:-guest-init.sh}
[ -x "$guest_init" ] || die "RBZ_GUEST_INIT: $guest_init is not an executable file"
deb=
if [ -n "${RBZ_DEB:-}" ]; then
	deb=$RBZ_DEB
	# shellcheck disable=SC2012 # the newest; the package's file names are plain
	[ -d "$deb" ] && deb=$(ls -t "$deb"/needlegate_*_amd64.deb 2>/dev/null | head -n 1 || true)
	if [ ! -f "$deb" ]; then
		echo "realbluez: no needlegate .deb at $RBZ_DEB: build it first with 'sudo bash .ci/package.sh'" >&2
		[ "${CI:-}" = true ] && exit 1
		echo "realbluez: SKIPPED $(basename "$scenario") (it fails instead under CI=true)" >&2
		exit 77
	fi
	deb=$(realpath "$deb")
	echo "realbluez: the package is $deb, built $(date -r "$deb" '+%F %T')"
fi

start=$SECONDS
bash "$here/prepare.sh" "$builddir"
# shellcheck source=/dev/null
. "$builddir/realbluez/prepared.env"
prepared=$((SECONDS - start))

timeout_s=${RBZ_TIMEOUT:-240}
scenario_timeout=${RBZ_SCENARIO_TIMEOUT:-$((timeout_s - 30))}
name=$(basename "$scenario")
name=${name%.*}
# One results folder per scenario and argument list, so that variants of one scenario keep their logs apart.
for arg in "$@"; do
	name+=-$(printf '%s' "$arg" | tr -c 'A-Za-z0-9_.' '_')
done
res=$builddir/realbluez/results/$name
rm -rf "$res"
mkdir -p "$res"
chmod 777 "$res"
cat >"$res/guest.env" <<EOF
RBZ_SCENARIO='$scenario'
RBZ_ARGS='$*'
RBZ_KVER='$RBZ_KVER'
RBZ_MODULES='$RBZ_MODULES'
RBZ_SCENARIO_TIMEOUT='$scenario_timeout'
RBZ_DBUS_POLICY='${RBZ_DBUS_POLICY:-}'
RBZ_SRCDIR='$(cd "$here/../.." && pwd)'
RBZ_BUILDDIR='$builddir'
RBZ_DEB='$deb'
RBZ_BTVIRT='${RBZ_BTVIRT:-}'
export RBZ_SRCDIR RBZ_BUILDDIR
EOF

# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
qemu=(
	qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m "${RBZ_MEM:-512M}"
	-display none -monitor none -nic none -no-reboot -serial "file:$res/console.log"
	-d guest_errors,cpu_reset -D "$res/qemu-debug.log"
	-kernel "$RBZ_KERNEL" -initrd "$RBZ_INITRAMFS"
	-append "console=ttyS0 panic=-1 quiet loglevel=4 rbz_init=$guest_init"
	-fsdev "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap"
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	-fsdev "local,id=results,path=$res,security_model=none"
	-device virtio-9p-pci,fsdev=results,mount_tag=results
)
echo "realbluez: booting the guest for $name (limit $timeout_s s)"
boot=$SECONDS
"${qemu[@]}" </dev/null >"$res/qemu.log" 2>&1 &
qpid=$!
# Whatever ends this script (meson's timeout sends SIGTERM) ends the guest too.
trap 'kill -KILL $qpid 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
overran=0
while kill -0 $qpid 2>/dev/null; do
	if [ $((SECONDS - boot)) -ge "$timeout_s" ]; then
		kill -KILL $qpid 2>/dev/null || true
		overran=1
		break
	fi
	sleep 0.2
done
qemu_status=0
wait $qpid 2>/dev/null || qemu_status=$?
guest=$((SECONDS - boot))

status=$(cat "$res/status" 2>/dev/null || true)
if [ $overran -eq 1 ]; then
	echo "realbluez: the guest overran $timeout_s s and was killed"
	status=${status:-124}
elif [ -z "$status" ]; then
	# QEMU's own status tells a guest that reset or crashed (0) from a QEMU killed from outside (128 + signal).
	echo "realbluez: the guest ended without writing a status (QEMU exit status $qemu_status; see console.log)"
	status=125
fi
echo "realbluez: $name status $status; prepare ${prepared} s, guest ${guest} s; logs in $res"
if [ "$status" != 0 ]; then
	for f in test.log guest.log console.log bluetoothd.log qemu.log qemu-debug.log; do
		[ -s "$res/$f" ] || continue
		echo "----- tail of $res/$f"
		tail -n 40 "$res/$f"
	done
fi
# bluetoothd 5.66 now and then segfaults when a bonded LE link comes back on btvirt (setsockopt(BT_SECURITY)
# fails with EINVAL, the Exchange MTU Request is never answered, both sides drop the link; see the report of
# issue 8). The guest kernel's Bluetooth code sometimes oopses at the same moment (a corrupt list in
# the reconnection, "bluetoothd[N] exited with irqs disabled") and kills bluetoothd with it. Those
# crashes are upstream's, not the scenario's: the guest boots once more, once only
# (RBZ_CRASH_RETRIES, default 1), and the crashed attempt's logs stay in RESULTS.crashed.
retries=${RBZ_CRASH_RETRIES:-1}
# Under systemd (systemd-init.sh) it is the unit's status that says so, on the console through journald.
crashed='Segmentation fault.*bluetoothd|note: bluetoothd\[[0-9]+\] exited with irqs disabled'
crashed+='|bluetooth\.service: Main process exited, code=(dumped|killed), status=11/SEGV'
if [ "$status" != 0 ] && [ "$retries" -gt 0 ] && grep -Eq "$crashed" "$res/console.log" 2>/dev/null; then
	echo "realbluez: bluetoothd crashed (a known BlueZ 5.66 or kernel fault); booting once more, logs of this attempt in $res.crashed"
	rm -rf "$res.crashed"
	mv "$res" "$res.crashed"
	trap - EXIT
	RBZ_CRASH_RETRIES=$((retries - 1)) exec bash "$0" "$builddir" "$scenario" "$@"
fi
exit "$status"
