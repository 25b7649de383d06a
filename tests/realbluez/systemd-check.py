#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The installed package under systemd and real bluetoothd: the bus policy, a pen served, and the
service surviving SIGKILL, a bluetoothd restart and a hang (watchdog). Run by scenario-systemd.sh.

The technician (a member of the group needlegate) pairs the pen with needlectl, the passkey typed on a
terminal as a person does (gateway-check.py's pair_on_terminal); a user outside the group is refused
with needlectl's message. Then three sessions, each checked complete on the broker (every record of
the session, the gaps refilled by Report Stored Records):
  1. kill -9 of needlegated mid-session: systemd restarts it (Restart=on-failure);
  2. systemctl restart bluetooth mid-session: needlegated, still the same process, reconnects by itself;
  3. SIGSTOP of needlegated: the systemd watchdog (WatchdogSec, shortened by a runtime drop-in) kills
     it and systemd restarts it; the session goes on.
Link quality, after pairing and again at the end: the daemon, user needlegate under the packaged unit
(no capability), reads the connection's RSSI with HCI Read RSSI; on btvirt's dual-mode controllers -1 dBm,
which must show in pens/<id>/state (rssi_dbm, linkquality 255), needlectl status, D-Bus LinkRSSI and, the
scenario setting weak_link_dbm=0, as a weak_link event on bridge/event (--link-rssi none: LE-only
controllers, which refuse Read RSSI, and the fields stay unknown).
Each check prints one line "PASS: ..." or "FAIL: ... expected ..., saw ...".
"""

import argparse
import faulthandler
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness.mqtt import MqttClient  # noqa: E402
from needleharness.payloads import telemetry  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("gateway_check", os.path.join(HERE, "gateway-check.py"))
gc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gc)
StepFailed = gc.StepFailed

T0 = time.monotonic()
UNIT = "needlegated.service"
WATCHDOG_DROPIN = "/run/systemd/system/needlegated.service.d/rbz-watchdog.conf"
REFUSED = ("not allowed: only root and members of the group needlegate may change the gateway "
           "(ask the admin: adduser $USER needlegate)")


def log(msg):
    print(f"systemd-check [{time.monotonic() - T0:6.1f} s]: {msg}", flush=True)


def passed(msg):
    log(f"PASS: {msg}")


def text_of(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def count(path, regex):
    return len(re.findall(regex, text_of(path), re.M))


def bluetoothd_crashed():
    """bluetooth.service failed (5.66 sometimes segfaults on a bonded reconnection): nothing will come
    back, so the step fails at once and run-guest.sh tells that crash from the rest."""
    return subprocess.run(["systemctl", "is-failed", "--quiet", "bluetooth.service"], check=False).returncode == 0


def wait_for(what, predicate, limit):
    deadline = time.monotonic() + limit
    checked = time.monotonic()
    while True:
        if time.monotonic() - checked >= 2:
            checked = time.monotonic()
            if bluetoothd_crashed():
                raise StepFailed(f"{what}: bluetooth.service failed (bluetoothd crashed?)")
        value = predicate()
        if value:
            log(f"{what}: ok")
            return value
        if time.monotonic() >= deadline:
            raise StepFailed(f"{what}: not within {limit} s")
        time.sleep(0.2)


def show(*props):
    out = subprocess.run(["systemctl", "show", UNIT, "-p", ",".join(props)], capture_output=True,
                         text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def service_state():
    s = show("MainPID", "ActiveState", "SubState", "NRestarts")
    return int(s["MainPID"]), s["ActiveState"], s["SubState"], int(s["NRestarts"])


def run_as(args, who, command, limit=60):
    tool = args.needlectl_tech if who == "tech" else args.needlectl_visitor
    return subprocess.run([tool] + command, capture_output=True, text=True, timeout=limit, check=False)


def check_policy(args):
    """The packaged D-Bus policy on the real system bus: anyone reads, only the group changes."""
    run = run_as(args, "visitor", ["list"])
    if run.returncode != 0:
        raise StepFailed(f"needlectl list as visitor (not in the group): expected exit 0 (anyone may read), "
                         f"saw {run.returncode}: {run.stderr.strip()}")
    passed("a user outside the group needlegate reads: needlectl list exits 0")
    run = run_as(args, "visitor", ["scan", "--time", "30", "--wait", "1"])
    expected = f"needlectl: scan: {REFUSED}"
    if run.returncode != 4 or run.stderr.strip() != expected:
        raise StepFailed(f"needlectl scan as visitor: expected exit 4 and '{expected}', "
                         f"saw exit {run.returncode} and '{run.stderr.strip()}'")
    passed(f"a user outside the group needlegate is refused: exit 4, '{run.stderr.strip()}'")


def pair(args, broker):
    """gateway-check.py's technician path, run as the user tech (a member of the group)."""
    args.needlectl = args.needlectl_tech
    pens = []
    for attempt in range(4):
        scan = json.loads(gc.needlectl(args, ["scan", "--time", "120", "--wait", "5", "--json"]))
        pens = [p for p in scan if str(p.get("name", "")).startswith("NeedlePen-")]
        if pens:
            break
        log(f"scan {attempt + 1}: no pen yet")
    if not pens:
        raise StepFailed(f"needlectl scan (as tech) found no pen in four scans: {scan}")
    address = pens[0]["address"]
    gc.pair_on_terminal(args, address)
    passed(f"a member of the group needlegate paired the pen {address} with needlectl, passkey typed")
    pen = json.loads(gc.needlectl(args, ["status", address, "--json"]))
    serial = pen.get("serial")
    if not serial:
        raise StepFailed(f"needlectl status gives no serial: {pen}")
    wait_for("the pen's state connected on the broker",
             lambda: any(isinstance(m, dict) and m.get("connected") for m in broker.on(f"pens/{serial}/state")),
             60)
    wait_for("the pen's telemetry and events subscribed, its clock set",
             lambda: all(gc.file_has(args.pen_log, r) for r in
                         (r"^subscribed telemetry", r"^subscribed events", r"^control 01")), 60)
    passed(f"the pen {serial} is served: connected on the broker, subscribed")
    return serial, address


