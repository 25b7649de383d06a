#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests of plans: assigned over MQTT, checked live against a simulated pen, the alerts
and the session summary on the broker, number by number. Run one: test-plans.py NAME (meson does).

needle-pensim on a private bus, a real Mosquitto, the real needlegated (tests/gateway/ngrig.py)."""

import copy
import json
import os
import signal
import sqlite3
import sys
import threading
import time

import paho.mqtt.client as mqtt

from ngrig import BASE, Rig, parse_time, wait_for

PLAN = {
    "plan_id": "face-e2e-2",
    "patient_ref": "P-E2E-0001",
    "course": {"session_number": 2, "sessions_total": 4, "min_interval_days": 28},
    "allowed_needles": [12, 36],
    "areas": {
        "forehead": {"depth_mm": {"min": 0.2, "max": 0.6}, "speed_hz": {"min": 80, "max": 150},
                     "max_time_s": 300, "passes": 3},
        "cheeks": {"depth_mm": {"min": 0.5, "max": 1.2}, "speed_hz": {"min": 80, "max": 150},
                   "max_time_s": 600},
    },
    "max_session_s": 3600,
    "aftercare": {"no_shaving": 12},
}
# BRIEF.md's aftercare defaults, in the order the summary lists them
AFTERCARE = [("sun_protection", 168), ("no_harsh_cleansers", 96), ("no_active_ingredients", 96),
             ("no_perfumed_products", 96), ("no_heavy_exercise", 48), ("no_sauna", 48),
             ("no_chlorinated_pools", 48), ("no_solarium", 48), ("no_spray_tanning", 48),
             ("no_cosmetic_tattooing", 48), ("no_shaving", 24)]
RULES = ["depth_above_max", "depth_below_min", "speed_out_of_range", "area_not_in_plan", "area_time_exceeded",
         "session_too_long", "cartridge_reused", "cartridge_not_allowed", "session_too_soon", "device_error",
         "telemetry_gap", "no_plan", "clock_not_set"]
NO_ENFORCEMENT = "features=e2e_crc;pressure;area_selector;stored_records\n"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


class Requester:
    """Publishes bridge/request/<command> and waits for its bridge/response/<command>."""

    def __init__(self, rig):
        self.rig = rig
        self.client = mqtt.Client(client_id="e2e-requester-%d" % os.getpid(), protocol=mqtt.MQTTv311)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc: self.connected.set()
        self.client.connect("127.0.0.1", rig.mqtt_port, keepalive=10)
        self.client.loop_start()
        wait_for("the requester to connect", self.connected.is_set, 10)
        self.n = 0

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()

    def request(self, command, payload, transaction):
        """payload: a dict (transaction added) or raw bytes; returns the response with this transaction."""
        if isinstance(payload, dict):
            payload = dict(payload, transaction=transaction)
            payload = json.dumps(payload)
        before = len(self.rig.sub.on("bridge/response/" + command))
        self.client.publish(BASE + "/bridge/request/" + command, payload, qos=1).wait_for_publish(5)

        def answered():
            got = self.rig.sub.on("bridge/response/" + command)[before:]
            return [r for r in got if r.get("transaction") == transaction]
        got = wait_for("the response to %s %r" % (command, transaction), answered, 10)
        assert len(got) == 1, got
        return got[0]


def scenario_rig(features=NO_ENFORCEMENT, pens=1):
    rig = Rig(pens=pens, unpaired=0)
    path = os.path.join(rig.tmp, "plans.scenario")
    with open(path, "w") as f:
        f.write("[pen 1]\n" + features)
    rig.pensim_args = ["--scenario", path]
    return rig


def state(rig, serial):
    return rig.sub.last("pens/%s/state" % serial) or {}


def wait_state(rig, serial, what, predicate, timeout=10):
    return wait_for(what, lambda: predicate(state(rig, serial)), timeout)


def assign_ok(req, serial, plan, transaction):
    resp = req.request("plan/assign", {"pen": serial, "plan": plan}, transaction)
    assert resp == {"status": "ok", "data": {"pen": serial, "plan_id": plan["plan_id"]}, "error": None,
                    "transaction": transaction}, resp
    return resp


def alerts_of(rig, serial, session_id):
    return [a for a in rig.sub.on("pens/%s/alert" % serial) if a["session"] == session_id]


def expected_summary(records, plan):
    """The summary the gateway must publish, recomputed from the records on the broker."""
    areas = {}
    high_water = 0
    for r in sorted(records, key=lambda r: r["seq"]):
        a = areas.setdefault(r["area"], {"records": 0, "active": 0, "within": 0, "time_ms": 0, "max": 0,
                                         "depth": 0, "speed": 0})
        depth = round(r["depth_mm"] * 100)
        speed = round(r["speed_hz"] * 10)
        step = 0
        if r["offset_ms"] > high_water:
            step = min(r["offset_ms"] - high_water, 1000)
            high_water = r["offset_ms"]
        a["records"] += 1
        if not r["motor"]:
            continue
        a["active"] += 1
        a["time_ms"] += step
        a["max"] = max(a["max"], depth)
        a["depth"] += depth
        a["speed"] += speed
        lim = plan["areas"].get(r["area"]) if plan else None
        if lim and round(lim["depth_mm"]["min"] * 100) <= depth <= round(lim["depth_mm"]["max"] * 100) and \
                round(lim["speed_hz"]["min"] * 10) <= speed <= round(lim["speed_hz"]["max"] * 10):
            a["within"] += 1
    out = {}
    for name, a in areas.items():
        n = a["active"]
        out[name] = {
            "time_s": a["time_ms"] / 1000,
            "records": a["records"],
            "active_records": n,
            "max_depth_mm": a["max"] / 100,
            "mean_depth_mm": ((a["depth"] + n // 2) // n) / 100,
            "mean_speed_hz": ((a["speed"] + n // 2) // n) / 10,
            "within_plan": ((a["within"] * 1000 + n // 2) // n) / 1000 if plan else None,
        }
    return out


def check_summary(ended, records, plan, counts, by_rule):
    """ended: the "ended" message; counts: alerts by severity; by_rule: {rule: raised count}."""
    end_ms = parse_time(ended["t"])
    summary = ended["summary"]
    assert summary["records"] == len(records), (summary["records"], len(records))
    want = expected_summary(records, plan)
    assert sorted(summary["areas"]) == sorted(want), (summary["areas"], want)
    for area, figures in want.items():
        assert summary["areas"][area] == figures, (area, summary["areas"][area], figures)
    assert summary["compliance"] == {r: {"ok": by_rule.get(r, 0) == 0, "alerts": by_rule.get(r, 0)}
                                     for r in RULES}, summary["compliance"]
    assert ended["alerts"] == counts, ended["alerts"]
    overrides = plan.get("aftercare", {}) if plan else {}
    aftercare = [(rule, overrides.get(rule, hours)) for rule, hours in AFTERCARE]
    assert [(a["rule"], a["hours"]) for a in ended["aftercare"]] == [a for a in aftercare if a[1] > 0], \
        ended["aftercare"]
    for a in ended["aftercare"]:
        assert parse_time(a["until"]) == end_ms + a["hours"] * HOUR_MS, a
        assert a["advice"].endswith("."), a
    if plan:
        assert ended["course"] == plan["course"], ended["course"]
        assert parse_time(ended["next_session_earliest"]) == end_ms + plan["course"]["min_interval_days"] * DAY_MS
    else:
        assert ended["course"] is None and ended["next_session_earliest"] is None, ended


def alert_digest(alerts):
    return [(a["rule"], a["state"], a["id"], a["severity"], a["area"]) for a in alerts]


# ---- the scenario --------------------------------------------------------------------------------


def test_scenario():
    """A plan assigned over MQTT (a malformed one refused, naming the field; the first stays); a
    session with a reused cartridge, a too-deep pass on the forehead and a pass in an area the plan
    leaves out: exactly those alerts, raised and cleared, and the summary, number by number."""
    with scenario_rig().start() as rig:
        req = Requester(rig)
        try:
            serial = rig.bonded_and_unbonded()[0][0]
            rig.wait_connected([serial])
            assert state(rig, serial)["plan"] is None, state(rig, serial)

            assign_ok(req, serial, PLAN, "t-1")
            wait_state(rig, serial, "the state naming the plan",
                       lambda s: s.get("plan") == "face-e2e-2" and s.get("plan_assigned") == "face-e2e-2")

            bad = copy.deepcopy(PLAN)
            bad["plan_id"] = "face-e2e-bad"
            bad["areas"]["forehead"]["depth_mm"]["max"] = 3.5
            resp = req.request("plan/assign", {"pen": serial, "plan": bad}, {"n": 2})
            assert resp["status"] == "error" and resp["data"] is None and resp["transaction"] == {"n": 2}, resp
            assert resp["error"]["code"] == "invalid_plan", resp
            assert resp["error"]["message"].startswith("$.areas.forehead.depth_mm.max: 3.5"), resp
            resp = req.request("plan/assign", {"pen": serial}, "t-3")
            assert resp["status"] == "error" and resp["error"]["code"] == "invalid_args", resp
            assert resp["error"]["message"] == "plan: missing (required)", resp
            req.client.publish(BASE + "/bridge/request/plan/assign", b"{not json", qos=1).wait_for_publish(5)
            wait_for("the answer to a request that is not JSON", lambda: any(
                r["status"] == "error" and r["transaction"] is None and r["error"]["code"] == "invalid_args"
                for r in rig.sub.on("bridge/response/plan/assign")), 10)
            time.sleep(0.3)
            assert state(rig, serial)["plan"] == "face-e2e-2", state(rig, serial)

            rig.pen_call(serial, "SetArea", "s", "forehead")
            rig.pen_call(serial, "SetDepth", "d", 0.4)
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xC0FFEE, 12, 1)  # used once before
            session_id = rig.pen_call(serial, "StartSession")[0]
            time.sleep(1.5)
            rig.pen_call(serial, "SetDepth", "d", 0.9)  # too deep for the forehead
            time.sleep(1.5)
            rig.pen_call(serial, "SetDepth", "d", 0.4)
            time.sleep(1.0)
            rig.pen_call(serial, "SetArea", "s", "neck")  # not in the plan
            time.sleep(1.5)
            rig.pen_call(serial, "SetArea", "s", "forehead")
            time.sleep(1.0)
            rig.pen_call(serial, "StopSession", "s", "stopped")

            started = rig.wait_session_event(serial, session_id, "started")
            ended = rig.wait_session_event(serial, session_id, "ended")
            assert started["plan_id"] == "face-e2e-2" and ended["plan_id"] == "face-e2e-2", (started, ended)
            assert started["cartridge"] == {"id": 0xC0FFEE, "needles": 12, "use_count": 2}, started
            wait_for("the six alerts", lambda: len(alerts_of(rig, serial, session_id)) >= 6, 5)
            time.sleep(0.5)
            alerts = alerts_of(rig, serial, session_id)
            assert alert_digest(alerts) == [
                ("cartridge_reused", "raised", 1, "critical", "forehead"),
                ("depth_above_max", "raised", 2, "critical", "forehead"),
                ("depth_above_max", "cleared", 2, "critical", "forehead"),
                ("area_not_in_plan", "raised", 3, "critical", "neck"),
                ("area_not_in_plan", "cleared", 3, "critical", "neck"),
                ("cartridge_reused", "cleared", 1, "critical", "forehead"),
            ], alerts
            records = rig.telemetry(serial, session_id)
            for a in alerts:
                assert a["pen"] == serial and a["session"] == session_id and a["message"], a
                parse_time(a["t"])
            reused, deep, _, area, _, _ = alerts
            assert (reused["measured"], reused["limit"], reused["unit"]) == (2, 1, "uses"), reused
            assert reused["seq"] == started["seq"], reused
            too_deep = [r for r in records if r["area"] == "forehead" and r["depth_mm"] > 0.6]
            assert deep["limit"] == 0.6 and deep["unit"] == "mm", deep
            # measured: the worst of the excursion so far (raised), of all of it (cleared)
            assert deep["measured"] == max(r["depth_mm"] for r in too_deep if r["seq"] <= deep["seq"]), deep
            assert alerts[2]["measured"] == max(r["depth_mm"] for r in too_deep), alerts[2]
            # debounced: raised by the record 200 ms into the excursion
            first = min(too_deep, key=lambda r: r["seq"])
            by_seq = {r["seq"]: r for r in records}
            assert by_seq[deep["seq"]]["offset_ms"] - first["offset_ms"] >= 200, (deep, first)
            assert alerts[2]["duration_ms"] >= 1000, alerts[2]
            assert area["measured"] == "neck" and area["unit"] is None, area

            check_summary(ended, records, PLAN, {"critical": 3, "warning": 0, "info": 0},
                          {"cartridge_reused": 1, "depth_above_max": 1, "area_not_in_plan": 1})
            assert ended["reason"] == "stopped" and ended["duration_s"] > 6, ended
            assert ended["summary"]["areas"]["forehead"]["within_plan"] < 1.0, ended
            assert ended["summary"]["areas"]["neck"]["within_plan"] == 0.0, ended

            # the plan was for this session: used up, and the state says so
            wait_state(rig, serial, "the assignment consumed",
                       lambda s: s.get("plan") is None and s.get("plan_assigned") is None)
            # the journal has the session, its summary and alerts
            db = sqlite3.connect("file:%s/needlegate.db?mode=ro" % rig.state_dir, uri=True)
            rows = db.execute("SELECT pen, session, plan_id, patient_ref, reason, summary, alerts"
                              " FROM ng_journal").fetchall()
            db.close()
            assert len(rows) == 1, rows
            pen, sid, plan_id, patient, reason, summary_json, alerts_json = rows[0]
            assert (pen, sid, plan_id, patient, reason) == (serial, session_id, "face-e2e-2", "P-E2E-0001",
                                                           "stopped"), rows[0]
            assert json.loads(summary_json)["summary"] == ended["summary"]
            assert len(json.loads(alerts_json)) == 6, alerts_json
        finally:
            req.close()


def test_restart():
    """An assignment survives a daemon restart and is used by the next session; plan/clear over
    MQTT; a session without a plan raises no_plan and its summary has no plan figures; the same
    patient back too soon (the journal's previous session) raises session_too_soon."""
    with scenario_rig().start() as rig:
        req = Requester(rig)
        try:
            serial = rig.bonded_and_unbonded()[0][0]
            rig.wait_connected([serial])
            assign_ok(req, serial, PLAN, "a-1")
            resp = req.request("plan/clear", {"pen": serial}, "c-1")
            assert resp == {"status": "ok", "data": {"pen": serial, "plan_id": "face-e2e-2"}, "error": None,
                            "transaction": "c-1"}, resp
            wait_state(rig, serial, "the plan cleared", lambda s: s.get("plan_assigned") is None)
            neck = copy.deepcopy(PLAN)
            neck["plan_id"] = "neck-e2e-1"
            neck["areas"] = {"neck": {"depth_mm": {"min": 0.2, "max": 0.6}, "speed_hz": {"min": 80, "max": 150},
                                      "max_time_s": 300}}
            assign_ok(req, serial, neck, "a-2")
            wait_state(rig, serial, "the plan assigned", lambda s: s.get("plan_assigned") == "neck-e2e-1")

            assert rig.stop("needlegated") == 0
            seen = len(rig.sub.on("pens/%s/state" % serial))
            rig.start_daemon()
            wait_for("the restarted daemon's log", lambda: "have a plan assigned" in rig.log_text("needlegated"))
            # the restarted daemon's own word, not the state retained from before
            wait_for("the pen connected again", lambda: any(
                m["connected"] for m in rig.sub.on("pens/%s/state" % serial)[seen:]), 20)

            rig.pen_call(serial, "SetArea", "s", "neck")
            rig.pen_call(serial, "SetDepth", "d", 0.4)
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xA11CE, 12, 0)
            first = rig.pen_call(serial, "StartSession")[0]
            time.sleep(1.5)
            rig.pen_call(serial, "StopSession", "s", "stopped")
            started = rig.wait_session_event(serial, first, "started")
            ended = rig.wait_session_event(serial, first, "ended")
            assert started["plan_id"] == "neck-e2e-1" and ended["plan_id"] == "neck-e2e-1", (started, ended)
            time.sleep(0.5)
            assert alerts_of(rig, serial, first) == [], alerts_of(rig, serial, first)
            check_summary(ended, rig.telemetry(serial, first), neck, {"critical": 0, "warning": 0, "info": 0}, {})
            assert ended["summary"]["areas"]["neck"]["within_plan"] == 1.0, ended
            wait_state(rig, serial, "the assignment consumed", lambda s: s.get("plan_assigned") is None)

            # the next session has no plan
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xB0B, 36, 0)
            second = rig.pen_call(serial, "StartSession")[0]
            time.sleep(1.0)
            rig.pen_call(serial, "StopSession", "s", "stopped")
            started = rig.wait_session_event(serial, second, "started")
            ended = rig.wait_session_event(serial, second, "ended")
            assert started["plan_id"] is None and ended["plan_id"] is None, (started, ended)
            alerts = wait_for("the no_plan alert", lambda: alerts_of(rig, serial, second))
            time.sleep(0.5)
            alerts = alerts_of(rig, serial, second)
            assert alert_digest(alerts) == [("no_plan", "raised", 1, "warning", "neck"),
                                            ("no_plan", "cleared", 1, "warning", "neck")], alerts
            assert alerts[0]["measured"] is None and alerts[0]["limit"] is None, alerts[0]
            assert alerts[0]["seq"] == started["seq"], alerts[0]
            check_summary(ended, rig.telemetry(serial, second), None, {"critical": 0, "warning": 1, "info": 0},
                          {"no_plan": 1})

            # the same patient again, minutes after the first session: too soon for a 28-day interval
            assign_ok(req, serial, PLAN, "a-3")
            rig.pen_call(serial, "SetArea", "s", "forehead")
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xCAFE, 36, 0)
            third = rig.pen_call(serial, "StartSession")[0]
            time.sleep(1.0)
            rig.pen_call(serial, "StopSession", "s", "stopped")
            ended = rig.wait_session_event(serial, third, "ended")
            time.sleep(0.5)
            alerts = alerts_of(rig, serial, third)
            assert alert_digest(alerts) == [("session_too_soon", "raised", 1, "warning", "forehead"),
                                            ("session_too_soon", "cleared", 1, "warning", "forehead")], alerts
            assert (alerts[0]["measured"], alerts[0]["limit"], alerts[0]["unit"]) == (0.0, 28, "days"), alerts[0]
            check_summary(ended, rig.telemetry(serial, third), PLAN, {"critical": 0, "warning": 1, "info": 0},
                          {"session_too_soon": 1})
        finally:
            req.close()


