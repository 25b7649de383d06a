#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The technician's paths end to end: needlectl, the D-Bus API and MQTT requests against needlegated on pensim.
"""usage: test-api.py SCENARIO

Runs the real needlegated on a private system bus with needle-pensim and a real
Mosquitto (needleharness.Harness), and acts as a technician or a dashboard
would: needlectl in a pseudo-terminal typing the passkey the simulated pen
shows (read from org.needlegate.PenSim1.Passkey), D-Bus calls, MQTT requests.
Environment: NEEDLEGATED, NEEDLECTL, NEEDLE_PENSIM, NEEDLE_HARNESS_DIR, PLANS_DIR.
"""

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

HUB = "api"
BASE = "needlegate/" + HUB
GW = "org.needlegate.Gateway1"
GW_PATH = "/org/needlegate/Gateway1"
PEN_IFACE = "org.needlegate.Pen1"
NEW_PEN = "NP5EED0002"          # the unpaired pen (--pens 2 --unpaired 1)
NEW_ADDR = "C0:4E:50:5E:00:02"
OLD_PEN = "NP5EED0001"          # bonded from the start
OLD_ADDR = "C0:4E:50:5E:00:01"
NEEDLECTL = os.environ["NEEDLECTL"]
PLANS = os.environ["PLANS_DIR"]


