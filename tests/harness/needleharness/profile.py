# SPDX-License-Identifier: LGPL-2.1-or-later
"""The NeedlePen GATT profile, written again from the specification independently of proto/, so
that the tests cross-check the codec: UUIDs, Control Point codes, request encoders, decoders."""

import struct
import time

UUID_SERVICE = "a3c10001-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_PEN_FEATURES = "a3c10002-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_TELEMETRY = "a3c10003-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_SESSION_EVENT = "a3c10004-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_CONTROL_POINT = "a3c10005-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_PEN_STATUS = "a3c10006-8b6f-4e2d-9c55-2f1d7e9b0c41"
UUID_SERIAL_NUMBER = "00002a25-0000-1000-8000-00805f9b34fb"
UUID_BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"

OP_SET_TIME, OP_SET_LIMITS, OP_CLEAR_LIMITS, OP_REPORT, OP_STOP, OP_SET_AREA, OP_IDENTIFY = range(1, 8)
SUCCESS, NOT_SUPPORTED, INVALID_PARAMETER, FAILED, NOT_PERMITTED, BUSY = range(1, 7)

FLAG_AREA, FLAG_PRESSURE, FLAG_REPLAYED, FLAG_MOTOR, FLAG_CONTACT, FLAG_CRC = (1, 2, 4, 8, 16, 32)
EVENT_NAMES = {1: "session_started", 2: "session_ended", 3: "area_changed", 4: "cartridge_inserted",
               5: "cartridge_removed", 6: "error_raised", 7: "error_cleared", 8: "limits_applied"}
# Area names by code, as the gateway publishes them.
AREAS = ["unspecified", "forehead", "periorbital", "nose", "cheeks", "perioral", "chin_jawline", "neck",
         "decollete", "arms", "hands", "abdomen", "thighs", "back", "scalp", "scar", "unknown"]


def crc16_mcrf4xx(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def decode_records(data):
    """Telemetry notification -> list of dicts; ValueError on a malformed record."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError(f"bad record at {pos}: {len(data) - pos} byte(s) left")
        size, flags = data[pos], data[pos + 1]
        expect = 16 + (1 if flags & FLAG_AREA else 0) + (2 if flags & FLAG_PRESSURE else 0) + \
            (2 if flags & FLAG_CRC else 0)
        if size != expect or pos + size > len(data):
            raise ValueError(f"bad record at {pos}: size {size}, flags {flags:#x}")
        rec = data[pos:pos + size]
        seq, session, offset, depth, speed = struct.unpack_from("<IHIHH", rec, 2)
        r = {"seq": seq, "session": session, "offset_ms": offset, "depth": depth, "speed": speed,
             "flags": flags, "replayed": bool(flags & FLAG_REPLAYED)}
        p = 16
        if flags & FLAG_AREA:
            r["area"] = rec[p]
            p += 1
        if flags & FLAG_PRESSURE:
            r["pressure"] = struct.unpack_from("<H", rec, p)[0]
            p += 2
        if flags & FLAG_CRC:
            if struct.unpack_from("<H", rec, p)[0] != crc16_mcrf4xx(rec[:p]):
                raise ValueError(f"bad CRC in record {seq}")
        out.append(r)
        pos += size
    return out


def decode_event(data):
    etype, seq, session, clock = struct.unpack_from("<BIHQ", data, 0)
    ev = {"type": EVENT_NAMES.get(etype, "unknown"), "seq": seq, "session": session, "clock_ms": clock}
    p = data[15:]
    if etype == 1:
        ev["cartridge"], ev["needles"], ev["use_count"], ev["area"] = struct.unpack("<IBHB", p)
    elif etype == 2:
        ev["duration_ms"], ev["reason"] = struct.unpack("<IB", p)
    elif etype == 3:
        ev["area"] = p[0]
    elif etype == 4:
        ev["cartridge"], ev["needles"], ev["use_count"] = struct.unpack("<IBH", p)
    elif etype in (6, 7):
        ev["code"] = struct.unpack("<H", p)[0]
    elif etype == 8:
        ev["max_depth"], ev["min_speed"], ev["max_speed"] = struct.unpack("<HHH", p)
    return ev


def decode_response(data):
    """Control Point indication -> (op, result, records_sent or None)."""
    if len(data) < 3 or data[0] != 0x80:
        raise ValueError(f"not a control point response: {data.hex()}")
    count = struct.unpack_from("<I", data, 3)[0] if len(data) == 7 else None
    return data[1], data[2], count


def decode_status(data):
    state, error, cartridge, needles, session, flags = struct.unpack_from("<BHIBHB", data, 0)
    return {"state": state, "error": error, "cartridge": cartridge, "needles": needles, "session": session,
            "flags": flags}


def now_ms():
    """Wall-clock time in the unit of the pen's clock and of Set Time: ms since the epoch."""
    return int(time.time() * 1000)


def set_time_request(ms):
    return struct.pack("<BQ", OP_SET_TIME, ms)


def set_limits_request(max_depth, min_speed, max_speed):
    return struct.pack("<BHHH", OP_SET_LIMITS, max_depth, min_speed, max_speed)


def report_request(first_seq):
    return struct.pack("<BI", OP_REPORT, first_seq)