# ---- link quality: HCI Read RSSI by the daemon, user needlegate under the packaged unit, no capability ----

def arrivals(broker, topic):
    """(receive time in s, payload) of the messages on @topic below base, in arrival order."""
    full = broker.full(topic)
    return [(m.t / 1e9, m.data) for m in broker.messages() if m.topic == full and isinstance(m.data, dict)]


def link_quality_of(dbm):
    """gateway/core/ng-link-quality.c: round((dBm + 100) * 255 / 60), clamped to 0..255."""
    return max(0, min(255, int((dbm + 100) * 255 / 60 + 0.5)))


def journal_link_lines():
    """The daemon's journal lines about link quality, all of this boot."""
    journal = subprocess.run(["journalctl", "-b", "-u", UNIT, "--no-pager", "-o", "short-monotonic"],
                             capture_output=True, text=True, check=False).stdout
    return [line for line in journal.splitlines() if re.search(r"link quality|weak link|RSSI", line, re.I)]


def record_link_lines(what):
    lines = journal_link_lines()
    log(f"the daemon's journal lines about link quality ({what}): {len(lines)}")
    for line in lines:
        log(f"  | {line}")
    results = os.environ.get("RBZ_RESULTS")
    if results:
        with open(os.path.join(results, "link-quality.txt"), "a", encoding="utf-8") as f:
            f.write(f"# {what}\n" + "".join(line + "\n" for line in lines))
    return lines


def pen_property(address, *names):
    path = "/org/needlegate/Gateway1/pens/" + address.replace(":", "_")
    run = subprocess.run(["busctl", "--system", "get-property", "org.needlegate.Gateway1", path,
                          "org.needlegate.Pen1", *names], capture_output=True, text=True, timeout=30, check=False)
    if run.returncode != 0:
        raise StepFailed(f"busctl get-property {path} {' '.join(names)}: exit {run.returncode}: {run.stderr.strip()}")
    return run.stdout.split("\n")[:len(names)]


