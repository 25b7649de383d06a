#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks needle-pensim --peripheral through real bluetoothd as the gateway will use it, without the gateway.

Discover, refuse unpaired, pair by passkey entry, read the features, AcquireNotify the telemetry,
Set Time, run a session, cut the link mid-session, reconnect, Report Stored Records, and check that
every record of the session arrived exactly once, in order per link, byte for byte valid.
"""

import argparse
import os
import struct
import sys
import time

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness.profile import decode_records  # noqa: E402

BLUEZ = "org.bluez"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROP_IFACE = "org.freedesktop.DBus.Properties"
DEVICE_IFACE = "org.bluez.Device1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
NSS_UUID = "a3c10001-8b6f-4e2d-9c55-2f1d7e9b0c41"
T0 = time.monotonic()


def uuid(short):
    return f"a3c1{short:04x}-8b6f-4e2d-9c55-2f1d7e9b0c41"


def log(msg):
    print(f"pen-check [{time.monotonic() - T0:6.2f} s]: {msg}", flush=True)


class StepFailed(Exception):
    pass


def split_records(value):
    """The profile's record framing (needleharness.profile): a bad record ends the notification."""
    try:
        return [(r["seq"], r["session"], r["replayed"]) for r in decode_records(value)]
    except ValueError as e:
        raise StepFailed(f"malformed telemetry notification {value.hex()}: {e}")


class KeyboardAgent(dbus.service.Object):
    def __init__(self, bus, passkey_file):
        self.passkey_file = passkey_file
        super().__init__(bus, "/rbz/pencheck_agent")

    @dbus.service.method(
        "org.bluez.Agent1", in_signature="o", out_signature="u", async_callbacks=("reply", "error")
    )
    def RequestPasskey(self, device, reply, error):
        deadline = time.monotonic() + 15

        def poll():
            try:
                with open(self.passkey_file, encoding="ascii") as f:
                    passkey = int(f.read().strip())
            except (OSError, ValueError):
                if time.monotonic() < deadline:
                    return True
                error(dbus.exceptions.DBusException("no passkey shown", name="org.bluez.Error.Canceled"))
                return False
            log(f"RequestPasskey: entering {passkey:06d}")
            reply(dbus.UInt32(passkey))
            return False

        GLib.timeout_add(50, poll)

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Release(self):
        pass

    @dbus.service.method("org.bluez.Agent1", in_signature="", out_signature="")
    def Cancel(self):
        log("agent: pairing cancelled")


