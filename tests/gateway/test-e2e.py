#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end tests of needlegated: needle-pensim on a private bus, a real Mosquitto, the real
daemon process and an MQTT subscriber. Run one test: test-e2e.py NAME (meson does, one per test)."""

import os
import signal
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness.payloads import (check_session_complete, events, parse_time, telemetry,  # noqa: E402
                                    wait_connected, wait_session_event)


def e2e(pens=3, unpaired=1, rate=50, config=None, pensim_args=(), scenario_text=None, daemon=True):
    """The world of these tests: hub "e2e", pens in manual mode, the subscriber's session kept on a
    broker that keeps it across its own restart, the daemon at -vv."""
    return nh.Harness(pens=pens, unpaired=unpaired, pensim_args=["--manual", "--rate", str(rate)] + list(pensim_args),
                      scenario_text=scenario_text, persistent_broker=True, subscribe=True, daemon=daemon, hub="e2e",
                      daemon_config=config, daemon_args=["-vv"])


def gap_alerts(h, serial):
    """The telemetry_gap alerts of a pen (its sessions also raise no_plan: no plan is assigned here)."""
    return [a for a in h.sub.on("pens/%s/alert" % serial) if a["rule"] == "telemetry_gap"]


def run_session(h, serial, seconds):
    session_id = h.pen(serial).call("StartSession")[0]
    time.sleep(seconds)
    h.pen(serial).call("StopSession", "(s)", "stopped")
    return session_id


def test_publish():
    """Bonded pens connect and publish; every record once, in order; the unbonded pen is never
    connected; bridge topics; a clean stop says offline and exits 0."""
    with e2e(pens=3, unpaired=1) as h:
        bonded, unbonded = h.bonded_and_unbonded()
        assert len(bonded) == 2 and len(unbonded) == 1, (bonded, unbonded)
        wait_connected(h.sub, bonded)
        sessions = {s: h.pen(s).call("StartSession")[0] for s in bonded}
        time.sleep(3)
        for s in bonded:
            h.pen(s).call("StopSession", "(s)", "stopped")
        for s in bonded:
            records = check_session_complete(h.sub, s, sessions[s])
            assert len(records) >= 100, "only %d records in 3 s at 50/s" % len(records)
            assert not any(r["replayed"] for r in records)

        state = h.sub.last("pens/%s/state" % bonded[0])
        assert state["pen"] == bonded[0] and state["connected"] is True, state
        assert state["telemetry_path"] == "acquire_notify", state
        assert isinstance(state["battery"], int) and 0 <= state["battery"] <= 100, state
        assert state["clock_set"] is True, state
        assert h.sub.last("bridge/state") == {"state": "online"}
        devices = h.sub.last("bridge/devices")
        assert sorted(p["pen"] for p in devices["pens"]) == bonded, devices
        events = h.sub.on("bridge/event")
        assert sorted(e["pen"] for e in events if e["event"] == "connected") == bonded, events

        def info_counts():
            info = h.sub.last("bridge/info")
            return info if info and info["counters"]["records"] >= sum(
                len(telemetry(h.sub, s, sessions[s])) for s in bonded) else None
        info = nh.wait_until(info_counts, 5, "bridge/info counting the records", interval=0.05)
        assert info["hub_id"] == "e2e" and info["adapter"] == "hci0" and info["version"], info
        assert info["pens_connected"] == 2 and info["bluetoothd"] is True, info
        assert info["counters"]["malformed"] == 0 and info["counters"]["duplicates"] == 0, info
        assert "dropped_telemetry" in info["counters"]["outbox"], info

        # the unbonded pen: never connected, never published
        for s in unbonded:
            assert h.pen(s).prop("Connected") is False
            assert ("pen %s: connected" % s) not in h.log_text("needle-pensim")
            assert not [m.topic for m in h.sub.messages() if s in m.topic]

        assert h.stop_daemon() == 0
        nh.wait_until(lambda: h.sub.last("bridge/state") == {"state": "offline"},
                      5, "bridge/state offline", interval=0.05)
        log = h.log_text("needlegated")
        assert "-WARNING" not in log, "warnings in a run without faults:\n" + log


def test_startnotify():
    """Telemetry through StartNotify (the fallback path) is as complete as through AcquireNotify."""
    with e2e(pens=1, unpaired=0, config={"bluetooth": {"telemetry_notify": "start"}}) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        assert h.sub.last("pens/%s/state" % serial)["telemetry_path"] == "start_notify"
        session_id = run_session(h, serial, 2)
        records = check_session_complete(h.sub, serial, session_id)
        assert len(records) >= 60, len(records)


def test_batch():
    """By default the records of a notification go out as one message: {"pen", "session",
    "records": [...]}, every record complete, none lost; the simulator sends 4 records per
    notification at 100/s."""
    with e2e(pens=1, unpaired=0, rate=100) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        assert h.sub.last("bridge/info")["telemetry_batch"] == "notification"
        session_id = run_session(h, serial, 2)
        records = check_session_complete(h.sub, serial, session_id)
        batches = h.sub.on("pens/%s/telemetry" % serial)
        assert all(sorted(b) == ["pen", "records", "session"] for b in batches), batches[:3]
        assert all(b["pen"] == serial and b["session"] == session_id for b in batches), batches[:3]
        sizes = [len(b["records"]) for b in batches]
        assert sum(sizes) == len(records) and max(sizes) <= 12, sizes
        assert len(batches) <= len(records) / 2, "%d messages for %d records" % (len(batches), len(records))


def test_per_record():
    """telemetry_batch=record: one message per record, {"pen", "session", "seq", ...}."""
    with e2e(pens=1, unpaired=0, rate=100, config={"mqtt": {"telemetry_batch": "record"}}) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        assert h.sub.last("bridge/info")["telemetry_batch"] == "record"
        session_id = run_session(h, serial, 2)
        records = check_session_complete(h.sub, serial, session_id)
        msgs = h.sub.on("pens/%s/telemetry" % serial)
        assert len(msgs) == len(records) and all("records" not in m and "seq" in m for m in msgs), msgs[:3]


def test_malformed():
    """A malformed notification is counted and logged once; the session goes on."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(0.5)
        # an empty notification (legal in ATT) is a malformed one, not the socket's end
        for kind in ["telemetry_bad_crc", "telemetry_size_mismatch", "telemetry_bad_crc", "telemetry_empty"]:
            h.pen(serial).call("SendMalformed", "(s)", kind)
            time.sleep(0.2)
        time.sleep(0.5)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        check_session_complete(h.sub, serial, session_id)
        nh.wait_until(lambda: h.sub.last("bridge/info")["counters"]["malformed"] == 4,
                      5, "bridge/info counting 4 malformed notifications", interval=0.05)
        log = h.log_text("needlegated")
        assert log.count("malformed Telemetry notification") == 1, log
        assert "bad_crc" in log
        assert "socket closed" not in log and "disconnected" not in log, "the link stayed up"