def check_link_quality(args, broker, serial, address):
    """The controller's RSSI of the pen's connection, on MQTT, in needlectl, on D-Bus, and as a weak_link."""
    if args.link_rssi == "none":
        check_link_quality_refused(args, broker, serial, address)
        return
    rssi = int(args.link_rssi)
    quality = link_quality_of(rssi)
    known = wait_for(f"rssi_dbm {rssi} in pens/{serial}/state",
                     lambda: [a for a in arrivals(broker, f"pens/{serial}/state") if a[1].get("rssi_dbm") == rssi],
                     30)[0]
    if known[1].get("linkquality") != quality:
        raise StepFailed(f"pens/{serial}/state with rssi_dbm {rssi}: expected linkquality {quality}, "
                         f"saw {known[1].get('linkquality')!r}")
    passed(f"pens/{serial}/state: rssi_dbm {rssi}, linkquality {quality} (HCI Read RSSI by needlegated as user "
           f"needlegate under the packaged unit, no capability; link_quality_interval=2)")
    status = gc.needlectl(args, ["status", serial])
    signal_line = f"Signal: +{rssi} dBm, link quality {quality}/255$"
    if not re.search(rf"^{signal_line}", status, re.M):
        raise StepFailed(f"needlectl status {serial}: expected a line '{signal_line}', saw:\n{status}")
    passed(f"needlectl status {serial}: '{re.search(r'^Signal:.*$', status, re.M).group(0)}'")
    props = pen_property(address, "LinkRSSI", "LinkQuality")
    if props != [f"n {rssi}", f"i {quality}"]:
        raise StepFailed(f"D-Bus Pen1 LinkRSSI, LinkQuality: expected 'n {rssi}', 'i {quality}', saw {props}")
    passed(f"D-Bus (system bus) {address} org.needlegate.Pen1: LinkRSSI '{props[0]}', LinkQuality '{props[1]}'")
    weak = wait_for(f"a weak_link event of {serial} on bridge/event",
                    lambda: [a for a in arrivals(broker, "bridge/event")
                             if a[1].get("event") == "weak_link" and a[1].get("pen") == serial],
                    max(1.0, known[0] + 15 - time.monotonic()))[0]
    if weak[1].get("rssi_dbm") != rssi or weak[1].get("address") != address:
        raise StepFailed(f"the weak_link event: expected pen {serial}, address {address}, rssi_dbm {rssi}, "
                         f"saw {weak[1]}")
    passed(f"bridge/event weak_link {weak[0] - known[0]:.1f} s after the first reading on the broker "
           f"(weak_link_dbm=0, weak_link_seconds=4): {json.dumps(weak[1])}")
    unknown = [line for line in record_link_lines("after pairing") if "link quality unknown" in line]
    if unknown:
        raise StepFailed(f"the daemon's journal: expected no 'link quality unknown', saw: {unknown}")
    passed("the daemon's journal has no 'link quality unknown' line")


def check_link_quality_refused(args, broker, serial, address):
    """LE-only emulated controllers (btvirt -L) have no Read RSSI: the path works up to the controller's
    refusal, said once in the journal, and the fields stay unknown."""
    refused = "link quality unknown: hci0: the controller refused Read RSSI (status 0x01"
    wait_for("the controller's refusal of Read RSSI in the daemon's journal",
             lambda: any(refused in line for line in journal_link_lines()), 30)
    record_link_lines("after pairing, LE-only controllers")
    state = broker.last(f"pens/{serial}/state")
    if state.get("rssi_dbm") is not None or state.get("linkquality") is not None:
        raise StepFailed(f"pens/{serial}/state: expected rssi_dbm and linkquality null, saw {state}")
    status = gc.needlectl(args, ["status", serial])
    props = pen_property(address, "LinkRSSI", "LinkQuality")
    if not re.search(r"^Signal: +unknown$", status, re.M) or props != ["n 0", "i -1"]:
        raise StepFailed(f"expected 'Signal: unknown' and LinkRSSI 0, LinkQuality -1, saw {props} and:\n{status}")
    passed("LE-only controllers refuse Read RSSI (status 0x01), said once in the journal; rssi_dbm and "
           "linkquality null, 'Signal: unknown', LinkRSSI 0, LinkQuality -1")


