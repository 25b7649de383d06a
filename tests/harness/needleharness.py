# SPDX-License-Identifier: LGPL-2.1-or-later
"""Test fixture for needlegate: a private D-Bus system bus, needle-pensim, Mosquitto, bluetoothctl.

Everything a test starts is torn down when the `Harness` context ends, even
when the test fails: every child runs in its own process group, which gets
SIGTERM, a bounded wait, then SIGKILL. Paths to the built programs come from
the environment that meson test sets: NEEDLE_PENSIM, NEEDLEGATED, NEEDLECTL.

    with Harness(pens=2, unpaired=1, pensim_args=["--manual"]) as h:
        pen = h.pen("NP5EED0001")
        pen.call("StartSession")
        h.wait_until(lambda: pen.prop("State") == "session_active")

Needs python3-gi (Gio) and, for MQTT, python3-paho-mqtt 1.6; run the tests
with the system's /usr/bin/python3.
"""

import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from gi.repository import Gio, GLib

BLUEZ = "org.bluez"
ADAPTER_PATH = "/org/bluez/hci0"
PENSIM_PATH = "/org/needlegate/PenSim"
PENSIM_IFACE = "org.needlegate.PenSim1"
PENSIM_MANAGER_IFACE = "org.needlegate.PenSimManager1"
DEVICE_IFACE = "org.bluez.Device1"
CHAR_IFACE = "org.bluez.GattCharacteristic1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"

UUID_TELEMETRY = "a3c10003-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_SESSION_EVENT = "a3c10004-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_CONTROL_POINT = "a3c10005-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_PEN_STATUS = "a3c10006-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_PEN_FEATURES = "a3c10002-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_SERIAL_NUMBER = "00002a25-0000-1000-8000-00805f9b34fb"
UUID_BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""

MOSQUITTO_CONFIG = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
"""


class HarnessError(Exception):
    """A part of the fixture did not start or did not behave in time."""


def program(env_name, default_name):
    """Path of a built program from the environment meson test sets, else PATH."""
    path = os.environ.get(env_name) or shutil.which(default_name)
    if not path:
        raise HarnessError(f"{env_name} is not set and {default_name} is not on PATH")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, what="condition", interval=0.02):
    """Runs the GLib main context until predicate() is true; HarnessError after timeout."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while True:
        while ctx.pending():
            ctx.iteration(False)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.1f} s waiting for {what}")
        ctx.iteration(False) or time.sleep(interval)


def pump(seconds):
    """Lets signals arrive for a while."""
    end = time.monotonic() + seconds
    ctx = GLib.MainContext.default()
    while time.monotonic() < end:
        while ctx.pending():
            ctx.iteration(False)
        time.sleep(0.01)


class Process:
    """A child in its own process group, with its output kept in a file."""

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "GLib-CRITICAL", "GLib-GIO-CRITICAL")

    def __init__(self, argv, env, log_path, name, check_exit=False):
        self.name = name
        self.check_exit = check_exit
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "w+b")
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_output(self, pattern, timeout=10.0):
        """Waits until the output matches a regular expression; returns the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if self.popen.poll() is not None:
                raise HarnessError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()}")
            time.sleep(0.02)
        raise HarnessError(f"{self.name}: no '{pattern}' after {timeout} s:\n{self.output()}")

    def problems(self, code):
        """What is wrong with how a checked process ended (None if nothing)."""
        out = self.output()
        marks = [m for m in self.SANITIZER_MARKS if m in out]
        if code not in (0, None) or marks:
            return f"{self.name} ended with {code} {marks}:\n{out[-8000:]}"
        return None

    def running(self):
        return self.popen.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM to the group, a bounded wait, then SIGKILL. Returns the exit code."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout)
        self.log.close()
        return self.popen.returncode


class Pen:
    """One simulated pen: its PenSim1 control object and its BlueZ device."""

    def __init__(self, harness, serial, control_path, device_path):
        self.h = harness
        self.serial = serial
        self.path = control_path
        self.device = device_path

    def call(self, method, signature=None, *args, timeout=10.0):
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

    def control(self, request, responses, timeout=5.0):
        """Writes a Control Point request and waits for its response (op, result, count)."""
        before = len(responses)
        self.write(UUID_CONTROL_POINT, request)
        wait_until(lambda: len(responses) > before, timeout, "a control point response")
        return decode_response(responses[before])

    def char_path(self, uuid):
        """Object path of this pen's characteristic with that UUID."""
        for path, ifaces in self.h.managed_objects().items():
            chrc = ifaces.get(CHAR_IFACE)
            if chrc and path.startswith(self.device + "/") and chrc["UUID"] == uuid:
                return path
        raise HarnessError(f"pen {self.serial}: no characteristic {uuid}")


