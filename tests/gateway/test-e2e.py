#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests of needlegated: needle-pensim on a private bus, a real Mosquitto, the real
daemon process and an MQTT subscriber. Run one test: test-e2e.py NAME (meson does, one per test)."""

import signal
import sys
import time

from ngrig import BASE, Rig, check_session_complete, parse_time, wait_for


def gap_alerts(rig, serial):
    """The telemetry_gap alerts of a pen (its sessions also raise no_plan: no plan is assigned here)."""
    return [a for a in rig.sub.on("pens/%s/alert" % serial) if a["rule"] == "telemetry_gap"]


def run_session(rig, serial, seconds):
    session_id = rig.pen_call(serial, "StartSession")[0]
    time.sleep(seconds)
    rig.pen_call(serial, "StopSession", "s", "stopped")
    return session_id


def test_publish():
    """Bonded pens connect and publish; every record once, in order; the unbonded pen is never
    connected; bridge topics; a clean stop says offline and exits 0."""
    with Rig(pens=3, unpaired=1).start() as rig:
        bonded, unbonded = rig.bonded_and_unbonded()
        assert len(bonded) == 2 and len(unbonded) == 1, (bonded, unbonded)
        rig.wait_connected(bonded)
        sessions = {s: rig.pen_call(s, "StartSession")[0] for s in bonded}
        time.sleep(3)
        for s in bonded:
            rig.pen_call(s, "StopSession", "s", "stopped")
        for s in bonded:
            records = check_session_complete(rig, s, sessions[s])
            assert len(records) >= 100, "only %d records in 3 s at 50/s" % len(records)
            assert not any(r["replayed"] for r in records)

        state = rig.sub.last("pens/%s/state" % bonded[0])
        assert state["pen"] == bonded[0] and state["connected"] is True, state
        assert state["telemetry_path"] == "acquire_notify", state
        assert isinstance(state["battery"], int) and 0 <= state["battery"] <= 100, state
        assert state["clock_set"] is True, state
        assert rig.sub.last("bridge/state") == {"state": "online"}
        devices = rig.sub.last("bridge/devices")
        assert sorted(p["pen"] for p in devices["pens"]) == bonded, devices
        events = rig.sub.on("bridge/event")
        assert sorted(e["pen"] for e in events if e["event"] == "connected") == bonded, events

        def info_counts():
            info = rig.sub.last("bridge/info")
            return info if info and info["counters"]["records"] >= sum(
                len(rig.telemetry(s, sessions[s])) for s in bonded) else None
        info = wait_for("bridge/info counting the records", info_counts, 5)
        assert info["hub_id"] == "e2e" and info["adapter"] == "hci0" and info["version"], info
        assert info["pens_connected"] == 2 and info["bluetoothd"] is True, info
        assert info["counters"]["malformed"] == 0 and info["counters"]["duplicates"] == 0, info
        assert "dropped_telemetry" in info["counters"]["outbox"], info

        # the unbonded pen: never connected, never published
        for s in unbonded:
            assert rig.pen_prop(s, "Connected") is False
            assert ("pen %s: connected" % s) not in rig.log_text("pensim")
            assert not [t for t in rig.sub.all_topics() if s in t]

        assert rig.stop("needlegated") == 0
        wait_for("bridge/state offline", lambda: rig.sub.last("bridge/state") == {"state": "offline"}, 5)
        log = rig.log_text("needlegated")
        assert "-WARNING" not in log, "warnings in a run without faults:\n" + log


def test_startnotify():
    """Telemetry through StartNotify (the fallback path) is as complete as through AcquireNotify."""
    with Rig(pens=1, unpaired=0, extra_config="telemetry_notify=start\n").start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        assert rig.sub.last("pens/%s/state" % serial)["telemetry_path"] == "start_notify"
        session_id = run_session(rig, serial, 2)
        records = check_session_complete(rig, serial, session_id)
        assert len(records) >= 60, len(records)


def test_batch():
    """telemetry_batch: the records of a notification go out as one JSON array, all of them."""
    with Rig(pens=1, unpaired=0, rate=100, extra_config="[mqtt]\ntelemetry_batch=3\n").start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = run_session(rig, serial, 2)
        check_session_complete(rig, serial, session_id)
        batches = rig.sub.on("pens/%s/telemetry" % serial)
        assert all(isinstance(b, list) and 1 <= len(b) <= 3 for b in batches), batches[:5]
        assert any(len(b) == 3 for b in batches), [len(b) for b in batches]


def test_malformed():
    """A malformed notification is counted and logged once; the session goes on."""
    with Rig(pens=1, unpaired=0).start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(0.5)
        for kind in ["telemetry_bad_crc", "telemetry_size_mismatch", "telemetry_bad_crc"]:
            rig.pen_call(serial, "SendMalformed", "s", kind)
            time.sleep(0.2)
        time.sleep(0.5)
        rig.pen_call(serial, "StopSession", "s", "stopped")
        check_session_complete(rig, serial, session_id)
        wait_for("bridge/info counting 3 malformed notifications",
                 lambda: rig.sub.last("bridge/info")["counters"]["malformed"] == 3, 5)
        log = rig.log_text("needlegated")
        assert log.count("malformed Telemetry notification") == 1, log
        assert "bad_crc" in log


def test_link_drop_replay():
    """A link lost mid-session: the records made meanwhile come back, replayed, none twice."""
    with Rig(pens=1, unpaired=0).start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(1)
        rig.pen_call(serial, "DropLink")
        wait_for("the daemon to see the pen go",
                 lambda: rig.sub.last("pens/%s/state" % serial)["connected"] is False, 5)
        time.sleep(1)
        rig.wait_connected([serial], timeout=15)
        time.sleep(1)
        rig.pen_call(serial, "StopSession", "s", "stopped")
        records = check_session_complete(rig, serial, session_id, in_order=False)
        replayed = [r for r in records if r["replayed"]]
        assert len(replayed) >= 20, "only %d records replayed after a link loss of ~1.5 s" % len(replayed)
        assert not gap_alerts(rig, serial), "a gap alert though the pen had every record"
        # the replay starts a little below the gap: those come twice and are dropped, counted
        wait_for("bridge/info counting replayed records and dropped duplicates",
                 lambda: rig.sub.last("bridge/info")["counters"]["replayed"] == len(replayed)
                 and rig.sub.last("bridge/info")["counters"]["duplicates"] >= 1, 5)


def test_gap_alert():
    """A link lost longer than the pen's store reaches: what it still has comes back replayed,
    the rest becomes one telemetry_gap alert naming the lost range; nothing else is missing."""
    with Rig(pens=1, unpaired=0) as rig:
        scenario = rig.tmp + "/small-store.scenario"
        with open(scenario, "w") as f:
            f.write("[pen 1]\ncapacity=20\n")
        rig.pensim_args = ["--scenario", scenario]
        rig.start()
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(1)
        rig.pen_call(serial, "DropLink")
        time.sleep(0.5)  # the daemon reconnects after ~1 s: ~50 records at 50/s; the pen keeps 20
        rig.wait_connected([serial])
        time.sleep(1)
        rig.pen_call(serial, "StopSession", "s", "stopped")
        alerts = wait_for("a telemetry_gap alert", lambda: gap_alerts(rig, serial))
        assert len(alerts) == 1, alerts
        alert = alerts[0]
        assert alert["rule"] == "telemetry_gap" and alert["severity"] == "warning", alert
        assert alert["pen"] == serial and alert["session"] == session_id, alert
        parse_time(alert["t"])
        assert alert["measured"] == alert["last_seq"] - alert["first_seq"] + 1 >= 20, alert
        assert alert["seq"] == alert["first_seq"] and alert["message"], alert
        started = rig.wait_session_event(serial, session_id, "started")
        ended = rig.wait_session_event(serial, session_id, "ended")
        records = rig.telemetry(serial, session_id)
        seqs = [r["seq"] for r in records]
        assert len(seqs) == len(set(seqs)), "duplicates"
        lost = set(range(alert["first_seq"], alert["last_seq"] + 1))
        events = {e["seq"] for e in rig.events(serial, session_id)}
        expected = set(range(started["seq"] + 1, ended["seq"])) - events
        assert not (lost & set(seqs)), "a record both published and reported lost"
        assert expected - lost == set(seqs), sorted(expected - lost - set(seqs))[:20]
        # the pen's 20 stored records reach back less far than the gap; those the gateway had not
        # received live since reconnecting come replayed
        assert 1 <= sum(r["replayed"] for r in records) <= 20, sum(r["replayed"] for r in records)
        wait_for("bridge/info counting the lost records",
                 lambda: rig.sub.last("bridge/info")["counters"]["lost"] == alert["measured"], 5)


def test_session_end_lost():
    """A session that ended while the link was down (the pen keeps no events): on reconnection
    the daemon sees the pen idle, fetches the records the pen stored while away, and closes the
    session itself, saying its end event was lost."""
    with Rig(pens=1, unpaired=0, pensim_args=["--connect-delay-ms", "300"]).start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(1)
        rig.pen_call(serial, "DropLink")
        time.sleep(1)  # the pen goes on recording into its storage while the link is down
        rig.pen_call(serial, "StopSession", "s", "stopped")
        last_record = rig.pen_prop(serial, "NextSeq") - 2  # the end event took the last number
        ended = rig.wait_session_event(serial, session_id, "ended", inferred=True)
        assert ended["end_event_lost"] is True and ended["reason"] == "unknown", ended
        assert ended["seq"] is None and 1.0 <= ended["duration_s"] <= 10.0, ended
        parse_time(ended["t"])
        wait_for("the pen state without a session",
                 lambda: rig.sub.last("pens/%s/state" % serial)["session"] is None, 5)
        records = rig.telemetry(serial, session_id)
        seqs = [r["seq"] for r in records]
        assert seqs == sorted(set(seqs)) or len(seqs) == len(set(seqs)), "duplicates"
        started = rig.wait_session_event(serial, session_id, "started")
        assert set(range(started["seq"] + 1, max(seqs) + 1)) <= set(seqs), "holes in the session"
        # what the pen recorded while away came back from its storage, before the session closed
        assert max(seqs) == last_record, (max(seqs), last_record)
        assert any(r["replayed"] for r in records), "no record was replayed"
        assert not gap_alerts(rig, serial), gap_alerts(rig, serial)


def test_sigkill_restart():
    """The daemon killed mid-session and restarted: nothing lost, repeats only what QoS 1 allows."""
    with Rig(pens=1, unpaired=0).start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(1.5)
        assert rig.stop("needlegated", signal.SIGKILL) == -signal.SIGKILL
        time.sleep(1)
        rig.start_daemon()
        rig.wait_connected([serial])
        time.sleep(1.5)
        rig.pen_call(serial, "StopSession", "s", "stopped")
        # QoS 1: what was in flight at the kill may come twice; a handful at most
        check_session_complete(rig, serial, session_id, allow_dups=30, in_order=False)


def test_broker_restart():
    """The broker stopped for a while mid-session and started again: nothing lost."""
    with Rig(pens=1, unpaired=0).start() as rig:
        (serial,), _ = rig.bonded_and_unbonded()
        rig.wait_connected([serial])
        session_id = rig.pen_call(serial, "StartSession")[0]
        time.sleep(1)
        rig.stop("mosquitto")
        time.sleep(3)
        rig.start_broker()
        time.sleep(2)
        rig.pen_call(serial, "StopSession", "s", "stopped")
        check_session_complete(rig, serial, session_id, allow_dups=30, in_order=False)


def test_bluetoothd_restart():
    """bluetoothd (the simulator) stopped and started again: the daemon notices, serves the pens
    again by itself, and nothing is lost or repeated. The pen keeps its sequence counter, as a
    real pen does while only bluetoothd restarts."""
    with Rig(pens=2, unpaired=0).start() as rig:
        bonded, _ = rig.bonded_and_unbonded()
        rig.wait_connected(bonded)
        first = {s: rig.pen_call(s, "StartSession")[0] for s in bonded}
        time.sleep(1)
        next_seq = {s: rig.pen_prop(s, "NextSeq") for s in bonded}
        assert rig.stop("pensim") == 0
        wait_for("bridge/info to say bluetoothd is gone",
                 lambda: rig.sub.last("bridge/info")["bluetoothd"] is False, 5)
        wait_for("the pens shown disconnected",
                 lambda: all(rig.sub.last("pens/%s/state" % s)["connected"] is False for s in bonded), 5)
        scenario = rig.tmp + "/continue.scenario"
        with open(scenario, "w") as f:
            for i, s in enumerate(bonded):
                f.write("[pen %d]\nfirst-seq=%d\n" % (i + 1, next_seq[s]))
        time.sleep(1)
        rig.start_pensim(["--scenario", scenario])
        wait_for("bridge/info to say bluetoothd is back",
                 lambda: rig.sub.last("bridge/info")["bluetoothd"] is True, 10)
        for s in bonded:
            # the first session: everything the pen made before the restart arrived, once
            seqs = sorted(r["seq"] for r in rig.telemetry(s, first[s]))
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), "holes before the restart"
            assert seqs[-1] >= next_seq[s] - 3, (seqs[-1], next_seq[s])
        rig.wait_connected(bonded)
        second = {s: rig.pen_call(s, "StartSession")[0] for s in bonded}
        time.sleep(1.5)
        for s in bonded:
            rig.pen_call(s, "StopSession", "s", "stopped")
        for s in bonded:
            # the restarted simulator's pens lost their sessions: the daemon closed them itself
            ended = rig.wait_session_event(s, first[s], "ended", inferred=True)
            assert ended["end_event_lost"] is True, ended
            check_session_complete(rig, s, second[s], after_seq=next_seq[s] - 1)
            assert not gap_alerts(rig, s), gap_alerts(rig, s)
        assert "bluetoothd left the bus" in rig.log_text("needlegated")


def test_max_connections():
    """max_connections is honoured; a pen that vanished (its connects hang until they time out)
    does not keep a waiting pen from connecting."""
    with Rig(pens=3, unpaired=0, extra_config="max_connections=2\n",
             pensim_args=["--connect-timeout-ms", "3000"]).start() as rig:
        bonded, _ = rig.bonded_and_unbonded()

        def connected():
            return [s for s in bonded if (rig.sub.last("pens/%s/state" % s) or {}).get("connected")]
        wait_for("two pens connected", lambda: len(connected()) == 2, 15)
        time.sleep(2)
        first = connected()
        assert len(first) == 2, first
        waiting = [s for s in bonded if s not in first][0]
        assert rig.pen_prop(waiting, "Connected") is False
        # one connected pen leaves the room: its link drops and reconnecting it hangs
        gone = first[0]
        rig.pen_call(gone, "SetPresent", "b", False)
        wait_for("the waiting pen to get the free slot", lambda: waiting in connected(), 20)
        time.sleep(1)
        now = connected()
        assert sorted(now) == sorted([first[1], waiting]), now
        assert rig.pen_prop(gone, "Connected") is False


def test_bonding_changes():
    """A pen bonded while the daemon runs is served from then on; a pen whose bond is removed is
    dropped and never connected again."""
    with Rig(pens=3, unpaired=1).start() as rig:
        bonded, unbonded = rig.bonded_and_unbonded()
        rig.wait_connected(bonded)
        time.sleep(1)
        assert rig.pen_prop(unbonded[0], "Connected") is False
        rig.pen_call(unbonded[0], "SetBonded", "b", True)
        wait_for("a 'paired' bridge event", lambda: [e for e in rig.sub.on("bridge/event") if e["event"] == "paired"])
        rig.wait_connected(unbonded)

        rig.pen_call(bonded[0], "SetBonded", "b", False)
        wait_for("a 'removed' bridge event for %s" % bonded[0],
                 lambda: [e for e in rig.sub.on("bridge/event") if e["event"] == "removed" and e["pen"] == bonded[0]])
        wait_for("%s shown disconnected" % bonded[0],
                 lambda: rig.sub.last("pens/%s/state" % bonded[0])["connected"] is False, 5)
        time.sleep(3)  # longer than the reconnect delay
        assert rig.pen_prop(bonded[0], "Connected") is False
        devices = rig.sub.last("bridge/devices")
        assert sorted(p["pen"] for p in devices["pens"]) == sorted([bonded[1], unbonded[0]]), devices


def test_cli():
    """--version, --help, and configuration errors that name the key and the file."""
    import os
    import subprocess
    import tempfile
    daemon = os.environ["NEEDLEGATED"]
    out = subprocess.run([daemon, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("needlegated "), out
    out = subprocess.run([daemon, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out
    for option in ["--config", "--hub-id", "--mqtt-url", "--state-dir", "--adapter", "--verbose", "--version"]:
        assert option in out.stdout, (option, out.stdout)
    out = subprocess.run([daemon, "--bogus"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "--bogus" in out.stderr, out
    out = subprocess.run([daemon, "--config", "/nonexistent/needlegated.conf"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 1 and "/nonexistent/needlegated.conf" in out.stderr, out
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[mqtt]\ntelemetry_qos=7\n")
        conf.flush()
        out = subprocess.run([daemon, "--config", conf.name], capture_output=True, text=True, timeout=10)
        assert out.returncode == 1, out
        assert conf.name in out.stderr and "[mqtt] telemetry_qos: '7'" in out.stderr, out.stderr
        out = subprocess.run([daemon, "--config", conf.name, "--hub-id", "a/b"], capture_output=True, text=True,
                             timeout=10)
        assert out.returncode == 1 and "telemetry_qos" in out.stderr, out.stderr
    # an override is checked like the key it overrides
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[gateway]\nstate_dir=/tmp\n")
        conf.flush()
        out = subprocess.run([daemon, "--config", conf.name, "--hub-id", "a/b"], capture_output=True, text=True,
                             timeout=10)
        assert out.returncode == 1 and "[gateway] hub_id: 'a/b'" in out.stderr, out.stderr
        out = subprocess.run([daemon, "--config", conf.name, "--mqtt-url", "http://x"], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 1 and "[mqtt] url: 'http://x'" in out.stderr, out.stderr


def test_systemd_notify():
    """Under systemd: READY=1 once serving, STATUS, WATCHDOG=1 at half the watchdog interval,
    STOPPING=1 on SIGTERM."""
    import socket as sk
    with Rig(pens=1, unpaired=0).start(daemon=False) as rig:
        path = rig.tmp + "/notify"
        srv = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
        srv.bind(path)
        srv.settimeout(0.2)
        rig.env = dict(rig.env, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        proc = rig.start_daemon()
        got = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                got.append(srv.recv(4096).decode())
            except sk.timeout:
                pass
        assert "READY=1" in got, got
        assert any(m.startswith("STATUS=") for m in got), got
        assert sum(m == "WATCHDOG=1" for m in got) >= 8, got  # every 200 ms for ~3 s
        assert rig.stop("needlegated") == 0
        rest = []
        try:
            while True:
                rest.append(srv.recv(4096).decode())
        except sk.timeout:
            pass
        assert "STOPPING=1" in rest, rest
        srv.close()


TESTS = {
    "publish": test_publish,
    "startnotify": test_startnotify,
    "batch": test_batch,
    "malformed": test_malformed,
    "link-drop-replay": test_link_drop_replay,
    "gap-alert": test_gap_alert,
    "session-end-lost": test_session_end_lost,
    "sigkill-restart": test_sigkill_restart,
    "broker-restart": test_broker_restart,
    "bluetoothd-restart": test_bluetoothd_restart,
    "max-connections": test_max_connections,
    "bonding-changes": test_bonding_changes,
    "cli": test_cli,
    "systemd-notify": test_systemd_notify,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(TESTS)
    for name in names:
        start = time.monotonic()
        TESTS[name]()
        print("ok %s (%.1f s)" % (name, time.monotonic() - start))
