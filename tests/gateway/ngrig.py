# SPDX-License-Identifier: LGPL-2.1-or-later
"""A test rig for needlegated: private D-Bus, needle-pensim, Mosquitto, the daemon, a subscriber.

Everything runs for real on free loopback ports and a private bus, and is stopped by
Rig.close() (use "with Rig(...) as rig:") even when a test fails. On failure the logs of
every process are printed.
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from gi.repository import Gio, GLib

HUB = "e2e"
BASE = "needlegate/" + HUB
AREAS = ["unspecified", "forehead", "periorbital", "nose", "cheeks", "perioral", "chin_jawline", "neck",
         "decollete", "arms", "hands", "abdomen", "thighs", "back", "scalp", "scar", "unknown"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=15.0, interval=0.05):
    """Polls predicate until it returns something true; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def parse_time(text):
    """ISO 8601 UTC with milliseconds, as the payloads carry it -> ms since the epoch."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), "not ISO 8601 UTC ms: %r" % text
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(dt.timestamp() * 1000)


class Subscriber:
    """Collects everything under the base topic, QoS 1, in a persistent session (so that a
    broker restart loses nothing on the subscriber's side either)."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.messages = []  # (monotonic time, topic, payload dict or text, retain)
        self.connected = threading.Event()
        self.client = mqtt.Client(client_id="e2e-subscriber-%d" % os.getpid(), clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for("the subscriber to connect", self.connected.is_set, 10)

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            client.subscribe(BASE + "/#", qos=1)
            self.connected.set()

    def _on_message(self, client, userdata, msg):
        text = msg.payload.decode("utf-8")
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, payload, msg.retain))

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()

    def on(self, topic):
        """Payloads on BASE/topic, in arrival order."""
        with self.lock:
            return [m[2] for m in self.messages if m[1] == BASE + "/" + topic]

    def last(self, topic):
        got = self.on(topic)
        return got[-1] if got else None

    def all_topics(self):
        with self.lock:
            return [m[1] for m in self.messages]

    def raw(self):
        with self.lock:
            return list(self.messages)


