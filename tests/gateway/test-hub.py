#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests of the hub engine (gateway/hub/ng-hub.c) as a technician and a dashboard see it
through both front-ends: needle-pensim on a private bus, a real Mosquitto, the real needlegated,
needlectl, D-Bus calls and MQTT requests. Run one test: test-hub.py NAME (meson does, one per test)."""

import itertools
import json
import os
import re
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import GLib  # noqa: E402
from needleharness.payloads import parse_time, wait_connected, wait_session_event  # noqa: E402

PLANS = os.environ["PLANS_DIR"]
PLAN_FILE = os.path.join(PLANS, "face-course.json")
# bridge/devices follows a change within this long (the hub rate-limits it to one per 250 ms).
DEVICES_WITHIN_S = 1.0
_transactions = itertools.count(1)


def world(pens=2, config=None, remote_pairing=False, daemon=True):
    """Hub "hub", pens in manual mode, a subscriber on needlegate/hub/# made before the daemon
    starts, the daemon at -vv; remote_pairing allows pairing and removing over MQTT."""
    settings = {"mqtt": {"allow_remote_pairing": "true" if remote_pairing else "false"}}
    for group, keys in (config or {}).items():
        settings.setdefault(group, {}).update(keys)
    return nh.Harness(pens=pens, unpaired=0, pensim_args=["--manual", "--rate", "50"], persistent_broker=True,
                      subscribe=True, daemon=daemon, hub="hub", daemon_config=settings, daemon_args=["-vv"])


def load_plan():
    with open(PLAN_FILE) as f:
        return json.load(f)


def dashboard(h):
    """A dashboard's MQTT client that sends requests, once the hub says it is online."""
    m = h.mqtt_client(topics=[h.base + "/bridge/#"], client_id="hub-test-%d-%d" % (os.getpid(), time.monotonic_ns()))
    m.wait_online()
    return m


def request(m, command, payload):
    """bridge/request/@command with a fresh transaction; its answer (parsed)."""
    transaction = "%s-%d" % (command, next(_transactions))
    m.request(command, dict(payload, transaction=transaction))
    return m.response(command, transaction)


def retained_now(h, topic_filter, settle=1.0):
    """What a dashboard that connects now is given retained under @topic_filter (below the base):
    {topic below the base: payload}. The broker sends them right after the SUBACK."""
    c = h.mqtt_client(topics=[h.base + "/" + topic_filter])
    try:
        time.sleep(settle)
        return {m.topic[len(h.base) + 1:]: m.data for m in c.messages() if m.retain}
    finally:
        c.close()


def state_of(h, serial):
    return h.sub.last("pens/%s/state" % serial) or {}


def device_entry(devices, serial):
    """The pen's entry in a bridge/devices payload, or None."""
    if not isinstance(devices, dict):
        return None
    return next((p for p in devices.get("pens", []) if p.get("pen") == serial), None)


