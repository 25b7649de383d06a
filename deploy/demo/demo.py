#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The needlegate demo: simulated pens, a local broker, the gateway, and a live view of the broker."""

import argparse
import glob
import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])  # deploy/demo.sh and meson test set it

from needleharness import Harness, MqttClient  # noqa: E402

HUB = "demo"
BASE = "needlegate/" + HUB
PLAN = os.path.join(SOURCE, "deploy", "plans", "face-course.json")


class View:
    """What the broker said, per pen, as a dashboard would keep it."""

    def __init__(self):
        self.header = []  # lines under the title: where the broker and the dashboard are
        self.lock = threading.Lock()
        self.pens = {}
        self.log = []
        self.counts = {"telemetry": 0, "alert": 0, "session": 0}
        self.bridge = "?"
        self.dashboard_served = None  # --check: whether the broker served the dashboard's files

    def pen(self, serial):
        return self.pens.setdefault(serial, {"link": "?", "session": "-", "area": "-", "depth": None,
                                             "speed": None, "records": 0, "battery": None, "alert": "",
                                             "plan": "-"})

    def on_message(self, msg):
        payload = msg.data if msg.payload else {}
        if not isinstance(payload, (dict, list)):
            payload = {}
        parts = msg.topic[len(BASE) + 1:].split("/")
        with self.lock:
            if parts == ["bridge", "state"]:
                self.bridge = payload.get("state", "?")
            elif parts[:2] == ["bridge", "response"]:
                self.note(f"response to {'/'.join(parts[2:])}: {payload.get('status')} "
                          f"{payload.get('error') or ''}")
            elif parts[0] == "pens" and len(parts) == 3:
                self.on_pen(parts[1], parts[2], payload)

    def on_pen(self, serial, kind, p):
        pen = self.pen(serial)
        if kind == "telemetry":
            # a batch (the default) names the session once; telemetry_batch=record sends records alone
            for rec in p.get("records") or [p]:
                self.counts["telemetry"] += 1
                pen["records"] += 1
                pen["depth"], pen["speed"] = rec.get("depth_mm"), rec.get("speed_hz")
                pen["area"] = rec.get("area", pen["area"])
            pen["session"] = p.get("session", pen["session"])
        elif kind == "state":
            pen["link"] = "connected" if p.get("connected") else "away"
            pen["battery"] = p.get("battery")
            plan = p.get("plan")
            pen["plan"] = (plan.get("plan_id") if isinstance(plan, dict) else plan) or "-"
        elif kind == "session":
            self.counts["session"] += 1
            event = p.get("event")
            if event == "ended":
                pen["session"] = "-"
                self.note(f"{serial}: session {p.get('session')} ended after {p.get('duration_s')} s, "
                          f"alerts {json.dumps(p.get('alerts'))}")
            else:
                pen["session"] = p.get("session")
                self.note(f"{serial}: session {p.get('session')} started, area {p.get('area')}, "
                          f"cartridge {json.dumps(p.get('cartridge'))}, plan {p.get('plan_id') or '-'}")
        elif kind == "alert":
            self.counts["alert"] += 1
            text = f"{p.get('severity', '?').upper()} {p.get('rule')} {p.get('state', '')}".strip()
            pen["alert"] = text
            self.note(f"{serial}: {text}: {p.get('message', '')}")

    def note(self, line):
        self.log.append(time.strftime("%H:%M:%S ") + line)
        del self.log[:-10]

    def render(self, elapsed):
        with self.lock:
            rows = [f"needlegate demo  hub '{HUB}'  bridge {self.bridge}  {elapsed:5.0f} s  "
                    f"telemetry {self.counts['telemetry']}  sessions {self.counts['session']}  "
                    f"alerts {self.counts['alert']}   (Ctrl-C stops)"] + self.header + ["",
                    f"{'pen':<12} {'link':<10} {'session':>7} {'area':<13} {'depth mm':>8} {'speed Hz':>8} "
                    f"{'records':>8} {'batt':>4}  {'plan':<20} last alert"]
            for serial in sorted(self.pens):
                p = self.pens[serial]
                depth = f"{p['depth']:.2f}" if isinstance(p["depth"], (int, float)) else "-"
                speed = f"{p['speed']:.1f}" if isinstance(p["speed"], (int, float)) else "-"
                rows.append(f"{serial:<12} {p['link']:<10} {str(p['session']):>7} {str(p['area']):<13} "
                            f"{depth:>8} {speed:>8} {p['records']:>8} {str(p['battery'] or '-'):>4}  "
                            f"{str(p['plan']):<20} {p['alert']}")
            rows += ["", "latest events:"] + ["  " + line for line in self.log]
        return "\x1b[H\x1b[2J" + "\n".join(rows) + "\n"


