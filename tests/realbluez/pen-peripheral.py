#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One NeedlePen served as a real GATT peripheral through bluetoothd, byte for byte as pen-profile.md says.

A bridge for the real-bluetoothd tests until needle-pensim gets a peripheral mode: it registers the
pen's GATT application (Device Information, Battery, Needling Session Service, every Session Service
characteristic behind an authenticated encrypted link) and its advertisement on one adapter, and a
DisplayOnly default agent whose DisplayPasskey writes the passkey into --passkey-file and prints it.

It is driven by lines written into the --control FIFO:
  session N [AREA]   insert a cartridge, run a session of N telemetry records at --rate, end it
  drop-link          disconnect the central from the pen's side (the session goes on, records are stored)
  battery PERCENT    change the battery level (notified)
  quit               unregister and exit
and it reports on stdout, one line each: ready, passkey NNNNNN, connected ADDRESS, disconnected ADDRESS,
subscribed NAME, unsubscribed NAME, control OPHEX RESULT, session-started ID, record SEQ (every 50th),
session-ended ID LAST_SEQ, replayed COUNT FROM_SEQ, link-dropped, error TEXT.
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

BLUEZ = "org.bluez"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROP_IFACE = "org.freedesktop.DBus.Properties"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
AD_IFACE = "org.bluez.LEAdvertisement1"
AGENT_IFACE = "org.bluez.Agent1"


def nss_uuid(short):
    return f"a3c1{short:04x}-8b6f-4e2d-9c55-2f1d7e9b0c41"


NSS_UUID = nss_uuid(0x0001)
SIG_BASE = "-0000-1000-8000-00805f9b34fb"

# Telemetry flags (profile section 4).
F_AREA, F_PRESSURE, F_REPLAYED, F_MOTOR, F_CONTACT, F_CRC = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# Control Point op codes and results (section 6).
(OP_SET_TIME, OP_SET_LIMITS, OP_CLEAR_LIMITS, OP_REPORT_STORED, OP_STOP_SESSION, OP_SET_AREA,
 OP_IDENTIFY) = range(1, 8)
R_SUCCESS, R_NOT_SUPPORTED, R_INVALID, R_FAILED, R_NOT_PERMITTED, R_BUSY = range(1, 7)
AREAS = {"unspecified": 0, "forehead": 1, "periorbital": 2, "nose": 3, "cheeks": 4, "perioral": 5,
         "chin_jawline": 6, "neck": 7, "decollete": 8, "arms": 9, "hands": 10, "abdomen": 11,
         "thighs": 12, "back": 13, "scalp": 14, "scar": 15}


def say(line):
    print(line, flush=True)


