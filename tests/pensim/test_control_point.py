#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every Control Point op of a simulated pen, its result codes and one-request-at-a-time rule."""

import os
import struct
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import (BUSY, CHAR_IFACE, INVALID_PARAMETER, NOT_PERMITTED, NOT_SUPPORTED, OP_CLEAR_LIMITS,  # noqa: E402
                           OP_IDENTIFY, OP_REPORT, OP_SET_AREA, OP_SET_LIMITS, OP_SET_TIME, OP_STOP, SUCCESS,
                           UUID_CONTROL_POINT, GLib, Harness, Link, decode_records, decode_response,
                           expect_error, now_ms, pump, report_request, set_limits_request, set_time_request,
                           wait_until)


def check_set_time(link, pen):
    assert link.control(set_time_request(0)) == (OP_SET_TIME, INVALID_PARAMETER, None)
    assert pen.prop("ClockSet") is False
    t = now_ms()
    assert link.control(set_time_request(t)) == (OP_SET_TIME, SUCCESS, None)
    assert pen.prop("ClockSet") is True
    return t


def check_session_start(link, pen, t):
    sid = pen.call("StartSession")[0]
    started = link.wait_event("session_started")
    assert started["session"] == sid and started["use_count"] == 1
    assert abs(started["clock_ms"] - t) < 5000, "the pen clock follows Set Time"
    inserted = link.wait_event("cartridge_inserted")
    assert inserted["seq"] + 1 == started["seq"]
    link.wait_records(30)
    return sid


def check_limits(link, pen):
    assert link.control(set_limits_request(280, 0xFFFF, 0xFFFF)) == (OP_SET_LIMITS, NOT_PERMITTED, None)
    assert link.control(set_limits_request(120, 1300, 1000)) == (OP_SET_LIMITS, INVALID_PARAMETER, None)
    assert link.control(bytes([OP_SET_LIMITS, 120, 0])) == (OP_SET_LIMITS, INVALID_PARAMETER, None)
    assert link.control(set_limits_request(120, 0xFFFF, 1100)) == (OP_SET_LIMITS, SUCCESS, None)
    ev = link.wait_event("limits_applied")
    assert (ev["max_depth"], ev["min_speed"], ev["max_speed"]) == (120, 0xFFFF, 1100)
    assert pen.prop("LimitsActive") is True
    # every record numbered after the event obeys the limits
    link.wait_records(50, pred=lambda r: r["seq"] > ev["seq"])
    after = [r for r in link.records() if r["seq"] > ev["seq"]]
    assert all(r["depth"] <= 120 and r["speed"] <= 1100 for r in after), "the pen clamps to its limits"
    events_before = len(link.events())
    assert link.control(bytes([OP_CLEAR_LIMITS])) == (OP_CLEAR_LIMITS, SUCCESS, None)
    ev = link.wait_event("limits_applied", after=events_before)
    assert (ev["max_depth"], ev["min_speed"], ev["max_speed"]) == (0xFFFF, 0xFFFF, 0xFFFF)
    assert pen.prop("LimitsActive") is False
    link.wait_records(50, pred=lambda r: r["seq"] > ev["seq"])
    after = [r for r in link.records() if r["seq"] > ev["seq"]]
    assert max(r["depth"] for r in after) > 120, "no clamping once limits are cleared"


def check_area(link, pen):
    assert link.control(bytes([OP_SET_AREA, 0x20])) == (OP_SET_AREA, INVALID_PARAMETER, None)
    mark = len(link.events())
    assert link.control(bytes([OP_SET_AREA, 0x04])) == (OP_SET_AREA, SUCCESS, None)
    assert link.wait_event("area_changed", after=mark)["area"] == 4
    n = len(link.records())
    link.wait_records(n + 10)
    assert link.records()[-1]["area"] == 4
    assert pen.prop("Area") == "cheeks"


def check_identify(link, pen):
    assert link.control(bytes([OP_IDENTIFY])) == (OP_IDENTIFY, SUCCESS, None)
    assert pen.prop("Identifying") is True