def snake(name):
    """org.needlegate.Error.InvalidPlan -> invalid_plan (the MQTT error code of a D-Bus error)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.rsplit(".", 1)[1]).lower()


def pen_path(h, serial):
    return h.wait_until(lambda: h.pen_object(serial), 20, "the Pen1 object of %s" % serial)[0]


# ---- 1. remove during a session ------------------------------------------------------------------


def check_remove_mid_session(how):
    """A pen removed (@how: needlectl, D-Bus or MQTT) during a running session: its session ends
    "removed" with end_event_lost, then nothing is retained for it any more; the other pen keeps
    its session and its topics."""
    with world(pens=2, remote_pairing=how == "mqtt") as h:
        bonded, _ = h.bonded_and_unbonded()
        gone, kept = bonded
        wait_connected(h.sub, bonded)
        plan_id = load_plan()["plan_id"]
        p = h.ctl("plan", "assign", gone, PLAN_FILE)
        assert p.returncode == 0, p.stderr
        sessions = {s: h.pen(s).call("StartSession")[0] for s in bonded}
        for s in bonded:
            wait_session_event(h.sub, s, sessions[s], "started")
            nh.wait_until(lambda: state_of(h, s).get("session") == sessions[s], 5,
                          "pens/%s/state with session %d" % (s, sessions[s]), interval=0.05)
        # what is retained for the pen before: the check below can fail
        before = retained_now(h, "pens/%s/#" % gone)
        assert before.get("pens/%s/state" % gone, {}).get("session") == sessions[gone], before
        assert before.get("pens/%s/session" % gone, {}).get("event") == "started", before
        time.sleep(1)  # a second of telemetry

        if how == "needlectl":
            # a session is under way: without a terminal needlectl refuses unless --force
            p = h.ctl("remove", gone)
            assert p.returncode == 1 and "--force" in p.stderr, (p.returncode, p.stderr)
            p = h.ctl("remove", "--force", gone)
            assert p.returncode == 0 and "session %d ended" % sessions[gone] in p.stdout, (p.stdout, p.stderr)
        elif how == "dbus":
            h.gw("Remove", GLib.Variant("(s)", (gone,)))
        else:
            m = dashboard(h)
            try:
                r = request(m, "remove", {"pen": gone})
                assert r["status"] == "ok" and r["data"]["pen"] == gone, r
            finally:
                m.close()

        ended = wait_session_event(h.sub, gone, sessions[gone], "ended", inferred=True)
        assert ended["pen"] == gone and ended["reason"] == "removed", ended
        assert ended["end_event_lost"] is True and ended["seq"] is None, ended
        assert ended["plan_id"] == plan_id, ended
        assert isinstance(ended["duration_s"], float) and 0.5 <= ended["duration_s"] <= 60, ended
        parse_time(ended["t"])
        # its open alerts (the plan does not include the pen's area) were cleared with it
        alerts = [a for a in h.sub.on("pens/%s/alert" % gone) if a.get("session") == sessions[gone]]
        raised = {a["id"] for a in alerts if a["state"] == "raised"}
        assert raised, "no alert was open when the pen was removed: %s" % alerts
        assert raised <= {a["id"] for a in alerts if a["state"] == "cleared"}, alerts
        nh.wait_until(lambda: not h.pen(gone).prop("Paired"), 10, "the bond of %s to go" % gone)
        nh.wait_until(lambda: h.pen_object(gone) is None, 10, "the Pen1 object of %s to go" % gone)
        nh.wait_until(lambda: [e for e in h.sub.on("bridge/event") if e.get("event") == "removed"
                               and e.get("pen") == gone], 10, "a 'removed' bridge event", interval=0.05)
        nh.pump(1.5)  # whatever the daemon still says about the pen would arrive now

        after = retained_now(h, "pens/%s/#" % gone)
        assert after == {}, "retained for the removed pen %s: %s" % (gone, after)
        # the session message came before the topics were cleared, and nothing came after
        session_msgs = h.sub.on("pens/%s/session" % gone)
        assert ended in session_msgs and session_msgs[-1] == "", session_msgs[-3:]
        assert h.sub.on("pens/%s/state" % gone)[-1] == "", h.sub.on("pens/%s/state" % gone)[-3:]

        # the session is in the journal, ended by the removal
        journal = nh.wait_until(lambda: [e for e in json.loads(h.ctl("sessions", "--json", gone).stdout or "[]")
                                         if e.get("reason") == "removed"], 10, "the session in the journal")
        assert len(journal) == 1 and journal[0]["pen"] == gone, journal

        # the other pen: untouched, still in its session
        other = retained_now(h, "pens/%s/#" % kept)
        st = other.get("pens/%s/state" % kept, {})
        assert st.get("connected") is True and st.get("session") == sessions[kept], other
        assert other.get("pens/%s/session" % kept, {}).get("event") == "started", other
        devices = retained_now(h, "bridge/devices")["bridge/devices"]
        assert [p["pen"] for p in devices["pens"]] == [kept], devices
        h.pen(kept).call("StopSession", "(s)", "stopped")
        wait_session_event(h.sub, kept, sessions[kept], "ended")


def test_remove_ctl():
    check_remove_mid_session("needlectl")


def test_remove_dbus():
    check_remove_mid_session("dbus")


def test_remove_mqtt():
    check_remove_mid_session("mqtt")


# ---- 2. a clean stop says offline ------------------------------------------------------------------


def test_sigterm_offline():
    """SIGTERM with two connected pens, one in a session: the daemon exits 0; what is retained
    says the hub is offline and no pen is connected: each pens/<id>/state (connected false, link
    "offline"), bridge/state, and bridge/devices and bridge/info agree with them."""
    with world(pens=2) as h:
        bonded, _ = h.bonded_and_unbonded()
        wait_connected(h.sub, bonded)
        session = h.pen(bonded[0]).call("StartSession")[0]
        nh.wait_until(lambda: state_of(h, bonded[0]).get("session") == session, 5, "the session in the state",
                      interval=0.05)
        live = retained_now(h, "#")
        assert all(live["pens/%s/state" % s]["connected"] is True for s in bonded), live
        assert live["bridge/state"] == {"state": "online"}, live

        assert h.stop_daemon() == 0
        nh.wait_until(lambda: h.sub.last("bridge/state") == {"state": "offline"}, 5, "bridge/state offline",
                      interval=0.05)
        nh.pump(0.5)
        kept = retained_now(h, "#")
        assert kept["bridge/state"] == {"state": "offline"}, kept
        for s in bonded:
            st = kept["pens/%s/state" % s]
            assert st["pen"] == s and st["connected"] is False and st["link"] == "offline", st
            assert st["telemetry_path"] is None and st["rssi"] is None, st
            parse_time(st["t"])
            # the subscriber that was there all along heard it last, nothing after it
            assert state_of(h, s) == st, (state_of(h, s), st)
        # what the pens' states say, bridge/devices and bridge/info say too
        devices = kept["bridge/devices"]
        assert sorted(p["pen"] for p in devices["pens"]) == bonded, devices
        for s in bonded:
            entry = device_entry(devices, s)
            assert entry["connected"] is False and entry["link"] == "offline", entry
        info = kept["bridge/info"]
        assert info["pens_connected"] == 0 and info["pens_served"] == 2, info
        log = h.log_text("needlegated")
        assert "-WARNING" not in log, "warnings in a clean stop:\n" + log[-4000:]


# ---- 3. bridge/devices follows the pens' states ----------------------------------------------------


def check_devices_follow(h, serial, since, pred, what):
    """The first pens/<id>/state since @since (monotonic ns) for which pred holds, then the first
    bridge/devices since then whose entry for the pen holds it too: within DEVICES_WITHIN_S."""
    state_topic = h.base + "/pens/%s/state" % serial
    devices_topic = h.base + "/bridge/devices"
    state = h.sub.wait(lambda m: m.t > since and m.topic == state_topic and isinstance(m.data, dict)
                       and pred(m.data), "pens/%s/state with %s" % (serial, what), timeout=10)
    devices = h.sub.wait(lambda m: m.t > since and m.topic == devices_topic
                         and device_entry(m.data, serial) is not None and pred(device_entry(m.data, serial)),
                         "bridge/devices with %s" % what, timeout=10)
    late = (devices.t - state.t) / 1e9
    nh.log("bridge/devices showed %s %.3f s after pens/%s/state" % (what, late, serial))
    assert late <= DEVICES_WITHIN_S, "bridge/devices showed %s %.3f s after pens/%s/state" % (what, late, serial)


def check_devices_agree(h, serial, fields=("connected", "link", "session", "plan", "plan_assigned", "area",
                                           "pen_state", "cartridge", "open_alerts")):
    """Once things settle, the pen's entry in bridge/devices says what pens/<id>/state says."""
    def agree():
        entry = device_entry(h.sub.last("bridge/devices"), serial)
        st = state_of(h, serial)
        return entry is not None and st and all(entry.get(f) == st.get(f) for f in fields)
    try:
        nh.wait_until(agree, 3, "bridge/devices to agree with pens/%s/state" % serial, interval=0.05)
    except nh.HarnessError:
        raise AssertionError("bridge/devices %s\n  disagrees with pens/%s/state %s"
                             % (device_entry(h.sub.last("bridge/devices"), serial), serial, state_of(h, serial)))


