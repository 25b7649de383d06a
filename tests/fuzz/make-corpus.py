#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpus of each fuzz target (tests/fuzz/<target>/): the profile's vectors and edge cases.

Run it again after changing a seed; crash reproducers found by the fuzzers are added by hand
(as crash-<what>) and are not touched by this script.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc16_mcrf4xx(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def record(flags, seq, session=7, offset=1000, depth=150, speed=1200, area=4, pressure=250):
    size = 16 + (1 if flags & 1 else 0) + (2 if flags & 2 else 0) + (2 if flags & 0x20 else 0)
    body = struct.pack("<BBIHIHH", size, flags, seq, session, offset, depth, speed)
    if flags & 1:
        body += bytes([area])
    if flags & 2:
        body += struct.pack("<H", pressure)
    if flags & 0x20:
        body += struct.pack("<H", crc16_mcrf4xx(body))
    return body


V1 = bytes.fromhex("10182a0000000700e80300009600b004")
V2 = bytes.fromhex("153b2b000000070004040000" "9600b00404fa00352b")
V3 = V1 + bytes.fromhex("10182b0000000700100400009600b004")
V4 = bytes.fromhex("11182a0000000700e80300009600b004")

HEADER = struct.pack("<IHQ", 44, 7, 1879651510272)

CORPUS = {
    "telemetry": {
        "vector-1": V1,
        "vector-2": V2,
        "vector-3": V3,
        "vector-4-size-mismatch": V4,
        "good-then-bad-crc": V1 + V2[:-1] + b"\x00",
        "overrun": V1 + V2[:-3],
        "depth-301": record(0x18, 50, depth=301),
        "depth-251": record(0x18, 51, depth=251),
        "reserved-flags": record(0xd8, 52),
        "mtu-247-12-records": b"".join(record(0x3a, 100 + i, offset=40 * i) for i in range(12)),
        "all-flags": record(0x3f, 60, area=0x42, pressure=0xffff),
    },
    "session-event": {
        "session-started": b"\x01" + HEADER + struct.pack("<IBHB", 0x12345678, 12, 1, 4),
        "session-ended": b"\x02" + HEADER + struct.pack("<IB", 1800000, 3),
        "area-changed": b"\x03" + HEADER + b"\x0f",
        "cartridge-inserted": b"\x04" + HEADER + struct.pack("<IBH", 0xCAFEF00D, 36, 2),
        "cartridge-removed": b"\x05" + struct.pack("<IHQ", 45, 0, 0),
        "error-raised": b"\x06" + HEADER + b"\x01\x00",
        "error-cleared": b"\x07" + HEADER + b"\x34\x12",
        "limits-applied": b"\x08" + HEADER + struct.pack("<HHH", 150, 0xFFFF, 1000),
        "unknown-event": b"\x09" + HEADER,
        "truncated": b"\x01" + HEADER + b"\x78\x56",
        "clock-max": b"\x05" + struct.pack("<IHQ", 46, 1, 0xFFFFFFFFFFFFFFFF),
    },
    "control-request": {
        "set-time": b"\x01" + struct.pack("<Q", 1879651510272),
        "set-limits": b"\x02" + struct.pack("<HHH", 150, 1000, 1500),
        "clear-limits": b"\x03",
        "report-stored-records": b"\x04" + struct.pack("<I", 42),
        "stop-session": b"\x05",
        "set-area": b"\x06\x02",
        "identify": b"\x07",
        "unknown-op": b"\x08\x00",
        "trailing": b"\x07\x00",
    },
    "control-response": {
        "report-success": bytes.fromhex("8004010c000000"),
        "report-busy": bytes.fromhex("800406"),
        "set-time-success": bytes.fromhex("800101"),
        "echo-unknown-op": bytes.fromhex("804209"),
        "not-a-response": bytes.fromhex("04010c000000"),
        "truncated": bytes.fromhex("800401"),
    },
    "pen-status": {
        "session-active": bytes.fromhex("01000078563412" "0c070003" "00"),
        "idle": bytes(12),
        "error-reserved-bits": bytes.fromhex("030100000000000000" "00feaa"),
        "truncated": bytes.fromhex("0100007856341" "20c0700"),
        "trailing": bytes(13),
    },
    "pen-features": {
        "all-features": bytes.fromhex("011f001900102c01"),
        "minimal": bytes.fromhex("0100000a00000000"),
        "version-2": bytes.fromhex("021f001900102c01"),
        "unknown-bits": bytes.fromhex("01ff80640000ffff"),
        "truncated": bytes.fromhex("011f0019001"  "02c"),
    },
    "battery-adv": {
        "battery-100": b"\x64",
        "battery-101": b"\x65",
        "battery-0": b"\x00",
        "adv-charging": bytes.fromhex("070255"),
        "adv-battery-101": bytes.fromhex("070065"),
        "adv-trailing": bytes.fromhex("07025500"),
    },
}


def main():
    for target, seeds in CORPUS.items():
        folder = os.path.join(HERE, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