def test_limits():
    """A pen that enforces limits gets the plan's limits for its area at session start and on every
    area change (Clear Limits for an area the plan leaves out), and applies exactly those."""
    with scenario_rig(features="").start() as rig:
        req = Requester(rig)
        try:
            serial = rig.bonded_and_unbonded()[0][0]
            rig.wait_connected([serial])
            assign_ok(req, serial, PLAN, "l-1")
            rig.pen_call(serial, "SetArea", "s", "forehead")
            rig.pen_call(serial, "SetDepth", "d", 0.5)
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xF00D, 12, 0)
            session_id = rig.pen_call(serial, "StartSession")[0]

            def applied():
                return [e["limits"] for e in rig.events(serial, session_id) if e["event"] == "limits_applied"]
            wait_for("the forehead's limits applied", lambda: len(applied()) >= 1, 5)
            rig.pen_call(serial, "SetDepth", "d", 0.9)  # deeper than the plan allows there: the pen holds
            assert applied()[0] == {"max_depth_mm": 0.6, "min_speed_hz": 80.0, "max_speed_hz": 150.0}, applied()
            assert rig.pen_prop(serial, "LimitsActive") is True
            wait_state(rig, serial, "the state's limits", lambda s: s.get("limits") == applied()[0])
            time.sleep(1.0)
            rig.pen_call(serial, "SetArea", "s", "cheeks")
            wait_for("the cheeks' limits applied", lambda: len(applied()) >= 2, 5)
            assert applied()[1] == {"max_depth_mm": 1.2, "min_speed_hz": 80.0, "max_speed_hz": 150.0}, applied()
            time.sleep(0.5)
            rig.pen_call(serial, "SetArea", "s", "neck")
            wait_for("the limits cleared", lambda: len(applied()) >= 3, 5)
            assert applied()[2] == {"max_depth_mm": None, "min_speed_hz": None, "max_speed_hz": None}, applied()
            assert rig.pen_prop(serial, "LimitsActive") is False
            wait_state(rig, serial, "the state without limits", lambda s: s.get("limits") is None)
            time.sleep(0.5)
            rig.pen_call(serial, "StopSession", "s", "stopped")
            ended = rig.wait_session_event(serial, session_id, "ended")
            records = rig.telemetry(serial, session_id)
            # the pen held the forehead at 0.6 mm once it had the limits: no excursion lasted
            settled = [r for r in records if r["area"] == "forehead" and r["offset_ms"] >= 500]
            assert settled and max(r["depth_mm"] for r in settled) <= 0.6, settled[-3:]
            assert state(rig, serial)["limits_mismatches"] == 0, state(rig, serial)
            assert "other than those sent" not in rig.log_text("needlegated")
            rules = [a["rule"] for a in alerts_of(rig, serial, session_id) if a["state"] == "raised"]
            assert rules == ["area_not_in_plan"], alerts_of(rig, serial, session_id)
            assert ended["alerts"] == {"critical": 1, "warning": 0, "info": 0}, ended["alerts"]
        finally:
            req.close()


