#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reference dashboard in a real headless browser: two simulated pens, Mosquitto serving the
built dashboard on its WebSockets listener (http_dir), the real needlegated; browser-test.cjs
(playwright-core driving Debian's chromium) looks at the page as a person would and asks this
script, one line at a time, to act on the pens and the broker.

The protocol: the browser script prints "harness: COMMAND ARGS..." on its stdout; this script does
it and answers one JSON line on the browser script's stdin, {"ok": true, "result": ...} or
{"ok": false, "error": "..."}. Every other line is the browser script's log. Its exit status is the
verdict.

Environment (tests/dashboard/meson.build): DASHBOARD_DIR (the built dashboard), NODE, CHROMIUM,
PLAYWRIGHT_MODULES (a node_modules holding playwright-core), DASHBOARD_LOG_DIR (screenshots)."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness.payloads import telemetry, wait_connected, wait_session_event  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PENS = ["NP5EED0001", "NP5EED0002"]
TIMEOUT_S = 240  # the whole browser script
PLAN = {
    "plan_id": "dash-face-1",
    "patient_ref": "P-DASH-0001",
    "course": {"session_number": 1, "sessions_total": 4, "min_interval_days": 28},
    "allowed_needles": [12, 36],
    "areas": {
        "forehead": {"depth_mm": {"min": 0.2, "max": 0.6}, "speed_hz": {"min": 80, "max": 150}, "max_time_s": 300},
        "cheeks": {"depth_mm": {"min": 0.5, "max": 1.2}, "speed_hz": {"min": 80, "max": 150}, "max_time_s": 600},
    },
    "max_session_s": 3600,
    "aftercare": {"no_shaving": 12},
}
# The first pen enforces no limits, so that its depth can go beyond the plan's (as a pen whose
# enforcement failed): the rules must still catch it.
SCENARIO = "[pen 1]\nfeatures=e2e_crc;pressure;area_selector;stored_records\n"


class Commands:
    """What the browser script may ask for."""

    def __init__(self, h):
        self.h = h
        self.sessions = {}
        self.changed = None  # when the last set-depth was done (time.monotonic())

    def start_session(self, serial, area, depth):
        pen = self.h.pen(serial)
        pen.call("SetArea", "(s)", area)
        pen.call("SetDepth", "(d)", float(depth))
        pen.call("InsertCartridge", "(uyq)", 0xDA5B0000 + PENS.index(serial) + len(self.sessions), 12, 0)
        session = pen.call("StartSession")[0]
        self.sessions[serial] = session
        wait_session_event(self.h.sub, serial, session, "started")
        return session

    def set_depth(self, serial, depth):
        self.h.pen(serial).call("SetDepth", "(d)", float(depth))
        self.changed = time.monotonic()
        return time.time() * 1000  # for the browser script, whose clock is the wall clock

    def set_depth_in_contact(self, serial, depth):
        """set-depth at the start of a pass over the skin: the pen lifts for 600 ms every 4 s (its
        offset_ms modulo 4000 from 3400 on), and a lifted needle breaks no rule. So the violation
        begins with the call."""
        def early_in_pass():
            recs = telemetry(self.h.sub, serial, self.sessions[serial])
            return recs and recs[-1]["contact"] and recs[-1]["offset_ms"] % 4000 < 1500
        nh.wait_until(early_in_pass, 10, "%s early in a pass over the skin" % serial, interval=0.01)
        return self.set_depth(serial, depth)

    def alert_latency(self, serial, rule):
        """ms from the last set-depth to the first raised @rule alert on the broker (self.sub)."""
        def seen():
            return next((m for m in self.h.sub.messages() if m.topic.endswith("/%s/alert" % serial)
                         and isinstance(m.data, dict) and m.data.get("rule") == rule), None)
        msg = nh.wait_until(seen, 5, "a %s alert of %s on the broker" % (rule, serial), interval=0.02)
        return round((msg.t / 1e9 - self.changed) * 1000)

    def stop_session(self, serial):
        self.h.pen(serial).call("StopSession", "(s)", "stopped")
        return wait_session_event(self.h.sub, serial, self.sessions[serial], "ended")

    def stop_broker(self):
        self.h.stop_mosquitto()

    def start_broker(self):
        self.h.start_mosquitto()  # the same ports again
        wait_connected(self.h.sub, PENS)

    def run(self, line):
        name, *args = line.split()
        fn = getattr(self, name.replace("-", "_"), None)
        if fn is None or name.startswith("_") or name == "run":
            raise nh.HarnessError("unknown command %r" % name)
        return fn(*args)


def reader(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def drive(h, browser):
    """Answers the browser script's commands until it exits; returns its exit status."""
    commands = Commands(h)
    lines = queue.Queue()
    threading.Thread(target=reader, args=(browser.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        nh.pump(0)  # D-Bus signals
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            continue
        if line is None:
            return browser.wait(timeout=30)
        print(line, flush=True)
        if not line.startswith("harness: "):
            continue
        try:
            answer = {"ok": True, "result": commands.run(line[len("harness: "):])}
        except (AssertionError, OSError, ValueError, TypeError) as e:  # HarnessError is an AssertionError
            answer = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        nh.log("%s -> %s" % (line, json.dumps(answer)[:200]))
        browser.stdin.write(json.dumps(answer) + "\n")
        browser.stdin.flush()
    raise nh.HarnessError("the browser script did not finish within %d s" % TIMEOUT_S)


def main():
    dashboard = os.environ["DASHBOARD_DIR"]
    log_dir = os.environ.get("DASHBOARD_LOG_DIR") or os.getcwd()
    os.makedirs(log_dir, exist_ok=True)
    for name in ("index.html", "app.js", "app.css"):
        assert os.path.isfile(os.path.join(dashboard, name)), "the dashboard is not built: no %s in %s" % (
            name, dashboard)
    start = time.monotonic()
    with nh.Harness(pens=len(PENS), pensim_args=["--manual", "--rate", "50"], scenario_text=SCENARIO,
                    persistent_broker=True, mosquitto_ws_dir=dashboard, subscribe=True, daemon=True,
                    hub="dash") as h:
        wait_connected(h.sub, PENS)
        bad = json.loads(json.dumps(PLAN))
        bad["plan_id"] = "dash-face-bad"
        bad["areas"]["forehead"]["depth_mm"]["max"] = 3.5
        env = dict(os.environ, DASHBOARD_URL="http://127.0.0.1:%d/" % h.mqtt_ws_port, PENS=" ".join(PENS),
                   PLAN_FILE=h.write("dash-face-1.json", json.dumps(PLAN)),
                   BAD_PLAN_FILE=h.write("dash-face-bad.json", json.dumps(bad)), DASHBOARD_LOG_DIR=log_dir)
        browser = subprocess.Popen([os.environ.get("NODE", "node"), os.path.join(HERE, "browser-test.cjs")],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env, start_new_session=True)
        try:
            status = drive(h, browser)
        finally:
            if browser.poll() is None:
                os.killpg(browser.pid, signal.SIGKILL)  # chromium and all: its group
                browser.wait(10)
        if status != 0:
            raise AssertionError("the browser test failed (exit status %d); its log is above" % status)
    nh.log("passed in %.1f s; screenshots in %s" % (time.monotonic() - start, log_dir))


if __name__ == "__main__":
    main()