def test_link_drop_replay():
    """A link lost mid-session: the records made meanwhile come back, replayed, none twice."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(1)
        h.pen(serial).call("DropLink")
        nh.wait_until(lambda: h.sub.last("pens/%s/state" % serial)["connected"] is False,
                      5, "the daemon to see the pen go", interval=0.05)
        time.sleep(1)
        wait_connected(h.sub, [serial], timeout=15)
        time.sleep(1)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        records = check_session_complete(h.sub, serial, session_id, in_order=False)
        replayed = [r for r in records if r["replayed"]]
        assert len(replayed) >= 20, "only %d records replayed after a link loss of ~1.5 s" % len(replayed)
        assert not gap_alerts(h, serial), "a gap alert though the pen had every record"
        # the replay starts a little below the gap: those come twice and are dropped, counted
        nh.wait_until(lambda: h.sub.last("bridge/info")["counters"]["replayed"] == len(replayed)
                      and h.sub.last("bridge/info")["counters"]["duplicates"] >= 1, 5,
                      "bridge/info counting replayed records and dropped duplicates", interval=0.05)


def test_cp_silent():
    """After a link loss the pen's Control Point stays silent for longer than the 5 s time-out,
    then answers again: the daemon keeps asking (2 s, 4 s, 8 s apart) while the pen may still hold
    the records, and gets every one of them: no telemetry_gap, nothing missing."""
    with e2e(pens=1, unpaired=0, rate=25) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        pen = h.pen(serial)
        session_id = pen.call("StartSession")[0]
        time.sleep(1)
        pen.call("SetControlPointSilent", "(b)", True)
        pen.call("DropLink")
        time.sleep(0.5)
        wait_connected(h.sub, [serial])
        silent_from = time.monotonic()
        nh.wait_until(lambda: "no answer to report_stored_records" in h.log_text("needlegated"), 15,
                      "the daemon's request timing out", interval=0.1)
        time.sleep(max(0.0, 15 - (time.monotonic() - silent_from)))  # silent for 15 s after the reconnection
        pen.call("SetControlPointSilent", "(b)", False)
        log = h.log_text("needlegated")
        assert "asking again in 2 s, as long as the pen may still hold them" in log, log[-3000:]
        assert not gap_alerts(h, serial), "a gap alert while the pen still had the records"
        nh.wait_until(lambda: any(r["replayed"] for r in telemetry(h.sub, serial, session_id)), 15,
                      "the stored records, once the pen answers again", interval=0.1)
        pen.call("StopSession", "(s)", "stopped")
        records = check_session_complete(h.sub, serial, session_id, in_order=False)
        assert any(r["replayed"] for r in records)
        assert not gap_alerts(h, serial), gap_alerts(h, serial)
        assert h.sub.last("bridge/info")["counters"]["lost"] == 0


def test_gap_alert():
    """A link lost longer than the pen's store reaches: what it still has comes back replayed,
    the rest becomes one telemetry_gap alert naming the lost range; nothing else is missing."""
    with e2e(pens=1, unpaired=0, scenario_text="[pen 1]\ncapacity=20\n") as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(1)
        h.pen(serial).call("DropLink")
        time.sleep(0.5)  # the daemon reconnects after ~1 s: ~50 records at 50/s; the pen keeps 20
        wait_connected(h.sub, [serial])
        time.sleep(1)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        alerts = nh.wait_until(lambda: gap_alerts(h, serial), 15, "a telemetry_gap alert", interval=0.05)
        assert len(alerts) == 1, alerts
        alert = alerts[0]
        assert alert["rule"] == "telemetry_gap" and alert["severity"] == "warning", alert
        assert alert["pen"] == serial and alert["session"] == session_id, alert
        parse_time(alert["t"])
        assert alert["measured"] == alert["last_seq"] - alert["first_seq"] + 1 >= 20, alert
        assert alert["seq"] == alert["first_seq"] and alert["message"], alert
        started = wait_session_event(h.sub, serial, session_id, "started")
        ended = wait_session_event(h.sub, serial, session_id, "ended")
        records = telemetry(h.sub, serial, session_id)
        seqs = [r["seq"] for r in records]
        assert len(seqs) == len(set(seqs)), "duplicates"
        lost = set(range(alert["first_seq"], alert["last_seq"] + 1))
        event_seqs = {e["seq"] for e in events(h.sub, serial, session_id)}
        expected = set(range(started["seq"] + 1, ended["seq"])) - event_seqs
        assert not (lost & set(seqs)), "a record both published and reported lost"
        assert expected - lost == set(seqs), sorted(expected - lost - set(seqs))[:20]
        # the pen's 20 stored records reach back less far than the gap; those the gateway had not
        # received live since reconnecting come replayed
        assert 1 <= sum(r["replayed"] for r in records) <= 20, sum(r["replayed"] for r in records)
        nh.wait_until(lambda: h.sub.last("bridge/info")["counters"]["lost"] == alert["measured"],
                      5, "bridge/info counting the lost records", interval=0.05)


def test_session_end_lost():
    """A session that ended while the link was down (the pen keeps no events): on reconnection
    the daemon sees the pen idle, fetches the records the pen stored while away, and closes the
    session itself, saying its end event was lost."""
    with e2e(pens=1, unpaired=0, pensim_args=["--connect-delay-ms", "300"]) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(1)
        h.pen(serial).call("DropLink")
        time.sleep(1)  # the pen goes on recording into its storage while the link is down
        h.pen(serial).call("StopSession", "(s)", "stopped")
        last_record = h.pen(serial).prop("NextSeq") - 2  # the end event took the last number
        ended = wait_session_event(h.sub, serial, session_id, "ended", inferred=True)
        assert ended["end_event_lost"] is True and ended["reason"] == "unknown", ended
        assert ended["seq"] is None and 1.0 <= ended["duration_s"] <= 10.0, ended
        parse_time(ended["t"])
        nh.wait_until(lambda: h.sub.last("pens/%s/state" % serial)["session"] is None,
                      5, "the pen state without a session", interval=0.05)
        records = telemetry(h.sub, serial, session_id)
        seqs = [r["seq"] for r in records]
        assert seqs == sorted(set(seqs)) or len(seqs) == len(set(seqs)), "duplicates"
        started = wait_session_event(h.sub, serial, session_id, "started")
        assert set(range(started["seq"] + 1, max(seqs) + 1)) <= set(seqs), "holes in the session"
        # what the pen recorded while away came back from its storage, before the session closed
        assert max(seqs) == last_record, (max(seqs), last_record)
        assert any(r["replayed"] for r in records), "no record was replayed"
        assert not gap_alerts(h, serial), gap_alerts(h, serial)


def test_sigkill_restart():
    """The daemon killed mid-session and restarted: nothing lost, repeats only what QoS 1 allows."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(1.5)
        assert h.stop_daemon(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(1)
        h.start_daemon()
        wait_connected(h.sub, [serial])
        time.sleep(1.5)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        # QoS 1: what was in flight at the kill may come twice; a handful at most
        check_session_complete(h.sub, serial, session_id, allow_dups=30, in_order=False)


def test_broker_restart():
    """The broker stopped for a while mid-session and started again: nothing lost."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        session_id = h.pen(serial).call("StartSession")[0]
        time.sleep(1)
        h.stop_mosquitto()
        time.sleep(3)
        h.start_mosquitto()
        time.sleep(2)
        h.pen(serial).call("StopSession", "(s)", "stopped")
        check_session_complete(h.sub, serial, session_id, allow_dups=30, in_order=False)


def table_root_pages(db):
    """{table: byte offset of its root page} of a database no one writes."""
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        return {name: (root - 1) * page_size for name, root in
                con.execute("SELECT name, rootpage FROM sqlite_master WHERE type = 'table' AND rootpage > 1")}
    finally:
        con.close()


def damage(db, offset, size=4096):
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(size))


def test_store_damaged():
    """A database damaged while the daemon was stopped (garbage over the root page of each of its
    tables in turn, then a file of garbage): at start it is moved aside, a new one is made, the
    event is logged and published, and the pens are served again."""
    import glob
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        run_session(h, serial, 1)
        db = os.path.join(h.dir, "state", "needlegate.db")
        assert h.stop_daemon() == 0
        tables = sorted(table_root_pages(db))
        assert {"outbox", "pen_sessions", "schema_version"} <= set(tables), tables
        for what in tables + ["file"]:
            if what != tables[0]:
                assert h.stop_daemon() == 0
            assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0
            if what == "file":
                damage(db, 0, os.path.getsize(db))
            else:
                damage(db, table_root_pages(db)[what])
            events_before = len(h.sub.on("bridge/event"))
            h.start_daemon()
            h.wait_gateway()
            ev = nh.wait_until(lambda: [e for e in h.sub.on("bridge/event")[events_before:]
                                        if e.get("event") == "store_replaced"], 15,
                               "bridge/event store_replaced (%s damaged)" % what)[0]
            moved = glob.glob(db + ".damaged-*")
            assert moved and any(m in ev["detail"] for m in moved), (moved, ev)
            assert "the database was damaged" in h.log_text("needlegated")
            wait_connected(h.sub, [serial])
            for m in moved:
                os.unlink(m)
        session_id = run_session(h, serial, 1)
        check_session_complete(h.sub, serial, session_id, after_seq=0)


def test_store_damaged_running():
    """A page found damaged only while the daemon runs (the pen's saved sequence numbers, read when
    it connects): the pen is served all the same, nothing of its session is lost, bridge/info
    says the database is damaged; the next start replaces it."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        run_session(h, serial, 1)
        db = os.path.join(h.dir, "state", "needlegate.db")
        h.pen(serial).call("SetPresent", "(b)", False)
        assert h.stop_daemon() == 0
        offset = table_root_pages(db)["pen_sessions"]
        h.start_daemon()
        h.wait_gateway()
        damage(db, offset)  # after the check at start, before the pen's state is read
        # the daemon has every page in its cache since the check: another connection's write (to the
        # WAL) makes it read the file again, as a cache too small for a big database would
        import sqlite3
        con = sqlite3.connect(db, timeout=10)
        con.execute("CREATE TABLE touched (x)")
        con.commit()
        con.close()
        h.pen(serial).call("SetPresent", "(b)", True)
        wait_connected(h.sub, [serial])
        session_id = run_session(h, serial, 2)
        check_session_complete(h.sub, serial, session_id, after_seq=0)
        log = h.log_text("needlegated")
        assert "serving the pen without its saved sequence numbers" in log, log[-3000:]
        assert "the database is damaged" in log, log[-3000:]
        nh.wait_until(lambda: "damaged" in (h.sub.last("bridge/info")["store"]["problem"] or ""), 10,
                      "bridge/info naming the damaged database", interval=0.1)
        damaged = [e for e in h.sub.on("bridge/event") if e.get("event") == "store_damaged"]
        assert len(damaged) == 1 and "malformed" in damaged[0]["detail"], damaged
        assert h.stop_daemon() == 0
        h.start_daemon()
        h.wait_gateway()
        nh.wait_until(lambda: "the database was damaged" in h.log_text("needlegated"), 15,
                      "the damaged database replaced at the next start")


def test_link_quality_no_hci():
    """Link quality without HCI (the simulator's adapter is no HCI device; CI's kernel has no
    Bluetooth at all): connected pens carry rssi_dbm and linkquality null in their state, in
    bridge/devices, on D-Bus and in needlectl status; the daemon reads every second for each pen,
    says why it cannot once, and serves the pens as usual."""
    with e2e(pens=2, unpaired=0, config={"bluetooth": {"link_quality_interval": "1"}}) as h:
        bonded, _ = h.bonded_and_unbonded()
        wait_connected(h.sub, bonded)
        # at least 3 rounds of reads for both pens
        nh.wait_until(lambda: h.log_text("needlegated").count("link quality of ") >= 5, 15,
                      "the daemon to try the link quality of both pens again and again", interval=0.2)
        session_id = run_session(h, bonded[0], 1)
        check_session_complete(h.sub, bonded[0], session_id)
        log = h.log_text("needlegated")
        said = [line for line in log.splitlines() if "link quality unknown:" in line]
        assert len(said) == 1, "the reason said once, not per pen and interval: %s" % said
        assert "rssi_dbm and linkquality stay null" in said[0], said
        nh.log("the daemon said, once: " + said[0])
        for serial in bonded:
            state = h.sub.last("pens/%s/state" % serial)
            assert state["connected"] is True, state
            assert "rssi_dbm" in state and state["rssi_dbm"] is None, state
            assert "linkquality" in state and state["linkquality"] is None, state
            path, props = h.pen_object(serial)
            assert props["LinkQuality"] == -1 and props["LinkRSSI"] == 0, props
        entry = next(p for p in h.sub.last("bridge/devices")["pens"] if p["pen"] == bonded[0])
        assert entry["rssi_dbm"] is None and entry["linkquality"] is None, entry
        assert not [e for e in h.sub.on("bridge/event") if e["event"] == "weak_link"]
        status = h.ctl("status", bonded[0])
        assert status.returncode == 0 and "Signal:     unknown" in status.stdout, status.stdout
        js = h.ctl("status", "--json", bonded[0])
        assert js.returncode == 0 and '"rssi_dbm":null' in js.stdout.replace(" ", ""), js.stdout
        assert h.stop_daemon() == 0


def test_broker_back_quickly():
    """After an 8 s outage the daemon is back on the broker within 3 s of its return (a cheap TCP
    probe every second), not after the rest of its backoff (the next attempt would come 4-10 s later)."""
    with e2e(pens=1, unpaired=0) as h:
        (serial,), _ = h.bonded_and_unbonded()
        wait_connected(h.sub, [serial])
        connected = "connected to the MQTT broker"
        before = h.log_text("needlegated").count(connected)
        h.stop_mosquitto()
        time.sleep(8)
        h.start_mosquitto()
        back = time.monotonic()
        nh.wait_until(lambda: h.log_text("needlegated").count(connected) > before, 40, "the daemon back")
        delay = time.monotonic() - back
        nh.log("reconnected %.1f s after the broker came back" % delay)
        assert delay < 3.0, delay


def published_with_seq(sub, serial):
    """Every record and event of the pen that came, with its seq."""
    return [m for m in telemetry(sub, serial) + sub.on("pens/%s/event" % serial)
            if isinstance(m, dict) and isinstance(m.get("seq"), int)]


def test_bluetoothd_restart():
    """bluetoothd (the simulator) stopped and started again: the daemon notices, serves the pens
    again by itself, and nothing is lost or repeated. The pen keeps its sequence counter, as a
    real pen does while only bluetoothd restarts."""
    with e2e(pens=2, unpaired=0) as h:
        bonded, _ = h.bonded_and_unbonded()
        wait_connected(h.sub, bonded)
        first = {s: h.pen(s).call("StartSession")[0] for s in bonded}
        time.sleep(1)
        next_seq = {s: h.pen(s).prop("NextSeq") for s in bonded}
        assert h.stop_pensim() == 0
        nh.wait_until(lambda: h.sub.last("bridge/info")["bluetoothd"] is False,
                      5, "bridge/info to say bluetoothd is gone", interval=0.05)
        nh.wait_until(lambda: all(h.sub.last("pens/%s/state" % s)["connected"] is False for s in bonded),
                      5, "the pens shown disconnected", interval=0.05)
        # the pen went on numbering between the read and the stop: continue after the last it sent
        first_seq = {s: max([next_seq[s]] + [m["seq"] + 1 for m in published_with_seq(h.sub, s)])
                     for s in bonded}
        scenario = h.write("continue.scenario", "".join("[pen %d]\nfirst-seq=%d\n" % (i + 1, first_seq[s])
                                                        for i, s in enumerate(bonded)))
        time.sleep(1)
        h.start_pensim(["--scenario", scenario])
        nh.wait_until(lambda: h.sub.last("bridge/info")["bluetoothd"] is True,
                      10, "bridge/info to say bluetoothd is back", interval=0.05)
        for s in bonded:
            # the first session: everything the pen made before the restart arrived, once
            seqs = sorted(r["seq"] for r in telemetry(h.sub, s, first[s]))
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), "holes before the restart"
            assert seqs[-1] >= next_seq[s] - 3, (seqs[-1], next_seq[s])
        wait_connected(h.sub, bonded)
        second = {s: h.pen(s).call("StartSession")[0] for s in bonded}
        time.sleep(1.5)
        for s in bonded:
            h.pen(s).call("StopSession", "(s)", "stopped")
        for s in bonded:
            # the restarted simulator's pens lost their sessions: the daemon closed them itself
            ended = wait_session_event(h.sub, s, first[s], "ended", inferred=True)
            assert ended["end_event_lost"] is True, ended
            check_session_complete(h.sub, s, second[s], after_seq=first_seq[s] - 1)
            assert not gap_alerts(h, s), gap_alerts(h, s)
        assert "bluetoothd left the bus" in h.log_text("needlegated")


