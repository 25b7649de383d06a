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
import re
import subprocess
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import GLib, check  # noqa: E402

HUB = "api"
BASE = "needlegate/" + HUB
NEW_PEN = "NP5EED0002"          # the unpaired pen (--pens 2 --unpaired 1)
NEW_ADDR = "C0:4E:50:5E:00:02"
OLD_PEN = "NP5EED0001"          # bonded from the start
OLD_ADDR = "C0:4E:50:5E:00:01"
NEEDLECTL = os.environ["NEEDLECTL"]
PLANS = os.environ["PLANS_DIR"]


def start(h, remote_pairing=False):
    """needlegated with remote pairing allowed or not; returns once it serves the adapter."""
    h.daemon_config = {"mqtt": {"allow_remote_pairing": "true" if remote_pairing else "false"}}
    h.start_daemon()
    h.wait_gateway()


def passkey_of(h, serial):
    pen = h.pen(serial)
    return nh.wait_until(lambda: pen.prop("Passkey"), 20, "pen %s to show a passkey" % serial)


def pair_on_terminal(h, typed=lambda shown: shown):
    """needlectl pair NEW_ADDR on a terminal, typing typed(the passkey the pen shows) at the prompt:
    (exit code, what it printed after the prompt)."""
    t = h.ctl_terminal("pair", NEW_ADDR)
    t.expect("Type the passkey", 30)
    t.send(typed(passkey_of(h, NEW_PEN)))
    code, out = t.finish()
    nh.log("needlectl (pty) -> %d\n%s" % (code, out))
    return code, out


def mqtt_client(h):
    """An MQTT 5 client that sends requests and collects everything under the base topic and replies/."""
    m = h.mqtt_client(topics=[BASE + "/#", "replies/#"], version=5, client_id="api-test-%d" % os.getpid())
    m.wait_online()
    return m


def on(predicate):
    """A message predicate from predicate(topic, parsed payload)."""
    return lambda m: predicate(m.topic, m.data)


# ---- scenarios ------------------------------------------------------------------------------------------


def scenario_ctl_pair(h):
    """A technician: scan, pair with the passkey typed at the prompt, list, identify, a live session."""
    start(h)
    p = h.ctl("scan", "--time", "60", "--wait", "3")
    check(p.returncode == 0 and NEW_ADDR in p.stdout, "needlectl scan lists the unpaired pen")
    check(OLD_ADDR not in p.stdout, "needlectl scan does not list a bonded pen")
    code, out = pair_on_terminal(h)
    check(code == 0 and "Pen %s is connected" % NEW_PEN in out, "needlectl pair bonds and connects the pen")
    check(h.pen(NEW_PEN).prop("Paired"), "the simulated pen is bonded")
    p = h.ctl("list")
    check(p.returncode == 0 and NEW_PEN in p.stdout and "connected" in p.stdout and "ready" not in p.stdout,
          "needlectl list shows it connected, in words")
    p = h.ctl("status", NEW_PEN.lower())
    check(p.returncode == 0 and NEW_PEN in p.stdout, "a serial number typed in lower case finds the pen")
    seen = [line for line in h.ctl("status", NEW_PEN).stdout.splitlines() if "seen" in line.lower()]
    check(seen and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", seen[0]),
          "last seen in UTC with milliseconds and Z: %r" % seen)
    p = h.ctl("list", "--json")
    pens = json.loads(p.stdout)
    check(any(x["serial"] == NEW_PEN and x["connected"] for x in pens), "needlectl list --json")
    p = h.ctl("identify", "--json", NEW_PEN)
    check(p.returncode == 0 and json.loads(p.stdout) == {"pen": NEW_PEN, "identified": True},
          "needlectl identify --json")
    h.pen(NEW_PEN).call("StartSession")
    nh.wait_until(lambda: json.loads(h.ctl("status", "--json", NEW_ADDR).stdout)["session"]["active"], 15,
                  "a live session in needlectl status")
    p = h.ctl("status")
    check(p.returncode == 0 and "Hub:" in p.stdout and NEW_PEN in p.stdout, "needlectl status")
    p = h.ctl("stop", NEW_PEN)
    check(p.returncode == 0 and "remote_stop" in p.stdout, "needlectl stop (Pen1.StopSession)")
    nh.wait_until(lambda: h.pen(NEW_PEN).prop("State") == "idle", 10, "needlectl stop to end the session")
    p = h.ctl("stop", NEW_PEN)
    check(p.returncode == 1 and p.stderr.startswith("needlectl: stop: "), "needlectl stop with no session: %r"
          % p.stderr)
    sessions = nh.wait_until(lambda: json.loads(h.ctl("sessions", "--json", NEW_PEN).stdout), 10,
                             "the session in the journal")
    check(sessions[0]["pen"] == NEW_PEN and sessions[0]["reason"] == "remote_stop",
          "needlectl sessions shows it, ended by remote_stop")
    p = h.ctl("sessions", "--since", "1d")
    check(p.returncode == 0 and NEW_PEN in p.stdout and "remote_stop" in p.stdout, "needlectl sessions (table)")
    # ALERTS counts alerts, not messages: no_plan was raised and cleared, that is one alert
    row = [line.split() for line in p.stdout.splitlines() if NEW_PEN in line and "remote_stop" in line][0]
    raised = [a for a in sessions[0]["alerts"] if a["state"] != "cleared"]
    check(len(raised) == 1 and raised[0]["rule"] == "no_plan" and len(sessions[0]["alerts"]) == 2
          and row[-1] == "1", "needlectl sessions counts the no_plan alert once: %r" % row)