def test_devices_fresh():
    """A plan assigned (MQTT), a session started and ended, a plan assigned and cleared (D-Bus):
    each time bridge/devices shows it within a second of the pen's state, and the two agree."""
    with world(pens=1) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        path = pen_path(h, serial)
        m = dashboard(h)
        try:
            check_devices_agree(h, serial)
            plan_id = load_plan()["plan_id"]
            since = time.monotonic_ns()
            r = request(m, "plan/assign", {"pen": serial, "plan": load_plan()})
            assert r["status"] == "ok" and r["data"]["plan_id"] == plan_id, r
            check_devices_follow(h, serial, since, lambda p: p.get("plan") == plan_id, "plan %s" % plan_id)
            check_devices_agree(h, serial)

            since = time.monotonic_ns()
            session = h.pen(serial).call("StartSession")[0]
            check_devices_follow(h, serial, since, lambda p: p.get("session") == session and
                                 p.get("plan") == plan_id, "session %d" % session)
            check_devices_agree(h, serial)
            time.sleep(1)
            since = time.monotonic_ns()
            h.pen(serial).call("StopSession", "(s)", "stopped")
            wait_session_event(h.sub, serial, session, "ended")
            check_devices_follow(h, serial, since, lambda p: p.get("session") is None, "no session")
            check_devices_agree(h, serial)

            # the session used the plan up: the next patient's comes over D-Bus, then goes
            since = time.monotonic_ns()
            h.gw_pen_call(path, "AssignPlan", GLib.Variant("(s)", (json.dumps(load_plan()),)))
            check_devices_follow(h, serial, since, lambda p: p.get("plan_assigned") == plan_id,
                                 "plan %s assigned" % plan_id)
            check_devices_agree(h, serial)
            since = time.monotonic_ns()
            h.gw_pen_call(path, "ClearPlan")
            check_devices_follow(h, serial, since, lambda p: p.get("plan") is None
                                 and p.get("plan_assigned") is None, "no plan")
            check_devices_agree(h, serial)
        finally:
            m.close()