def test_max_connections():
    """max_connections is honoured; a pen that vanished (its connects hang until they time out)
    does not keep a waiting pen from connecting."""
    with e2e(pens=3, unpaired=0, config={"bluetooth": {"max_connections": 2}},
             pensim_args=["--connect-timeout-ms", "3000"]) as h:
        bonded, _ = h.bonded_and_unbonded()

        def connected():
            return [s for s in bonded if (h.sub.last("pens/%s/state" % s) or {}).get("connected")]
        nh.wait_until(lambda: len(connected()) == 2, 15, "two pens connected", interval=0.05)
        time.sleep(2)
        first = connected()
        assert len(first) == 2, first
        waiting = [s for s in bonded if s not in first][0]
        assert h.pen(waiting).prop("Connected") is False
        # one connected pen leaves the room: its link drops and reconnecting it hangs
        gone = first[0]
        h.pen(gone).call("SetPresent", "(b)", False)
        nh.wait_until(lambda: waiting in connected(), 20, "the waiting pen to get the free slot", interval=0.05)
        time.sleep(1)
        now = connected()
        assert sorted(now) == sorted([first[1], waiting]), now
        assert h.pen(gone).prop("Connected") is False


def test_bonding_changes():
    """A pen bonded while the daemon runs is served from then on; a pen whose bond is removed is
    dropped and never connected again."""
    with e2e(pens=3, unpaired=1) as h:
        bonded, unbonded = h.bonded_and_unbonded()
        wait_connected(h.sub, bonded)
        time.sleep(1)
        assert h.pen(unbonded[0]).prop("Connected") is False
        h.pen(unbonded[0]).call("SetBonded", "(b)", True)
        nh.wait_until(lambda: [e for e in h.sub.on("bridge/event") if e["event"] == "paired"],
                      15, "a 'paired' bridge event", interval=0.05)
        wait_connected(h.sub, unbonded)

        h.pen(bonded[0]).call("SetBonded", "(b)", False)
        nh.wait_until(lambda: [e for e in h.sub.on("bridge/event")
                               if e["event"] == "removed" and e["pen"] == bonded[0]], 15, "a 'removed' bridge event for %s" % bonded[0], interval=0.05)
        nh.wait_until(lambda: h.sub.last("pens/%s/state" % bonded[0])["connected"] is False,
                      5, "%s shown disconnected" % bonded[0], interval=0.05)
        time.sleep(3)  # longer than the reconnect delay
        assert h.pen(bonded[0]).prop("Connected") is False
        devices = h.sub.last("bridge/devices")
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
    assert out.returncode == 78 and "/nonexistent/needlegated.conf" in out.stderr, out
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[mqtt]\ntelemetry_qos=7\n")
        conf.flush()
        out = subprocess.run([daemon, "--config", conf.name], capture_output=True, text=True, timeout=10)
        assert out.returncode == 78, out
        assert conf.name in out.stderr and "[mqtt] telemetry_qos: '7'" in out.stderr, out.stderr
        out = subprocess.run([daemon, "--config", conf.name, "--hub-id", "a/b"], capture_output=True, text=True,
                             timeout=10)
        assert out.returncode == 78 and "telemetry_qos" in out.stderr, out.stderr
    # an override is checked like the key it overrides
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[gateway]\nstate_dir=/tmp\n")
        conf.flush()
        out = subprocess.run([daemon, "--config", conf.name, "--hub-id", "a/b"], capture_output=True, text=True,
                             timeout=10)
        # the value came from the command line: the message says so, not the file
        assert out.returncode == 78 and "--hub-id: [gateway] hub_id: 'a/b'" in out.stderr, out.stderr
        assert conf.name not in out.stderr, out.stderr
        out = subprocess.run([daemon, "--config", conf.name, "--mqtt-url", "http://x"], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 78 and "--mqtt-url: [mqtt] url: 'http://x'" in out.stderr, out.stderr


def test_store_not_writable():
    """A database left by a run as root: the service user is told which file, whose, and the fix,
    instead of failing every write later."""
    import os
    import pwd
    import subprocess
    import tempfile
    daemon = os.environ["NEEDLEGATED"]
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        state = os.path.join(top, "state")
        os.mkdir(state)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(state, "needlegate.db"), "w"):
            pass
        os.chmod(os.path.join(state, "needlegate.db"), 0o644)  # root's, as a run by hand leaves it
        conf = os.path.join(top, "needlegated.conf")
        with open(conf, "w") as f:
            f.write("[gateway]\nhub_id=perm\nstate_dir=%s\n" % state)
        os.chmod(conf, 0o644)
        out = subprocess.run(["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                              "--clear-groups", daemon, "--config", conf],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 1, (out.returncode, out.stderr)
        assert "needlegate.db is owned by root (mode 0644) and nobody cannot write it" in out.stderr, out.stderr
        assert "sudo chown -R nobody %s" % state in out.stderr, out.stderr


def test_disk_full():
    """The state directory fills up mid-session: the hub says so (needlectl status, D-Bus,
    bridge/info once it can), logs it a few times, not at every retry, and once there is room
    again nothing is lost."""
    import subprocess
    with e2e(pens=2, unpaired=0, daemon=False) as h:
        state = os.path.join(h.dir, "state")
        os.makedirs(state)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "needle-e2e-full", state], check=True)
        try:
            h.start_daemon()
            h.wait_gateway()
            bonded, _ = h.bonded_and_unbonded()
            wait_connected(h.sub, bonded)
            serial = bonded[0]
            session_id = h.pen(serial).call("StartSession")[0]
            time.sleep(1)
            # the broker away, the outbox grows on disk; then the disk fills: a file takes every
            # free block
            h.stop_mosquitto()
            subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(state, "filler"), "bs=64k"],
                           capture_output=True)
            problem = nh.wait_until(lambda: h.gw_prop("StoreProblem") or None, 15, "StoreProblem on D-Bus")
            assert "full" in problem, problem
            out = h.ctl("status").stdout
            assert "Database:     " in out and "full" in out, out
            time.sleep(4)
            h.pen(serial).call("StopSession", "(s)", "stopped")
            time.sleep(1)
            os.unlink(os.path.join(state, "filler"))
            nh.wait_until(lambda: h.gw_prop("StoreProblem") == "", 15, "StoreProblem to clear")
            h.start_mosquitto()
            nh.wait_until(lambda: (h.sub.last("bridge/info") or {}).get("store") == {"ok": True, "problem": None},
                          15, "bridge/info store ok")
            check_session_complete(h.sub, serial, session_id, allow_dups=30, in_order=False)
            log = h.log_text("needlegated")
            assert log.count("database or disk is full") <= 4, log.count("database or disk is full")
            assert "the database can be written again" in log
        finally:
            subprocess.run(["umount", "-l", state])  # lazy: the daemon may still hold it open