def crc16_mcrf4xx(data):
    """CRC-16/MCRF4XX: polynomial 0x1021 reflected (0x8408), init 0xFFFF, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


assert crc16_mcrf4xx(b"123456789") == 0x6F91


def telemetry_record(flags, seq, session, offset_ms, depth, speed, area, pressure):
    """One record, its size byte and CRC computed from the flags."""
    flags |= F_AREA | F_PRESSURE | F_CRC
    body = struct.pack("<BIHIHH", flags, seq, session, offset_ms, depth, speed)
    body += struct.pack("<BH", area, pressure)
    size = 1 + len(body) + 2
    record = bytes([size]) + body
    return record + struct.pack("<H", crc16_mcrf4xx(record))


def as_bytes(value):
    return dbus.Array([dbus.Byte(b) for b in value], signature="y")


class Failed(dbus.exceptions.DBusException):
    _dbus_error_name = "org.bluez.Error.Failed"


class Rejected(dbus.exceptions.DBusException):
    _dbus_error_name = "org.bluez.Error.Rejected"


class Characteristic(dbus.service.Object):
    """A GATT characteristic of the application; reads come from read_value, writes go to on_write."""

    def __init__(self, pen, service, index, uuid, flags, name, read_value=None, on_write=None):
        self.path = f"{service.path}/char{index}"
        self.service = service
        self.uuid = uuid
        self.flags = flags
        self.name = name
        self.read_value = read_value
        self.on_write = on_write
        self.pen = pen
        self.notifying = False
        super().__init__(pen.bus, self.path)

    def properties(self):
        return {CHRC_IFACE: {"Service": dbus.ObjectPath(self.service.path), "UUID": self.uuid,
                             "Flags": dbus.Array(self.flags, signature="s")}}

    @dbus.service.method(PROP_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self.properties().get(interface, {})

    @dbus.service.signal(PROP_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, interface, changed, invalidated):
        pass

    @dbus.service.method(CHRC_IFACE, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        if self.read_value is None:
            raise Failed("not readable")
        value = self.read_value()
        offset = int(options.get("offset", 0))
        return as_bytes(value[offset:])

    @dbus.service.method(CHRC_IFACE, in_signature="aya{sv}", out_signature="")
    def WriteValue(self, value, options):
        if self.on_write is None:
            raise Failed("not writable")
        self.on_write(bytes(value))

    @dbus.service.method(CHRC_IFACE, in_signature="", out_signature="")
    def StartNotify(self):
        if not self.notifying:
            self.notifying = True
            say(f"subscribed {self.name}")

    @dbus.service.method(CHRC_IFACE, in_signature="", out_signature="")
    def StopNotify(self):
        if self.notifying:
            self.notifying = False
            say(f"unsubscribed {self.name}")

    @dbus.service.method(CHRC_IFACE, in_signature="", out_signature="")
    def Confirm(self):
        pass

    def send(self, value):
        """Notifies or indicates value; bluetoothd drops it when no central is subscribed."""
        self.PropertiesChanged(CHRC_IFACE, {"Value": as_bytes(value)}, [])


class Service(dbus.service.Object):
    def __init__(self, bus, index, uuid):
        self.path = f"/needlepen/app/service{index}"
        self.uuid = uuid
        self.chrcs = []
        super().__init__(bus, self.path)


class Application(dbus.service.Object):
    def __init__(self, bus, services):
        self.path = "/needlepen/app"
        self.services = services
        super().__init__(bus, self.path)

    @dbus.service.method(OM_IFACE, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        objects = {}
        for service in self.services:
            objects[dbus.ObjectPath(service.path)] = {SERVICE_IFACE: {"UUID": service.uuid, "Primary": True}}
            for chrc in service.chrcs:
                objects[dbus.ObjectPath(chrc.path)] = chrc.properties()
        return objects


class Advertisement(dbus.service.Object):
    def __init__(self, pen):
        self.path = "/needlepen/adv0"
        self.pen = pen
        super().__init__(pen.bus, self.path)

    @dbus.service.method(PROP_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        if interface != AD_IFACE:
            return {}
        # Flags, the 128-bit service UUID and 0xFFFF manufacturer data fill 28 of the 31 bytes;
        # bluetoothd moves the local name into the scan response.
        mdata = as_bytes([self.pen.args.model_code, self.pen.state, self.pen.battery])
        return {"Type": "peripheral", "ServiceUUIDs": dbus.Array([NSS_UUID], signature="s"),
                "ManufacturerData": dbus.Dictionary({dbus.UInt16(0xFFFF): mdata}, signature="qv"),
                "LocalName": self.pen.name, "Discoverable": dbus.Boolean(True)}

    @dbus.service.method(AD_IFACE, in_signature="", out_signature="")
    def Release(self):
        say("error advertisement released by bluetoothd")


class DisplayAgent(dbus.service.Object):
    """The pen's agent: DisplayOnly, so the only thing it does is show the passkey."""

    def __init__(self, pen):
        self.path = "/needlepen/agent"
        self.pen = pen
        super().__init__(pen.bus, self.path)

    @dbus.service.method(AGENT_IFACE, in_signature="ouq", out_signature="")
    def DisplayPasskey(self, device, passkey, entered):
        if entered == 0:
            say(f"passkey {passkey:06d}")
        if self.pen.args.passkey_file:
            tmp = self.pen.args.passkey_file + ".tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(f"{passkey:06d}\n")
            os.rename(tmp, self.pen.args.passkey_file)

    @dbus.service.method(AGENT_IFACE, in_signature="", out_signature="")
    def Release(self):
        pass

    @dbus.service.method(AGENT_IFACE, in_signature="", out_signature="")
    def Cancel(self):
        say("error pairing cancelled")

    @dbus.service.method(AGENT_IFACE, in_signature="os", out_signature="")
    def AuthorizeService(self, device, uuid):
        pass

    @dbus.service.method(AGENT_IFACE, in_signature="ou", out_signature="")
    def RequestConfirmation(self, device, passkey):
        say(f"error unexpected RequestConfirmation {passkey:06d}")
        raise Rejected("the pen is DisplayOnly")

    @dbus.service.method(AGENT_IFACE, in_signature="o", out_signature="")
    def RequestAuthorization(self, device):
        say("error unexpected RequestAuthorization")
        raise Rejected("the pen is DisplayOnly")


