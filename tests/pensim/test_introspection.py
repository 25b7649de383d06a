#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fidelity: gdbus and busctl, which no one here wrote, see bluetoothd 5.66's interfaces."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import Harness  # noqa: E402


def run(h, *argv):
    out = subprocess.run(argv, env=h.env(), capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, f"{argv}: {out.stderr}"
    return out.stdout


def gdbus_introspect(h, path):
    return run(h, "gdbus", "introspect", "--system", "--dest", "org.bluez", "--object-path", path)


def check_root(h):
    out = gdbus_introspect(h, "/")
    assert "interface org.freedesktop.DBus.ObjectManager" in out
    assert re.search(r"GetManagedObjects\(out a\{oa\{sa\{sv\}\}\} \w+\)", out)
    assert "InterfacesAdded(o " in out and "InterfacesRemoved(o " in out


def check_adapter(h):
    out = gdbus_introspect(h, "/org/bluez/hci0")
    for needle in ["interface org.bluez.Adapter1", "StartDiscovery();", "StopDiscovery();",
                   "RemoveDevice(in  o device);", "SetDiscoveryFilter(in  a{sv} properties);",
                   "GetDiscoveryFilters(out as filters);", "readonly s Address", "readwrite b Powered",
                   "readonly b Discovering", "node dev_C0_4E_50_5E_00_01"]:
        assert needle in out, f"{needle!r} not in:\n{out}"
    assert "interface org.bluez.AgentManager1" in gdbus_introspect(h, "/org/bluez")


def check_device(h, pen):
    pen.connect()
    out = gdbus_introspect(h, pen.device)
    for needle in ["interface org.bluez.Device1", "interface org.bluez.Battery1", "Pair();", "CancelPairing();",
                   "Connect();", "Disconnect();", "readonly y Percentage", "readonly n RSSI",
                   "readonly a{qv} ManufacturerData", "readonly b ServicesResolved = true",
                   "readonly b Paired = true", "readonly b Bonded = true", "readonly s AddressType = 'random'",
                   "node service0017"]:
        assert needle in out, f"{needle!r} not in:\n{out}"
    assert "RSSI =" not in out, "RSSI is absent when not discovering, as in bluetoothd"


def check_characteristic(h, pen):
    out = gdbus_introspect(h, pen.device + "/service0017/char001a")
    for needle in ["interface org.bluez.GattCharacteristic1", "ReadValue(in  a{sv} options,",
                   "WriteValue(in  ay value,", "AcquireNotify(in  a{sv} options,", "out h fd,", "out q mtu);",
                   "StartNotify();", "StopNotify();", "readonly s UUID = 'a3c10003-8b6f-4e2d-9c55-2f1d7e9b0c41'",
                   "readonly as Flags = ['notify']", "readonly b NotifyAcquired = false",
                   "readonly o Service = '%s/service0017'" % pen.device, "node desc001c"]:
        assert needle in out, f"{needle!r} not in:\n{out}"
    svc = gdbus_introspect(h, pen.device + "/service0017")
    assert "readonly b Primary = true" in svc and "readonly o Device = '%s'" % pen.device in svc


def check_busctl(h, pen):
    tree = run(h, "busctl", "--system", "tree", "org.bluez")
    for path in ["/org/bluez/hci0", pen.device + "/service000a/char000f", pen.device + "/service0013/char0014",
                 pen.device + "/service0017/char0020/desc0022", "/org/needlegate/PenSim/" + pen.serial]:
        assert path in tree, f"{path} not in busctl tree:\n{tree}"
    out = run(h, "busctl", "--system", "introspect", "org.bluez", pen.device + "/service000a/char000f")
    assert re.search(r"\.ReadValue\s+method\s+a\{sv\}\s+ay", out), out
    value = run(h, "busctl", "--system", "call", "org.bluez", pen.device + "/service000a/char000f",
                "org.bluez.GattCharacteristic1", "ReadValue", "a{sv}", "0")
    assert value.startswith("ay 10 78 80 53 69 69 68 48 48 48 49"), value  # "NP5EED0001"


def check_pensim(h, pen):
    out = gdbus_introspect(h, "/org/needlegate/PenSim/" + pen.serial)
    for needle in ["interface org.needlegate.PenSim1", "StartSession(out q session_id);", "DropLink();",
                   "SendMalformed(in  s kind);", "readonly s Passkey = ''", "readonly s Serial = 'NP5EED0001'"]:
        assert needle in out, f"{needle!r} not in:\n{out}"


def main():
    with Harness(pens=1, pensim_args=["--manual"]) as h:
        pen = h.pen(0)
        check_root(h)
        check_adapter(h)
        check_device(h, pen)
        check_characteristic(h, pen)
        check_busctl(h, pen)
        check_pensim(h, pen)
    print("introspection: gdbus and busctl see ObjectManager, Adapter1, Device1, Battery1, GATT, PenSim1: ok")


if __name__ == "__main__":
    main()
