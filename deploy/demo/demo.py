#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The needlegate demo: simulated pens, a local broker, the gateway, and a live view of the broker."""

import argparse
import json
import os
import signal
import sys
import threading
import time

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
        self.lock = threading.Lock()
        self.pens = {}
        self.log = []
        self.counts = {"telemetry": 0, "alert": 0, "session": 0}
        self.bridge = "?"

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
            for rec in p if isinstance(p, list) else [p]:
                self.counts["telemetry"] += 1
                pen["records"] += 1
                pen["depth"], pen["speed"] = rec.get("depth_mm"), rec.get("speed_hz")
                pen["area"] = rec.get("area", pen["area"])
                pen["session"] = rec.get("session", pen["session"])
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
                    f"alerts {self.counts['alert']}   (Ctrl-C stops)", "",
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build-demo", help="meson build directory")
    parser.add_argument("--pens", type=int, default=3, help="simulated pens (default 3)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every pen was connected and sent telemetry (for the tests)")
    args = parser.parse_args()
    # Ctrl-C and a plain kill both stop everything the demo started (the harness tears down).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    build = os.path.abspath(args.build)
    os.environ.setdefault("NEEDLE_PENSIM", os.path.join(build, "pensim", "needle-pensim"))
    os.environ.setdefault("NEEDLEGATED", os.path.join(build, "gateway", "needlegated"))

    with Harness(pens=args.pens, daemon=True, hub=HUB, daemon_args=["--verbose"]) as h:
        daemon = h.daemon
        view = View()
        client = MqttClient(h.mqtt_port, topics=[BASE + "/#"], base=BASE, client_id="needlegate-demo-view",
                            on_message=view.on_message, keep=False)
        assigned = False
        start = time.monotonic()
        try:
            while not args.seconds or time.monotonic() - start < args.seconds:
                if not daemon.running():
                    raise SystemExit("needlegated stopped:\n" + daemon.output()[-3000:])
                if not assigned and "NP5EED0001" in view.pens and os.path.exists(PLAN):
                    # The face course for the first pen's next session, as a dashboard would send it.
                    client.request("plan/assign", {"pen": "NP5EED0001", "plan": json.load(open(PLAN)),
                                                   "transaction": "demo-1"})
                    assigned = True
                sys.stdout.write(view.render(time.monotonic() - start))
                sys.stdout.flush()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            client.close()
        print(f"\nstopping: needlegated, needle-pensim, mosquitto and the private bus (logs were in {h.dir})")
        if args.check:
            return check(view, args.pens)
    return 0


def check(view, n_pens):
    missing = [f"NP5EED{i:04d}" for i in range(1, n_pens + 1)
               if view.pens.get(f"NP5EED{i:04d}", {}).get("records", 0) == 0]
    if view.bridge != "online" or missing:
        print(f"demo check failed: bridge {view.bridge}, pens without telemetry: {missing}")
        return 1
    print(f"demo check passed: {n_pens} pens sent telemetry through the gateway")
    return 0


if __name__ == "__main__":
    sys.exit(main())
