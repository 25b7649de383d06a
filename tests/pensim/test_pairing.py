#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pairing as bluetoothd does it with a DisplayOnly pen: passkey entry through the client's agent."""

import os
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import (UUID_CONTROL_POINT, UUID_TELEMETRY, Agent, AsyncCall, Harness, expect_error,  # noqa: E402
                           wait_until)

DEV = "org.bluez.Device1"
ERR = "org.bluez.Error."


def pair(h, pen):
    return AsyncCall(h, pen.device, DEV, "Pair").wait()


def discover(h, pen):
    h.call("/org/bluez/hci0", "org.bluez.Adapter1", "StartDiscovery")
    wait_until(lambda: pen.device in h.managed_objects(), 5, "the unpaired pen to be discovered")
    h.call("/org/bluez/hci0", "org.bluez.Adapter1", "StopDiscovery")


def check_agent_manager(h):
    a = Agent(h, "/test/a1")
    expect_error(ERR + "AlreadyExists", Agent, h, "/test/a2")
    expect_error(ERR + "DoesNotExist", h.call, "/org/bluez", "org.bluez.AgentManager1", "UnregisterAgent",
                 nh.GLib.Variant("(o)", ("/test/nothing",)))
    a.unregister()
    expect_error(ERR + "InvalidArguments", Agent, h, "/test/a3", "Telepathy")


def check_refusals(h, pen):
    assert pair(h, pen).error == ERR + "AuthenticationFailed", "no agent: Just Works, refused by the pen"
    a = Agent(h, "/test/noio", "NoInputNoOutput")
    assert pair(h, pen).error == ERR + "AuthenticationFailed"
    a.unregister()


def check_wrong_passkey(h, pen):
    shown = []

    def wrong(device):
        shown.append(pen.prop("Passkey"))
        return (int(shown[-1]) + 1) % 1000000
    a = Agent(h, "/test/wrong", "KeyboardOnly", wrong)
    assert pair(h, pen).error == ERR + "AuthenticationFailed"
    assert a.calls[0] == ("RequestPasskey", (pen.device,))
    assert len(shown) == 1 and len(shown[0]) == 6 and shown[0].isdigit()
    assert pen.device_prop("Paired") is False
    wait_until(lambda: pen.device_prop("Connected") is False, 5, "the pairing link to drop")
    assert pen.prop("Passkey") == ""
    a.unregister()


def check_unpaired_access(h, pen):
    pen.connect()
    assert pen.read(nh.UUID_SERIAL_NUMBER) == pen.serial.encode(), "Device Information needs no pairing"
    assert len(pen.read(nh.UUID_BATTERY_LEVEL)) == 1
    # As real bluetoothd 5.66 with no keyboard-capable default agent: it tries to raise the security
    # itself, that fails, the request fails with ATT error 0x0e and the link drops. Every time.
    for attempt in (lambda: pen.read(nh.UUID_PEN_FEATURES), lambda: pen.write(UUID_CONTROL_POINT, b"\x07"),
                    lambda: pen.start_notify(UUID_TELEMETRY), lambda: pen.acquire_notify(UUID_TELEMETRY)):
        if not pen.device_prop("Connected"):
            pen.connect()
        msg = expect_error(ERR + "Failed", attempt)
        assert msg.endswith("Operation failed with ATT error: 0x0e"), msg
        wait_until(lambda: pen.device_prop("Connected") is False, 5, "the link to drop after ATT error 0x0e")


def check_cancel(h, pen):
    expect_error(ERR + "DoesNotExist", h.call, pen.device, DEV, "CancelPairing")
    a = Agent(h, "/test/slow", "KeyboardDisplay", lambda device: None)
    call = AsyncCall(h, pen.device, DEV, "Pair")
    wait_until(lambda: a.pending, 5, "RequestPasskey")
    h.call(pen.device, DEV, "CancelPairing")
    assert call.wait().error == ERR + "AuthenticationCanceled"
    wait_until(lambda: ("Cancel", ()) in a.calls, 5, "the agent's Cancel")
    a.unregister()


def check_right_passkey(h, pen):
    a = Agent(h, "/test/right", "KeyboardOnly", lambda device: int(pen.prop("Passkey")))
    assert pair(h, pen).error is None
    assert pen.device_prop("Paired") is True and pen.device_prop("Bonded") is True
    assert pen.read(nh.UUID_PEN_FEATURES)[0] == 1, "the session service opens after pairing"
    assert pair(h, pen).error == ERR + "AlreadyExists"
    a.unregister()


def check_remove(h, pen):
    removed = []
    h.subscribe(lambda path, m, p: removed.append(p[0]), "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved")
    h.call("/org/bluez/hci0", "org.bluez.Adapter1", "RemoveDevice", nh.GLib.Variant("(o)", (pen.device,)))
    wait_until(lambda: pen.device in removed, 5, "InterfacesRemoved for the device")
    assert pen.device not in h.managed_objects()
    assert pen.prop("Paired") is False
    expect_error(ERR + "DoesNotExist", h.call, "/org/bluez/hci0", "org.bluez.Adapter1", "RemoveDevice",
                 nh.GLib.Variant("(o)", (pen.device,)))


def main():
    with Harness(pens=1, unpaired=1, pensim_args=["--manual"]) as h:
        pen = h.pen(0)
        assert pen.device not in h.managed_objects(), "an unpaired pen is unknown before discovery"
        check_agent_manager(h)
        discover(h, pen)
        check_refusals(h, pen)
        check_wrong_passkey(h, pen)
        check_unpaired_access(h, pen)
        check_cancel(h, pen)
        check_right_passkey(h, pen)
        check_remove(h, pen)
    print("pairing: agents, refusals, wrong and right passkey, unpaired access, cancel, remove: ok")


if __name__ == "__main__":
    main()
