#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small GATT peripheral served through real bluetoothd: one readable and one notifying characteristic.

It proves the guest harness with Debian's tools only: GattManager1.RegisterApplication and
LEAdvertisingManager1.RegisterAdvertisement on the adapter given, then it serves until killed or until
--lifetime seconds pass. Prints "ready" on stdout once both registrations have succeeded.

With --secure it behaves like the NeedlePen profile's security: both characteristics need an
authenticated encrypted link, the advertisement carries the pen's 28 bytes (flags, 128-bit UUID,
manufacturer data 0xFFFF) with the name left for the scan response, and a DisplayOnly default agent
writes each passkey that DisplayPasskey shows into --passkey-file.
"""

import os

import argparse
import sys

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROP_IFACE = "org.freedesktop.DBus.Properties"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
AD_IFACE = "org.bluez.LEAdvertisement1"

SERVICE_UUID = "6e0f0001-5b1c-4a3e-9d2a-7262627a0001"
READ_UUID = "6e0f0002-5b1c-4a3e-9d2a-7262627a0001"
NOTIFY_UUID = "6e0f0003-5b1c-4a3e-9d2a-7262627a0001"
READ_VALUE = b"realbluez says hello"


def log(msg):
    print(f"peripheral: {msg}", flush=True)


class InvalidArgs(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.InvalidArgs"


class Rejected(dbus.exceptions.DBusException):
    _dbus_error_name = "org.bluez.Error.Rejected"


class DisplayAgent(dbus.service.Object):
    """A DisplayOnly agent: the only thing it can do is show a passkey, here into a file."""

    def __init__(self, bus, path, passkey_file):
        self.passkey_file = passkey_file
        super().__init__(bus, path)

    @dbus.service.method("org.bluez.Agent1", in_signature="ouq", out_signature="")
    def DisplayPasskey(self, device, passkey, entered):
        log(f"DisplayPasskey {passkey:06d} (entered {entered}) for {device}")
        tmp = self.passkey_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{passkey:06d}\n")
        os.rename(tmp, self.passkey_file)

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Release(self):
        log("agent released")

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Cancel(self):
        log("agent: pairing cancelled")

    @dbus.service.method("org.bluez.Agent1", in_signature="os", out_signature="")
    def AuthorizeService(self, device, uuid):
        log(f"AuthorizeService {uuid} for {device}: accepted")

    @dbus.service.method("org.bluez.Agent1", in_signature="ou", out_signature="")
    def RequestConfirmation(self, device, passkey):
        # A DisplayOnly device has no yes/no button; bluetoothd should never ask.
        log(f"unexpected RequestConfirmation {passkey:06d} for {device}")
        raise Rejected("DisplayOnly")

    @dbus.service.method("org.bluez.Agent1", in_signature="o", out_signature="")
    def RequestAuthorization(self, device):
        log(f"unexpected RequestAuthorization for {device}")
        raise Rejected("DisplayOnly")


class Characteristic(dbus.service.Object):
    """One characteristic; subclasses say how it reads and notifies."""

    def __init__(self, bus, path, uuid, flags, service_path):
        self.path = path
        self.uuid = uuid
        self.flags = flags
        self.service_path = service_path
        super().__init__(bus, path)

    def properties(self):
        return {
            CHRC_IFACE: {
                "Service": dbus.ObjectPath(self.service_path),
                "UUID": self.uuid,
                "Flags": dbus.Array(self.flags, signature="s"),
            }
        }

    @dbus.service.method(PROP_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        if interface != CHRC_IFACE:
            raise InvalidArgs(f"no interface {interface}")
        return self.properties()[CHRC_IFACE]

    @dbus.service.signal(PROP_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, interface, changed, invalidated):
        pass


class ReadCharacteristic(Characteristic):
    @dbus.service.method(CHRC_IFACE, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        log(f"ReadValue from {options.get('device', '?')}")
        return dbus.Array(READ_VALUE, signature="y")


class NotifyCharacteristic(Characteristic):
    """Notifies a one-byte counter every 200 ms while a client is subscribed."""

    def __init__(self, *args):
        super().__init__(*args)
        self.counter = 0
        self.timer = None

    def tick(self):
        self.counter = (self.counter + 1) % 256
        value = dbus.Array([dbus.Byte(self.counter)], signature="y")
        self.PropertiesChanged(CHRC_IFACE, {"Value": value}, [])
        return True

    @dbus.service.method(CHRC_IFACE, in_signature="", out_signature="")
    def StartNotify(self):
        log("StartNotify")
        if self.timer is None:
            self.timer = GLib.timeout_add(200, self.tick)

    @dbus.service.method(CHRC_IFACE, in_signature="", out_signature="")
    def StopNotify(self):
        log("StopNotify")
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None


class Application(dbus.service.Object):
    """The object tree bluetoothd reads through GetManagedObjects."""

    def __init__(self, bus, secure):
        self.path = "/rbz/app"
        super().__init__(bus, self.path)
        self.service_path = self.path + "/service0"
        read_flags = ["encrypt-authenticated-read"] if secure else ["read"]
        notify_flags = ["encrypt-authenticated-notify"] if secure else ["notify"]
        base = self.service_path
        self.chrcs = [
            ReadCharacteristic(bus, base + "/char0", READ_UUID, read_flags, base),
            NotifyCharacteristic(bus, base + "/char1", NOTIFY_UUID, notify_flags, base),
        ]
        self.service = dbus.service.Object(bus, self.service_path)

    @dbus.service.method(OM_IFACE, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        objects = {
            dbus.ObjectPath(self.service_path): {
                SERVICE_IFACE: {"UUID": SERVICE_UUID, "Primary": True},
            }
        }
        for chrc in self.chrcs:
            objects[dbus.ObjectPath(chrc.path)] = chrc.properties()
        return objects


class Advertisement(dbus.service.Object):
    def __init__(self, bus, name, manufacturer_data):
        self.path = "/rbz/adv0"
        self.name = name
        self.manufacturer_data = manufacturer_data
        super().__init__(bus, self.path)

    @dbus.service.method(PROP_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        if interface != AD_IFACE:
            raise InvalidArgs(f"no interface {interface}")
        props = {
            "Type": "peripheral",
            "ServiceUUIDs": dbus.Array([SERVICE_UUID], signature="s"),
            "LocalName": self.name,
        }
        if self.manufacturer_data is not None:
            data = dbus.Array(self.manufacturer_data, signature="y")
            props["ManufacturerData"] = dbus.Dictionary({dbus.UInt16(0xFFFF): data}, signature="qv")
        return props

    @dbus.service.method(AD_IFACE, in_signature="", out_signature="")
    def Release(self):
        log("advertisement released")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default="hci1")
    parser.add_argument("--name", default="rbz-periph")
    parser.add_argument("--lifetime", type=float, default=120.0, help="seconds before it exits by itself")
    parser.add_argument("--secure", action="store_true", help="the pen's security and advertisement")
    parser.add_argument("--passkey-file", help="where the DisplayOnly agent writes the passkey (--secure)")
    args = parser.parse_args()
    if args.secure and not args.passkey_file:
        parser.error("--secure needs --passkey-file")

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    adapter_path = f"/org/bluez/{args.adapter}"
    adapter = bus.get_object(BLUEZ, adapter_path)
    dbus.Interface(adapter, PROP_IFACE).Set("org.bluez.Adapter1", "Powered", dbus.Boolean(True))

    if args.secure:
        # The bus keeps exported objects alive; no reference is needed here.
        DisplayAgent(bus, "/rbz/agent", args.passkey_file)
        agents = dbus.Interface(bus.get_object(BLUEZ, "/org/bluez"), "org.bluez.AgentManager1")
        agents.RegisterAgent("/rbz/agent", "DisplayOnly")
        # Incoming pairing requests go to the default agent: the pen's side has no Pair() call of its own.
        agents.RequestDefaultAgent("/rbz/agent")
        log("DisplayOnly agent registered as the default agent")
    app = Application(bus, args.secure)
    # The pen's manufacturer data: model code, state, battery %.
    adv = Advertisement(bus, args.name, [0x01, 0x00, 0x5A] if args.secure else None)
    loop = GLib.MainLoop()
    pending = {"app", "adv"}
    failure = []

    def done(what):
        def ok():
            log(f"{what} registered")
            pending.discard(what)
            if not pending:
                print("ready", flush=True)

        def err(error):
            failure.append(f"registering the {what} failed: {error}")
            loop.quit()

        return ok, err

    ok, err = done("app")
    dbus.Interface(adapter, "org.bluez.GattManager1").RegisterApplication(
        app.path, {}, reply_handler=ok, error_handler=err
    )
    ok, err = done("adv")
    dbus.Interface(adapter, "org.bluez.LEAdvertisingManager1").RegisterAdvertisement(
        adv.path, {}, reply_handler=ok, error_handler=err
    )
    GLib.timeout_add(int(args.lifetime * 1000), loop.quit)
    loop.run()
    if failure:
        log(failure[0])
        return 1
    log("lifetime over")
    return 0


if __name__ == "__main__":
    sys.exit(main())