def check_link_quality_after(args, broker, serial):
    """After the disruptions: the restarted daemon reads again, and nothing went unknown."""
    if args.link_rssi == "none":
        return
    rssi = int(args.link_rssi)
    wait_for(f"rssi_dbm {rssi} in the last pens/{serial}/state",
             lambda: (broker.last(f"pens/{serial}/state") or {}).get("rssi_dbm") == rssi, 30)
    weak = [a for a in arrivals(broker, "bridge/event") if a[1].get("event") == "weak_link"]
    unknown = [line for line in record_link_lines("at the end") if "link quality unknown" in line]
    if unknown:
        raise StepFailed(f"the daemon's journal at the end: expected no 'link quality unknown', saw: {unknown}")
    passed(f"link quality after kill -9, the bluetoothd restart and the watchdog: rssi_dbm {rssi} in the last "
           f"state, {len(weak)} weak_link events in all (at most one per connection), no 'link quality unknown'")


def sessions(broker, serial, event):
    return [m for m in broker.on(f"pens/{serial}/session") if isinstance(m, dict) and m.get("event") == event]


def start_session(args, broker, serial, area):
    known = {m["session"] for m in sessions(broker, serial, "started")}
    gc.pen_command(args, f"session 100000 {area}")
    started = wait_for(f"a new session ({area}) started on the broker",
                       lambda: [m for m in sessions(broker, serial, "started") if m["session"] not in known], 30)
    session = started[0]["session"]
    wait_for("40 records of it on the broker", lambda: len(telemetry(broker, serial, session)) >= 40, 60)
    return session


def finish_session(args, broker, serial, session, what, allow_duplicates):
    """After the disruption: records replayed, then live ones again; stop; every record there."""
    wait_for("replayed records on the broker",
             lambda: any(r["replayed"] for r in telemetry(broker, serial, session)), 90)
    base = len(telemetry(broker, serial, session))
    wait_for("live records again", lambda: len(telemetry(broker, serial, session)) >= base + 40, 60)
    gc.pen_command(args, "stop")
    ended = wait_for("the session summary on the broker",
                     lambda: [m for m in sessions(broker, serial, "ended") if m["session"] == session], 60)[0]
    started = [m for m in sessions(broker, serial, "started") if m["session"] == session][0]
    events = {e["seq"] for e in broker.on(f"pens/{serial}/event") if e.get("session") == session}
    expected = set(range(started["seq"] + 1, ended["seq"])) - events
    # The broker may still deliver the last records after the summary: a few seconds at most.
    deadline = time.monotonic() + 10
    while expected - {r["seq"] for r in telemetry(broker, serial, session)} and time.monotonic() < deadline:
        time.sleep(0.2)
    records = telemetry(broker, serial, session)
    seqs = [r["seq"] for r in records]
    replayed = sum(1 for r in records if r["replayed"])
    missing = sorted(expected - set(seqs))
    duplicates = len(seqs) - len(set(seqs))
    log(f"session {session}: seq {started['seq']}..{ended['seq']}, {len(expected)} records expected, "
        f"{len(records)} on the broker ({replayed} replayed), {duplicates} duplicates, {len(missing)} missing")
    if missing:
        raise StepFailed(f"{what}: expected all {len(expected)} records of session {session} on the broker, "
                         f"{len(missing)} missing: {missing[:30]}")
    if set(seqs) - expected:
        raise StepFailed(f"{what}: records outside the session's sequence range: {sorted(set(seqs) - expected)[:30]}")
    if duplicates and not allow_duplicates:
        raise StepFailed(f"{what}: expected each record once, saw {duplicates} duplicates")
    if not isinstance(ended.get("summary"), dict):
        raise StepFailed(f"{what}: expected the session end with its summary, saw {ended}")
    note = f" ({duplicates} sent twice, as QoS 1 allows across a crash)" if duplicates else ""
    passed(f"{what}: nothing lost, all {len(expected)} records of session {session} on the broker, "
           f"{replayed} of them replayed from the pen's store{note}, summary published")