class Check:
    def __init__(self, bus, args):
        self.bus = bus
        self.args = args
        self.adapter_path = f"/org/bluez/{args.adapter}"
        adapter = bus.get_object(BLUEZ, self.adapter_path)
        self.adapter = dbus.Interface(adapter, "org.bluez.Adapter1")
        self.adapter_props = dbus.Interface(adapter, PROP_IFACE)
        self.om = dbus.Interface(bus.get_object(BLUEZ, "/"), OM_IFACE)
        self.records = []  # (seq, session, replayed, link number)
        self.indications = []
        self.events = []
        self.link = 0
        self.matched = set()

    def wait(self, what, limit, check, every=None):
        loop = GLib.MainLoop()
        result = []

        def poll():
            value = check()
            if value:
                result.append(value)
                loop.quit()
                return False
            return True

        if poll():
            sources = [GLib.timeout_add(50, poll), GLib.timeout_add(int(limit * 1000), loop.quit)]
            if every:
                sources.append(GLib.timeout_add(2000, lambda: every() or True))
            loop.run()
            for source_id in sources:
                source = GLib.MainContext.default().find_source_by_id(source_id)
                if source is not None:
                    source.destroy()
        if not result:
            raise StepFailed(f"{what}: nothing within {limit} s")
        log(f"{what}: ok")
        return result[0]

    def pen_command(self, line):
        with open(self.args.pen_control, "w", encoding="ascii") as f:
            f.write(line + "\n")

    def chrc(self, short):
        for path, ifaces in self.om.GetManagedObjects().items():
            c = ifaces.get(CHRC_IFACE)
            if c and str(path).startswith(self.dev_path + "/") and str(c["UUID"]) == uuid(short):
                return dbus.Interface(self.bus.get_object(BLUEZ, path), CHRC_IFACE), str(path)
        raise StepFailed(f"characteristic a3c1{short:04x} not found")

    def find_pen(self):
        for path, ifaces in self.om.GetManagedObjects().items():
            dev = ifaces.get(DEVICE_IFACE)
            if not dev or dev.get("Adapter") != self.adapter_path:
                continue
            if NSS_UUID in [str(u) for u in dev.get("UUIDs", [])]:
                return str(path)
        return None

    def restart_discovery(self):
        for call in (self.adapter.StopDiscovery, self.adapter.StartDiscovery):
            try:
                call()
            except dbus.DBusException:
                pass

    def dev_prop(self, name):
        return self.dev_props.Get(DEVICE_IFACE, name)

    def connect(self):
        self.link += 1
        dbus.Interface(self.dev, DEVICE_IFACE).Connect(timeout=30)
        resolved = lambda: bool(self.dev_prop("ServicesResolved"))  # noqa: E731
        self.wait(f"link {self.link}: connected, services resolved", 30, resolved)

    def subscribe(self):
        """AcquireNotify on telemetry (as the gateway does on real bluetoothd), StartNotify on the rest."""
        telemetry, _ = self.chrc(3)
        fd, mtu = telemetry.AcquireNotify({}, timeout=20)
        fd = fd.take()
        log(f"link {self.link}: AcquireNotify fd {fd} mtu {mtu}")
        link = self.link

        def readable(_fd, cond):
            if cond & (GLib.IO_HUP | GLib.IO_ERR):
                os.close(fd)
                return False
            try:
                data = os.read(fd, int(mtu))
            except OSError:
                return True
            for seq, session, replayed in split_records(data):
                self.records.append((seq, session, replayed, link))
            return True

        GLib.io_add_watch(fd, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, readable)
        for short, sink in ((4, self.events), (5, self.indications)):
            chrc, path = self.chrc(short)

            def changed(iface, props, _inv, sink=sink):
                if iface == CHRC_IFACE and "Value" in props:
                    sink.append(bytes(props["Value"]))

            # The objects outlive the link for a bonded pen: one signal match each, or values would double.
            if path not in self.matched:
                self.matched.add(path)
                self.bus.add_signal_receiver(changed, "PropertiesChanged", PROP_IFACE, BLUEZ, path)
            try:
                chrc.StartNotify(timeout=20)
            except dbus.DBusException as e:
                if "InProgress" not in e.get_dbus_name() and "Already" not in e.get_dbus_message():
                    raise

    def control(self, request, what):
        chrc, _ = self.chrc(5)
        before = len(self.indications)
        chrc.WriteValue(dbus.Array(request, signature="y"), {"type": "request"}, timeout=20)
        answer = self.wait(what, 10, lambda: len(self.indications) > before and self.indications[before])
        if answer[:3] != bytes([0x80, request[0], 0x01]):
            raise StepFailed(f"{what}: answer {answer.hex()}")
        return answer[3:]

    def run(self):
        a = self.args
        KeyboardAgent(self.bus, a.passkey_file)
        agents = dbus.Interface(self.bus.get_object(BLUEZ, "/org/bluez"), "org.bluez.AgentManager1")
        agents.RegisterAgent("/rbz/pencheck_agent", "KeyboardOnly")
        self.adapter_props.Set("org.bluez.Adapter1", "Powered", dbus.Boolean(True))
        self.adapter.SetDiscoveryFilter({"Transport": "le", "UUIDs": dbus.Array([NSS_UUID], signature="s")})
        self.adapter.StartDiscovery()
        self.dev_path = self.wait("discover the pen", 30, self.find_pen, self.restart_discovery)
        self.adapter.StopDiscovery()
        self.dev = self.bus.get_object(BLUEZ, self.dev_path)
        self.dev_props = dbus.Interface(self.dev, PROP_IFACE)
        props = self.dev_props.GetAll(DEVICE_IFACE)
        mdata = {int(k): bytes(v).hex() for k, v in props.get("ManufacturerData", {}).items()}
        log(f"pen {props.get('Name')} manufacturer data {mdata}")
        if mdata.get(0xFFFF) != "020057":
            raise StepFailed(f"manufacturer data {mdata}, expected 0xffff: 020057")

        self.connect()
        features, _ = self.chrc(2)
        try:
            features.ReadValue({}, timeout=20)
            raise StepFailed("unpaired read of Pen Features succeeded")
        except dbus.DBusException as e:
            log(f"unpaired read refused: {e.get_dbus_name()}: {e.get_dbus_message()}")
        outcome = []
        dbus.Interface(self.dev, DEVICE_IFACE).Pair(
            reply_handler=lambda: outcome.append("ok"),
            error_handler=lambda e: outcome.append(str(e)),
            timeout=60,
        )
        if self.wait("pair by passkey entry", 60, lambda: outcome[0] if outcome else None) != "ok":
            raise StepFailed(f"Pair(): {outcome[0]}")
        value = bytes(features.ReadValue({}, timeout=20))
        log(f"Pen Features {value.hex()}")
        if len(value) != 8 or value[0] != 1:
            raise StepFailed(f"Pen Features {value.hex()}: not 8 bytes of protocol version 1")

        self.subscribe()
        self.control(bytes([0x01]) + struct.pack("<Q", int(time.time() * 1000)), "Set Time")
        self.pen_command(f"session {a.records} cheeks")
        self.wait(f"{a.cut_after} records on link 1", 120, lambda: len(self.records) >= a.cut_after)
        self.pen_command("drop-link")
        self.wait("the pen drops the link", 30, lambda: not bool(self.dev_prop("Connected")))
        time.sleep(a.offline_s)  # the session goes on without the gateway; the pen stores the records
        self.wait("reconnect", 60, self.reconnect)
        self.subscribe()
        self.control(bytes([0x01]) + struct.pack("<Q", int(time.time() * 1000)), "Set Time again")
        live = sorted({r[0] for r in self.records})
        gap_from = next((s + 1 for s, n in zip(live, live[1:]) if n != s + 1), live[-1] + 1)
        request = bytes([0x04]) + struct.pack("<I", gap_from)
        count = self.control(request, f"Report Stored Records from {gap_from}")
        log(f"the pen replays {struct.unpack('<I', count)[0]} records")
        self.wait("session ended event", 120, lambda: any(e[0] == 0x02 for e in self.events))
        # The records come through the socket, the event through D-Bus: either may be first, so the
        # main loop runs on a moment (a plain sleep would not read the socket).
        settle = time.monotonic() + 1.0
        self.wait("the socket drained", 5, lambda: time.monotonic() >= settle)
        self.verify()
        dbus.Interface(self.dev, DEVICE_IFACE).Disconnect(timeout=20)

    def reconnect(self):
        try:
            self.connect()
            return True
        except (dbus.DBusException, StepFailed) as e:
            log(f"reconnect attempt: {e}")
            return False

    def verify(self):
        started = [e for e in self.events if e[0] == 0x01]
        ended = [e for e in self.events if e[0] == 0x02]
        if len(started) != 1 or len(ended) != 1:
            raise StepFailed(f"events: {[e.hex() for e in self.events]}")
        session = struct.unpack("<H", started[0][5:7])[0]
        first = struct.unpack("<I", started[0][1:5])[0] + 1
        last = struct.unpack("<I", ended[0][1:5])[0] - 1
        seqs = [r[0] for r in self.records if r[1] == session]
        unique = set(seqs)
        missing = sorted(set(range(first, last + 1)) - unique)
        live = sum(1 for r in self.records if not r[2])
        replayed = sum(1 for r in self.records if r[2])
        log(f"session {session}: records {first}..{last}, {live} live, {replayed} replayed, "
            f"{len(seqs) - len(unique)} duplicates, {len(missing)} missing")
        for link in (1, 2):
            on_link = [r[0] for r in self.records if r[3] == link and not r[2]]
            if on_link != sorted(on_link):
                raise StepFailed(f"live records out of order on link {link}")
        if missing or len(unique) != self.args.records:
            raise StepFailed(f"missing {missing[:20]}, {len(unique)} of {self.args.records} records")
        if self.link != 2 or replayed == 0:
            raise StepFailed("the link cut did not happen or nothing was replayed")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--adapter", default="hci0")
    p.add_argument("--pen-control", required=True)
    p.add_argument("--passkey-file", required=True)
    p.add_argument("--records", type=int, default=300)
    p.add_argument("--cut-after", type=int, default=100)
    p.add_argument("--offline-s", type=float, default=2.0)
    args = p.parse_args()
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    try:
        Check(dbus.SystemBus(), args).run()
    except (StepFailed, dbus.DBusException) as e:
        log(f"FAILED: {e}")
        return 1
    log("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
