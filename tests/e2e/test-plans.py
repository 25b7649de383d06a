#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests of plans: assigned over MQTT, checked live against a simulated pen, the alerts
and the session summary on the broker, number by number. Run one: test-plans.py NAME (meson does).

needle-pensim on a private bus, a real Mosquitto, the real needlegated (tests/harness)."""

import copy
import json
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness.payloads import events, parse_time, telemetry, wait_connected, wait_session_event  # noqa: E402

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


def request(h, req, command, payload, transaction):
    """payload: a dict (transaction added) or raw bytes, sent by the requester @req; returns the one
    response with this transaction that the subscriber saw."""
    if isinstance(payload, dict):
        payload = dict(payload, transaction=transaction)
    before = len(h.sub.on("bridge/response/" + command))
    req.request(command, payload)

    def answered():
        got = h.sub.on("bridge/response/" + command)[before:]
        return [r for r in got if r.get("transaction") == transaction]
    got = nh.wait_until(answered, 10, "the response to %s %r" % (command, transaction), interval=0.05)
    assert len(got) == 1, got
    return got[0]


def plans_harness(features=NO_ENFORCEMENT, pens=1):
    """Hub "e2e", one pen with @features, the subscriber, the daemon at -vv."""
    return nh.Harness(pens=pens, unpaired=0, pensim_args=["--manual", "--rate", "50"],
                      scenario_text="[pen 1]\n" + features, persistent_broker=True, subscribe=True, daemon=True,
                      hub="e2e", daemon_args=["-vv"])


def state(h, serial):
    return h.sub.last("pens/%s/state" % serial) or {}


def wait_state(h, serial, what, predicate, timeout=10):
    return nh.wait_until(lambda: predicate(state(h, serial)), timeout, what, interval=0.05)


def assign_ok(h, req, serial, plan, transaction):
    resp = request(h, req, "plan/assign", {"pen": serial, "plan": plan}, transaction)
    assert resp == {"status": "ok", "data": {"pen": serial, "plan_id": plan["plan_id"]}, "error": None,
                    "transaction": transaction}, resp
    return resp


def start_session(h, serial, area, depth, cartridge, needles, earlier_uses):
    """The pen in @area at @depth mm with a cartridge, then a session: its id."""
    pen = h.pen(serial)
    pen.call("SetArea", "(s)", area)
    pen.call("SetDepth", "(d)", depth)
    pen.call("InsertCartridge", "(uyq)", cartridge, needles, earlier_uses)
    return pen.call("StartSession")[0]


def alerts_of(h, serial, session_id):
    return [a for a in h.sub.on("pens/%s/alert" % serial) if a["session"] == session_id]


def expected_summary(records, plan):
    """The summary the gateway must publish, recomputed from the records on the broker."""
    areas = {}
    prev = None
    for r in sorted(records, key=lambda r: r["seq"]):
        a = areas.setdefault(r["area"], {"records": 0, "active": 0, "within": 0, "time_ms": 0, "max": 0,
                                         "depth": 0, "speed": 0})
        depth = round(r["depth_mm"] * 100)
        speed = round(r["speed_hz"] * 10)
        active = r["motor"] and r["contact"]
        # needling time: consecutive active records by seq, the offset difference capped at 1 s,
        # counted in the later record's area
        if active and prev is not None and prev["motor"] and prev["contact"] and r["offset_ms"] > prev["offset_ms"]:
            a["time_ms"] += min(r["offset_ms"] - prev["offset_ms"], 1000)
        prev = r
        a["records"] += 1
        if not active:
            continue
        a["active"] += 1
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
    with plans_harness() as h:
        req = h.mqtt_client(client_id="e2e-requester-%d" % os.getpid())
        try:
            serial = h.bonded_and_unbonded()[0][0]
            wait_connected(h.sub, [serial])
            assert state(h, serial)["plan"] is None, state(h, serial)

            assign_ok(h, req, serial, PLAN, "t-1")
            wait_state(h, serial, "the state naming the plan",
                       lambda s: s.get("plan") == "face-e2e-2" and s.get("plan_assigned") == "face-e2e-2")

            bad = copy.deepcopy(PLAN)
            bad["plan_id"] = "face-e2e-bad"
            bad["areas"]["forehead"]["depth_mm"]["max"] = 3.5
            resp = request(h, req, "plan/assign", {"pen": serial, "plan": bad}, 2.5)
            assert resp["status"] == "error" and resp["data"] is None and resp["transaction"] == 2.5, resp
            assert resp["error"]["code"] == "invalid_plan", resp
            assert resp["error"]["message"].startswith("$.areas.forehead.depth_mm.max: 3.5"), resp
            resp = request(h, req, "plan/assign", {"pen": serial}, "t-3")
            assert resp["status"] == "error" and resp["error"]["code"] == "invalid_args", resp
            assert resp["error"]["message"] == "plan: missing (required)", resp
            req.request("plan/assign", b"{not json")
            nh.wait_until(lambda: any(
                r["status"] == "error" and r["transaction"] is None and r["error"]["code"] == "invalid_args"
                for r in h.sub.on("bridge/response/plan/assign")), 10,
                "the answer to a request that is not JSON", interval=0.05)
            time.sleep(0.3)
            assert state(h, serial)["plan"] == "face-e2e-2", state(h, serial)

            session_id = start_session(h, serial, "forehead", 0.4, 0xC0FFEE, 12, 1)  # used once before
            time.sleep(1.5)
            h.pen(serial).call("SetDepth", "(d)", 0.9)  # too deep for the forehead
            time.sleep(1.5)
            h.pen(serial).call("SetDepth", "(d)", 0.4)
            time.sleep(1.0)
            h.pen(serial).call("SetArea", "(s)", "neck")  # not in the plan
            time.sleep(1.5)
            h.pen(serial).call("SetArea", "(s)", "forehead")
            time.sleep(1.0)
            h.pen(serial).call("StopSession", "(s)", "stopped")

            started = wait_session_event(h.sub, serial, session_id, "started")
            ended = wait_session_event(h.sub, serial, session_id, "ended")
            assert started["plan_id"] == "face-e2e-2" and ended["plan_id"] == "face-e2e-2", (started, ended)
            assert started["cartridge"] == {"id": 0xC0FFEE, "needles": 12, "use_count": 2}, started
            nh.wait_until(lambda: len(alerts_of(h, serial, session_id)) >= 6, 5, "the six alerts", interval=0.05)
            time.sleep(0.5)
            alerts = alerts_of(h, serial, session_id)
            assert alert_digest(alerts) == [
                ("cartridge_reused", "raised", 1, "critical", "forehead"),
                ("depth_above_max", "raised", 2, "critical", "forehead"),
                ("depth_above_max", "cleared", 2, "critical", "forehead"),
                ("area_not_in_plan", "raised", 3, "critical", "neck"),
                ("area_not_in_plan", "cleared", 3, "critical", "neck"),
                ("cartridge_reused", "cleared", 1, "critical", "forehead"),
            ], alerts
            records = telemetry(h.sub, serial, session_id)
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
            wait_state(h, serial, "the assignment consumed",
                       lambda s: s.get("plan") is None and s.get("plan_assigned") is None)
            # the journal has the session, its summary and alerts
            db = sqlite3.connect("file:%s/needlegate.db?mode=ro" % h.state_dir, uri=True)
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
    with plans_harness() as h:
        req = h.mqtt_client(client_id="e2e-requester-%d" % os.getpid())
        try:
            serial = h.bonded_and_unbonded()[0][0]
            wait_connected(h.sub, [serial])
            assign_ok(h, req, serial, PLAN, "a-1")
            resp = request(h, req, "plan/clear", {"pen": serial}, "c-1")
            assert resp == {"status": "ok", "data": {"pen": serial, "plan_id": "face-e2e-2"}, "error": None,
                            "transaction": "c-1"}, resp
            wait_state(h, serial, "the plan cleared", lambda s: s.get("plan_assigned") is None)
            neck = copy.deepcopy(PLAN)
            neck["plan_id"] = "neck-e2e-1"
            neck["areas"] = {"neck": {"depth_mm": {"min": 0.2, "max": 0.6}, "speed_hz": {"min": 80, "max": 150},
                                      "max_time_s": 300}}
            assign_ok(h, req, serial, neck, "a-2")
            wait_state(h, serial, "the plan assigned", lambda s: s.get("plan_assigned") == "neck-e2e-1")

            assert h.stop_daemon() == 0
            seen = len(h.sub.on("pens/%s/state" % serial))
            h.start_daemon()
            nh.wait_until(lambda: "have a plan assigned" in h.log_text("needlegated"), 15,
                          "the restarted daemon's log", interval=0.05)
            # the restarted daemon's own word, not the state retained from before
            nh.wait_until(lambda: any(
                m["connected"] for m in h.sub.on("pens/%s/state" % serial)[seen:]), 20,
                "the pen connected again", interval=0.05)

            first = start_session(h, serial, "neck", 0.4, 0xA11CE, 12, 0)
            time.sleep(1.5)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            started = wait_session_event(h.sub, serial, first, "started")
            ended = wait_session_event(h.sub, serial, first, "ended")
            assert started["plan_id"] == "neck-e2e-1" and ended["plan_id"] == "neck-e2e-1", (started, ended)
            time.sleep(0.5)
            assert alerts_of(h, serial, first) == [], alerts_of(h, serial, first)
            check_summary(ended, telemetry(h.sub, serial, first), neck, {"critical": 0, "warning": 0, "info": 0}, {})
            assert ended["summary"]["areas"]["neck"]["within_plan"] == 1.0, ended
            wait_state(h, serial, "the assignment consumed", lambda s: s.get("plan_assigned") is None)

            # the next session has no plan
            h.pen(serial).call("InsertCartridge", "(uyq)", 0xB0B, 36, 0)
            second = h.pen(serial).call("StartSession")[0]
            time.sleep(1.0)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            started = wait_session_event(h.sub, serial, second, "started")
            ended = wait_session_event(h.sub, serial, second, "ended")
            assert started["plan_id"] is None and ended["plan_id"] is None, (started, ended)
            alerts = nh.wait_until(lambda: alerts_of(h, serial, second), 15, "the no_plan alert", interval=0.05)
            time.sleep(0.5)
            alerts = alerts_of(h, serial, second)
            assert alert_digest(alerts) == [("no_plan", "raised", 1, "warning", "neck"),
                                            ("no_plan", "cleared", 1, "warning", "neck")], alerts
            assert alerts[0]["measured"] is None and alerts[0]["limit"] is None, alerts[0]
            assert alerts[0]["seq"] == started["seq"], alerts[0]
            check_summary(ended, telemetry(h.sub, serial, second), None, {"critical": 0, "warning": 1, "info": 0},
                          {"no_plan": 1})

            # the same patient again, minutes after the first session: too soon for a 28-day interval
            assign_ok(h, req, serial, PLAN, "a-3")
            h.pen(serial).call("SetArea", "(s)", "forehead")
            h.pen(serial).call("InsertCartridge", "(uyq)", 0xCAFE, 36, 0)
            third = h.pen(serial).call("StartSession")[0]
            time.sleep(1.0)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            ended = wait_session_event(h.sub, serial, third, "ended")
            time.sleep(0.5)
            alerts = alerts_of(h, serial, third)
            assert alert_digest(alerts) == [("session_too_soon", "raised", 1, "warning", "forehead"),
                                            ("session_too_soon", "cleared", 1, "warning", "forehead")], alerts
            assert (alerts[0]["measured"], alerts[0]["limit"], alerts[0]["unit"]) == (0.0, 28, "days"), alerts[0]
            check_summary(ended, telemetry(h.sub, serial, third), PLAN, {"critical": 0, "warning": 1, "info": 0},
                          {"session_too_soon": 1})
        finally:
            req.close()


def test_limits():
    """A pen that enforces limits gets the plan's limits for its area at session start and on every
    area change (Clear Limits for an area the plan leaves out), and applies exactly those."""
    with plans_harness(features="") as h:
        req = h.mqtt_client(client_id="e2e-requester-%d" % os.getpid())
        try:
            serial = h.bonded_and_unbonded()[0][0]
            wait_connected(h.sub, [serial])
            assign_ok(h, req, serial, PLAN, "l-1")
            session_id = start_session(h, serial, "forehead", 0.5, 0xF00D, 12, 0)

            def applied():
                return [e["limits"] for e in events(h.sub, serial, session_id) if e["event"] == "limits_applied"]
            nh.wait_until(lambda: len(applied()) >= 1, 5, "the forehead's limits applied", interval=0.05)
            h.pen(serial).call("SetDepth", "(d)", 0.9)  # deeper than the plan allows there: the pen holds
            assert applied()[0] == {"max_depth_mm": 0.6, "min_speed_hz": 80.0, "max_speed_hz": 150.0}, applied()
            assert h.pen(serial).prop("LimitsActive") is True
            wait_state(h, serial, "the state's limits", lambda s: s.get("limits") == applied()[0])
            time.sleep(1.0)
            h.pen(serial).call("SetArea", "(s)", "cheeks")
            nh.wait_until(lambda: len(applied()) >= 2, 5, "the cheeks' limits applied", interval=0.05)
            assert applied()[1] == {"max_depth_mm": 1.2, "min_speed_hz": 80.0, "max_speed_hz": 150.0}, applied()
            time.sleep(0.5)
            h.pen(serial).call("SetArea", "(s)", "neck")
            nh.wait_until(lambda: len(applied()) >= 3, 5, "the limits cleared", interval=0.05)
            assert applied()[2] == {"max_depth_mm": None, "min_speed_hz": None, "max_speed_hz": None}, applied()
            assert h.pen(serial).prop("LimitsActive") is False
            wait_state(h, serial, "the state without limits", lambda s: s.get("limits") is None)
            time.sleep(0.5)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            ended = wait_session_event(h.sub, serial, session_id, "ended")
            records = telemetry(h.sub, serial, session_id)
            # the pen held the forehead at 0.6 mm once it had the limits: no excursion lasted
            settled = [r for r in records if r["area"] == "forehead" and r["offset_ms"] >= 500]
            assert settled and max(r["depth_mm"] for r in settled) <= 0.6, settled[-3:]
            assert state(h, serial)["limits_mismatches"] == 0, state(h, serial)
            assert "other than those sent" not in h.log_text("needlegated")
            rules = [a["rule"] for a in alerts_of(h, serial, session_id) if a["state"] == "raised"]
            assert rules == ["area_not_in_plan"], alerts_of(h, serial, session_id)
            assert ended["alerts"] == {"critical": 1, "warning": 0, "info": 0}, ended["alerts"]
        finally:
            req.close()


def test_midsession_restart():
    """The gateway killed in the middle of a session and restarted: it never sees that session's start
    event, yet checks the rest of it against the assigned plan and closes it with a summary."""
    with plans_harness() as h:
        req = h.mqtt_client(client_id="e2e-requester-%d" % os.getpid())
        try:
            serial = h.bonded_and_unbonded()[0][0]
            wait_connected(h.sub, [serial])
            assign_ok(h, req, serial, PLAN, "m-1")
            session_id = start_session(h, serial, "forehead", 0.4, 0xD00D, 12, 0)
            wait_session_event(h.sub, serial, session_id, "started")
            time.sleep(0.5)
            assert h.stop_daemon(signal.SIGKILL) == -signal.SIGKILL
            seen = len(h.sub.on("pens/%s/state" % serial))
            h.start_daemon()
            nh.wait_until(lambda: any(
                m["connected"] for m in h.sub.on("pens/%s/state" % serial)[seen:]), 20,
                "the pen connected again", interval=0.05)
            nh.wait_until(lambda: "start event was not seen" in h.log_text("needlegated"), 15,
                          "the session checked again", interval=0.05)
            h.pen(serial).call("SetDepth", "(d)", 0.9)
            time.sleep(1.0)
            h.pen(serial).call("SetDepth", "(d)", 0.4)
            time.sleep(0.5)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            ended = wait_session_event(h.sub, serial, session_id, "ended")
            time.sleep(0.5)
            alerts = alerts_of(h, serial, session_id)
            assert alert_digest(alerts) == [("depth_above_max", "raised", 1, "critical", "forehead"),
                                            ("depth_above_max", "cleared", 1, "critical", "forehead")], alerts
            assert ended["plan_id"] == "face-e2e-2" and ended["alerts"]["critical"] == 1, ended
            assert ended["summary"]["compliance"]["depth_above_max"] == {"ok": False, "alerts": 1}, ended
            assert 0 < ended["summary"]["records"] <= len(telemetry(h.sub, serial, session_id)), ended["summary"]
            wait_state(h, serial, "the assignment consumed", lambda s: s.get("plan_assigned") is None)
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
    # meson's timeout is 120 s: fail with a traceback (and the harness's clean-up) before it kills us
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(110)
    TESTS[name]()
    print("ok: %s" % name)
