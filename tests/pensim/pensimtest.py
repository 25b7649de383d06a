# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared setup of the needle-pensim tests: imports the harness, connects and subscribes a pen."""

import os
import struct
import sys
import time

sys.path.insert(0, os.environ.get("NEEDLE_HARNESS_DIR", os.path.join(os.path.dirname(__file__), "..", "harness")))

import needleharness as nh  # noqa: E402,F401
from needleharness import (CHAR_IFACE, PROPS_IFACE, UUID_CONTROL_POINT, UUID_PEN_STATUS,  # noqa: E402,F401
                           UUID_SESSION_EVENT, UUID_TELEMETRY, Harness, HarnessError, decode_event,
                           decode_records, decode_response, decode_status, pump, wait_until)
from gi.repository import Gio, GLib  # noqa: E402,F401

OP_SET_TIME, OP_SET_LIMITS, OP_CLEAR_LIMITS, OP_REPORT, OP_STOP, OP_SET_AREA, OP_IDENTIFY = range(1, 8)
SUCCESS, NOT_SUPPORTED, INVALID_PARAMETER, FAILED, NOT_PERMITTED, BUSY = range(1, 7)


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


def set_time_request(ms):
    return struct.pack("<BQ", OP_SET_TIME, ms)


def set_limits_request(max_depth, min_speed, max_speed):
    return struct.pack("<BHHH", OP_SET_LIMITS, max_depth, min_speed, max_speed)


def report_request(first_seq):
    return struct.pack("<BI", OP_REPORT, first_seq)


def now_ms():
    return int(time.time() * 1000)


def expect_error(name, fn, *args, **kwargs):
    """Calls fn and checks that it fails with the D-Bus error name given."""
    try:
        fn(*args, **kwargs)
    except GLib.Error as e:
        got = Gio.DBusError.get_remote_error(e)
        msg = e.message.split(": ", 1)[1] if e.message.startswith("GDBus.Error:") else e.message
        assert got == name, f"expected {name}, got {got}: {msg}"
        return msg
    raise AssertionError(f"expected {name}, the call succeeded")


AGENT_XML = """<node><interface name="org.bluez.Agent1">
<method name="Release"/>
<method name="RequestPasskey"><arg name="device" type="o" direction="in"/>
<arg name="passkey" type="u" direction="out"/></method>
<method name="DisplayPasskey"><arg type="o" direction="in"/><arg type="u" direction="in"/>
<arg type="q" direction="in"/></method>
<method name="RequestConfirmation"><arg type="o" direction="in"/><arg type="u" direction="in"/></method>
<method name="RequestAuthorization"><arg type="o" direction="in"/></method>
<method name="AuthorizeService"><arg type="o" direction="in"/><arg type="s" direction="in"/></method>
<method name="RequestPinCode"><arg type="o" direction="in"/><arg type="s" direction="out"/></method>
<method name="DisplayPinCode"><arg type="o" direction="in"/><arg type="s" direction="in"/></method>
<method name="Cancel"/>
</interface></node>"""


class Agent:
    """An org.bluez.Agent1 on the test's connection. answer(device_path) gives the
    passkey to reply, or None to leave the request pending."""

    def __init__(self, h, path="/test/agent", capability="KeyboardOnly", answer=None):
        self.h = h
        self.path = path
        self.answer = answer
        self.calls = []
        self.pending = []
        info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML).interfaces[0]
        self.reg = h.conn.register_object(path, info, self._on_call, None, None)
        h.call("/org/bluez", "org.bluez.AgentManager1", "RegisterAgent", GLib.Variant("(os)", (path, capability)))

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        self.calls.append((method, params.unpack()))
        if method == "RequestPasskey":
            value = self.answer(params.unpack()[0]) if self.answer else None
            if value is None:
                self.pending.append(invocation)
            else:
                invocation.return_value(GLib.Variant("(u)", (value,)))
        else:
            invocation.return_value(None)

    def unregister(self):
        self.h.call("/org/bluez", "org.bluez.AgentManager1", "UnregisterAgent", GLib.Variant("(o)", (self.path,)))
        self.h.conn.unregister_object(self.reg)


class AsyncCall:
    """A method call that does not block the main context (so our agent can answer)."""

    def __init__(self, h, path, iface, method, params=None, timeout=30.0):
        self.done = False
        self.result = None
        self.error = None

        def on_reply(conn, res):
            try:
                self.result = conn.call_finish(res).unpack()
            except GLib.Error as e:
                self.error = Gio.DBusError.get_remote_error(e)
            self.done = True
        h.conn.call("org.bluez", path, iface, method, params, None, Gio.DBusCallFlags.NONE, int(timeout * 1000),
                    None, on_reply)

    def wait(self, timeout=30.0):
        wait_until(lambda: self.done, timeout, "a method reply")
        return self