# ---- 4. bridge/info is right from the start --------------------------------------------------------


def info_messages(h, since=0):
    topic = h.base + "/bridge/info"
    return [m for m in h.sub.messages() if m.topic == topic and m.t > since and isinstance(m.data, dict)]


def check_info(info, received_ns, started_wall, started_ns):
    """One bridge/info as a dashboard reads it: the hub's start time and an uptime that fit the
    moment it arrived (the daemon was spawned at started_wall / started_ns)."""
    assert info["hub_id"] == "hub" and info["version"], info
    started = parse_time(info["started"]) / 1000
    assert started_wall - 0.5 <= started <= started_wall + 5, (info["started"], started_wall)
    alive = (received_ns - started_ns) / 1e9
    assert isinstance(info["uptime_s"], int) and alive - 2.5 <= info["uptime_s"] <= alive + 0.5, \
        "uptime_s %s in a bridge/info that came %.1f s after the start" % (info["uptime_s"], alive)


def test_info_first():
    """bridge/info at its default interval (60 s), pens coming in range once the hub is up: the
    first bridge/info after they connect already counts them, with the right uptime, and so does
    the first after one leaves; every bridge/info carries an uptime that fits the time it came."""
    with world(pens=2, config={"gateway": {"info_interval": "60"}}, daemon=False) as h:
        bonded, _ = h.bonded_and_unbonded()
        for s in bonded:  # out of range until the hub is up and has said so
            h.pen(s).call("SetPresent", "(b)", False)
        started_wall, started_ns = time.time(), time.monotonic_ns()
        h.start_daemon()
        h.sub.wait_online()
        h.sub.wait(lambda m: m.topic == h.base + "/bridge/info" and isinstance(m.data, dict)
                   and m.data.get("bluetoothd") is True, "bridge/info once bluetoothd is found")
        time.sleep(1.5)
        assert info_messages(h)[-1].data["pens_connected"] == 0, info_messages(h)[-1].data
        for s in bonded:
            h.pen(s).call("SetPresent", "(b)", True)
        wait_connected(h.sub, bonded, timeout=30)
        # when the last pen's state said connected
        connected_ns = max(h.sub.wait(lambda m, s=s: m.topic == h.base + "/pens/%s/state" % s
                                      and isinstance(m.data, dict) and m.data.get("connected") is True,
                                      "pen %s connected" % s).t for s in bonded)
        time.sleep(2)  # a pause a dashboard might take; the info timer is 60 s away
        first = info_messages(h, connected_ns)
        assert first, "no bridge/info within 2 s of the pens connecting: %s" % info_messages(h)[-1].data
        info = first[0].data
        assert info["pens_connected"] == 2 and info["pens_served"] == 2, info
        assert info["bluetoothd"] is True and info["adapter"] == "hci0", info
        check_info(info, first[0].t, started_wall, started_ns)
        retained = retained_now(h, "bridge/info")["bridge/info"]
        assert retained["pens_connected"] == 2, retained

        # one pen leaves the room
        away = bonded[1]
        h.pen(away).call("SetPresent", "(b)", False)
        nh.wait_until(lambda: state_of(h, away).get("connected") is False, 10, "%s shown disconnected" % away,
                      interval=0.05)
        left_ns = h.sub.wait(lambda m: m.topic == h.base + "/pens/%s/state" % away and m.t > connected_ns
                             and isinstance(m.data, dict) and m.data.get("connected") is False,
                             "%s disconnected" % away).t
        time.sleep(2)
        after = info_messages(h, left_ns)
        assert after, "no bridge/info within 2 s of %s leaving" % away
        assert after[0].data["pens_connected"] == 1 and after[0].data["pens_served"] == 2, after[0].data

        for m in info_messages(h):
            check_info(m.data, m.t, started_wall, started_ns)
        # the last one counts what the pens' states say
        assert info_messages(h)[-1].data["pens_connected"] == sum(
            1 for s in bonded if state_of(h, s).get("connected")), info_messages(h)[-1].data


