#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fault injection through org.needlegate.PenSim1: malformed data, hangs, range, errors, cartridges, bonds."""

import os
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import (UUID_TELEMETRY, AsyncCall, Harness, Link, decode_records, expect_error, pump,  # noqa: E402
                           wait_until)

ERR = "org.bluez.Error."
PERR = "org.needlegate.PenSim.Error."
GV = nh.GLib.Variant


def check_malformed(h, pen, link):
    seq = pen.prop("NextSeq")
    for kind in ["telemetry_size_mismatch", "telemetry_overrun", "telemetry_bad_crc"]:
        n = len(link.of("telemetry"))
        pen.call("SendMalformed", "(s)", kind)
        wait_until(lambda: len(link.of("telemetry")) > n, 5, kind)
        try:
            decode_records(link.of("telemetry")[-1])
            raise AssertionError(f"{kind} decoded")
        except ValueError:
            pass
    pen.call("SendMalformed", "(s)", "telemetry_depth")
    wait_until(lambda: decode_records(link.of("telemetry")[-1])[0]["depth"] == 301, 5, "depth 3.01 mm")
    checks = {"event_unknown": ("event", lambda v: v[0] == 0x7F and len(v) == 15),
              "event_truncated": ("event", lambda v: len(v) == 5),
              "status_truncated": ("status", lambda v: len(v) == 3),
              "control_not_response": ("cp", lambda v: v[0] != 0x80)}
    for kind, (where, ok) in checks.items():
        n = len(link.of(where))
        pen.call("SendMalformed", "(s)", kind)
        wait_until(lambda: len(link.of(where)) > n and ok(link.of(where)[-1]), 5, kind)
    assert pen.prop("NextSeq") == seq, "malformed notifications use up no sequence number"
    expect_error(PERR + "InvalidArgs", pen.call, "SendMalformed", "(s)", "gibberish")
    pen.call("SendRaw", "(say)", "telemetry", bytes([1, 2, 3]))
    wait_until(lambda: link.of("telemetry")[-1] == bytes([1, 2, 3]), 5, "raw bytes")


def check_bad_control_input(pen):
    assert "area" in expect_error(PERR + "InvalidArgs", pen.call, "SetArea", "(s)", "elbow")
    assert "reason" in expect_error(PERR + "InvalidArgs", pen.call, "StopSession", "(s)", "bored")
    assert "depth_mm" in expect_error(PERR + "InvalidArgs", pen.call, "SetDepth", "(d)", 5.0)
    assert "speed_hz" in expect_error(PERR + "InvalidArgs", pen.call, "SetSpeed", "(d)", 900.0)
    assert "cartridge_id" in expect_error(PERR + "InvalidArgs", pen.call, "InsertCartridge", "(uyq)", 0, 9, 0)
    assert "code" in expect_error(PERR + "InvalidArgs", pen.call, "RaiseError", "(q)", 0)
    assert "percent" in expect_error(PERR + "InvalidArgs", pen.call, "SetBattery", "(y)", 150)
    assert "rate_hz" in expect_error(PERR + "InvalidArgs", pen.call, "SetRate", "(u)", 0)
    expect_error(PERR + "Failed", pen.call, "StopSession", "(s)", "stopped")


def check_cartridge_and_error(h, pen, link):
    mark = len(link.events())
    pen.call("InsertCartridge", "(uyq)", 0xC0FFEE, 36, 1)
    ev = link.wait_event("cartridge_inserted", after=mark)
    assert (ev["cartridge"], ev["needles"], ev["use_count"]) == (0xC0FFEE, 36, 1)
    sid = pen.call("StartSession")[0]
    ev = link.wait_event("session_started", after=mark)
    assert (ev["cartridge"], ev["use_count"], ev["session"]) == (0xC0FFEE, 2, sid), "a reused cartridge"
    link.wait_records(10, pred=lambda r: r["session"] == sid)
    pen.call("SetDepth", "(d)", 0.5)
    pen.call("SetSpeed", "(d)", 80.0)
    first = pen.prop("NextSeq")  # every record from here on has the new targets
    link.wait_records(30, pred=lambda r: r["seq"] >= first)
    recent = [r for r in link.records() if r["seq"] >= first]
    assert all(abs(r["depth"] - 50) <= 25 and abs(r["speed"] - 800) <= 80 for r in recent)
    mark = len(link.events())
    pen.call("RaiseError", "(q)", 1)
    assert link.wait_event("error_raised", after=mark)["code"] == 1
    ended = link.wait_event("session_ended", after=mark)
    assert ended["reason"] == 2 and ended["session"] == sid
    assert pen.prop("State") == "error" and pen.prop("Error") == 1
    expect_error(PERR + "Failed", pen.call, "StartSession")
    pen.call("ClearError")
    assert link.wait_event("error_cleared", after=mark)["code"] == 1
    assert pen.prop("State") == "idle"
    status = nh.decode_status(link.of("status")[-1])
    assert status["state"] == 0 and status["error"] == 0 and status["cartridge"] == 0xC0FFEE