def scenario_wrong_passkey(h):
    start(h)
    h.ctl("scan", "--time", "60", "--wait", "2")
    code, out = pair_on_terminal(h, lambda shown: "%06d" % ((int(shown) + 1) % 1000000))
    check(code == 1 and "refused the passkey" in out, "a wrong passkey fails with a clear error")
    check(not h.pen(NEW_PEN).prop("Paired"), "the pen is not bonded")
    nh.wait_until(lambda: h.gw_prop("PairingState") == "idle", 10, "pairing idle again")
    devices = [p for p, i in h.managed_objects().items() if "org.bluez.Device1" in i
               and i["org.bluez.Device1"]["Address"] == NEW_ADDR and i["org.bluez.Device1"]["Paired"]]
    check(not devices, "no half-paired device is left in BlueZ")
    # nothing typed: the prompt ends with the hub's time and says so (the wait shortened to 3 s)
    t = nh.Terminal([os.environ["NEEDLECTL"], "pair", NEW_ADDR], h.env(NEEDLECTL_PASSKEY_WAIT_S="3"), "needlectl")
    t.expect("Type the passkey", 30)
    code, out = t.finish(20)
    check(code == 1 and "no passkey was typed in time" in out, "the passkey prompt times out: %r" % out)
    nh.wait_until(lambda: h.gw_prop("PairingState") == "idle", 10, "pairing idle again after the time-out")
    # and it works on a second try
    code, out = pair_on_terminal(h)
    check(code == 0, "pairing again with the right passkey works")


