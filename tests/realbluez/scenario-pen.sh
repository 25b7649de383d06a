#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest scenario: needle-pensim --peripheral on hci1, checked from hci0 by pen-central-check.py (no gateway).
#
# Pairing by passkey entry, a session with a link cut and Report Stored Records, on real bluetoothd.
# Runs inside the guest (run-guest.sh); pen.log beside the other logs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
res=${RBZ_RESULTS:?run this through run-guest.sh}
fifo=/run/pen-control

"$RBZ_BUILDDIR/pensim/needle-pensim" --peripheral --adapter hci1 --control "$fifo" \
	--passkey-file /run/pen-passkey >"$res/pen.log" 2>&1 &
pen=$!
trap 'kill $pen 2>/dev/null; wait $pen 2>/dev/null' EXIT

# Bounded wait for the pen's registrations: 60 s is far above the ~2 s they take under TCG.
for _ in $(seq 600); do
	grep -q ^ready "$res/pen.log" && break
	kill -0 $pen 2>/dev/null || break
	sleep 0.1
done
if ! grep -q ^ready "$res/pen.log"; then
	echo "scenario-pen: the pen never registered on hci1:"
	cat "$res/pen.log"
	exit 1
fi
echo "scenario-pen: pen registered on hci1"

# The checks import the tests' harness (tests/harness), as every Python test does.
export NEEDLE_HARNESS_DIR="$here/../harness" PYTHONDONTWRITEBYTECODE=1
python3 "$here/pen-central-check.py" --adapter hci0 --pen-control "$fifo" --passkey-file /run/pen-passkey \
	--records 300 --cut-after 100
status=$?
echo "scenario-pen: check exited with $status; pen log:"
cat "$res/pen.log"
exit $status