class Harness:
    """Private bus + needle-pensim (+ Mosquitto) for one test; a context manager."""

    def __init__(self, pens=1, unpaired=0, pensim_args=(), scenario=None, pensim=True, mosquitto=False,
                 keep_dir=False):
        self.n_pens = pens
        self.unpaired = unpaired
        self.pensim_args = list(pensim_args)
        self.scenario = scenario
        self.want_pensim = pensim
        self.want_mosquitto = mosquitto
        self.keep_dir = keep_dir or bool(os.environ.get("NEEDLE_KEEP_TMP"))
        self.dir = None
        self.processes = []
        self.bus = None
        self.bus_address = None
        self.pensim = None
        self.mosquitto = None
        self.mqtt_port = None
        self.conn = None
        self._subs = []

    # ---- lifetime -------------------------------------------------------------

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="needle-harness-")
        try:
            self._start_bus()
            if self.want_pensim:
                self.start_pensim()
            if self.want_mosquitto:
                self.start_mosquitto()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump_logs()
        problems = self.close()
        if exc_type is None and problems:
            raise HarnessError("\n".join(problems))
        return False

    def close(self):
        """Stops everything; returns the problems of checked processes (see spawn)."""
        problems = []
        for sub in self._subs:
            if self.conn is not None:
                self.conn.signal_unsubscribe(sub)
        self._subs = []
        if self.conn is not None:
            try:
                self.conn.close_sync(None)
            except GLib.Error:
                pass
            self.conn = None
        for proc in reversed(self.processes):
            code = proc.stop()
            if proc.check_exit and proc.problems(code):
                problems.append(proc.problems(code))
        self.processes = []
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems

    def dump_logs(self):
        for proc in self.processes:
            print(f"---- {proc.name} ({' '.join(proc.argv)}) ----")
            print(proc.output()[-6000:])

    def env(self, **extra):
        """Environment for a client of the private bus (DBUS_SYSTEM_BUS_ADDRESS set)."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn(self, argv, name=None, env=None, check_exit=False):
        """Starts a child that the harness stops at the end. With check_exit, the test fails
        if it does not exit 0 on SIGTERM or if its output shows a sanitizer report or a
        GLib critical."""
        name = name or os.path.basename(argv[0])
        log = os.path.join(self.dir, f"{name}-{len(self.processes)}.log")
        proc = Process(argv, env or self.env(), log, name, check_exit)
        self.processes.append(proc)
        return proc

    # ---- parts ------------------------------------------------------------------

    def _start_bus(self):
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(dir=self.dir))
        self.bus = self.spawn(["dbus-daemon", "--config-file=" + conf, "--nofork", "--print-address=1"],
                              name="dbus-daemon", env=dict(os.environ))
        m = self.bus.wait_output(r"(unix:[^\s]+)\n", timeout=10)
        self.bus_address = m.group(1)
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def start_pensim(self, extra_args=()):
        argv = [program("NEEDLE_PENSIM", "needle-pensim"), "--bus", self.bus_address,
                "--pens", str(self.n_pens), "--unpaired", str(self.unpaired), "--verbose"]
        if self.scenario:
            argv += ["--scenario", self.scenario]
        argv += self.pensim_args + list(extra_args)
        self.pensim = self.spawn(argv, name="needle-pensim", check_exit=True)
        self.pensim.wait_output(r"needle-pensim: ready", timeout=15)
        wait_until(lambda: self.name_has_owner(BLUEZ), 10, "org.bluez on the bus")
        return self.pensim

    def stop_pensim(self):
        """Stops needle-pensim (e.g. to test a daemon's reaction); HarnessError if it ended badly."""
        if self.pensim is None:
            return None
        code = self.pensim.stop()
        problems = self.pensim.problems(code)
        self.processes.remove(self.pensim)
        self.pensim = None
        if problems:
            raise HarnessError(problems)
        return code

    def start_mosquitto(self):
        self.mqtt_port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(MOSQUITTO_CONFIG.format(port=self.mqtt_port))
        self.mosquitto = self.spawn(["mosquitto", "-c", conf], name="mosquitto", env=dict(os.environ))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.5).close()
                return self.mosquitto
            except OSError:
                if not self.mosquitto.running():
                    break
                time.sleep(0.05)
        raise HarnessError(f"mosquitto did not listen on {self.mqtt_port}:\n{self.mosquitto.output()}")

    # ---- D-Bus ---------------------------------------------------------------------

    def name_has_owner(self, name):
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                    "NameHasOwner", GLib.Variant("(s)", (name,)), None,
                                    Gio.DBusCallFlags.NONE, 5000, None)
        return reply.unpack()[0]

    def call(self, path, iface, method, params=None, dest=BLUEZ, timeout=10.0, fds=None):
        """A method call; returns the unpacked reply tuple (GLib.Error on a D-Bus error)."""
        if fds is not None:
            reply, out_fds = self.conn.call_with_unix_fd_list_sync(
                dest, path, iface, method, params, None, Gio.DBusCallFlags.NONE, int(timeout * 1000), fds, None)
            return reply.unpack(), out_fds
        reply = self.conn.call_sync(dest, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                                    int(timeout * 1000), None)
        return reply.unpack()

    def call_error(self, path, iface, method, params=None, timeout=10.0):
        """Calls and expects a D-Bus error; returns its name (HarnessError if it succeeds)."""
        try:
            self.call(path, iface, method, params, timeout=timeout)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e)
        raise HarnessError(f"{iface}.{method} on {path} succeeded, an error was expected")

    def get_property(self, path, iface, name, dest=BLUEZ):
        return self.call(path, PROPS_IFACE, "Get", GLib.Variant("(ss)", (iface, name)), dest=dest)[0]

    def set_property(self, path, iface, name, value):
        self.call(path, PROPS_IFACE, "Set", GLib.Variant("(ssv)", (iface, name, value)))

    def managed_objects(self):
        return self.call("/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]

    def subscribe(self, callback, iface=None, member=None, path=None, arg0=None, sender=BLUEZ):
        """Signal subscription; callback(path, member, params_tuple). Undone at close."""
        def on_signal(conn, sender_name, obj_path, iface_name, signal_name, params):
            callback(obj_path, signal_name, params.unpack())
        sub = self.conn.signal_subscribe(sender, iface, member, path, arg0, Gio.DBusSignalFlags.NONE, on_signal)
        self._subs.append(sub)
        return sub

    def collect_values(self, char_path):
        """List that fills with every Value a PropertiesChanged reports on char_path (bytes)."""
        values = []

        def on_changed(path, member, params):
            iface, changed, _ = params
            if iface == CHAR_IFACE and "Value" in changed:
                values.append(bytes(changed["Value"]))
        self.subscribe(on_changed, PROPS_IFACE, "PropertiesChanged", char_path)
        return values

    # ---- pens ----------------------------------------------------------------------

    def pens(self):
        reply = self.call(PENSIM_PATH, PENSIM_MANAGER_IFACE, "ListPens")[0]
        return [Pen(self, serial, ctl, dev) for serial, ctl, dev in reply]

    def pen(self, serial_or_index=0):
        pens = self.pens()
        if isinstance(serial_or_index, int):
            return pens[serial_or_index]
        for p in pens:
            if p.serial == serial_or_index:
                return p
        raise HarnessError(f"no pen {serial_or_index}")

    wait_until = staticmethod(wait_until)
    pump = staticmethod(pump)


class Bluetoothctl:
    """Debian's bluetoothctl on the private bus, driven through a pseudo-terminal.

    bluetoothctl reads the passkey of its agent only from a terminal, so it
    runs interactively; `expect` waits for its output (colours stripped).
    """

    ANSI = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z]|\x01|\x02")

    def __init__(self, harness, args=()):
        self.h = harness
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe("bluetoothctl", ["bluetoothctl", *args], harness.env(TERM="dumb"))
            finally:
                os._exit(127)
        self.buf = b""
        self.transcript = b""

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        data = self.ANSI.sub(b"", data)
        self.buf += data
        self.transcript += data
        return bool(data)

    def expect(self, pattern, timeout=10.0):
        """Waits for a regular expression in the output; returns the match, consuming up to it."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError(f"bluetoothctl: no '{pattern}' after {timeout} s; transcript:\n"
                                   + self.transcript.decode(errors="replace")[-4000:])
            self._read(min(left, 0.2))

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def close(self):
        try:
            self.send("quit")
        except OSError:
            pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            self._read(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class MqttCollector:
    """Subscribes to topics on the harness's Mosquitto and keeps every message."""

    def __init__(self, port, topics=("#",), host="127.0.0.1"):
        import paho.mqtt.client as mqtt
        self.messages = []
        self.client = mqtt.Client(client_id=f"needle-harness-{os.getpid()}-{time.monotonic_ns()}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self._topics = topics
        self.client.on_connect = lambda c, u, f, rc: [c.subscribe(t, qos=1) for t in self._topics]
        self.client.connect(host, port)
        self.client.loop_start()

    def wait_for(self, predicate, timeout=10.0, what="an MQTT message"):
        """Returns the first (topic, payload, retain) matching predicate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in list(self.messages):
                if predicate(msg):
                    return msg
            time.sleep(0.02)
        raise HarnessError(f"timed out after {timeout} s waiting for {what}; got {len(self.messages)} messages")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- the NeedlePen profile, decoded independently of proto/ (for cross-checks) ----

import struct  # noqa: E402

FLAG_AREA, FLAG_PRESSURE, FLAG_REPLAYED, FLAG_MOTOR, FLAG_CONTACT, FLAG_CRC = (1, 2, 4, 8, 16, 32)
EVENT_NAMES = {1: "session_started", 2: "session_ended", 3: "area_changed", 4: "cartridge_inserted",
               5: "cartridge_removed", 6: "error_raised", 7: "error_cleared", 8: "limits_applied"}


def crc16_mcrf4xx(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def decode_records(data):
    """Telemetry notification -> list of dicts; raises ValueError on a malformed record."""
    out = []
    pos = 0
    while pos < len(data):
        size, flags = data[pos], data[pos + 1]
        expect = 16 + (1 if flags & FLAG_AREA else 0) + (2 if flags & FLAG_PRESSURE else 0) + \
            (2 if flags & FLAG_CRC else 0)
        if size != expect or pos + size > len(data):
            raise ValueError(f"bad record at {pos}: size {size}, flags {flags:#x}")
        rec = data[pos:pos + size]
        seq, session, offset, depth, speed = struct.unpack_from("<IHIHH", rec, 2)
        r = {"seq": seq, "session": session, "offset_ms": offset, "depth": depth, "speed": speed,
             "flags": flags, "replayed": bool(flags & FLAG_REPLAYED)}
        p = 16
        if flags & FLAG_AREA:
            r["area"] = rec[p]
            p += 1
        if flags & FLAG_PRESSURE:
            r["pressure"] = struct.unpack_from("<H", rec, p)[0]
            p += 2
        if flags & FLAG_CRC:
            if struct.unpack_from("<H", rec, p)[0] != crc16_mcrf4xx(rec[:p]):
                raise ValueError(f"bad CRC in record {seq}")
        out.append(r)
        pos += size
    return out


def decode_event(data):
    etype, seq, session, clock = struct.unpack_from("<BIHQ", data, 0)
    ev = {"type": EVENT_NAMES.get(etype, "unknown"), "seq": seq, "session": session, "clock_ms": clock}
    p = data[15:]
    if etype == 1:
        ev["cartridge"], ev["needles"], ev["use_count"], ev["area"] = struct.unpack("<IBHB", p)
    elif etype == 2:
        ev["duration_ms"], ev["reason"] = struct.unpack("<IB", p)
    elif etype == 3:
        ev["area"] = p[0]
    elif etype == 4:
        ev["cartridge"], ev["needles"], ev["use_count"] = struct.unpack("<IBH", p)
    elif etype in (6, 7):
        ev["code"] = struct.unpack("<H", p)[0]
    elif etype == 8:
        ev["max_depth"], ev["min_speed"], ev["max_speed"] = struct.unpack("<HHH", p)
    return ev


def decode_response(data):
    """Control Point indication -> (op, result, records_sent or None)."""
    if len(data) < 3 or data[0] != 0x80:
        raise ValueError(f"not a control point response: {data.hex()}")
    count = struct.unpack_from("<I", data, 3)[0] if len(data) == 7 else None
    return data[1], data[2], count


def decode_status(data):
    state, error, cartridge, needles, session, flags = struct.unpack_from("<BHIBHB", data, 0)
    return {"state": state, "error": error, "cartridge": cartridge, "needles": needles, "session": session,
            "flags": flags}
