#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The central side of the harness check: discover, connect, list GATT, read, receive notifications.

Works against gatt-peripheral.py through real bluetoothd, on the adapter given. Every step has its
own time limit; the first step that fails names itself and exits 1.

With --pair (against gatt-peripheral.py --secure) it first checks that the protected characteristic
cannot be read unpaired, then pairs by passkey entry: its KeyboardOnly agent (not the default one)
answers RequestPasskey with what the peripheral's DisplayOnly agent wrote into --passkey-file.
"""

import argparse
import sys
import time

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROP_IFACE = "org.freedesktop.DBus.Properties"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"

SERVICE_UUID = "6e0f0001-5b1c-4a3e-9d2a-7262627a0001"
READ_UUID = "6e0f0002-5b1c-4a3e-9d2a-7262627a0001"
NOTIFY_UUID = "6e0f0003-5b1c-4a3e-9d2a-7262627a0001"
READ_VALUE = b"realbluez says hello"

T0 = time.monotonic()


def log(msg):
    print(f"central [{time.monotonic() - T0:6.2f} s]: {msg}", flush=True)


class StepFailed(Exception):
    pass


class KeyboardAgent(dbus.service.Object):
    """Types the passkey that the other side displays: it reads it from a file, waiting up to 15 s."""

    def __init__(self, bus, path, passkey_file):
        self.passkey_file = passkey_file
        self.requests = 0
        super().__init__(bus, path)

    @dbus.service.method(
        "org.bluez.Agent1", in_signature="o", out_signature="u", async_callbacks=("reply", "error")
    )
    def RequestPasskey(self, device, reply, error):
        self.requests += 1
        log(f"RequestPasskey for {device}")
        deadline = time.monotonic() + 15

        def poll():
            try:
                with open(self.passkey_file, encoding="ascii") as f:
                    passkey = int(f.read().strip())
            except (OSError, ValueError):
                if time.monotonic() < deadline:
                    return True
                log("no passkey displayed within 15 s")
                error(dbus.exceptions.DBusException("no passkey", name="org.bluez.Error.Canceled"))
                return False
            log(f"entering passkey {passkey:06d}")
            reply(dbus.UInt32(passkey))
            return False

        GLib.timeout_add(50, poll)

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Release(self):
        log("agent released")

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Cancel(self):
        log("agent: pairing cancelled")


class Central:
    def __init__(self, bus, adapter_name):
        self.bus = bus
        self.adapter_path = f"/org/bluez/{adapter_name}"
        self.om = dbus.Interface(bus.get_object(BLUEZ, "/"), OM_IFACE)
        adapter = bus.get_object(BLUEZ, self.adapter_path)
        self.adapter = dbus.Interface(adapter, ADAPTER_IFACE)
        self.adapter_props = dbus.Interface(adapter, PROP_IFACE)

    def objects(self):
        return self.om.GetManagedObjects()

    def wait_until(self, what, limit, check, every=None):
        """Runs the main loop until check() returns a value, at most limit seconds; calls every() each 2 s."""
        loop = GLib.MainLoop()
        result = []

        def poll():
            value = check()
            if value:
                result.append(value)
                loop.quit()
                return False
            return True

        def tick():
            if every:
                every()
            return True

        def give_up():
            loop.quit()
            return False

        if poll():
            sources = [
                GLib.timeout_add(100, poll),
                GLib.timeout_add(2000, tick),
                GLib.timeout_add(int(limit * 1000), give_up),
            ]
            loop.run()
            for source_id in sources:
                source = GLib.MainContext.default().find_source_by_id(source_id)
                if source is not None:
                    source.destroy()
        if not result:
            raise StepFailed(f"{what}: nothing within {limit} s")
        log(f"{what}: ok")
        return result[0]

    def find_device(self):
        for path, ifaces in self.objects().items():
            dev = ifaces.get(DEVICE_IFACE)
            if not dev or dev.get("Adapter") != self.adapter_path:
                continue
            if SERVICE_UUID in [str(u) for u in dev.get("UUIDs", [])]:
                return str(path)
        return None

    def restart_discovery(self):
        # The emulated controllers report an advertisement only when scanning starts, so start it anew.
        try:
            self.adapter.StopDiscovery()
        except dbus.DBusException:
            pass
        try:
            self.adapter.StartDiscovery()
        except dbus.DBusException as e:
            log(f"StartDiscovery: {e.get_dbus_message()}")

    def chrc_path(self, device_path, uuid):
        for path, ifaces in self.objects().items():
            chrc = ifaces.get(CHRC_IFACE)
            if chrc and str(path).startswith(device_path + "/") and str(chrc["UUID"]) == uuid:
                return str(path)
        return None

    def read_unpaired(self, device_path):
        """The protected characteristic must refuse an unpaired read with a BlueZ error."""
        path = self.chrc_path(device_path, READ_UUID)
        chrc = dbus.Interface(self.bus.get_object(BLUEZ, path), CHRC_IFACE)
        try:
            value = bytes(chrc.ReadValue({}, timeout=20))
        except dbus.DBusException as e:
            log(f"unpaired read refused: {e.get_dbus_name()}: {e.get_dbus_message()}")
            return e.get_dbus_name()
        raise StepFailed(f"unpaired read of the protected characteristic returned {value!r}")

    def pair(self, device, device_props, passkey_file):
        agent = KeyboardAgent(self.bus, "/rbz/central_agent", passkey_file)
        agents = dbus.Interface(self.bus.get_object(BLUEZ, "/org/bluez"), "org.bluez.AgentManager1")
        # Not the default agent: bluetoothd uses the agent of whoever calls Pair() for that pairing.
        agents.RegisterAgent("/rbz/central_agent", "KeyboardOnly")
        outcome = []
        dbus.Interface(device, DEVICE_IFACE).Pair(
            reply_handler=lambda: outcome.append("ok"),
            error_handler=lambda e: outcome.append(f"{e.get_dbus_name()}: {e.get_dbus_message()}"),
            timeout=60,
        )
        result = self.wait_until("Pair() returns", 60, lambda: outcome[0] if outcome else None)
        if result != "ok":
            raise StepFailed(f"Pair() failed: {result}")
        if agent.requests != 1:
            raise StepFailed(f"RequestPasskey was called {agent.requests} times, expected once")
        paired = bool(device_props.Get(DEVICE_IFACE, "Paired"))
        # Device1.Bonded exists from BlueZ 5.62 on.
        bonded = device_props.GetAll(DEVICE_IFACE).get("Bonded")
        log(f"paired {paired}, bonded {bonded}")
        if not paired:
            raise StepFailed("Pair() returned but the device is not Paired")

    def run(self, notifications, passkey_file=None):
        self.adapter_props.Set(ADAPTER_IFACE, "Powered", dbus.Boolean(True))
        uuids = dbus.Array([SERVICE_UUID], signature="s")
        self.adapter.SetDiscoveryFilter({"Transport": "le", "UUIDs": uuids})
        self.adapter.StartDiscovery()
        device_path = self.wait_until(
            "discover the peripheral's advertisement", 30, self.find_device, self.restart_discovery
        )
        self.adapter.StopDiscovery()
        device = self.bus.get_object(BLUEZ, device_path)
        device_props = dbus.Interface(device, PROP_IFACE)
        props = device_props.GetAll(DEVICE_IFACE)
        log(f"found {device_path} name {props.get('Name')} rssi {props.get('RSSI')}")
        if passkey_file:
            # The pen's 28-byte advertisement leaves its name to the scan response; both must arrive.
            mdata = {int(k): bytes(v) for k, v in props.get("ManufacturerData", {}).items()}
            log(f"manufacturer data {({hex(k): v.hex() for k, v in mdata.items()})}")
            if mdata.get(0xFFFF) != bytes([0x01, 0x00, 0x5A]):
                raise StepFailed(f"manufacturer data 0xFFFF missing or wrong: {mdata}")
            self.wait_until(
                "the name from the scan response", 10, lambda: device_props.GetAll(DEVICE_IFACE).get("Name")
            )

        dbus.Interface(device, DEVICE_IFACE).Connect(timeout=30)
        resolved = lambda: bool(device_props.Get(DEVICE_IFACE, "ServicesResolved"))  # noqa: E731
        self.wait_until("connect and resolve services", 30, resolved)
        for path, ifaces in sorted(self.objects().items()):
            if str(path).startswith(device_path + "/"):
                for iface in ("org.bluez.GattService1", CHRC_IFACE, "org.bluez.GattDescriptor1"):
                    if iface in ifaces:
                        log(f"GATT {iface.split('.')[-1]} {ifaces[iface]['UUID']} at {path}")

        read_path = self.wait_until(
            "find the readable characteristic", 5, lambda: self.chrc_path(device_path, READ_UUID)
        )
        if passkey_file:
            self.read_unpaired(device_path)
            self.pair(device, device_props, passkey_file)
        read_chrc = dbus.Interface(self.bus.get_object(BLUEZ, read_path), CHRC_IFACE)
        value = bytes(read_chrc.ReadValue({}, timeout=20))
        if value != READ_VALUE:
            raise StepFailed(f"read value {value!r}, expected {READ_VALUE!r}")
        log(f"read {value!r}: ok")

        notify_path = self.wait_until(
            "find the notifying characteristic", 5, lambda: self.chrc_path(device_path, NOTIFY_UUID)
        )
        received = []

        def on_changed(iface, changed, _invalidated):
            if iface == CHRC_IFACE and "Value" in changed:
                received.append(bytes(changed["Value"]))

        match = self.bus.add_signal_receiver(on_changed, "PropertiesChanged", PROP_IFACE, BLUEZ, notify_path)
        chrc = dbus.Interface(self.bus.get_object(BLUEZ, notify_path), CHRC_IFACE)
        chrc.StartNotify(timeout=20)
        self.wait_until(f"receive {notifications} notifications", 20, lambda: len(received) >= notifications)
        chrc.StopNotify(timeout=20)
        match.remove()
        counters = [v[0] for v in received if len(v) == 1]
        if len(counters) != len(received) or any((b - a) % 256 != 1 for a, b in zip(counters, counters[1:])):
            values = [v.hex() for v in received]
            raise StepFailed(f"notifications not one-byte consecutive counters: {values}")
        log(f"notified counters {counters[:notifications]}: ok")

        dbus.Interface(device, DEVICE_IFACE).Disconnect(timeout=20)
        self.wait_until("disconnect", 15, lambda: not bool(device_props.Get(DEVICE_IFACE, "Connected")))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default="hci0")
    parser.add_argument("--notifications", type=int, default=5)
    parser.add_argument("--pair", action="store_true", help="pair by passkey entry first")
    parser.add_argument("--passkey-file", help="where the peripheral's agent writes the passkey it displays")
    args = parser.parse_args()
    if args.pair and not args.passkey_file:
        parser.error("--pair needs --passkey-file")
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    try:
        passkey_file = args.passkey_file if args.pair else None
        Central(dbus.SystemBus(), args.adapter).run(args.notifications, passkey_file)
    except (StepFailed, dbus.DBusException) as e:
        log(f"FAILED: {e}")
        return 1
    log("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