def scenario_window(h):
    """No window: refused; a window expires; a pairing waiting for its passkey is cancelled with it."""
    start(h)
    p = h.ctl("pair", "--passkey", "123456", NEW_ADDR)
    check(p.returncode == 1 and "no pairing window" in p.stderr, "pairing with no window open is refused")
    name, _ = h.gw_error("ListDiscovered")
    check(name == "org.needlegate.Error.PairingWindowClosed", "ListDiscovered needs a window")
    name, msg = h.gw_error("OpenPairingWindow", GLib.Variant("(u)", (601,)))
    check(name == "org.needlegate.Error.InvalidArgs" and "600" in msg, "a window longer than 600 s is refused")
    h.gw("OpenPairingWindow", GLib.Variant("(u)", (4,)))
    check(h.gw_prop("PairingWindowOpen"), "the window is open")
    check(h.gw("ListDiscovered") is not None, "ListDiscovered works while open")
    h.gw("StartPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    check(h.gw_prop("PairingState") == "waiting-for-passkey", "StartPairing waits for the passkey")
    nh.wait_until(lambda: not h.gw_prop("PairingWindowOpen"), 10, "the window to close by itself")
    nh.wait_until(lambda: h.gw_prop("PairingState") == "idle", 10, "the waiting pairing to be cancelled")
    check(not h.pen(NEW_PEN).prop("Paired"), "the pen was not bonded")
    check(not h.get_property(nh.ADAPTER_PATH, "org.bluez.Adapter1", "Discovering"),
          "discovery stopped with the window")
    name, _ = h.gw_error("Pair", GLib.Variant("(su)", (NEW_ADDR, 1)))
    check(name == "org.needlegate.Error.PairingWindowClosed", "Pair after the window closed is refused")
    # the technician closes it: needlectl scan --stop
    p = h.ctl("scan", "--time", "120", "--wait", "0")
    check(p.returncode == 0 and h.gw_prop("PairingWindowOpen"), "needlectl scan opens the window")
    p = h.ctl("scan", "--stop")
    check(p.returncode == 0 and "closed" in p.stdout and not h.gw_prop("PairingWindowOpen"),
          "needlectl scan --stop closes it")


def scenario_lookalike(h):
    """An unbonded pen with the same name and service is discovered but never connected."""
    start(h)
    h.gw("OpenPairingWindow", GLib.Variant("(u)", (30,)))
    found = nh.wait_until(lambda: [p for p in h.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                          "the look-alike to be discovered")
    check(found[0]["name"].startswith("NeedlePen-"), "it advertises a NeedlePen name")
    connected = []
    h.subscribe(lambda path, m, params: connected.append(params[1].get("Connected"))
                    if params[0] == "org.bluez.Device1" else None,
                    "org.freedesktop.DBus.Properties", "PropertiesChanged", h.pen(NEW_PEN).device)
    h.wait_served(OLD_PEN)
    nh.pump(6)
    check(True not in connected and not h.pen(NEW_PEN).prop("Connected"), "the look-alike is never connected")
    check(h.pen_object(NEW_PEN) is None and len(h.pen_objects()) == 1, "and it has no Pen1 object")


def scenario_remove(h):
    start(h)
    h.wait_served(OLD_PEN)
    m = mqtt_client(h)
    try:
        # a session under way: refused without a terminal, unless --force; then it says what happened
        h.pen(OLD_PEN).call("StartSession")
        nh.wait_until(lambda: json.loads(h.ctl("status", "--json", OLD_PEN).stdout)["session"]["active"], 15,
                      "the session in needlectl status")
        p = h.ctl("remove", OLD_PEN)
        check(p.returncode == 1 and "--force" in p.stderr and "session" in p.stderr and h.pen_object(OLD_PEN),
              "needlectl remove during a session refuses without a terminal: %r" % p.stderr)
        p = h.ctl("remove", "--force", "--json", OLD_PEN)
        out = json.loads(p.stdout) if p.returncode == 0 else None
        check(out is not None and out["removed"] is True and isinstance(out["session_ended"], int),
              "needlectl remove --force --json says which session it ended: %r" % p.stdout)
        ended = m.wait(on(lambda t, p: t == BASE + "/pens/%s/session" % OLD_PEN and isinstance(p, dict)
                          and p.get("event") == "ended"), "the session's end").data
        check(ended["reason"] == "removed" and ended["end_event_lost"] is True
              and ended["session"] == out["session_ended"], "the session ended, reason removed: %r" % ended)
        nh.wait_until(lambda: h.pen_object(OLD_PEN) is None, 10, "the Pen1 object to go")
        check(not h.pen(OLD_PEN).prop("Paired"), "the bond is removed in BlueZ")
        ev = m.wait(on(lambda t, p: t == BASE + "/bridge/event" and isinstance(p, dict)
                       and p.get("event") == "audit" and p.get("action") == "removed"), "the audit event").data
        check(ev["by"] == {"via": "dbus", "uid": 0} and ev["pen"] == OLD_PEN and "t" in ev,
              "the removal is audited with the caller's uid")
        p = h.ctl("remove", OLD_PEN)
        check(p.returncode == 1 and "needlectl list" in p.stderr, "removing it again: a clear error")
        p = h.ctl("status", "NOPE")
        check(p.returncode == 1, "an unknown pen: exit 1")
    finally:
        m.close()


def complete(h, line):
    """What bash completion offers for the last word of @line (deploy/needlectl.bash-completion)."""
    words = line.split(" ")
    script = ('source "$COMPLETION"; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE="%s"; COMP_POINT=${#COMP_LINE}; '
              '_needlectl; printf "%%s\\n" "${COMPREPLY[@]}"'
              % (" ".join('"%s"' % w for w in words), len(words) - 1, line))
    env = h.env(COMPLETION=os.environ["COMPLETION"], PATH=os.path.dirname(NEEDLECTL) + ":" + os.environ["PATH"])
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=20).stdout.split()


def scenario_plans(h):
    start(h)
    h.wait_served(OLD_PEN)
    check(set(complete(h, "needlectl identify ")) == {OLD_PEN, OLD_ADDR},
          "bash completion offers the hub's pens")
    check(complete(h, "needlectl pl") == ["plan"], "bash completion completes commands")
    check(complete(h, "needlectl forg") == ["forget-hub"] and set(complete(h, "needlectl forget-hub --")) == {"--help", "--json"},
          "bash completion knows forget-hub")
    plan = os.path.join(PLANS, "face-course.json")
    doc0 = json.load(open(plan))
    plan_id = doc0["plan_id"]
    p = h.ctl("plan", "assign", "--json", OLD_PEN, plan)
    check(p.returncode == 0 and json.loads(p.stdout) == {"pen": OLD_PEN, "plan_id": plan_id},
          "needlectl plan assign --json")
    nh.wait_until(lambda: h.pen_object(OLD_PEN)[1]["Plan"] == plan_id, 5, "Pen1.Plan to show it")
    p = h.ctl("plan", "show", "--json", OLD_ADDR)
    check(p.returncode == 0 and json.loads(p.stdout)["plan_id"] == plan_id, "needlectl plan show --json")
    # without --json: a table a technician reads, every area with its ranges as the file has them
    p = h.ctl("plan", "show", OLD_PEN)
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines() if line.split()}
    check(p.returncode == 0 and ("Plan %s for patient %s" % (plan_id, doc0["patient_ref"])) in p.stdout
          and all(a in rows and rows[a][1] == "%.2f-%.2f" % (v["depth_mm"]["min"], v["depth_mm"]["max"])
                  and rows[a][3] == str(v["max_time_s"]) for a, v in doc0["areas"].items())
          and "0000000" not in p.stdout, "needlectl plan show: the readable table\n" + p.stdout)
    bad = os.path.join(h.dir, "bad.json")
    doc = json.load(open(plan))
    first = next(iter(doc["areas"]))
    doc["areas"][first]["depth_mm"]["max"] = 3.5
    json.dump(doc, open(bad, "w"))
    p = h.ctl("plan", "assign", OLD_PEN, bad)
    check(p.returncode == 1 and "%s: $.areas.%s.depth_mm.max" % (bad, first) in p.stderr,
          "a bad plan names the file and the field")
    p = h.ctl("plan", "clear", "--json", OLD_PEN)
    check(p.returncode == 0 and json.loads(p.stdout) == {"pen": OLD_PEN, "plan_id": None},
          "needlectl plan clear --json")
    p = h.ctl("plan", "show", OLD_PEN)
    check(p.returncode == 1 and "no plan" in p.stderr, "no plan after clear")
    path, _ = h.pen_object(OLD_PEN)
    h.gw_pen_call(path, "AssignPlan", GLib.Variant("(s)", (open(plan).read(),)))
    check(json.loads(h.gw_pen_call(path, "GetPlan")[0])["plan_id"] == plan_id, "Pen1.AssignPlan / GetPlan")
    name, _ = h.call_error(path, nh.PEN_IFACE, "AssignPlan", GLib.Variant("(s)", ("{",)), dest=nh.GW)
    check(name == "org.needlegate.Error.InvalidPlan", "Pen1.AssignPlan refuses broken JSON with InvalidPlan")