# ---- 5. plan errors: one text on D-Bus, needlectl and MQTT -----------------------------------------


def bad_plans(good):
    """(what the error must name, a bad plan): too deep, contradictory, mistyped, unknown names."""
    first = next(iter(good["areas"]))

    def changed(fn):
        doc = json.loads(json.dumps(good))
        fn(doc)
        return doc
    return [
        ("$.areas.%s.depth_mm.max" % first, changed(lambda d: d["areas"][first]["depth_mm"].update(max=3.5))),
        ("$.areas.%s.depth_mm" % first, changed(lambda d: d["areas"][first]["depth_mm"].update(min=0.9, max=0.4))),
        ("$.plan_id", changed(lambda d: d.update(plan_id=5))),
        ("$.colour", changed(lambda d: d.update(colour="blue"))),
        ("$.areas.elbow", changed(lambda d: d["areas"].update(elbow=d["areas"][first]))),
        ("$.course", changed(lambda d: d["course"].update(session_number=9, sessions_total=4))),
        # every wrong member at once
        ("$.colour: unknown field; $.areas.cheek: unknown area (did you mean 'cheeks'?)",
         changed(lambda d: (d.update(colour="blue"), d["areas"].update(cheek=d["areas"][first])))),
    ]


def test_plan_errors():
    """The same bad plan through Pen1.AssignPlan, needlectl plan assign and MQTT plan/assign (as
    an object and as a string): one error text, naming the field, and the previous plan stays.
    Clearing a pen with no plan: one "no plan" error. MQTT plans for a pen this hub does not
    serve are refused."""
    with world(pens=1) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        path = pen_path(h, serial)
        m = dashboard(h)
        try:
            good = load_plan()
            h.gw_pen_call(path, "AssignPlan", GLib.Variant("(s)", (json.dumps(good),)))
            nh.wait_until(lambda: state_of(h, serial).get("plan") == good["plan_id"], 5, "the plan in the state",
                          interval=0.05)
            for field, plan in bad_plans(good):
                name, msg = h.call_error(path, nh.PEN_IFACE, "AssignPlan", GLib.Variant("(s)", (json.dumps(plan),)),
                                         dest=nh.GW)
                assert name == "org.needlegate.Error.InvalidPlan", (name, msg)
                assert field in msg, "%s: the error does not name %s" % (msg, field)
                for sent in (plan, json.dumps(plan)):
                    r = request(m, "plan/assign", {"pen": serial, "plan": sent})
                    assert r["status"] == "error" and r["data"] is None, r
                    assert r["error"]["code"] == snake(name) == "invalid_plan", (r, name)
                    assert r["error"]["message"] == msg, "D-Bus: %s\n MQTT: %s" % (msg, r["error"]["message"])
                bad_file = h.write("bad.json", json.dumps(plan))
                p = h.ctl("plan", "assign", serial, bad_file)
                # needlectl: one line per error, each naming the file
                lines = ["%s: %s%s" % (bad_file, "$" if i else "", part) for i, part in enumerate(msg.split("; $"))]
                assert p.returncode == 1 and all(line in p.stderr.splitlines()[i] for i, line in enumerate(lines)), \
                    (lines, p.stderr)
            # the previous plan stayed, everywhere
            assert json.loads(h.gw_pen_call(path, "GetPlan")[0])["plan_id"] == good["plan_id"]
            nh.pump(0.5)
            assert state_of(h, serial).get("plan_assigned") == good["plan_id"], state_of(h, serial)

            # no plan to clear
            h.gw_pen_call(path, "ClearPlan")
            name, msg = h.call_error(path, nh.PEN_IFACE, "ClearPlan", dest=nh.GW)
            assert name == "org.needlegate.Error.NoPlan" and "no plan" in msg, (name, msg)
            r = request(m, "plan/clear", {"pen": serial})
            assert r["status"] == "error" and r["error"]["code"] == snake(name) == "no_plan", r
            assert r["error"]["message"] == msg, "D-Bus: %s\n MQTT: %s" % (msg, r["error"]["message"])
            p = h.ctl("plan", "clear", serial)
            assert p.returncode == 1 and msg in p.stderr, (msg, p.stderr)

            # a pen this hub does not serve
            for command, payload in (("plan/assign", {"pen": "NP5EED0999", "plan": good}),
                                     ("plan/clear", {"pen": "NP5EED0999"})):
                r = request(m, command, payload)
                assert r["status"] == "error" and r["data"] is None, r
                assert r["error"]["code"] == "not_found" and "NP5EED0999" in r["error"]["message"], r
            # and the request for the right pen works, its answer naming pen and plan
            r = request(m, "plan/assign", {"pen": serial, "plan": good})
            assert r["status"] == "ok" and r["data"] == {"pen": serial, "plan_id": good["plan_id"]}, r
        finally:
            m.close()


