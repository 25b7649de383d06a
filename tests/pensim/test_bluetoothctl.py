#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fidelity: Debian's bluetoothctl drives needle-pensim as it would drive bluetoothd 5.66."""

import os
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import Bluetoothctl, Harness, wait_until  # noqa: E402


def main():
    with Harness(pens=2, unpaired=1, pensim_args=["--manual"]) as h:
        bonded, fresh = h.pens()
        addr = fresh.prop("Address")
        with Bluetoothctl(h) as bt:
            bt.expect(r"Agent registered")
            bt.send("list")
            bt.expect(r"Controller 00:1A:7D:4E:47:01 needle-pensim \[default\]")
            bt.send("show")
            bt.expect(r"Powered: yes")
            bt.expect(r"Roles: central")

            # the bonded pen is known from the start, the other one only once scanned
            bt.send("devices")
            bt.expect(r"Device %s NeedlePen-0001" % bonded.prop("Address"))
            bt.send("scan on")
            bt.expect(r"Discovery started")
            bt.expect(r"\[NEW\] Device %s NeedlePen-0002" % addr)
            bt.send("scan off")
            bt.expect(r"Discovery stopped")

            # passkey entry: bluetoothctl's agent asks, the pen shows the number
            bt.send("pair " + addr)
            bt.expect(r"Enter passkey \(number in 0-999999\):")
            passkey = wait_until(lambda: fresh.prop("Passkey"), 5, "the pen's passkey")
            bt.send(passkey)
            bt.expect(r"Pairing successful")
            assert fresh.device_prop("Paired") is True

            bt.send("connect " + addr)
            bt.expect(r"Connection successful")
            assert fresh.device_prop("ServicesResolved") is True

            bt.send("menu gatt")
            bt.send("list-attributes " + addr)
            dev = fresh.device.replace("/org/bluez/hci0/", "")
            bt.expect(r"Primary Service \(Handle 0x0000\)\s+/org/bluez/hci0/%s/service0017\s+"
                      r"a3c10001-8b6f-4e2d-9c55-2f1d7e9b0c41" % dev)
            bt.expect(r"/org/bluez/hci0/%s/service0017/char0023\s+a3c10006-8b6f-4e2d-9c55-2f1d7e9b0c41" % dev)

            serial_char = fresh.device + "/service000a/char000f"
            bt.send("select-attribute " + serial_char)
            bt.send("read")
            bt.expect(r"Attempting to read " + serial_char)
            # the hex dump of "NP5EED0002"
            bt.expect(r"4e 50 35 45 45 44 30 30 30 32\s+NP5EED0002")

            features = fresh.device + "/service0017/char0018"
            bt.send("select-attribute " + features)
            bt.send("read")
            bt.expect(r"01 1f 00 19 00 10 fa 00")  # version 1, features, 25 Hz, 4096, 2.50 mm
            bt.send("back")

            bt.send("disconnect " + addr)
            bt.expect(r"Successful disconnected")
            wait_until(lambda: fresh.device_prop("Connected") is False, 5, "Connected false")
    print("bluetoothctl: list, show, scan, pair, connect, list-attributes, read: ok")


if __name__ == "__main__":
    main()
