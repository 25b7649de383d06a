#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Guest scenario proving the harness with Debian's tools only: hci0 finds hci1's GATT peripheral and uses it.
#
#   scenario-gatt.sh [pair]
#
# Runs inside the guest (run-guest.sh) with bluetoothd up on hci0 and hci1. With "pair", the
# peripheral has the NeedlePen profile's security and the central pairs by passkey entry first.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
res=${RBZ_RESULTS:?run this through run-guest.sh}
periph_args=()
central_args=()
case ${1:-} in
'') ;;
pair)
	periph_args=(--secure --passkey-file /run/rbz-passkey --name NeedlePen-0001)
	central_args=(--pair --passkey-file /run/rbz-passkey)
	;;
*)
	echo "scenario-gatt: unknown mode '$1' (expected nothing or 'pair')"
	exit 2
	;;
esac

python3 "$here/gatt-peripheral.py" --adapter hci1 --lifetime 150 "${periph_args[@]}" \
	>"$res/peripheral.log" 2>&1 &
periph=$!
trap 'kill $periph 2>/dev/null; wait $periph 2>/dev/null' EXIT

# Bounded wait for the peripheral's registrations: 60 s is far above the ~2 s they take under TCG.
for _ in $(seq 600); do
	grep -qx ready "$res/peripheral.log" && break
	kill -0 $periph 2>/dev/null || break
	sleep 0.1
done
if ! grep -qx ready "$res/peripheral.log"; then
	echo "scenario-gatt: the peripheral never registered on hci1:"
	cat "$res/peripheral.log"
	exit 1
fi
echo "scenario-gatt: peripheral registered on hci1"

python3 "$here/gatt-central.py" --adapter hci0 --notifications 5 "${central_args[@]}"
status=$?
echo "scenario-gatt: central exited with $status; peripheral log:"
cat "$res/peripheral.log"
exit $status