class Stopper:
    """INT, TERM and HUP stop the demo once: the first one raises KeyboardInterrupt in the main loop;
    from the moment the teardown starts (disarm), no signal interrupts it, so that everything the
    demo started is stopped (HUP: the terminal or the SSH link is gone; TERM: kill; INT: Ctrl-C)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self):
        self.armed = True
        self.received = None
        for sig in self.SIGNALS:
            signal.signal(sig, self.handler)
        # Python ignores SIGPIPE already: a write to a closed pipe raises, and Output handles it.

    def handler(self, signum, frame):
        if self.received is None:
            self.received = signal.Signals(signum).name
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def disarm(self):
        self.armed = False


class Output:
    """The live view's output. When it cannot be written any more (the pipe it goes into closed,
    the terminal hung up), the demo stops, and later writes go nowhere instead of failing."""

    def __init__(self):
        self.gone = False

    def write(self, text, stream=None):
        stream = stream or sys.stdout
        if self.gone and stream is sys.stdout:
            return False
        try:
            stream.write(text)
            stream.flush()
            return True
        except (OSError, ValueError):
            if stream is sys.stdout:
                self.gone = True
            # What is still buffered, and what comes later, goes to /dev/null instead (no error at exit).
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
            return False

    def last_line(self, text):
        """On stdout, else on stderr, else nowhere."""
        if not self.write(text + "\n"):
            self.write(text + "\n", sys.stderr)


STOPPER = None


class DemoHarness(Harness):
    def close(self):
        STOPPER.disarm()  # the teardown is never cut short by a signal
        return super().close()


def keep_logs(harness, logs):
    """Moves the children's logs (and the daemon's configuration) to the folder @logs, replacing an
    earlier run's, and removes the harness's folder; returns @logs, or None."""
    if not harness.dir or not os.path.isdir(harness.dir):
        return None
    try:
        os.makedirs(logs, exist_ok=True)
        for old in glob.glob(os.path.join(logs, "*.log")) + glob.glob(os.path.join(logs, "needlegated.conf")):
            os.unlink(old)
        for path in glob.glob(os.path.join(harness.dir, "*.log")) + glob.glob(os.path.join(harness.dir, "needlegated.conf")):
            shutil.move(path, logs)
    except OSError:
        logs = None
    shutil.rmtree(harness.dir, ignore_errors=True)
    return logs


def main():
    global STOPPER
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build-demo", help="meson build directory")
    parser.add_argument("--pens", type=int, default=3, help="simulated pens (default 3)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--logs", help="where to keep the logs at the end (default: BUILD/demo-logs, "
                        "replaced at each run)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every pen was connected and sent telemetry (for the tests)")
    args = parser.parse_args()
    STOPPER = Stopper()
    out = Output()
    build = os.path.abspath(args.build)
    os.environ.setdefault("NEEDLE_PENSIM", os.path.join(build, "pensim", "needle-pensim"))
    os.environ.setdefault("NEEDLEGATED", os.path.join(build, "gateway", "needlegated"))

    # The dashboard, when this build made it (meson option dashboard: node and npm found), served by
    # the demo's Mosquitto on a WebSockets listener, as the hub's Mosquitto serves it (hub.conf).
    dashboard = os.path.join(build, "deploy", "dashboard")
    if not os.path.isfile(os.path.join(dashboard, "index.html")):
        dashboard = None
    harness = DemoHarness(pens=args.pens, daemon=True, hub=HUB, daemon_args=["--verbose"], keep_dir=True,
                          mosquitto_ws_dir=dashboard)
    view = View()
    status = 0
    why = "the end"
    try:
        with harness as h:
            client = None
            try:
                view.header = [f"Broker: mqtt://127.0.0.1:{h.mqtt_port}  (mosquitto_sub -p {h.mqtt_port} -t "
                               f"'{BASE}/#' -v)"]
                if dashboard:
                    view.header.append(f"Dashboard: http://127.0.0.1:{h.mqtt_ws_port}/?hub={HUB}  "
                                       f"(MQTT over WebSockets on port {h.mqtt_ws_port})")
                else:
                    view.header.append("Dashboard: not built (it needs node and npm: meson setup -Ddashboard=enabled)")
                daemon = h.daemon
                client = MqttClient(h.mqtt_port, topics=[BASE + "/#"], base=BASE,
                                    client_id="needlegate-demo-view", on_message=view.on_message, keep=False)
                assigned = False
                start = time.monotonic()
                while not args.seconds or time.monotonic() - start < args.seconds:
                    if not daemon.running():
                        raise SystemExit("needlegated stopped:\n" + daemon.output()[-3000:])
                    if not assigned and "NP5EED0001" in view.pens and os.path.exists(PLAN):
                        # The face course for the first pen's next session, as a dashboard would send it.
                        client.request("plan/assign", {"pen": "NP5EED0001", "plan": json.load(open(PLAN)),
                                                       "transaction": "demo-1"})
                        assigned = True
                    if not out.write(view.render(time.monotonic() - start)):
                        why = "its output closed"
                        break
                    time.sleep(0.5)
                if args.check and dashboard:
                    view.dashboard_served = dashboard_served(h.mqtt_ws_port)
            except KeyboardInterrupt:
                why = STOPPER.received or "Ctrl-C"
            finally:
                STOPPER.disarm()
                out.write("\nstopping needlegated, needle-pensim, mosquitto and the private bus ...\n")
                if client is not None:
                    client.close()
        if args.check:
            status = check(view, args.pens, out)
    except KeyboardInterrupt:  # while starting
        why = STOPPER.received or "Ctrl-C"
        status = 130
    finally:
        STOPPER.disarm()
        logs = keep_logs(harness, os.path.abspath(args.logs or os.path.join(build, "demo-logs")))
        out.last_line(f"demo stopped ({why}): needlegated, needle-pensim, mosquitto and the private bus "
                      f"are stopped" + (f"; their logs are in {logs}" if logs else ""))
    return status

def dashboard_served(port):
    """Whether the demo's broker serves the dashboard's page and script on its WebSockets port."""
    try:
        for name in ("", "app.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}", timeout=5) as r:
                if r.status != 200 or not r.read():
                    return False
        return True
    except OSError:
        return False


def check(view, n_pens, out):
    missing = [f"NP5EED{i:04d}" for i in range(1, n_pens + 1)
               if view.pens.get(f"NP5EED{i:04d}", {}).get("records", 0) == 0]
    if view.bridge != "online" or missing or view.dashboard_served is False:
        out.last_line(f"demo check failed: bridge {view.bridge}, pens without telemetry: {missing}, "
                      f"dashboard served: {view.dashboard_served}")
        return 1
    served = ", the dashboard served" if view.dashboard_served else ""
    out.last_line(f"demo check passed: {n_pens} pens sent telemetry through the gateway{served}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