# ---- 6. unknown fields in MQTT requests ------------------------------------------------------------


def test_unknown_fields():
    """Every command refuses a request with a field it does not know, naming the field, and does
    nothing; without the field the same request works."""
    with world(pens=1, remote_pairing=True) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        path = pen_path(h, serial)
        address = h.pen(serial).device_prop("Address")
        m = dashboard(h)
        try:
            session = h.pen(serial).call("StartSession")[0]
            nh.wait_until(lambda: state_of(h, serial).get("session") == session, 5, "the session in the state",
                          interval=0.05)
            plan = load_plan()
            cases = [
                ("plan/assign", {"pen": serial, "plan": plan, "force": True}, "force"),
                ("plan/assign", {"Pen": serial, "plan": plan}, "Pen"),
                ("plan/clear", {"pen": serial, "plan_id": plan["plan_id"]}, "plan_id"),
                ("identify", {"pen": serial, "seconds": 5}, "seconds"),
                ("stop_session", {"pen": serial, "reason": "done"}, "reason"),
                ("remove", {"pen": serial, "keep_journal": True}, "keep_journal"),
                ("permit_pairing", {"value": True, "duration": 60}, "duration"),
                ("pair", {"address": address, "pin": "0000"}, "pin"),
            ]
            for command, payload, field in cases:
                r = request(m, command, payload)
                assert r["status"] == "error" and r["data"] is None, (command, r)
                assert r["error"]["code"] == "invalid_args", (command, r)
                assert re.search(r"(^|\W)%s(\W|$)" % re.escape(field), r["error"]["message"]) and \
                    "unknown" in r["error"]["message"], "%s: the error does not name '%s': %s" % (command, field, r)
            # none of them did anything
            nh.pump(1)
            assert h.pen(serial).prop("Paired") and h.pen(serial).prop("State") == "session_active"
            assert h.pen_object(serial) is not None
            assert not h.gw_prop("PairingWindowOpen")
            assert state_of(h, serial).get("plan_assigned") is None, state_of(h, serial)
            name, _ = h.call_error(path, nh.PEN_IFACE, "GetPlan", dest=nh.GW)
            assert name == "org.needlegate.Error.NoPlan", name
            assert not [e for e in h.sub.on("bridge/event") if e.get("event") == "audit"], h.sub.on("bridge/event")

            # the same requests without the field
            r = request(m, "plan/assign", {"pen": serial, "plan": plan})
            assert r["status"] == "ok", r
            r = request(m, "stop_session", {"pen": serial})
            assert r["status"] == "ok", r
            nh.wait_until(lambda: h.pen(serial).prop("State") == "idle", 10, "the session to stop")
        finally:
            m.close()