def test_systemd_notify():
    """Under systemd: READY=1 once serving, STATUS, WATCHDOG=1 at half the watchdog interval,
    STOPPING=1 on SIGTERM."""
    import socket as sk
    with e2e(pens=1, unpaired=0, daemon=False) as h:
        path = h.dir + "/notify"
        srv = sk.socket(sk.AF_UNIX, sk.SOCK_DGRAM)
        srv.bind(path)
        srv.settimeout(0.2)
        h.start_daemon(env=h.env(NOTIFY_SOCKET=path, WATCHDOG_USEC="400000"))
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
        assert h.stop_daemon() == 0
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
    "per-record": test_per_record,
    "malformed": test_malformed,
    "link-drop-replay": test_link_drop_replay,
    "gap-alert": test_gap_alert,
    "cp-silent": test_cp_silent,
    "session-end-lost": test_session_end_lost,
    "sigkill-restart": test_sigkill_restart,
    "broker-restart": test_broker_restart,
    "bluetoothd-restart": test_bluetoothd_restart,
    "max-connections": test_max_connections,
    "bonding-changes": test_bonding_changes,
    "store-not-writable": test_store_not_writable,
    "broker-back-quickly": test_broker_back_quickly,
    "store-damaged": test_store_damaged,
    "store-damaged-running": test_store_damaged_running,
    "link-quality-no-hci": test_link_quality_no_hci,
    "disk-full": test_disk_full,
    "cli": test_cli,
    "systemd-notify": test_systemd_notify,
}

if __name__ == "__main__":
    nh.run_named(TESTS, sys.argv[1:])