def check_report_and_busy(link, pen):
    first = link.records()[0]["seq"]
    live = [r for r in link.records() if not r["replayed"]]
    mark = len(link.log)
    pen.write(UUID_CONTROL_POINT, report_request(first))
    pen.write(UUID_CONTROL_POINT, bytes([OP_IDENTIFY]))  # while the replay runs
    wait_until(lambda: len([v for k, v in link.log[mark:] if k == "cp"]) >= 2, 10, "two responses")
    tail = link.log[mark:]
    responses = [struct.unpack_from("<BBB", v) for k, v in tail if k == "cp"]
    assert responses[0] == (0x80, OP_IDENTIFY, BUSY), responses
    resp_index = next(i for i, (k, v) in enumerate(tail) if k == "cp" and v[1] == OP_REPORT)
    replayed = [r for k, v in tail[:resp_index] if k == "telemetry"
                for r in decode_records(v) if r["replayed"]]
    _, result, count = decode_response(tail[resp_index][1])
    assert result == SUCCESS and count == len(replayed) and count >= len(live)
    assert replayed[0]["seq"] == first and all(r["seq"] >= first for r in replayed)
    seqs = [r["seq"] for r in replayed]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    live_by_seq = {r["seq"]: r for r in live}
    for r in replayed:
        if r["seq"] in live_by_seq:
            orig = dict(live_by_seq[r["seq"]], flags=r["flags"], replayed=True)
            assert r == orig, "a replayed record is the stored record with the replayed flag"
    assert link.control(report_request(0xFFFFFFF0)) == (OP_REPORT, SUCCESS, 0)


def check_stop(link, pen, sid):
    mark = len(link.events())
    assert link.control(bytes([OP_STOP])) == (OP_STOP, SUCCESS, None)
    ended = link.wait_event("session_ended", after=mark)
    assert ended["reason"] == 3 and ended["session"] == sid
    assert pen.prop("State") == "idle"
    assert link.control(bytes([OP_STOP])) == (OP_STOP, NOT_PERMITTED, None)


def check_bad_requests(link, pen):
    assert link.control(bytes([0x42, 1, 2])) == (0x42, NOT_SUPPORTED, None)
    expect_error("org.bluez.Error.InvalidArguments", pen.write, UUID_CONTROL_POINT, b"")
    expect_error("org.bluez.Error.NotSupported", pen.write, UUID_CONTROL_POINT, bytes([OP_IDENTIFY]), "command")
    path = pen.char_path(UUID_CONTROL_POINT)
    bad = {"offset": GLib.Variant("s", "zero")}
    expect_error("org.bluez.Error.InvalidArguments", pen.h.call, path, CHAR_IFACE, "WriteValue",
                 GLib.Variant("(aya{sv})", (b"\x07", bad)))
    expect_error("org.bluez.Error.InvalidArguments", pen.h.call, pen.char_path(nh.UUID_SERIAL_NUMBER), CHAR_IFACE,
                 "ReadValue", GLib.Variant("(a{sv})", (bad,)))
    assert pen.read(nh.UUID_SERIAL_NUMBER, offset=2) == pen.serial.encode()[2:], "read with an offset"
    expect_error("org.bluez.Error.InvalidArguments", pen.read, nh.UUID_SERIAL_NUMBER, 200)


def check_sequence(link):
    live = [r["seq"] for r in link.records() if not r["replayed"]]
    seqs = sorted(live + [e["seq"] for e in link.events()])
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "one counter for records and events, no gaps"


def main():
    with Harness(pens=1, pensim_args=["--manual", "--rate", "50"]) as h:
        pen = h.pen(0)
        link = Link(h, pen)
        t = check_set_time(link, pen)
        sid = check_session_start(link, pen, t)
        check_limits(link, pen)
        check_area(link, pen)
        check_identify(link, pen)
        check_report_and_busy(link, pen)
        check_stop(link, pen, sid)
        check_bad_requests(link, pen)
        pump(0.2)
        check_sequence(link)
    print("control point: set time, limits, clear, area, identify, report, busy, stop, bad requests: ok")


if __name__ == "__main__":
    main()