class Rig:
    def __init__(self, pens=3, unpaired=1, rate=50, extra_config="", pensim_args=()):
        self.tmp = tempfile.mkdtemp(prefix="ng-e2e-")
        self.procs = {}
        self.logs = {}
        self.failed = False
        self._raising = False
        self.sub = None
        self.bus = None
        self.mqtt_port = free_port()
        self.pens_n = pens
        self.unpaired = unpaired
        self.rate = rate
        self.pensim_args = list(pensim_args)
        self.state_dir = os.path.join(self.tmp, "state")
        self.config_path = os.path.join(self.tmp, "needlegated.conf")
        with open(self.config_path, "w") as f:
            f.write("[gateway]\nhub_id=%s\nstate_dir=%s\ninfo_interval=1\n"
                    "[mqtt]\nurl=mqtt://127.0.0.1:%d\n"
                    "[bluetooth]\nconnect_timeout=5\nreconnect_min_delay=1\nreconnect_max_delay=2\n%s"
                    % (HUB, self.state_dir, self.mqtt_port, extra_config))

    # ---- processes ---------------------------------------------------------------------

    def _spawn(self, name, argv, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        self.logs[name] = log.name
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs[name] = proc
        return proc

    def stop(self, name, sig=signal.SIGTERM, timeout=10):
        """Stops a process; returns its exit code (a negative signal number if it died of one)."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("%s did not stop within %d s of signal %d" % (name, timeout, sig))
        return proc.returncode

    def log_text(self, name):
        with open(self.logs[name], errors="replace") as f:
            return f.read()

    def start_bus(self):
        proc = subprocess.Popen([os.environ.get("DBUS_DAEMON", "dbus-daemon"), "--session", "--nofork", "--print-address=1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs["dbus-daemon"] = proc
        self.bus_address = proc.stdout.readline().decode().strip()
        assert self.bus_address, "dbus-daemon gave no address"
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address)
        self.bus = Gio.DBusConnection.new_for_address_sync(
            self.bus_address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def start_broker(self):
        conf = os.path.join(self.tmp, "mosquitto.conf")
        os.makedirs(os.path.join(self.tmp, "mosquitto"), exist_ok=True)
        # run as root, mosquitto drops to its own user: let it write its persistence file
        os.chmod(self.tmp, 0o755)
        os.chmod(os.path.join(self.tmp, "mosquitto"), 0o777)
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s/\n" % (self.mqtt_port, os.path.join(self.tmp, "mosquitto")))
        self._spawn("mosquitto", [os.environ.get("MOSQUITTO", "mosquitto"), "-c", conf])

        def listening():
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_port), 0.2):
                    return True
            except OSError:
                return False
        wait_for("mosquitto to listen", listening, 10)

    def start_pensim(self, extra=()):
        argv = [os.environ["PENSIM"], "--bus", "system", "-n", str(self.pens_n), "-u", str(self.unpaired),
                "--manual", "--rate", str(self.rate), "-v"] + self.pensim_args + list(extra)
        self._spawn("pensim", argv, self.env)
        wait_for("needle-pensim to own org.bluez", lambda: self._name_has_owner("org.bluez"), 10)

    def start_daemon(self, extra=()):
        argv = [os.environ["NEEDLEGATED"], "--config", self.config_path, "-vv"] + list(extra)
        return self._spawn("needlegated", argv, self.env)

    def start(self, daemon=True):
        self.start_bus()
        self.start_broker()
        self.start_pensim()
        self.sub = Subscriber(self.mqtt_port)
        if daemon:
            self.start_daemon()
        return self

    def close(self):
        if self.sub is not None:
            self.sub.close()
        for name in ["needlegated", "pensim", "mosquitto", "dbus-daemon"]:
            try:
                self.stop(name, timeout=5)
            except AssertionError as e:
                print("cleanup: %s" % e, file=sys.stderr)
                self.failed = True
        if not self.failed and "needlegated" in self.logs:
            # sanitizers report to stderr without failing the process (UBSan) or only at exit
            text = self.log_text("needlegated")
            for bad in ["runtime error:", "AddressSanitizer", "LeakSanitizer", "-CRITICAL", "g_assert"]:
                if bad in text:
                    self.failed = True
                    print("needlegated's log holds %r" % bad, file=sys.stderr)
        if self.failed:
            for name, path in self.logs.items():
                with open(path, errors="replace") as f:
                    text = f.read()
                print("---- %s (last 150 lines) ----\n%s" % (name, "\n".join(text.splitlines()[-150:])),
                      file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.failed and not self._raising:
            raise AssertionError("needlegated misbehaved (see its log above)")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.failed = exc_type is not None
        self._raising = self.failed
        self.close()
        return False

    # ---- the simulator's control interface -----------------------------------------------

    def _name_has_owner(self, name):
        reply = self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "NameHasOwner", GLib.Variant("(s)", (name,)), None, 0, 2000, None)
        return reply.unpack()[0]

    def pens(self):
        """[(serial, control path, device path)] of every simulated pen."""
        reply = self.bus.call_sync("org.bluez", "/org/needlegate/PenSim", "org.needlegate.PenSimManager1",
                                   "ListPens", None, None, 0, 5000, None)
        return reply.unpack()[0]

    def pen_path(self, serial):
        return "/org/needlegate/PenSim/" + serial

    def pen_prop(self, serial, prop):
        reply = self.bus.call_sync("org.bluez", self.pen_path(serial), "org.freedesktop.DBus.Properties", "Get",
                                   GLib.Variant("(ss)", ("org.needlegate.PenSim1", prop)), None, 0, 5000, None)
        return reply.unpack()[0]

    def pen_call(self, serial, method, signature=None, *args):
        params = GLib.Variant("(%s)" % signature, args) if signature else None
        reply = self.bus.call_sync("org.bluez", self.pen_path(serial), "org.needlegate.PenSim1", method, params,
                                   None, 0, 5000, None)
        return reply.unpack() if reply is not None else ()

    def bonded_and_unbonded(self):
        bonded, unbonded = [], []
        for serial, _, _ in self.pens():
            (bonded if self.pen_prop(serial, "Paired") else unbonded).append(serial)
        return sorted(bonded), sorted(unbonded)

    # ---- what the daemon published ----------------------------------------------------------

    def wait_connected(self, serials, timeout=20):
        def all_connected():
            return all((self.sub.last("pens/%s/state" % s) or {}).get("connected") for s in serials)
        wait_for("pens %s connected" % ", ".join(serials), all_connected, timeout)

    def wait_session_event(self, serial, session_id, event, timeout=15, after_seq=0, inferred=False):
        """The pen's event, or with inferred=True an end the daemon inferred (seq null,
        end_event_lost true)."""
        def found():
            for m in self.sub.on("pens/%s/session" % serial):
                seq = m.get("seq")
                if m.get("session") != session_id or m.get("event") != event:
                    continue
                if (inferred and seq is None) or (not inferred and seq is not None and seq > after_seq):
                    return m
            return None
        return wait_for("session %d of %s %s" % (session_id, serial, event), found, timeout)

    def telemetry(self, serial, session_id):
        """The records of a session, in arrival order; batches (JSON arrays) are unpacked."""
        records = []
        for m in self.sub.on("pens/%s/telemetry" % serial):
            records.extend(m if isinstance(m, list) else [m])
        return [r for r in records if r.get("session") == session_id]

    def events(self, serial, session_id):
        return [m for m in self.sub.on("pens/%s/event" % serial) if m.get("session") == session_id]


def check_record(rec, serial, session_id):
    """One telemetry payload, field by field, as BRIEF.md names them."""
    assert rec["pen"] == serial, rec
    assert rec["session"] == session_id, rec
    assert isinstance(rec["seq"], int) and rec["seq"] > 0, rec
    parse_time(rec["t"])
    assert isinstance(rec["offset_ms"], int) and rec["offset_ms"] >= 0, rec
    assert isinstance(rec["depth_mm"], float) and 0.0 <= rec["depth_mm"] <= 3.0, rec
    assert isinstance(rec["speed_hz"], float) and 0.0 <= rec["speed_hz"] <= 6553.5, rec
    assert rec.get("area", "unspecified") in AREAS, rec
    if "pressure_gf" in rec:
        assert isinstance(rec["pressure_gf"], int) and 0 <= rec["pressure_gf"] <= 65535, rec
    assert isinstance(rec["motor"], bool), rec
    assert isinstance(rec["contact"], bool), rec
    assert isinstance(rec["replayed"], bool), rec


def check_session_complete(rig, serial, session_id, allow_dups=0, in_order=True, after_seq=0):
    """Every record of the session arrived once (by seq), stamped on one session clock.
    after_seq: ignore what came before (a restarted simulator reuses session ids)."""
    started = rig.wait_session_event(serial, session_id, "started", after_seq=after_seq)
    ended = rig.wait_session_event(serial, session_id, "ended", after_seq=after_seq)
    for msg in (started, ended):
        assert msg["pen"] == serial and msg["session"] == session_id, msg
        parse_time(msg["t"])
    assert started["cartridge"]["id"] > 0 and started["cartridge"]["needles"] > 0, started
    assert started["cartridge"]["use_count"] >= 1, started
    assert started["area"] in AREAS and "plan_id" in started, started
    assert isinstance(ended["duration_s"], float) and ended["duration_s"] > 0, ended
    assert ended["reason"] == "stopped", ended

    records = [r for r in rig.telemetry(serial, session_id) if r["seq"] > after_seq]
    assert records, "no telemetry for session %d of %s" % (session_id, serial)
    for rec in records:
        check_record(rec, serial, session_id)
    seqs = [r["seq"] for r in records]
    unique = sorted(set(seqs))
    dups = len(seqs) - len(unique)
    assert dups <= allow_dups, "%d duplicate records (allowed %d)" % (dups, allow_dups)
    if in_order:
        assert seqs == unique, "records out of order: %s" % seqs[:50]
    event_seqs = {e["seq"] for e in rig.events(serial, session_id) if e["seq"] > after_seq}
    expected = set(range(started["seq"] + 1, ended["seq"])) - event_seqs
    missing = sorted(expected - set(unique))
    extra = sorted(set(unique) - expected)
    assert not missing, "%d records missing: %s" % (len(missing), missing[:40])
    assert not extra, "records outside the session: %s" % extra[:40]
    # one clock per session: t - offset is the session start, the same for every record
    starts = {parse_time(r["t"]) - r["offset_ms"] for r in records}
    assert len(starts) == 1, "records stamped against %d different session starts" % len(starts)
    return records