def log(msg):
    print("test-api: " + msg, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    log("ok: " + what)


class Rig:
    """Harness + needlegated with a config; a context manager."""

    def __init__(self, pens=2, unpaired=1, remote_pairing=False, pensim_args=()):
        self.h = nh.Harness(pens=pens, unpaired=unpaired, mosquitto=True,
                            pensim_args=["--manual", "--temporary-timeout", "5", "--adv-interval-ms", "200",
                                         "--connect-timeout-ms", "1500"]
                            + list(pensim_args))

    def __enter__(self):
        self.h.__enter__()
        return self

    def start(self, remote_pairing=False):
        conf = os.path.join(self.h.dir, "needlegated.conf")
        with open(conf, "w") as f:
            f.write("[gateway]\nhub_id=%s\nstate_dir=%s\ninfo_interval=1\n"
                    "[mqtt]\nurl=mqtt://127.0.0.1:%d\nallow_remote_pairing=%s\n"
                    "[bluetooth]\nconnect_timeout=5\nreconnect_min_delay=1\nreconnect_max_delay=2\n"
                    % (HUB, os.path.join(self.h.dir, "state"), self.h.mqtt_port,
                       "true" if remote_pairing else "false"))
        self.daemon = self.h.spawn([os.environ["NEEDLEGATED"], "--config", conf, "-v"], name="needlegated",
                                   check_exit=True)
        nh.wait_until(lambda: self.h.name_has_owner(GW), 15, "needlegated on the bus")
        nh.wait_until(lambda: self.gw_prop("Adapter") == "hci0", 15, "needlegated to find the adapter")
        return self

    def __exit__(self, *exc):
        return self.h.__exit__(*exc)

    # ---- D-Bus --------------------------------------------------------------------------

    def gw(self, method, params=None, timeout=30.0):
        return self.h.call(GW_PATH, GW, method, params, dest=GW, timeout=timeout)

    def gw_prop(self, name):
        return self.h.get_property(GW_PATH, GW, name, dest=GW)

    def gw_error(self, method, params=None, timeout=30.0):
        try:
            self.gw(method, params, timeout)
        except GLib.Error as e:
            return Gio.DBusError.get_remote_error(e), e.message
        raise AssertionError("%s succeeded, an error was expected" % method)

    def pen_objects(self):
        objs = self.h.call(GW_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", dest=GW)[0]
        return {path: ifaces[PEN_IFACE] for path, ifaces in objs.items() if PEN_IFACE in ifaces}

    def pen_object(self, serial):
        for path, props in self.pen_objects().items():
            if props.get("Serial") == serial:
                return path, props
        return None

    def pen_call(self, path, method, params=None):
        return self.h.call(path, PEN_IFACE, method, params, dest=GW)

    def wait_served(self, serial, timeout=20):
        return nh.wait_until(lambda: (self.pen_object(serial) or (None, {}))[1].get("Connected"), timeout,
                             "pen %s served and connected" % serial)

    # ---- needlectl ------------------------------------------------------------------------

    def ctl(self, *args, user=None, timeout=60):
        argv = [NEEDLECTL] + list(args)
        if user:
            argv = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + argv
        p = subprocess.run(argv, env=self.h.env(), capture_output=True, text=True, timeout=timeout)
        log("$ needlectl %s -> %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        no_sanitizer_report(p.stderr)
        return p

    def ctl_pty(self, *args):
        """needlectl with a terminal (for the passkey prompt): (pid, master fd)."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(NEEDLECTL, [NEEDLECTL] + list(args), self.h.env())
        return pid, fd


def no_sanitizer_report(text):
    marks = [m for m in nh.Process.SANITIZER_MARKS if m in text]
    if marks:
        raise AssertionError("needlectl: %s" % marks)


def read_until(fd, pattern, timeout=30):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pattern.encode() in out:
                return out.decode(errors="replace")
    raise AssertionError("no %r from needlectl within %d s; got %r" % (pattern, timeout, out))


def finish(pid, fd, timeout=60):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
    wpid, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    log("needlectl (pty) -> %d\n%s" % (os.waitstatus_to_exitcode(status), text))
    no_sanitizer_report(text)
    return os.waitstatus_to_exitcode(status), text


class Mqtt:
    """An MQTT 5 client that sends requests and collects everything under the base topic."""

    def __init__(self, port):
        self.messages = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(client_id="api-test-%d" % os.getpid(), protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p=None: (c.subscribe(BASE + "/#", qos=1),
                                                               c.subscribe("replies/#", qos=1), self.ready.set())
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        nh.wait_until(self.ready.is_set, 10, "the MQTT test client to connect")
        time.sleep(0.3)

    def _on_message(self, client, userdata, msg):
        try:
            payload = json.loads(msg.payload.decode())
        except ValueError:
            payload = msg.payload
        with self.lock:
            self.messages.append((msg.topic, payload, msg.properties))

    def request(self, command, payload, response_topic=None, correlation=None):
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(BASE + "/bridge/request/" + command, data, qos=1, properties=props)

    def wait(self, predicate, what, timeout=30):
        def find():
            with self.lock:
                for m in self.messages:
                    if predicate(*m):
                        return m
            return None
        return nh.wait_until(find, timeout, what)

    def response(self, command, transaction, timeout=30):
        return self.wait(lambda t, p, _: t == BASE + "/bridge/response/" + command and isinstance(p, dict)
                         and p.get("transaction") == transaction, "response to %s #%s" % (command, transaction),
                         timeout)[1]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def passkey_of(rig, serial):
    pen = rig.h.pen(serial)
    return nh.wait_until(lambda: pen.prop("Passkey"), 20, "pen %s to show a passkey" % serial)


# ---- scenarios ------------------------------------------------------------------------------------------


def scenario_ctl_pair(rig):
    """A technician: scan, pair with the passkey typed at the prompt, list, identify, a live session."""
    rig.start()
    p = rig.ctl("scan", "--time", "60", "--wait", "3")
    check(p.returncode == 0 and NEW_ADDR in p.stdout, "needlectl scan lists the unpaired pen")
    check(OLD_ADDR not in p.stdout, "needlectl scan does not list a bonded pen")
    pid, fd = rig.ctl_pty("pair", NEW_ADDR)
    read_until(fd, "Type the passkey")
    os.write(fd, (passkey_of(rig, NEW_PEN) + "\n").encode())
    code, out = finish(pid, fd)
    check(code == 0 and "Pen %s is connected" % NEW_PEN in out, "needlectl pair bonds and connects the pen")
    check(rig.h.pen(NEW_PEN).prop("Paired"), "the simulated pen is bonded")
    p = rig.ctl("list")
    check(p.returncode == 0 and NEW_PEN in p.stdout and "ready" in p.stdout, "needlectl list shows it ready")
    p = rig.ctl("list", "--json")
    pens = json.loads(p.stdout)
    check(any(x["serial"] == NEW_PEN and x["connected"] for x in pens), "needlectl list --json")
    p = rig.ctl("identify", NEW_PEN)
    check(p.returncode == 0, "needlectl identify")
    rig.h.pen(NEW_PEN).call("StartSession")
    nh.wait_until(lambda: json.loads(rig.ctl("status", "--json", NEW_ADDR).stdout)["session"]["active"], 15,
                  "a live session in needlectl status")
    p = rig.ctl("status")
    check(p.returncode == 0 and "Hub:" in p.stdout and NEW_PEN in p.stdout, "needlectl status")
    path, _ = rig.pen_object(NEW_PEN)
    rig.pen_call(path, "StopSession")
    nh.wait_until(lambda: rig.h.pen(NEW_PEN).prop("State") == "idle", 10, "Pen1.StopSession to end the session")
    sessions = nh.wait_until(lambda: json.loads(rig.ctl("sessions", "--json", NEW_PEN).stdout), 10,
                             "the session in the journal")
    check(sessions[0]["pen"] == NEW_PEN and sessions[0]["reason"] == "remote_stop",
          "needlectl sessions shows it, ended by remote_stop")
    p = rig.ctl("sessions", "--since", "1d")
    check(p.returncode == 0 and NEW_PEN in p.stdout and "remote_stop" in p.stdout, "needlectl sessions (table)")


def scenario_wrong_passkey(rig):
    rig.start()
    rig.ctl("scan", "--time", "60", "--wait", "2")
    pid, fd = rig.ctl_pty("pair", NEW_ADDR)
    read_until(fd, "Type the passkey")
    wrong = (int(passkey_of(rig, NEW_PEN)) + 1) % 1000000
    os.write(fd, ("%06d\n" % wrong).encode())
    code, out = finish(pid, fd)
    check(code == 1 and "refused the passkey" in out, "a wrong passkey fails with a clear error")
    check(not rig.h.pen(NEW_PEN).prop("Paired"), "the pen is not bonded")
    nh.wait_until(lambda: rig.gw_prop("PairingState") == "idle", 10, "pairing idle again")
    devices = [p for p, i in rig.h.managed_objects().items() if "org.bluez.Device1" in i
               and i["org.bluez.Device1"]["Address"] == NEW_ADDR and i["org.bluez.Device1"]["Paired"]]
    check(not devices, "no half-paired device is left in BlueZ")
    # and it works on a second try
    pid, fd = rig.ctl_pty("pair", NEW_ADDR)
    read_until(fd, "Type the passkey")
    os.write(fd, (passkey_of(rig, NEW_PEN) + "\n").encode())
    code, out = finish(pid, fd)
    check(code == 0, "pairing again with the right passkey works")


def scenario_window(rig):
    """No window: refused; a window expires; a pairing waiting for its passkey is cancelled with it."""
    rig.start()
    p = rig.ctl("pair", "--passkey", "123456", NEW_ADDR)
    check(p.returncode == 1 and "no pairing window" in p.stderr, "pairing with no window open is refused")
    name, _ = rig.gw_error("ListDiscovered")
    check(name == "org.needlegate.Error.PairingWindowClosed", "ListDiscovered needs a window")
    name, msg = rig.gw_error("OpenPairingWindow", GLib.Variant("(u)", (601,)))
    check(name == "org.needlegate.Error.InvalidArgs" and "600" in msg, "a window longer than 600 s is refused")
    rig.gw("OpenPairingWindow", GLib.Variant("(u)", (4,)))
    check(rig.gw_prop("PairingWindowOpen"), "the window is open")
    check(rig.gw("ListDiscovered") is not None, "ListDiscovered works while open")
    rig.gw("StartPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    check(rig.gw_prop("PairingState") == "waiting-for-passkey", "StartPairing waits for the passkey")
    nh.wait_until(lambda: not rig.gw_prop("PairingWindowOpen"), 10, "the window to close by itself")
    nh.wait_until(lambda: rig.gw_prop("PairingState") == "idle", 10, "the waiting pairing to be cancelled")
    check(not rig.h.pen(NEW_PEN).prop("Paired"), "the pen was not bonded")
    check(not rig.h.get_property(nh.ADAPTER_PATH, "org.bluez.Adapter1", "Discovering"),
          "discovery stopped with the window")
    name, _ = rig.gw_error("Pair", GLib.Variant("(su)", (NEW_ADDR, 1)))
    check(name == "org.needlegate.Error.PairingWindowClosed", "Pair after the window closed is refused")


def scenario_lookalike(rig):
    """An unbonded pen with the same name and service is discovered but never connected."""
    rig.start()
    rig.gw("OpenPairingWindow", GLib.Variant("(u)", (30,)))
    found = nh.wait_until(lambda: [p for p in rig.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                          "the look-alike to be discovered")
    check(found[0]["name"].startswith("NeedlePen-"), "it advertises a NeedlePen name")
    connected = []
    rig.h.subscribe(lambda path, m, params: connected.append(params[1].get("Connected"))
                    if params[0] == "org.bluez.Device1" else None,
                    "org.freedesktop.DBus.Properties", "PropertiesChanged", rig.h.pen(NEW_PEN).device)
    rig.wait_served(OLD_PEN)
    nh.pump(6)
    check(True not in connected and not rig.h.pen(NEW_PEN).prop("Connected"), "the look-alike is never connected")
    check(rig.pen_object(NEW_PEN) is None and len(rig.pen_objects()) == 1, "and it has no Pen1 object")


def scenario_remove(rig):
    rig.start()
    rig.wait_served(OLD_PEN)
    m = Mqtt(rig.h.mqtt_port)
    try:
        p = rig.ctl("remove", OLD_PEN)
        check(p.returncode == 0, "needlectl remove")
        nh.wait_until(lambda: rig.pen_object(OLD_PEN) is None, 10, "the Pen1 object to go")
        check(not rig.h.pen(OLD_PEN).prop("Paired"), "the bond is removed in BlueZ")
        ev = m.wait(lambda t, p, _: t == BASE + "/bridge/event" and isinstance(p, dict)
                    and p.get("event") == "audit" and p.get("action") == "removed", "the audit event")[1]
        check(ev["by"] == {"via": "dbus", "uid": 0} and ev["pen"] == OLD_PEN and "t" in ev,
              "the removal is audited with the caller's uid")
        p = rig.ctl("remove", OLD_PEN)
        check(p.returncode == 1 and "needlectl list" in p.stderr, "removing it again: a clear error")
        p = rig.ctl("status", "NOPE")
        check(p.returncode == 1, "an unknown pen: exit 1")
    finally:
        m.close()


def complete(rig, line):
    """What bash completion offers for the last word of @line (deploy/needlectl.bash-completion)."""
    words = line.split(" ")
    script = ('source "$COMPLETION"; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE="%s"; COMP_POINT=${#COMP_LINE}; '
              '_needlectl; printf "%%s\\n" "${COMPREPLY[@]}"'
              % (" ".join('"%s"' % w for w in words), len(words) - 1, line))
    env = rig.h.env(COMPLETION=os.environ["COMPLETION"], PATH=os.path.dirname(NEEDLECTL) + ":" + os.environ["PATH"])
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=20).stdout.split()


def scenario_plans(rig):
    rig.start()
    rig.wait_served(OLD_PEN)
    check(set(complete(rig, "needlectl identify ")) == {OLD_PEN, OLD_ADDR},
          "bash completion offers the hub's pens")
    check(complete(rig, "needlectl pl") == ["plan"], "bash completion completes commands")
    plan = os.path.join(PLANS, "face-course.json")
    plan_id = json.load(open(plan))["plan_id"]
    p = rig.ctl("plan", "assign", OLD_PEN, plan)
    check(p.returncode == 0, "needlectl plan assign")
    nh.wait_until(lambda: rig.pen_object(OLD_PEN)[1]["Plan"] == plan_id, 5, "Pen1.Plan to show it")
    p = rig.ctl("plan", "show", "--json", OLD_ADDR)
    check(p.returncode == 0 and json.loads(p.stdout)["plan_id"] == plan_id, "needlectl plan show")
    bad = os.path.join(rig.h.dir, "bad.json")
    doc = json.load(open(plan))
    first = next(iter(doc["areas"]))
    doc["areas"][first]["depth_mm"]["max"] = 3.5
    json.dump(doc, open(bad, "w"))
    p = rig.ctl("plan", "assign", OLD_PEN, bad)
    check(p.returncode == 1 and "$.areas.%s.depth_mm.max" % first in p.stderr, "a bad plan names the field")
    p = rig.ctl("plan", "clear", OLD_PEN)
    check(p.returncode == 0, "needlectl plan clear")
    p = rig.ctl("plan", "show", OLD_PEN)
    check(p.returncode == 1 and "no plan" in p.stderr, "no plan after clear")
    path, _ = rig.pen_object(OLD_PEN)
    rig.pen_call(path, "AssignPlan", GLib.Variant("(s)", (open(plan).read(),)))
    check(json.loads(rig.pen_call(path, "GetPlan")[0])["plan_id"] == plan_id, "Pen1.AssignPlan / GetPlan")
    try:
        rig.pen_call(path, "AssignPlan", GLib.Variant("(s)", ("{",)))
        raise AssertionError("a broken plan was taken")
    except GLib.Error as e:
        check(Gio.DBusError.get_remote_error(e) == "org.needlegate.Error.InvalidPlan",
              "Pen1.AssignPlan refuses broken JSON with InvalidPlan")


def scenario_mqtt_pair(rig):
    """A dashboard: permit_pairing, pair without then with the passkey, identify, remove; audited."""
    rig.start(remote_pairing=True)
    m = Mqtt(rig.h.mqtt_port)
    try:
        m.request("permit_pairing", {"value": True, "time": 60, "transaction": "t1"})
        check(m.response("permit_pairing", "t1")["status"] == "ok", "permit_pairing")
        nh.wait_until(lambda: [p for p in rig.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                      "discovery of the new pen")
        m.request("pair", {"address": NEW_ADDR, "transaction": "t2"})
        r = m.response("pair", "t2")
        check(r["status"] == "ok" and r["data"]["state"] == "waiting_for_passkey", "pair starts, the pen shows it")
        m.request("pair", {"address": NEW_ADDR, "passkey": int(passkey_of(rig, NEW_PEN)), "transaction": "t3"})
        r = m.response("pair", "t3")
        check(r["status"] == "ok" and r["data"]["state"] == "paired", "pair with the passkey bonds the pen")
        rig.wait_served(NEW_PEN)
        ev = m.wait(lambda t, p, _: t == BASE + "/bridge/event" and isinstance(p, dict)
                    and p.get("action") == "paired", "the audit of the pairing")[1]
        check(ev["by"] == {"via": "mqtt"} and ev["address"] == NEW_ADDR, "pairing audited as mqtt")
        m.request("identify", {"pen": NEW_PEN, "transaction": 4})
        check(m.response("identify", 4)["status"] == "ok", "identify (transaction echoed as a number)")
        plan = json.load(open(os.path.join(PLANS, "face-course.json")))
        m.request("plan/assign", {"pen": NEW_PEN, "plan": plan, "transaction": "t5"})
        check(m.response("plan/assign", "t5")["status"] == "ok", "plan/assign over MQTT")
        m.wait(lambda t, p, _: isinstance(p, dict) and p.get("action") == "plan_assigned"
               and p.get("pen") == NEW_PEN, "the audit of the plan")
        m.request("identify", {"pen": NEW_PEN, "transaction": "t6"}, response_topic="replies/x", correlation=b"c6")
        _, r, props = m.wait(lambda t, p, _: t == "replies/x", "the answer on the MQTT 5 response topic")
        check(r["transaction"] == "t6" and r["status"] == "ok", "the MQTT 5 response topic is honoured")
        check(getattr(props, "CorrelationData", None) == b"c6", "the MQTT 5 correlation data is echoed")
        m.request("plan/assign", {"pen": NEW_PEN, "plan": plan, "transaction": "t6b"}, response_topic="replies/plan",
                  correlation=b"\x00\xffplan")
        _, r, props = m.wait(lambda t, p, _: t == "replies/plan", "the plan/assign answer on the response topic")
        check(r["transaction"] == "t6b" and getattr(props, "CorrelationData", None) == b"\x00\xffplan",
              "a registered command (plan/assign) echoes binary correlation data")
        m.request("remove", {"pen": NEW_PEN, "transaction": "t7"})
        check(m.response("remove", "t7")["status"] == "ok", "remove over MQTT")
        nh.wait_until(lambda: not rig.h.pen(NEW_PEN).prop("Paired"), 10, "the bond to go")
    finally:
        m.close()


def scenario_mqtt_bad(rig):
    """Every bad request gets an error answer, and pairing is off by default."""
    rig.start()
    m = Mqtt(rig.h.mqtt_port)
    cases = [
        ("permit_pairing", {"value": True, "transaction": "off"}, "not_permitted", "allow_remote_pairing"),
        ("pair", {"address": NEW_ADDR, "passkey": 1, "transaction": "off2"}, "not_permitted", ""),
        ("remove", {"pen": OLD_PEN, "transaction": "off3"}, "not_permitted", ""),
        ("identify", {"transaction": "b1"}, "invalid_args", "pen: missing"),
        ("identify", {"pen": 7, "transaction": "b2"}, "invalid_args", "pen: must be a string"),
        ("identify", {"pen": OLD_PEN, "colour": "red", "transaction": "b3"}, "invalid_args", "colour: unknown"),
        ("identify", {"pen": "NOPE", "transaction": "b4"}, "not_found", "NOPE"),
        ("nonsense", {"transaction": "b5"}, "not_supported", "unknown command"),
        ("plan/assign", {"pen": OLD_PEN, "plan": {"plan_id": 5}, "transaction": "b6"}, "invalid_plan", "$."),
    ]
    try:
        for command, payload, code, words in cases:
            m.request(command, payload)
            r = m.response(command, payload["transaction"])
            check(r["status"] == "error" and r["error"]["code"] == code and words in r["error"]["message"],
                  "%s %s -> %s" % (command, json.dumps(payload), code))
        for i, raw in enumerate([b"not json", b"[1,2]", b"\xff\xfe", b'{"pen":"' + b"x" * 5000 + b'"}']):
            m.request("identify", raw)
            r = m.wait(lambda t, p, _: t == BASE + "/bridge/response/identify" and isinstance(p, dict)
                       and p["status"] == "error" and p["transaction"] is None
                       and sum(1 for x in m.messages if x[0] == t and isinstance(x[1], dict)
                               and x[1]["transaction"] is None) > i, "an error for bad payload %d" % i)
        check(True, "not JSON, not an object, not UTF-8, oversized: each answered with an error")
        m.request("nonsense", {"transaction": "b7"}, response_topic="replies/bad", correlation=b"corr-b7")
        _, r, props = m.wait(lambda t, p, _: t == "replies/bad", "an error answer on the response topic")
        check(r["status"] == "error" and getattr(props, "CorrelationData", None) == b"corr-b7",
              "an error answer echoes the correlation data too")
        m.request("identify", {"pen": "NOPE", "transaction": "b8"}, response_topic="replies/nocorr")
        _, r, props = m.wait(lambda t, p, _: t == "replies/nocorr", "an answer to a request without correlation")
        check(r["transaction"] == "b8" and not hasattr(props, "CorrelationData"),
              "no correlation data in the answer when the request had none")
        check(rig.daemon.running(), "the daemon is still running")
    finally:
        m.close()


POLICY_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <!-- Debian's system.conf: no method calls unless a rule allows them. -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <!-- bluez's bluetooth.conf: root is bluetoothd (here needle-pensim). -->
  <policy user="root">
    <allow own="org.bluez"/>
    <allow send_destination="org.bluez"/>
    <allow send_interface="org.bluez.Agent1"/>
  </policy>
  <include>POLICY_FILE</include>
</busconfig>
"""


def scenario_refused_user(rig):
    """A user outside the group needlegate cannot change anything (the daemon checks the uid too)."""
    os.chmod(rig.h.dir, 0o755)  # nobody must reach the bus socket
    rig.start()
    rig.wait_served(OLD_PEN)
    p = rig.ctl("list", user="nobody")
    check(p.returncode == 0 and OLD_PEN in p.stdout, "anyone may read (needlectl list as nobody)")
    for args in (["scan", "--wait", "0"], ["remove", OLD_PEN], ["identify", OLD_PEN]):
        p = rig.ctl(*args, user="nobody")
        check(p.returncode == 4 and "needlegate" in p.stderr, "needlectl %s as nobody is refused" % args[0])
    check(rig.h.pen(OLD_PEN).prop("Paired"), "the pen is still paired")


def scenario_policy(rig):
    """The installed bus policy: nobody may read but not change; root pairs a pen through it."""
    os.chmod(rig.h.dir, 0o755)
    rig.start()
    rig.wait_served(OLD_PEN)
    p = rig.ctl("list", user="nobody")
    check(p.returncode == 0 and OLD_PEN in p.stdout, "the policy lets anyone read (needlectl list as nobody)")
    p = rig.ctl("status", OLD_PEN, user="nobody")
    check(p.returncode == 0 and "ready" in p.stdout, "and read a pen's state")
    for args in (["scan", "--wait", "0"], ["identify", OLD_PEN], ["remove", OLD_PEN],
                 ["plan", "clear", OLD_PEN]):
        p = rig.ctl(*args, user="nobody")
        check(p.returncode == 4 and "group needlegate" in p.stderr,
              "the bus refuses needlectl %s from nobody" % " ".join(args[:2]))
    check(rig.h.pen(OLD_PEN).prop("Paired"), "the pen is still paired")
    p = rig.ctl("scan", "--time", "60", "--wait", "2")
    check(p.returncode == 0 and NEW_ADDR in p.stdout, "root scans through the policy")
    pid, fd = rig.ctl_pty("pair", NEW_ADDR)
    read_until(fd, "Type the passkey")
    os.write(fd, (passkey_of(rig, NEW_PEN) + "\n").encode())
    code, out = finish(pid, fd)
    check(code == 0 and NEW_PEN in out, "root pairs through the policy (bluetoothd reaches the agent)")


def scenario_range_cancel(rig):
    """A pen out of range, a pairing cancelled by the technician, a bluetoothd restart."""
    rig.start()
    rig.gw("OpenPairingWindow", GLib.Variant("(u)", (120,)))
    nh.wait_until(lambda: [p for p in rig.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                  "discovery of the new pen")
    rig.h.pen(NEW_PEN).call("SetPresent", "(b)", False)
    p = rig.ctl("pair", "--passkey", "1", NEW_ADDR)
    check(p.returncode == 1 and "did not answer" in p.stderr and "next to the hub" in p.stderr,
          "a pen out of range: a clear error")
    rig.h.pen(NEW_PEN).call("SetPresent", "(b)", True)
    rig.gw("StartPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    p = rig.ctl("pair", "--cancel", NEW_ADDR)
    check(p.returncode == 0, "needlectl pair --cancel")
    nh.wait_until(lambda: rig.gw_prop("PairingState") == "idle", 10, "the pairing to end")
    check(not rig.h.pen(NEW_PEN).prop("Paired"), "a cancelled pairing bonds nothing")
    name, _ = rig.gw_error("CancelPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    check(name == "org.needlegate.Error.NotFound", "cancelling nothing: NotFound")
    # bluetoothd restarts: the agent registers again, pairing works
    rig.h.stop_pensim()
    rig.h.start_pensim()
    nh.wait_until(lambda: rig.gw_prop("Adapter") == "hci0", 15, "the adapter back")
    rig.ctl("scan", "--time", "60", "--wait", "2")
    pid, fd = rig.ctl_pty("pair", NEW_ADDR)
    read_until(fd, "Type the passkey")
    os.write(fd, (passkey_of(rig, NEW_PEN) + "\n").encode())
    code, out = finish(pid, fd)
    check(code == 0 and NEW_PEN in out, "pairing works after bluetoothd restarted")


SCENARIOS = {
    "range-cancel": scenario_range_cancel,
    "ctl-pair": scenario_ctl_pair,
    "wrong-passkey": scenario_wrong_passkey,
    "window": scenario_window,
    "lookalike": scenario_lookalike,
    "remove": scenario_remove,
    "plans": scenario_plans,
    "mqtt-pair": scenario_mqtt_pair,
    "mqtt-bad": scenario_mqtt_bad,
    "refused-user": scenario_refused_user,
    "policy": scenario_policy,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print(__doc__ + "\nscenarios: " + ", ".join(SCENARIOS))
        return 2
    if sys.argv[1] == "policy":
        nh.BUS_CONFIG = POLICY_BUS_CONFIG.replace("POLICY_FILE", os.environ["POLICY_FILE"])
    with Rig() as rig:
        SCENARIOS[sys.argv[1]](rig)
    log("PASS " + sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
