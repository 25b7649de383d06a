# SPDX-License-Identifier: LGPL-2.1-or-later
"""What needlegated publishes, read back from an MqttClient (base needlegate/HUB) and checked as
the MQTT API document and BRIEF.md name the fields."""

import datetime
import re

from .core import wait_until
from .profile import AREAS


def parse_time(text):
    """ISO 8601 UTC with milliseconds, as the payloads carry it -> ms since the epoch."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), "not ISO 8601 UTC ms: %r" % text
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return round(dt.timestamp() * 1000)


def wait_connected(sub, serials, timeout=20):
    def all_connected():
        return all((sub.last("pens/%s/state" % s) or {}).get("connected") for s in serials)
    wait_until(all_connected, timeout, "pens %s connected" % ", ".join(serials), interval=0.05)


def wait_session_event(sub, serial, session_id, event, timeout=15, after_seq=0, inferred=False):
    """The pen's event, or with inferred=True an end the daemon inferred (seq null,
    end_event_lost true)."""
    def found():
        for m in sub.on("pens/%s/session" % serial):
            seq = m.get("seq")
            if m.get("session") != session_id or m.get("event") != event:
                continue
            if (inferred and seq is None) or (not inferred and seq is not None and seq > after_seq):
                return m
        return None
    return wait_until(found, timeout, "session %d of %s %s" % (session_id, serial, event), interval=0.05)


def unpack_telemetry(msg):
    """The records of one telemetry message, each with "pen" and "session": a batch
    ({"pen", "session", "records": [...]}, telemetry_batch notification) gives its records, a
    single record (telemetry_batch record) itself."""
    if "records" not in msg:
        return [msg]
    assert set(msg) == {"pen", "session", "records"}, msg
    assert isinstance(msg["records"], list) and msg["records"], msg
    for rec in msg["records"]:
        assert "pen" not in rec and "session" not in rec, msg
    return [dict(rec, pen=msg["pen"], session=msg["session"]) for rec in msg["records"]]


def telemetry(sub, serial, session_id=None):
    """The records of a pen (of one session), in arrival order; batches are unpacked."""
    records = []
    for m in sub.on("pens/%s/telemetry" % serial):
        records.extend(unpack_telemetry(m))
    return [r for r in records if session_id is None or r.get("session") == session_id]


def events(sub, serial, session_id):
    return [m for m in sub.on("pens/%s/event" % serial) if m.get("session") == session_id]


def check_record(rec, serial, session_id):
    """One telemetry payload, field by field, as BRIEF.md names them."""
    assert rec["pen"] == serial, rec
    assert rec["session"] == session_id, rec
    assert isinstance(rec["seq"], int) and rec["seq"] > 0, rec
    parse_time(rec["t"])
    assert isinstance(rec["offset_ms"], int) and rec["offset_ms"] >= 0, rec
    assert isinstance(rec["depth_mm"], float) and 0.0 <= rec["depth_mm"] <= 3.0, rec
    assert isinstance(rec["speed_hz"], float) and 0.0 <= rec["speed_hz"] <= 6553.5, rec
    assert rec.get("area", "unspecified") in AREAS, rec
    if "pressure_gf" in rec:
        assert isinstance(rec["pressure_gf"], int) and 0 <= rec["pressure_gf"] <= 65535, rec
    assert isinstance(rec["motor"], bool), rec
    assert isinstance(rec["contact"], bool), rec
    assert isinstance(rec["replayed"], bool), rec


def check_session_complete(sub, serial, session_id, allow_dups=0, in_order=True, after_seq=0):
    """Every record of the session arrived once (by seq), stamped on one session clock.
    after_seq: ignore what came before (a restarted simulator reuses session ids)."""
    started = wait_session_event(sub, serial, session_id, "started", after_seq=after_seq)
    ended = wait_session_event(sub, serial, session_id, "ended", after_seq=after_seq)
    for msg in (started, ended):
        assert msg["pen"] == serial and msg["session"] == session_id, msg
        parse_time(msg["t"])
    assert started["cartridge"]["id"] > 0 and started["cartridge"]["needles"] > 0, started
    assert started["cartridge"]["use_count"] >= 1, started
    assert started["area"] in AREAS and "plan_id" in started, started
    assert isinstance(ended["duration_s"], float) and ended["duration_s"] > 0, ended
    assert ended["reason"] == "stopped", ended

    records = [r for r in telemetry(sub, serial, session_id) if r["seq"] > after_seq]
    assert records, "no telemetry for session %d of %s" % (session_id, serial)
    for rec in records:
        check_record(rec, serial, session_id)
    seqs = [r["seq"] for r in records]
    unique = sorted(set(seqs))
    dups = len(seqs) - len(unique)
    assert dups <= allow_dups, "%d duplicate records (allowed %d)" % (dups, allow_dups)
    if in_order:
        assert seqs == unique, "records out of order: %s" % seqs[:50]
    event_seqs = {e["seq"] for e in events(sub, serial, session_id) if e["seq"] > after_seq}
    expected = set(range(started["seq"] + 1, ended["seq"])) - event_seqs
    missing = sorted(expected - set(unique))
    extra = sorted(set(unique) - expected)
    assert not missing, "%d records missing: %s" % (len(missing), missing[:40])
    assert not extra, "records outside the session: %s" % extra[:40]
    # one clock per session: t - offset is the session start, the same for every record
    starts = {parse_time(r["t"]) - r["offset_ms"] for r in records}
    assert len(starts) == 1, "records stamped against %d different session starts" % len(starts)
    return records