class Pen:
    """The pen's state: sequence counter, stored records, session, clock, limits, status."""

    def __init__(self, bus, args):
        self.bus = bus
        self.args = args
        self.adapter_path = f"/org/bluez/{args.adapter}"
        self.name = f"NeedlePen-{args.serial[-4:]}"
        self.seq = 0
        self.stored = []  # (seq, record without the replayed flag), at most args.capacity
        self.session_id = 0
        self.session_timer = None
        self.session_left = 0
        self.session_start = 0.0
        self.area = AREAS["forehead"]
        self.cartridge = 0
        self.cartridge_serial = 0x00C0FFEE
        self.state = 0
        self.battery = args.battery
        self.clock_offset_ms = None
        self.limits = None
        self.control_busy = False
        self.build_gatt()

    # --- GATT ---------------------------------------------------------------------------------------
    def build_gatt(self):
        a = self.args
        dis = Service(self.bus, 0, "0000180a" + SIG_BASE)
        strings = [(0x2A29, a.manufacturer), (0x2A24, a.model), (0x2A25, a.serial), (0x2A26, a.firmware)]
        for i, (uuid, text) in enumerate(strings):
            sig = f"0000{uuid:04x}" + SIG_BASE
            dis.chrcs.append(Characteristic(self, dis, i, sig, ["read"], f"dis{uuid:04x}",
                                            read_value=lambda text=text: text.encode()))
        bas = Service(self.bus, 1, "0000180f" + SIG_BASE)
        self.battery_chrc = Characteristic(self, bas, 0, "00002a19" + SIG_BASE, ["read", "notify"], "battery",
                                           read_value=lambda: bytes([self.battery]))
        bas.chrcs.append(self.battery_chrc)
        nss = Service(self.bus, 2, NSS_UUID)
        ar, an, ai, aw = ("encrypt-authenticated-read", "encrypt-authenticated-notify",
                          "encrypt-authenticated-indicate", "encrypt-authenticated-write")
        self.features = Characteristic(self, nss, 0, nss_uuid(2), [ar], "features",
                                       read_value=self.features_value)
        self.telemetry = Characteristic(self, nss, 1, nss_uuid(3), [an], "telemetry")
        self.events = Characteristic(self, nss, 2, nss_uuid(4), [ai], "events")
        self.control = Characteristic(self, nss, 3, nss_uuid(5), [aw, ai], "control",
                                      on_write=self.control_write)
        self.status = Characteristic(self, nss, 4, nss_uuid(6), [ar, an], "status",
                                     read_value=self.status_value)
        nss.chrcs = [self.features, self.telemetry, self.events, self.control, self.status]
        self.app = Application(self.bus, [dis, bas, nss])

    def features_value(self):
        return struct.pack("<BHBHH", 1, 0x1F, self.args.rate, self.args.capacity, self.args.max_depth)

    def status_value(self):
        flags = (1 if self.limits else 0) | (2 if self.clock_offset_ms is not None else 0)
        needles = self.args.needles if self.cartridge else 0
        return struct.pack("<BHIBHBB", self.state, 0, self.cartridge, needles, self.session_id, flags, 0)

    # --- sequence, events, records ------------------------------------------------------------------
    def next_seq(self):
        self.seq += 1
        return self.seq

    def pen_clock(self):
        if self.clock_offset_ms is None:
            return 0
        return int(time.time() * 1000) + self.clock_offset_ms

    def event(self, etype, params=b""):
        value = struct.pack("<BIHQ", etype, self.next_seq(), self.session_id, self.pen_clock()) + params
        self.events.send(value)

    def set_state(self, state):
        self.state = state
        self.status.send(self.status_value())

    def store(self, seq, record):
        self.stored.append((seq, record))
        if len(self.stored) > self.args.capacity:
            del self.stored[0]

    # --- session -------------------------------------------------------------------------------------
    def start_session(self, records, area):
        if self.session_timer is not None:
            say("error a session is already running")
            return
        self.area = area
        self.cartridge = self.cartridge_serial
        self.cartridge_serial += 1
        self.event(0x04, struct.pack("<IBH", self.cartridge, self.args.needles, 1))
        self.session_id += 1
        self.event(0x01, struct.pack("<IBHB", self.cartridge, self.args.needles, 1, self.area))
        self.set_state(1)
        say(f"session-started {self.session_id}")
        self.session_left = records
        self.session_start = time.monotonic()
        self.session_timer = GLib.timeout_add(max(1, int(1000 / self.args.rate)), self.tick)

    def tick(self):
        offset_ms = int((time.monotonic() - self.session_start) * 1000)
        depth = min(150, self.limits[0]) if self.limits and self.limits[0] != 0xFFFF else 150
        seq = self.next_seq()
        flags = F_MOTOR | F_CONTACT
        record = telemetry_record(flags, seq, self.session_id, offset_ms, depth, 1200, self.area, 250)
        self.store(seq, record)
        self.telemetry.send(record)
        if seq % 50 == 0:
            say(f"record {seq}")
        self.session_left -= 1
        if self.session_left <= 0:
            self.end_session(0)
            return False
        return True

    def end_session(self, reason):
        if self.session_timer is not None:
            GLib.source_remove(self.session_timer)
            self.session_timer = None
        duration = int((time.monotonic() - self.session_start) * 1000)
        self.event(0x02, struct.pack("<IB", duration, reason))
        say(f"session-ended {self.session_id} {self.seq}")
        self.event(0x05)
        self.cartridge = 0
        self.set_state(0)

    # --- control point -------------------------------------------------------------------------------
    def control_write(self, value):
        if not value:
            raise Failed("empty control point request")
        op, params = value[0], value[1:]
        if self.control_busy:
            self.answer(op, R_BUSY)
            return
        self.control_busy = True
        # Answer after the write's response, as a pen does: the indication follows the write.
        GLib.idle_add(self.control_run, op, params)

    def control_run(self, op, params):
        result, extra = self.control_op(op, params)
        self.answer(op, result, extra)
        self.control_busy = False
        return False

    def control_op(self, op, params):
        lengths = {OP_SET_TIME: 8, OP_SET_LIMITS: 6, OP_CLEAR_LIMITS: 0, OP_REPORT_STORED: 4,
                   OP_STOP_SESSION: 0, OP_SET_AREA: 1, OP_IDENTIFY: 0}
        if op not in lengths:
            return R_NOT_SUPPORTED, b""
        if len(params) != lengths[op]:
            return R_INVALID, b""
        if op == OP_SET_TIME:
            (utc_ms,) = struct.unpack("<Q", params)
            self.clock_offset_ms = utc_ms - int(time.time() * 1000)
            self.status.send(self.status_value())
        elif op == OP_SET_LIMITS:
            limits = struct.unpack("<HHH", params)
            if limits[0] != 0xFFFF and limits[0] > self.args.max_depth:
                return R_NOT_PERMITTED, b""
            self.limits = limits
            self.event(0x08, params)
            self.status.send(self.status_value())
        elif op == OP_CLEAR_LIMITS:
            self.limits = None
            self.event(0x08, struct.pack("<HHH", 0xFFFF, 0xFFFF, 0xFFFF))
            self.status.send(self.status_value())
        elif op == OP_REPORT_STORED:
            (first,) = struct.unpack("<I", params)
            sent = self.replay(first)
            return R_SUCCESS, struct.pack("<I", sent)
        elif op == OP_STOP_SESSION:
            if self.session_timer is None:
                return R_NOT_PERMITTED, b""
            self.end_session(3)
        elif op == OP_SET_AREA:
            self.area = params[0]
            self.event(0x03, params)
        say(f"control {op:02x} ok")
        return R_SUCCESS, b""

    def replay(self, first):
        records = [r for seq, r in self.stored if seq >= first]
        for record in records:
            flagged = bytearray(record[:-2])
            flagged[1] |= F_REPLAYED
            self.telemetry.send(bytes(flagged) + struct.pack("<H", crc16_mcrf4xx(bytes(flagged))))
        say(f"replayed {len(records)} {first}")
        return len(records)

    def answer(self, op, result, extra=b""):
        say(f"control {op:02x} result {result:02x}")
        self.control.send(bytes([0x80, op, result]) + extra)

    # --- link ----------------------------------------------------------------------------------------
    def connected_devices(self):
        om = dbus.Interface(self.bus.get_object(BLUEZ, "/"), OM_IFACE)
        found = []
        for path, ifaces in om.GetManagedObjects().items():
            dev = ifaces.get("org.bluez.Device1")
            if dev and str(path).startswith(self.adapter_path + "/") and dev.get("Connected"):
                found.append(str(path))
        return found

    def drop_link(self):
        for path in self.connected_devices():
            dbus.Interface(self.bus.get_object(BLUEZ, path), "org.bluez.Device1").Disconnect(timeout=20)
        say("link-dropped")