def scenario_mqtt_pair(h):
    """A dashboard: permit_pairing, pair without then with the passkey, identify, remove; audited."""
    start(h, remote_pairing=True)
    m = mqtt_client(h)
    try:
        m.request("permit_pairing", {"value": True, "time": 60, "transaction": "t1"})
        check(m.response("permit_pairing", "t1")["status"] == "ok", "permit_pairing")
        nh.wait_until(lambda: [p for p in h.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                      "discovery of the new pen")
        m.request("pair", {"address": NEW_ADDR, "transaction": "t2"})
        r = m.response("pair", "t2")
        check(r["status"] == "ok" and r["data"]["state"] == "waiting_for_passkey", "pair starts, the pen shows it")
        m.request("pair", {"address": NEW_ADDR, "passkey": int(passkey_of(h, NEW_PEN)), "transaction": "t3"})
        r = m.response("pair", "t3")
        check(r["status"] == "ok" and r["data"]["state"] == "paired", "pair with the passkey bonds the pen")
        h.wait_served(NEW_PEN)
        ev = m.wait(on(lambda t, p: t == BASE + "/bridge/event" and isinstance(p, dict)
                       and p.get("action") == "paired"), "the audit of the pairing").data
        check(ev["by"] == {"via": "mqtt"} and ev["address"] == NEW_ADDR, "pairing audited as mqtt")
        m.request("identify", {"pen": NEW_PEN, "transaction": 4})
        check(m.response("identify", 4)["status"] == "ok", "identify (transaction echoed as a number)")
        plan = json.load(open(os.path.join(PLANS, "face-course.json")))
        m.request("plan/assign", {"pen": NEW_PEN, "plan": plan, "transaction": "t5"})
        check(m.response("plan/assign", "t5")["status"] == "ok", "plan/assign over MQTT")
        m.wait(on(lambda t, p: isinstance(p, dict) and p.get("action") == "plan_assigned"
                  and p.get("pen") == NEW_PEN), "the audit of the plan")
        m.request("identify", {"pen": NEW_PEN, "transaction": "t6"}, response_topic="replies/x", correlation=b"c6")
        msg = m.wait(on(lambda t, p: t == "replies/x"), "the answer on the MQTT 5 response topic")
        r, props = msg.data, msg.properties
        check(r["transaction"] == "t6" and r["status"] == "ok", "the MQTT 5 response topic is honoured")
        check(getattr(props, "CorrelationData", None) == b"c6", "the MQTT 5 correlation data is echoed")
        m.request("plan/assign", {"pen": NEW_PEN, "plan": plan, "transaction": "t6b"}, response_topic="replies/plan",
                  correlation=b"\x00\xffplan")
        msg = m.wait(on(lambda t, p: t == "replies/plan"), "the plan/assign answer on the response topic")
        r, props = msg.data, msg.properties
        check(r["transaction"] == "t6b" and getattr(props, "CorrelationData", None) == b"\x00\xffplan",
              "a registered command (plan/assign) echoes binary correlation data")
        m.request("remove", {"pen": NEW_PEN, "transaction": "t7"})
        check(m.response("remove", "t7")["status"] == "ok", "remove over MQTT")
        nh.wait_until(lambda: not h.pen(NEW_PEN).prop("Paired"), 10, "the bond to go")
    finally:
        m.close()


def scenario_mqtt_bad(h):
    """Every bad request gets an error answer, and pairing is off by default."""
    start(h)
    m = mqtt_client(h)
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
            m.wait(on(lambda t, p: t == BASE + "/bridge/response/identify" and isinstance(p, dict)
                      and p["status"] == "error" and p["transaction"] is None
                      and sum(1 for x in m.messages() if x.topic == t and isinstance(x.data, dict)
                              and x.data["transaction"] is None) > i), "an error for bad payload %d" % i)
        check(True, "not JSON, not an object, not UTF-8, oversized: each answered with an error")
        # a hostile transaction is not echoed: a string (at most 256 bytes) or a number only
        nested = "[" * 1000 + "]" * 1000
        bad_transactions = ((b'{"pen":"NOPE","transaction":' + nested.encode() + b'}', "expected a string or a number"),
                            (b'{"pen":"NOPE","transaction":{"a":1}}', "expected a string or a number"),
                            (b'{"pen":"NOPE","transaction":"' + b"t" * 300 + b'"}', "longer than 256"))
        for i, (raw, words) in enumerate(bad_transactions):
            m.request("identify", raw, response_topic="replies/tx%d" % i)
            r = m.wait(on(lambda t, p: t == "replies/tx%d" % i), "an answer to a bad transaction").data
            check(r["status"] == "error" and r["error"]["code"] == "invalid_args" and r["transaction"] is None
                  and r["error"]["message"].startswith("transaction: ") and words in r["error"]["message"],
                  "a bad transaction is refused by name and not echoed: %r" % (r,))
        m.request("nonsense", {"transaction": "b7"}, response_topic="replies/bad", correlation=b"corr-b7")
        msg = m.wait(on(lambda t, p: t == "replies/bad"), "an error answer on the response topic")
        r, props = msg.data, msg.properties
        check(r["status"] == "error" and getattr(props, "CorrelationData", None) == b"corr-b7",
              "an error answer echoes the correlation data too")
        m.request("identify", {"pen": "NOPE", "transaction": "b8"}, response_topic="replies/nocorr")
        msg = m.wait(on(lambda t, p: t == "replies/nocorr"), "an answer to a request without correlation")
        r, props = msg.data, msg.properties
        check(r["transaction"] == "b8" and not hasattr(props, "CorrelationData"),
              "no correlation data in the answer when the request had none")
        check(h.daemon.running(), "the daemon is still running")
    finally:
        m.close()


def scenario_refused_user(h):
    """A user outside the group needlegate cannot change anything (the daemon checks the uid too)."""
    os.chmod(h.dir, 0o755)  # nobody must reach the bus socket
    start(h)
    h.wait_served(OLD_PEN)
    p = h.ctl("list", user="nobody")
    check(p.returncode == 0 and OLD_PEN in p.stdout, "anyone may read (needlectl list as nobody)")
    for args in (["scan", "--wait", "0"], ["remove", OLD_PEN], ["identify", OLD_PEN]):
        p = h.ctl(*args, user="nobody")
        check(p.returncode == 4 and "needlegate" in p.stderr, "needlectl %s as nobody is refused" % args[0])
    check(h.pen(OLD_PEN).prop("Paired"), "the pen is still paired")


def scenario_policy(h):
    """The installed bus policy: nobody may read but not change; root pairs a pen through it."""
    os.chmod(h.dir, 0o755)
    start(h)
    h.wait_served(OLD_PEN)
    p = h.ctl("list", user="nobody")
    check(p.returncode == 0 and OLD_PEN in p.stdout, "the policy lets anyone read (needlectl list as nobody)")
    p = h.ctl("status", OLD_PEN, user="nobody")
    check(p.returncode == 0 and "Link:       connected" in p.stdout, "and read a pen's state")
    for args in (["scan", "--wait", "0"], ["identify", OLD_PEN], ["remove", OLD_PEN],
                 ["plan", "clear", OLD_PEN]):
        p = h.ctl(*args, user="nobody")
        check(p.returncode == 4 and "group needlegate" in p.stderr and "change" in p.stderr,
              "the bus refuses needlectl %s from nobody" % " ".join(args[:2]))
    # plans and the journal name patients: reading them is for the group, and the message says read
    for args in (["sessions"], ["plan", "show", OLD_PEN]):
        p = h.ctl(*args, user="nobody")
        check(p.returncode == 4 and "may read plans and the session journal" in p.stderr,
              "needlectl %s from nobody is refused as a read: %r" % (" ".join(args[:2]), p.stderr))
    check(h.pen(OLD_PEN).prop("Paired"), "the pen is still paired")
    p = h.ctl("scan", "--time", "60", "--wait", "2")
    check(p.returncode == 0 and NEW_ADDR in p.stdout, "root scans through the policy")
    code, out = pair_on_terminal(h)
    check(code == 0 and NEW_PEN in out, "root pairs through the policy (bluetoothd reaches the agent)")


def scenario_range_cancel(h):
    """A pen out of range, a pairing cancelled by the technician, a bluetoothd restart."""
    start(h)
    h.gw("OpenPairingWindow", GLib.Variant("(u)", (120,)))
    nh.wait_until(lambda: [p for p in h.gw("ListDiscovered")[0] if p["address"] == NEW_ADDR], 10,
                  "discovery of the new pen")
    h.pen(NEW_PEN).call("SetPresent", "(b)", False)
    p = h.ctl("pair", "--passkey", "1", NEW_ADDR)
    check(p.returncode == 1 and "did not answer" in p.stderr and "next to the hub" in p.stderr,
          "a pen out of range: a clear error")
    h.pen(NEW_PEN).call("SetPresent", "(b)", True)
    h.gw("StartPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    p = h.ctl("pair", "--cancel", NEW_ADDR)
    check(p.returncode == 0, "needlectl pair --cancel")
    nh.wait_until(lambda: h.gw_prop("PairingState") == "idle", 10, "the pairing to end")
    check(not h.pen(NEW_PEN).prop("Paired"), "a cancelled pairing bonds nothing")
    name, _ = h.gw_error("CancelPairing", GLib.Variant("(s)", (NEW_ADDR,)))
    check(name == "org.needlegate.Error.NotFound", "cancelling nothing: NotFound")
    # bluetoothd restarts: the agent registers again, pairing works
    h.stop_pensim()
    h.start_pensim()
    nh.wait_until(lambda: h.gw_prop("Adapter") == "hci0", 15, "the adapter back")
    h.ctl("scan", "--time", "60", "--wait", "2")
    code, out = pair_on_terminal(h)
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
    policy = {}
    if sys.argv[1] == "policy":
        # Debian's system bus, bluez's bluetooth.conf and the installed needlegate policy
        policy = {"bus_policy": nh.SYSTEM_POLICY + nh.BLUEZ_POLICY, "bus_includes": [os.environ["POLICY_FILE"]]}
    with nh.Harness(pens=2, unpaired=1, mosquitto=True, hub=HUB,
                    pensim_args=["--manual", "--temporary-timeout", "5", "--adv-interval-ms", "200",
                                 "--connect-timeout-ms", "1500"], **policy) as h:
        SCENARIOS[sys.argv[1]](h)
    nh.log("PASS " + sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