def connections(args, serial):
    return count(args.gateway_log, rf"pen {serial} connected \(")


def after_kill(args, broker, serial):
    """kill -9 mid-session: systemd restarts the daemon, which serves the pen again."""
    session = start_session(args, broker, serial, "cheeks")
    pid, _, _, restarts = service_state()
    links = connections(args, serial)
    log(f"kill -9 {pid} (needlegated's MainPID), NRestarts={restarts}")
    os.kill(pid, signal.SIGKILL)
    t = time.monotonic()
    state = wait_for("systemd restarts needlegated", lambda: (lambda s: s if s[0] not in (0, pid) and s[1] == "active"
                                                             and s[2] == "running" else None)(service_state()), 60)
    if state[3] != restarts + 1:
        raise StepFailed(f"after kill -9: expected NRestarts={restarts + 1}, saw {state[3]}")
    passed(f"kill -9: systemd restarted needlegated after {time.monotonic() - t:.1f} s (MainPID {pid} -> "
           f"{state[0]}, NRestarts {restarts} -> {state[3]}, active/running again: READY)")
    wait_for("the restarted daemon serves the pen again", lambda: connections(args, serial) > links, 90)
    finish_session(args, broker, serial, session, "kill -9 mid-session", allow_duplicates=True)


def after_bluetooth_restart(args, broker, serial):
    """systemctl restart bluetooth mid-session: the same daemon process recovers by itself."""
    session = start_session(args, broker, serial, "forehead")
    pid, _, _, restarts = service_state()
    links = connections(args, serial)
    gone = count(args.gateway_log, r"bluetoothd left the bus")
    back = count(args.pen_log, r"^bluetoothd-back")
    log("systemctl restart bluetooth")
    t = time.monotonic()
    subprocess.run(["systemctl", "restart", "bluetooth"], check=True, timeout=90)
    log(f"bluetooth.service restarted in {time.monotonic() - t:.1f} s")
    wait_for("needlegated saw bluetoothd go", lambda: count(args.gateway_log, r"bluetoothd left the bus") > gone, 30)
    wait_for("the pen registered again with the new bluetoothd",
             lambda: count(args.pen_log, r"^bluetoothd-back") > back, 60)
    wait_for("needlegated reconnects the pen by itself", lambda: connections(args, serial) > links, 120)
    now = service_state()
    if now[0] != pid or now[3] != restarts:
        raise StepFailed(f"after systemctl restart bluetooth: expected needlegated to recover by itself "
                         f"(MainPID {pid}, NRestarts {restarts}), saw MainPID {now[0]}, NRestarts {now[3]}")
    passed(f"systemctl restart bluetooth: needlegated (still MainPID {pid}, no restart) reconnected the pen "
           f"{time.monotonic() - t:.1f} s after the restart began")
    finish_session(args, broker, serial, session, "bluetoothd restarted mid-session", allow_duplicates=False)