def watch_connections(pen):
    def changed(iface, props, _invalidated, path=None):
        if iface == "org.bluez.Device1" and "Connected" in props and path.startswith(pen.adapter_path + "/"):
            say(f"{'connected' if props['Connected'] else 'disconnected'} {path.rsplit('/', 1)[-1][4:]}")

    pen.bus.add_signal_receiver(changed, "PropertiesChanged", PROP_IFACE, BLUEZ, path_keyword="path")


def open_control(pen, fifo, loop):
    """Reads commands line by line from the FIFO; it is held open for writing too, so EOF never comes."""
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    buf = bytearray()

    def command(line):
        words = line.split()
        try:
            if words[0] == "session":
                area = AREAS.get(words[2], 0) if len(words) > 2 else AREAS["forehead"]
                pen.start_session(int(words[1]), area)
            elif words[0] == "drop-link":
                pen.drop_link()
            elif words[0] == "battery":
                pen.battery = int(words[1])
                pen.battery_chrc.send(bytes([pen.battery]))
            elif words[0] == "quit":
                loop.quit()
            else:
                say(f"error unknown command {line!r}")
        except (IndexError, ValueError, dbus.DBusException) as e:
            say(f"error command {line!r}: {e}")

    def readable(_fd, _cond):
        try:
            buf.extend(os.read(fd, 4096))
        except BlockingIOError:
            return True
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if line.strip():
                command(line.decode(errors="replace"))
        return True

    GLib.io_add_watch(fd, GLib.IO_IN, readable)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adapter", default="hci1")
    p.add_argument("--control", required=True, help="a FIFO to read commands from (created if missing)")
    p.add_argument("--passkey-file", help="where each displayed passkey is written, too")
    p.add_argument("--serial", default="NP5EED0001")
    p.add_argument("--manufacturer", default="NeedleWorks Medical")
    p.add_argument("--model", default="NP-200")
    p.add_argument("--model-code", type=int, default=2)
    p.add_argument("--firmware", default="1.4.2")
    p.add_argument("--rate", type=int, default=25, help="telemetry records per second (10 to 100)")
    p.add_argument("--capacity", type=int, default=4096, help="stored records for Report Stored Records")
    p.add_argument("--max-depth", type=int, default=250, help="in 0.01 mm")
    p.add_argument("--needles", type=int, default=36)
    p.add_argument("--battery", type=int, default=87)
    p.add_argument("--lifetime", type=float, default=280.0, help="seconds before it exits by itself")
    args = p.parse_args()
    if not 10 <= args.rate <= 100:
        p.error("--rate must be 10 to 100")
    if not os.path.exists(args.control):
        os.mkfifo(args.control)

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    pen = Pen(bus, args)
    adapter = bus.get_object(BLUEZ, pen.adapter_path)
    dbus.Interface(adapter, PROP_IFACE).Set("org.bluez.Adapter1", "Powered", dbus.Boolean(True))
    DisplayAgent(pen)
    agents = dbus.Interface(bus.get_object(BLUEZ, "/org/bluez"), "org.bluez.AgentManager1")
    agents.RegisterAgent("/needlepen/agent", "DisplayOnly")
    # Incoming pairing goes to the default agent; bluetoothd has one for all adapters, so the pen must
    # request it after any central-side process that would take it.
    agents.RequestDefaultAgent("/needlepen/agent")

    loop = GLib.MainLoop()
    failure = []
    pending = {"application", "advertisement"}

    def registered(what):
        def ok():
            pending.discard(what)
            if not pending:
                say("ready")

        def err(error):
            failure.append(f"registering the {what} failed: {error}")
            loop.quit()

        return {"reply_handler": ok, "error_handler": err}

    dbus.Interface(adapter, "org.bluez.GattManager1").RegisterApplication(
        pen.app.path, {}, **registered("application"))
    adv = Advertisement(pen)
    dbus.Interface(adapter, "org.bluez.LEAdvertisingManager1").RegisterAdvertisement(
        adv.path, {}, **registered("advertisement"))
    watch_connections(pen)
    open_control(pen, args.control, loop)
    GLib.timeout_add(int(args.lifetime * 1000), loop.quit)
    loop.run()
    if failure:
        say(f"error {failure[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