def test_midsession_restart():
    """The gateway killed in the middle of a session and restarted: it never sees that session's start
    event, yet checks the rest of it against the assigned plan and closes it with a summary."""
    with scenario_rig().start() as rig:
        req = Requester(rig)
        try:
            serial = rig.bonded_and_unbonded()[0][0]
            rig.wait_connected([serial])
            assign_ok(req, serial, PLAN, "m-1")
            rig.pen_call(serial, "SetArea", "s", "forehead")
            rig.pen_call(serial, "SetDepth", "d", 0.4)
            rig.pen_call(serial, "InsertCartridge", "uyq", 0xD00D, 12, 0)
            session_id = rig.pen_call(serial, "StartSession")[0]
            rig.wait_session_event(serial, session_id, "started")
            time.sleep(0.5)
            assert rig.stop("needlegated", signal.SIGKILL) == -signal.SIGKILL
            seen = len(rig.sub.on("pens/%s/state" % serial))
            rig.start_daemon()
            wait_for("the pen connected again", lambda: any(
                m["connected"] for m in rig.sub.on("pens/%s/state" % serial)[seen:]), 20)
            wait_for("the session checked again", lambda: "start event was not seen" in rig.log_text("needlegated"))
            rig.pen_call(serial, "SetDepth", "d", 0.9)
            time.sleep(1.0)
            rig.pen_call(serial, "SetDepth", "d", 0.4)
            time.sleep(0.5)
            rig.pen_call(serial, "StopSession", "s", "stopped")
            ended = rig.wait_session_event(serial, session_id, "ended")
            time.sleep(0.5)
            alerts = alerts_of(rig, serial, session_id)
            assert alert_digest(alerts) == [("depth_above_max", "raised", 1, "critical", "forehead"),
                                            ("depth_above_max", "cleared", 1, "critical", "forehead")], alerts
            assert ended["plan_id"] == "face-e2e-2" and ended["alerts"]["critical"] == 1, ended
            assert ended["summary"]["compliance"]["depth_above_max"] == {"ok": False, "alerts": 1}, ended
            assert 0 < ended["summary"]["records"] <= len(rig.telemetry(serial, session_id)), ended["summary"]
            wait_state(rig, serial, "the assignment consumed", lambda s: s.get("plan_assigned") is None)
        finally:
            req.close()


TESTS = {
    "scenario": test_scenario,
    "restart": test_restart,
    "limits": test_limits,
    "midsession-restart": test_midsession_restart,
}

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in TESTS:
        sys.exit("usage: test-plans.py %s" % "|".join(TESTS))
    def too_long(signum, frame):
        raise TimeoutError("test-plans.py %s: still running after 110 s" % name)
    # meson's timeout is 120 s: fail with a traceback (and the rig's clean-up) before it kills us
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(110)
    TESTS[name]()
    print("ok: %s" % name)