def check_charging(h, pen, link):
    pen.call("SetCharging", "(b)", True)
    assert pen.prop("State") == "charging"
    wait_until(lambda: nh.decode_status(link.of("status")[-1])["state"] == 2, 5, "Pen Status charging")
    expect_error(PERR + "Failed", pen.call, "StartSession")
    pen.call("SetCharging", "(b)", False)
    assert pen.prop("State") == "idle"


def check_battery(h, pen):
    pen.call("SetBattery", "(y)", 20)
    wait_until(lambda: h.get_property(pen.device, "org.bluez.Battery1", "Percentage") == 20, 5, "Battery1 20 %")
    assert pen.read(nh.UUID_BATTERY_LEVEL) == bytes([20])


def check_unresponsive(h, pen, link):
    pen.call("StartSession")
    link.wait_records(len(link.records()) + 5)
    pen.call("SetResponsive", "(b)", False)
    pump(0.2)
    n = len(link.of("telemetry"))
    t0 = time.monotonic()
    call = AsyncCall(h, pen.char_path(nh.UUID_PEN_STATUS), nh.CHAR_IFACE, "ReadValue", GV("(a{sv})", ({},)))
    call.wait(10)
    assert call.error == ERR + "Failed" and 0.8 < time.monotonic() - t0 < 5, "the ATT time-out (1 s here)"
    assert len(link.of("telemetry")) == n, "a hung pen sends nothing"
    wait_until(lambda: pen.device_prop("Connected") is False, 5, "the link to drop")
    pen.call("SetResponsive", "(b)", True)
    pen.connect()
    link.wait_records(len(link.records()) + 5)


def check_absent(h, pen):
    pen.call("SetPresent", "(b)", False)
    wait_until(lambda: pen.device_prop("Connected") is False, 5, "the link to drop")
    t0 = time.monotonic()
    msg = expect_error(ERR + "Failed", pen.connect)
    took = time.monotonic() - t0
    assert msg == "le-connection-abort-by-local" and took >= 0.4, (msg, took)
    pen.call("SetPresent", "(b)", True)
    pen.connect()
    assert pen.device_prop("Connected") is True


def check_bond(h, pen):
    pen.call("SetBonded", "(b)", False)
    assert pen.device_prop("Paired") is False and pen.device_prop("Bonded") is False
    msg = expect_error(ERR + "Failed", pen.read, nh.UUID_PEN_FEATURES)
    assert msg.endswith("ATT error: 0x0e"), msg
    wait_until(lambda: pen.device_prop("Connected") is False, 5, "the link to drop after ATT error 0x0e")
    pen.call("SetBonded", "(b)", True)
    assert pen.device_prop("Paired") is True
    pen.connect()
    assert pen.read(nh.UUID_PEN_FEATURES)[0] == 1


def main():
    args = ["--manual", "--att-timeout-ms", "1000", "--connect-timeout-ms", "500"]
    with Harness(pens=1, pensim_args=args) as h:
        pen = h.pen(0)
        link = Link(h, pen)
        check_bad_control_input(pen)
        check_malformed(h, pen, link)
        check_cartridge_and_error(h, pen, link)
        check_charging(h, pen, link)
        check_battery(h, pen)
        check_unresponsive(h, pen, link)
        check_absent(h, pen)
        check_bond(h, pen)
        assert UUID_TELEMETRY
    print("faults: malformed, bad control input, cartridge reuse, device error, battery, hang, absence, bond: ok")


if __name__ == "__main__":
    main()
