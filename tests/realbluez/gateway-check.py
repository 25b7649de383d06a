#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The technician's path and a session through needlegated on real bluetoothd, checked on the broker.

needlectl scan finds the pen, needlectl pair (on a pseudo-terminal, as a person types) gets the
passkey the pen displays once pairing has begun; the gateway connects and subscribes with
AcquireNotify; the pen runs a session, drops the link mid-session, and the records it made meanwhile
come back through Report Stored Records (replayed). Asserts on the MQTT messages: every record of the
session once, the live ones in order, the replayed ones flagged, the session summary.
"""

import argparse
import faulthandler
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness.mqtt import MqttClient  # noqa: E402
from needleharness.payloads import telemetry  # noqa: E402

T0 = time.monotonic()


def log(msg):
    print(f"gateway-check [{time.monotonic() - T0:6.2f} s]: {msg}", flush=True)


class StepFailed(Exception):
    pass


GATEWAY_LOG = None


def bluetoothd_gone():
    """needlegated saw bluetoothd leave the bus: nothing will come back, fail at once (run-guest.sh
    then tells a bluetoothd crash from the rest)."""
    if GATEWAY_LOG is None:
        return False
    with open(GATEWAY_LOG, encoding="utf-8", errors="replace") as f:
        return "bluetoothd left the bus" in f.read()


def wait_for(what, predicate, limit):
    deadline = time.monotonic() + limit
    while True:
        if bluetoothd_gone():
            raise StepFailed(f"{what}: bluetoothd left the bus (crashed?)")
        value = predicate()
        if value:
            log(f"{what}: ok")
            return value
        if time.monotonic() >= deadline:
            raise StepFailed(f"{what}: nothing within {limit} s")
        time.sleep(0.1)


def session_event(broker, serial, event):
    for m in broker.on(f"pens/{serial}/session"):
        if isinstance(m, dict) and m.get("event") == event:
            return m
    return None


def needlectl(args, what, limit=60):
    run = subprocess.run([args.needlectl] + what, capture_output=True, text=True, timeout=limit, check=False)
    log(f"needlectl {' '.join(what)} -> {run.returncode}\n{run.stdout}{run.stderr}".rstrip())
    if run.returncode != 0:
        raise StepFailed(f"needlectl {what[0]} failed with {run.returncode}")
    return run.stdout


def pair_on_terminal(args, address):
    """needlectl pair ADDRESS on a pseudo-terminal: it prompts once the pen shows the passkey, which is
    read off the pen's display (its passkey file) and typed, as a technician does."""
    try:
        os.unlink(args.passkey_file)
    except FileNotFoundError:
        pass
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(args.needlectl, [args.needlectl, "pair", address])
    out = b""
    typed = False
    closed = False
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break  # the terminal closes when needlectl exits
                if not chunk:
                    break
                out += chunk
            if not typed and b"Type the passkey" in out:
                if not os.path.exists(args.passkey_file):
                    raise StepFailed("needlectl asks for the passkey but the pen shows none")
                with open(args.passkey_file, encoding="ascii") as f:
                    passkey = f.read().strip()
                # A person takes a moment to read the display and type; bluetoothd goes on with the
                # service discovery meanwhile (see the report of issue 8 on why that matters).
                time.sleep(args.typing_s)
                log(f"needlectl asks for the passkey; typing {passkey}, shown by the pen")
                os.write(fd, passkey.encode() + b"\n")
                typed = True
            # needlegated keeps discovering until the window ends; a scan running while the new bond
            # reconnects drops that link on btvirt, and bluetoothd 5.66 then crashes. So the window
            # closes as soon as the pen is paired (see the report of issue 8).
            if typed and not closed and file_has(args.gateway_log, rf"pen {re.escape(address)} paired$"):
                close_window()
                closed = True
        else:
            os.kill(pid, 9)
            raise StepFailed(f"needlectl pair did not finish within 90 s: {out.decode(errors='replace')}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    log(f"needlectl pair {address} -> {os.waitstatus_to_exitcode(status)}\n{text}".rstrip())
    if not typed or os.waitstatus_to_exitcode(status) != 0:
        raise StepFailed("needlectl pair failed")


def close_window():
    run = subprocess.run(["gdbus", "call", "--system", "--dest", "org.needlegate.Gateway1", "--object-path",
                          "/org/needlegate/Gateway1", "--method", "org.needlegate.Gateway1.ClosePairingWindow"],
                         capture_output=True, text=True, timeout=30, check=False)
    log(f"ClosePairingWindow -> {run.returncode} {run.stderr.strip()}")


def pen_command(args, line):
    with open(args.pen_control, "w", encoding="ascii") as f:
        f.write(line + "\n")


def file_has(path, regex):
    with open(path, encoding="utf-8", errors="replace") as f:
        return re.search(regex, f.read(), re.M)


def check_session(broker, serial, args):
    started = session_event(broker, serial, "started")
    ended = session_event(broker, serial, "ended")
    session = started["session"]
    records = [r for r in telemetry(broker, serial) if r.get("session") == session]
    events = {e["seq"] for e in broker.on(f"pens/{serial}/event") if e.get("session") == session}
    expected = set(range(started["seq"] + 1, ended["seq"])) - events
    seqs = [r["seq"] for r in records]
    live = [r["seq"] for r in records if not r["replayed"]]
    replayed = [r["seq"] for r in records if r["replayed"]]
    missing = sorted(expected - set(seqs))
    log(f"session {session}: seq {started['seq']}..{ended['seq']}, {len(records)} records on the broker, "
        f"{len(live)} live, {len(replayed)} replayed, {len(seqs) - len(set(seqs))} duplicates, "
        f"{len(missing)} missing")
    if missing:
        raise StepFailed(f"{len(missing)} records missing: {missing[:30]}")
    if len(expected) < args.records or set(seqs) - expected:
        raise StepFailed(f"{len(expected)} records in the session, expected {args.records} or more")
    if len(seqs) != len(set(seqs)):
        raise StepFailed("the gateway published a record twice")
    if live != sorted(live) or replayed != sorted(replayed):
        raise StepFailed("records out of order")
    if not replayed:
        raise StepFailed("nothing came back through Report Stored Records after the link cut")
    if ended.get("reason") != "stopped" or not isinstance(ended.get("summary"), (dict, list)):
        raise StepFailed(f"session end without its summary: {ended}")
    log(f"summary: {json.dumps(ended['summary'])[:300]}")
    counted = ended["summary"].get("records") if isinstance(ended["summary"], dict) else None
    if counted != len(expected):
        # Not failed here: a known race of needlegated, reported with issue 8 (the end event comes by
        # D-Bus, the last records by the AcquireNotify socket, and may be read after it).
        log(f"NOTE: the summary counts {counted} records, {len(expected)} were published")


def run(args):
    base = f"needlegate/{args.hub}"
    broker = MqttClient(args.mqtt_port, topics=[base + "/#"], base=base, client_id="rbz-check", connect=False)
    if broker.connect(timeout=20) != 0:
        raise StepFailed("the broker refused the subscriber")
    log("subscribed on the broker: ok")
    try:
        # the pen's controller may start advertising late on a loaded host (TCG): scan again, at
        # most four times (the window stays open; each scan watches 5 s)
        for attempt in range(4):
            scan = json.loads(needlectl(args, ["scan", "--time", "120", "--wait", "5", "--json"]))
            pens = [p for p in scan if str(p.get("name", "")).startswith("NeedlePen-")]
            if pens:
                break
            log(f"scan {attempt + 1}: no pen yet")
        if not pens:
            raise StepFailed(f"needlectl scan found no pen in four scans: {scan}")
        address = pens[0]["address"]
        pair_on_terminal(args, address)
        pen = json.loads(needlectl(args, ["status", address, "--json"]))
        serial = pen.get("serial")
        if not serial:
            raise StepFailed(f"needlectl status gives no serial: {pen}")
        wait_for("the pen's state connected on the broker",
                 lambda: any(isinstance(m, dict) and m.get("connected") for m in broker.on(f"pens/{serial}/state")),
                 30)
        wait_for("the gateway subscribed with AcquireNotify",
                 lambda: file_has(args.gateway_log, rf"pen {serial} connected \(.*AcquireNotify\)"), 30)
        wait_for("the pen's telemetry and events subscribed, its clock set",
                 lambda: all(file_has(args.pen_log, r) for r in
                             (r"^subscribed telemetry", r"^subscribed events", r"^control 01")), 30)

        # The pen ends the session when told, after the gap is refilled: the link may be down for
        # 15 s under emulation, longer than a fixed-length session would last.
        pen_command(args, "session 100000 cheeks")
        wait_for("the session started on the broker", lambda: session_event(broker, serial, "started"), 20)
        wait_for(f"{args.cut_after} records on the broker",
                 lambda: len(telemetry(broker, serial)) >= args.cut_after, 60)
        pen_command(args, "drop-link")
        wait_for("the gateway sees the link drop",
                 lambda: file_has(args.gateway_log, rf"pen {serial} disconnected"), 30)
        wait_for("the gateway reconnects",
                 lambda: len(re.findall(rf"pen {serial} connected \(", open(args.gateway_log).read())) >= 2, 60)
        wait_for("replayed records on the broker",
                 lambda: any(r["replayed"] for r in telemetry(broker, serial)), 60)
        wait_for(f"{args.records} records on the broker",
                 lambda: len({r["seq"] for r in telemetry(broker, serial)}) >= args.records, 60)
        pen_command(args, "stop")
        wait_for("the session summary on the broker", lambda: session_event(broker, serial, "ended"), 60)
        # The broker may still deliver the last records after the summary: at most a moment.
        time.sleep(1.0)
        check_session(broker, serial, args)
    finally:
        broker.close()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--needlectl", required=True)
    p.add_argument("--pen-control", required=True)
    p.add_argument("--pen-log", required=True)
    p.add_argument("--gateway-log", required=True)
    p.add_argument("--passkey-file", required=True)
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--hub", default="rbz")
    p.add_argument("--records", type=int, default=300)
    p.add_argument("--cut-after", type=int, default=100)
    p.add_argument("--typing-s", type=float, default=3.0, help="time to read the passkey and type it")
    p.add_argument("--limit-s", type=float, default=180.0, help="the whole check, then a stack dump")
    args = p.parse_args()
    global GATEWAY_LOG  # pylint: disable=global-statement
    GATEWAY_LOG = args.gateway_log
    # Whatever hangs, the log then says where.
    faulthandler.dump_traceback_later(args.limit_s, exit=True)
    try:
        run(args)
    except (StepFailed, subprocess.TimeoutExpired, ValueError, KeyError) as e:
        log(f"FAILED: {e}")
        return 1
    log("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