def after_hang(args, broker, serial):
    """SIGSTOP: the watchdog kills the hung daemon and systemd restarts it."""
    shipped = show("WatchdogUSec")["WatchdogUSec"]
    if shipped != "30s":
        raise StepFailed(f"the unit's WatchdogSec: expected 30s (docs/install.md), saw {shipped}")
    os.makedirs(os.path.dirname(WATCHDOG_DROPIN), exist_ok=True)
    with open(WATCHDOG_DROPIN, "w", encoding="ascii") as f:
        f.write("# realbluez test only: a shorter watchdog, so that the test waits 10 s, not 30\n"
                f"[Service]\nWatchdogSec={args.watchdog_s}s\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)
    links = connections(args, serial)
    # The daemon learns WATCHDOG_USEC when it starts: restart it to run with the shorter one.
    subprocess.run(["systemctl", "restart", UNIT], check=True, timeout=60)
    log(f"WatchdogSec {shipped} shortened to {args.watchdog_s}s by {WATCHDOG_DROPIN}; needlegated restarted")
    wait_for("the pen served again", lambda: connections(args, serial) > links, 90)
    session = start_session(args, broker, serial, "chin_jawline")
    pid, _, _, restarts = service_state()
    links = connections(args, serial)
    log(f"kill -STOP {pid} (needlegated's MainPID), NRestarts={restarts}")
    os.kill(pid, signal.SIGSTOP)
    t = time.monotonic()
    state = wait_for("the watchdog fires and systemd restarts needlegated",
                     lambda: (lambda s: s if s[0] not in (0, pid) and s[1] == "active" and s[2] == "running"
                              else None)(service_state()), args.watchdog_s + 60)
    took = time.monotonic() - t
    journal = subprocess.run(["journalctl", "-b", "-u", UNIT, "--no-pager", "-o", "cat"], capture_output=True,
                             text=True, check=False).stdout
    if "Watchdog timeout" not in journal:
        raise StepFailed("after SIGSTOP: expected 'Watchdog timeout' in the unit's journal, saw none")
    if state[3] != restarts + 1 or took < args.watchdog_s - 1:
        raise StepFailed(f"after SIGSTOP: expected a restart by the watchdog after {args.watchdog_s} s "
                         f"(NRestarts {restarts + 1}), saw NRestarts {state[3]} after {took:.1f} s")
    passed(f"a hung needlegated (SIGSTOP) was killed by the watchdog and restarted after {took:.1f} s "
           f"(WatchdogSec={args.watchdog_s}s + RestartSec=5s; MainPID {pid} -> {state[0]})")
    wait_for("the restarted daemon serves the pen again", lambda: connections(args, serial) > links, 90)
    finish_session(args, broker, serial, session, "watchdog restart mid-session", allow_duplicates=True)
    os.unlink(WATCHDOG_DROPIN)
    os.rmdir(os.path.dirname(WATCHDOG_DROPIN))
    subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)


def run(args):
    base = f"needlegate/{args.hub}"
    broker = MqttClient(args.mqtt_port, topics=[base + "/#"], base=base, client_id="rbz-systemd-check",
                        connect=False)
    if broker.connect(timeout=20) != 0:
        raise StepFailed("the broker (Debian's mosquitto.service) refused the subscriber")
    try:
        check_policy(args)
        serial, address = pair(args, broker)
        check_link_quality(args, broker, serial, address)
        after_kill(args, broker, serial)
        after_bluetooth_restart(args, broker, serial)
        after_hang(args, broker, serial)
        check_link_quality_after(args, broker, serial)
    finally:
        broker.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--needlectl-tech", required=True, help="needlectl as a member of the group needlegate")
    p.add_argument("--needlectl-visitor", required=True, help="needlectl as a user outside the group")
    p.add_argument("--pen-control", required=True)
    p.add_argument("--pen-log", required=True)
    p.add_argument("--gateway-log", required=True, help="needlegated's journal, followed into a file")
    p.add_argument("--passkey-file", required=True)
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--hub", default="rbz")
    p.add_argument("--watchdog-s", type=int, default=10)
    p.add_argument("--link-rssi", default="-1",
                   help="the RSSI the controller reports (dBm), or 'none' for a controller without Read RSSI")
    p.add_argument("--typing-s", type=float, default=3.0, help="time to read the passkey and type it")
    p.add_argument("--limit-s", type=float, default=420.0, help="the whole check, then a stack dump")
    args = p.parse_args()
    faulthandler.dump_traceback_later(args.limit_s, exit=True)
    try:
        run(args)
    except (StepFailed, subprocess.TimeoutExpired, subprocess.CalledProcessError, ValueError, KeyError) as e:
        log(f"FAIL: {e}")
        return 1
    log("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