def test_forget_hub():
    """hub_id changed from "hub" to "room-2": what the broker still retains for "hub" (its
    bridge/state offline, bridge/info, bridge/devices, the pens' state and sessions) is cleared with
    needlectl forget-hub; this hub's own id, a hub that is online and a malformed id are refused."""
    with world(pens=1) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        h.pen(serial).call("StartSession")
        time.sleep(0.5)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        wait_session_event(h.sub, serial, 1, "ended")
        assert h.stop_daemon() == 0
        old = retained_now(h, "#")
        assert {"bridge/state", "bridge/info", "bridge/devices", "pens/%s/state" % serial,
                "pens/%s/session" % serial} <= set(old), sorted(old)
        assert old["bridge/state"] == {"state": "offline"}

        # the same hub, renamed
        with open(h.config_path) as f:
            text = f.read()
        with open(h.config_path, "w") as f:
            f.write(text.replace("hub_id=hub\n", "hub_id=room-2\n"))
        h.start_daemon()
        h.wait_gateway()
        nh.wait_until(lambda: h.gw_prop("HubId") == "room-2" and h.gw_prop("MqttConnected"), 15,
                      "the renamed hub on the broker", interval=0.1)

        p = h.ctl("forget-hub", "hub")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "Cleared %d retained messages of hub 'hub' from the broker." % len(old), p.stdout
        nh.wait_until(lambda: not retained_now(h, "#", settle=0.5), 10, "nothing retained for hub any more")
        p = h.ctl("forget-hub", "--json", "hub")
        assert p.returncode == 0 and json.loads(p.stdout) == {"hub_id": "hub", "cleared": 0}, p.stdout

        p = h.ctl("forget-hub", "room-2")
        assert p.returncode == 1 and "this hub's own id" in p.stderr, p.stderr
        p = h.ctl("forget-hub", "Room 2")
        assert p.returncode == 1 and "'Room 2' is not a hub id" in p.stderr, p.stderr
        live = h.mqtt_client()
        try:
            live.publish("needlegate/live/bridge/state", json.dumps({"state": "online"}), qos=1, retain=True)
            time.sleep(0.3)
            p = h.ctl("forget-hub", "live")
            assert p.returncode == 1 and "hub 'live' is online" in p.stderr, p.stderr
            live.publish("needlegate/live/bridge/state", "", qos=1, retain=True)
        finally:
            live.close()
        assert "hub 'hub': %d retained messages cleared" % len(old) in h.log_text("needlegated")
        audit = h.mqtt_client(topics=["needlegate/room-2/bridge/event"])
        try:
            p = h.ctl("forget-hub", "hub")
            assert p.returncode == 0, p.stderr
            nh.wait_until(lambda: [m for m in audit.messages() if m.data.get("action") == "hub_forgotten"], 5,
                          "the audit event hub_forgotten")
        finally:
            audit.close()


TESTS = {
    "remove-ctl": test_remove_ctl,
    "remove-dbus": test_remove_dbus,
    "remove-mqtt": test_remove_mqtt,
    "sigterm-offline": test_sigterm_offline,
    "devices-fresh": test_devices_fresh,
    "info-first": test_info_first,
    "plan-errors": test_plan_errors,
    "unknown-fields": test_unknown_fields,
    "forget-hub": test_forget_hub,
}

if __name__ == "__main__":
    nh.run_named(TESTS, sys.argv[1:])
