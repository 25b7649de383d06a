# SPDX-License-Identifier: LGPL-2.1-or-later
"""needle-pensim's pens as a test drives them: PenSim1 control, BlueZ device, GATT, a subscribed link."""

import socket
import struct

from gi.repository import Gio, GLib

from .bus import CHAR_IFACE, DEVICE_IFACE, PROPS_IFACE
from .core import HarnessError, wait_until
from .profile import (UUID_CONTROL_POINT, UUID_PEN_STATUS, UUID_SESSION_EVENT, UUID_TELEMETRY, decode_event,
                      decode_records, decode_response)

PENSIM_PATH = "/org/needlegate/PenSim"
PENSIM_IFACE = "org.needlegate.PenSim1"
PENSIM_MANAGER_IFACE = "org.needlegate.PenSimManager1"


class Pen:
    """One simulated pen: its PenSim1 control object and its BlueZ device."""

    def __init__(self, harness, serial, control_path, device_path):
        self.h = harness
        self.serial = serial
        self.path = control_path
        self.device = device_path

    def call(self, method, signature=None, *args, timeout=10.0):
        """A PenSim1 method; signature is a tuple type such as "(s)"."""
        params = GLib.Variant(signature, args) if signature else None
        return self.h.call(self.path, PENSIM_IFACE, method, params, timeout=timeout)

    def prop(self, name):
        return self.h.get_property(self.path, PENSIM_IFACE, name)

    def device_prop(self, name):
        return self.h.get_property(self.device, DEVICE_IFACE, name)

    def connect(self):
        self.h.call(self.device, DEVICE_IFACE, "Connect", timeout=20)

    def disconnect(self):
        self.h.call(self.device, DEVICE_IFACE, "Disconnect")

    def read(self, uuid, offset=None):
        opts = {"offset": GLib.Variant("q", offset)} if offset is not None else {}
        return bytes(self.h.call(self.char_path(uuid), CHAR_IFACE, "ReadValue",
                                 GLib.Variant("(a{sv})", (opts,)))[0])

    def write(self, uuid, value, write_type=None):
        opts = {"type": GLib.Variant("s", write_type)} if write_type else {}
        self.h.call(self.char_path(uuid), CHAR_IFACE, "WriteValue",
                    GLib.Variant("(aya{sv})", (bytes(value), opts)))

    def start_notify(self, uuid):
        """StartNotify; returns the list that collects the notified values."""
        path = self.char_path(uuid)
        values = self.h.collect_values(path)
        self.h.call(path, CHAR_IFACE, "StartNotify")
        return values

    def acquire_notify(self, uuid):
        """AcquireNotify; returns (socket.socket SOCK_SEQPACKET, mtu)."""
        fds = Gio.UnixFDList.new()
        (idx, mtu), out = self.h.call(self.char_path(uuid), CHAR_IFACE, "AcquireNotify",
                                      GLib.Variant("(a{sv})", ({},)), fds=fds)
        fd = out.get(idx)
        return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd), mtu

    def char_path(self, uuid):
        """Object path of this pen's characteristic with that UUID."""
        for path, ifaces in self.h.managed_objects().items():
            chrc = ifaces.get(CHAR_IFACE)
            if chrc and path.startswith(self.device + "/") and chrc["UUID"] == uuid:
                return path
        raise HarnessError(f"pen {self.serial}: no characteristic {uuid}")


class Link:
    """A connected pen with Telemetry, Session Event, Control Point and Pen Status subscribed
    through StartNotify, and one ordered log of everything that arrived."""

    def __init__(self, h, pen, telemetry=True):
        self.h = h
        self.pen = pen
        self.log = []  # (kind, bytes) in arrival order
        pen.connect()
        paths = {pen.char_path(UUID_TELEMETRY): "telemetry", pen.char_path(UUID_SESSION_EVENT): "event",
                 pen.char_path(UUID_CONTROL_POINT): "cp", pen.char_path(UUID_PEN_STATUS): "status"}

        def on_changed(path, member, params):
            iface, changed, _ = params
            if iface == CHAR_IFACE and "Value" in changed and path in paths:
                self.log.append((paths[path], bytes(changed["Value"])))
        h.subscribe(on_changed, PROPS_IFACE, "PropertiesChanged")
        for path, kind in paths.items():
            if kind != "telemetry" or telemetry:
                h.call(path, CHAR_IFACE, "StartNotify")

    def of(self, kind):
        return [v for k, v in self.log if k == kind]

    def events(self):
        """Decoded session events; malformed ones (fault injection) are left out."""
        out = []
        for v in self.of("event"):
            try:
                out.append(decode_event(v))
            except (ValueError, struct.error):
                pass
        return out

    def records(self):
        """Decoded telemetry records; malformed notifications are left out."""
        out = []
        for v in self.of("telemetry"):
            try:
                out += decode_records(v)
            except (ValueError, struct.error, IndexError):
                pass
        return out

    def control(self, request, timeout=5.0):
        before = len(self.of("cp"))
        self.pen.write(UUID_CONTROL_POINT, request)
        wait_until(lambda: len(self.of("cp")) > before, timeout, "a control point response")
        return decode_response(self.of("cp")[before])

    def wait_event(self, etype, timeout=5.0, after=0):
        return wait_until(lambda: next((e for e in self.events()[after:] if e["type"] == etype), None),
                          timeout, f"event {etype}")

    def wait_records(self, n, timeout=10.0, pred=lambda r: True):
        return wait_until(lambda: len([r for r in self.records() if pred(r)]) >= n, timeout,
                          f"{n} telemetry records")
