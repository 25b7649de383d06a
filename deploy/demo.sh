#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # cleanup and its helpers run from traps
# The demo: installs what is missing, builds, then runs three simulated pens, a local Mosquitto
# and needlegated on a private bus, with a live view of what reaches the broker. Ctrl-C stops it.
# When the build made the web dashboard (node and npm found), the demo's Mosquitto serves it on a
# WebSockets listener: the first screen says where ("Dashboard: http://127.0.0.1:PORT/?hub=demo").
#
#   sudo bash deploy/demo.sh [--pens N] [--seconds S]
#
# Everything it starts stops, whatever ends it: Ctrl-C (INT), kill (TERM), a closed terminal or a
# dropped SSH link (HUP), its output piped into something that goes away (`| tee log` stopped with
# Ctrl-C, `| head`), the end of --seconds, an error. deploy/demo/demo.py stops what it started
# itself; then this script kills, with a bounded wait, any process left that carries this run's
# mark in its environment (NEEDLEGATE_DEMO_RUN, inherited by every process the demo starts).
#
# NEEDLEGATE_DEMO_BUILD=DIR: run the programs of that (already built) meson build folder, install
# and build nothing (the tests do this).
set -euo pipefail
cd "$(dirname "$0")/.."

run="$$-$(date +%s%N)"
demo_pid=""

say() { echo "demo.sh: $*" >&2 || true; } # never fails, even on a closed terminal
marked() { # the processes of this run still alive (grep itself and this shell carry no mark)
	grep -lzx "NEEDLEGATE_DEMO_RUN=$run" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
}
running() { # not gone, not a zombie
	local _pid _comm state
	read -r _pid _comm state _ 2>/dev/null <"/proc/$1/stat" && [ "$state" != Z ]
}
cleanup() {
	local status=$? pids i
	# From here on nothing interrupts the cleanup, and writing to a closed pipe is no signal.
	trap '' INT TERM HUP PIPE
	if [ -n "$demo_pid" ]; then
		# demo.py stops its processes one after the other, each within 10 s: give it 40 s.
		kill -TERM "$demo_pid" 2>/dev/null || true
		for ((i = 0; i < 400; i++)); do
			running "$demo_pid" || break
			sleep 0.1
		done
		kill -KILL "$demo_pid" 2>/dev/null || true
		wait "$demo_pid" 2>/dev/null || true
	fi
	pids="$(marked)"
	if [ -n "$pids" ]; then
		local left=$pids
		# shellcheck disable=SC2086 # one PID a word
		kill -TERM $pids 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			[ -n "$(marked)" ] || break
			sleep 0.1
		done
		pids="$(marked)"
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		say "stopped what the demo left running: $(echo "$left" | tr '\n' ' ')"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

builddir=${NEEDLEGATE_DEMO_BUILD:-}
if [ -z "$builddir" ]; then
	bash .ci/install-deps.sh --demo
	builddir=build-demo
	[ -d "$builddir" ] || meson setup "$builddir" >/dev/null
	meson compile -C "$builddir" >/dev/null
fi
# In the background, so that this shell's traps run as soon as a signal arrives.
NEEDLEGATE_DEMO_RUN=$run NEEDLE_HARNESS_DIR=$PWD/tests/harness \
	/usr/bin/python3 deploy/demo/demo.py --build "$builddir" "$@" &
demo_pid=$!
status=0
wait "$demo_pid" || status=$?
demo_pid=""
exit "$status"
