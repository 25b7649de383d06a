#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Discovery as bluetoothd 5.66 does it: per-client sessions, merged filters, RSSI, temporary devices."""

import os
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import Gio, GLib, Harness, expect_error, pump, wait_until  # noqa: E402

ADAPTER = "/org/bluez/hci0"
AD = "org.bluez.Adapter1"
ERR = "org.bluez.Error."
NSS = "a3c10001-8b6f-4e2d-9c55-2f1d7e9b0c41"


def call_on(conn, method, params=None):
    conn.call_sync("org.bluez", ADAPTER, AD, method, params, None, Gio.DBusCallFlags.NONE, 5000, None)


def set_filter(h, f):
    h.call(ADAPTER, AD, "SetDiscoveryFilter", GLib.Variant("(a{sv})", (f,)))


def check_filter_validation(h):
    assert sorted(h.call(ADAPTER, AD, "GetDiscoveryFilters")[0]) == sorted(
        ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"])
    for bad in [{"Colour": GLib.Variant("s", "red")}, {"Transport": GLib.Variant("s", "carrier-pigeon")},
                {"RSSI": GLib.Variant("s", "-60")},
                {"RSSI": GLib.Variant("n", -60), "Pathloss": GLib.Variant("q", 20)}]:
        expect_error(ERR + "InvalidArguments", set_filter, h, bad)
    expect_error(ERR + "Failed", h.call, ADAPTER, AD, "StopDiscovery")


def check_merged_filters(h, pens):
    unpaired = [p for p in pens if p.serial != pens[0].serial]
    set_filter(h, {"UUIDs": GLib.Variant("as", ["180d"]), "Transport": GLib.Variant("s", "le")})
    h.call(ADAPTER, AD, "StartDiscovery")
    expect_error(ERR + "InProgress", h.call, ADAPTER, AD, "StartDiscovery")
    assert h.get_property(ADAPTER, AD, "Discovering") is True
    pump(0.8)
    objs = h.managed_objects()
    assert all(p.device not in objs for p in unpaired), "a heart-rate filter finds no pen"
    other = nh.connect(h.bus_address)
    call_on(other, "StartDiscovery")  # no filter: everything, for everyone
    wait_until(lambda: all(p.device in h.managed_objects() for p in unpaired), 5, "the unpaired pens")
    dev = h.managed_objects()[unpaired[0].device]["org.bluez.Device1"]
    assert dev["Paired"] is False and dev["RSSI"] < 0 and NSS in dev["UUIDs"]
    assert bytes(dev["ManufacturerData"][0xFFFF]) == bytes([0x02, 0x00, 87])
    assert dev["Name"] == "NeedlePen-%s" % unpaired[0].serial[-4:]
    other.close_sync(None)  # leaving the bus ends its discovery session
    pump(0.3)
    assert h.get_property(ADAPTER, AD, "Discovering") is True
    h.call(ADAPTER, AD, "StopDiscovery")
    wait_until(lambda: h.get_property(ADAPTER, AD, "Discovering") is False, 5, "Discovering false")
    assert "RSSI" not in h.managed_objects()[unpaired[0].device]["org.bluez.Device1"]
    set_filter(h, {})


def check_temporary(h, pens):
    removed = []
    h.subscribe(lambda path, m, p: removed.append(p[0]), "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved")
    wait_until(lambda: all(p.device in removed for p in pens[1:]), 5, "unpaired devices to vanish")
    assert pens[0].device in h.managed_objects(), "a bonded device stays"


def check_pattern(h, pens):
    set_filter(h, {"Pattern": GLib.Variant("s", "NeedlePen-" + pens[2].serial[-4:])})
    h.call(ADAPTER, AD, "StartDiscovery")
    wait_until(lambda: pens[2].device in h.managed_objects(), 5, "the pen the pattern names")
    pump(0.5)
    assert pens[1].device not in h.managed_objects()
    pens[2].call("SetPresent", "(b)", False)
    h.call(ADAPTER, AD, "StopDiscovery")
    wait_until(lambda: pens[2].device not in h.managed_objects(), 5, "the absent pen to vanish")


def check_power(h, pens):
    pens[0].connect()
    h.set_property(ADAPTER, AD, "Powered", GLib.Variant("b", False))
    assert pens[0].device_prop("Connected") is False
    assert h.get_property(ADAPTER, AD, "PowerState") == "off"
    expect_error(ERR + "NotReady", h.call, ADAPTER, AD, "StartDiscovery")
    expect_error(ERR + "NotReady", pens[0].connect)
    h.set_property(ADAPTER, AD, "Powered", GLib.Variant("b", True))
    pens[0].connect()
    # bluetoothd says PropertyReadOnly, GDBus InvalidArgs: either way the address stays
    try:
        h.set_property(ADAPTER, AD, "Address", GLib.Variant("s", "00:00:00:00:00:00"))
        raise AssertionError("the adapter address was writable")
    except GLib.Error:
        pass
    assert h.get_property(ADAPTER, AD, "Address") == "00:1A:7D:4E:47:01"


def main():
    args = ["--manual", "--temporary-timeout", "1", "--adv-interval-ms", "200"]
    with Harness(pens=3, unpaired=2, pensim_args=args) as h:
        pens = h.pens()
        check_filter_validation(h)
        check_merged_filters(h, pens)
        check_temporary(h, pens)
        check_pattern(h, pens)
        check_power(h, pens)
    print("discovery: filters, merged sessions, RSSI, temporary devices, pattern, power: ok")


if __name__ == "__main__":
    main()
