#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Scenario files: pen settings, a scripted timeline, and clear errors for bad files."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import Harness, Link, wait_until  # noqa: E402

SCENARIO = """
# two pens: a scripted one and an unpaired one
[simulator]
pens=2

[pen 1]
serial=NPTEST0042
address=C0:4E:50:00:00:42
autorun=false
battery=55
first-seq=1000
max-depth=2.0
features=e2e_crc;stored_records;limit_enforcement
timeline=1.0 insert-cartridge 0xC0FFEE 12 0; 1.5 start-session; 2.0 set-area cheeks; 2.5 raise-error 2; 3.0 clear-error

[pen 2]
paired=false
"""

BAD = {
    "[pen 1]\ntimeline=1 juggle\n": "[pen 1] timeline entry 1: unknown action 'juggle'",
    "[pen 1]\ntimeline=1 set-area elbow\n": "[pen 1] timeline entry 1: 'elbow' is not valid here",
    "[pen 1]\ntimeline=x start-session\n": "[pen 1] timeline entry 1: 'x' is not a number",
    "[pen 1]\ntimeline=1 stop-session\n": "[pen 1] timeline entry 1: stop-session takes 1 argument(s)",
    "[pen 1]\nbattery=140\n": "[pen 1] battery: '140' is not a number from 0 to 100",
    "[pen 1]\naddress=nowhere\n": "[pen 1] address: 'nowhere' is not XX:XX:XX:XX:XX:XX",
    "[pen 1]\nfeatures=teleport\n": "[pen 1] features: unknown feature 'teleport'",
    "[pens]\n": "unknown group [pens]",
    "[pen 1]\npaired=maybe\n": "[pen 1] paired: not true or false",
}


def check_scripted(h):
    pens = h.pens()
    assert [p.serial for p in pens] == ["NPTEST0042", "NP5EED0002"]
    pen = pens[0]
    assert pen.device == "/org/bluez/hci0/dev_C0_4E_50_00_00_42"
    assert pen.device_prop("Name") == "NeedlePen-0042"
    assert pens[1].device not in h.managed_objects(), "pen 2 is unpaired"
    link = Link(h, pen)
    assert pen.read(nh.UUID_PEN_FEATURES) == bytes([1, 0x19, 0, 25, 0, 0x10, 200, 0])
    assert pen.read(nh.UUID_BATTERY_LEVEL) == bytes([55])
    wait_until(lambda: any(e["type"] == "error_cleared" for e in link.events()), 10, "the timeline to finish")
    got = [(e["type"], e["seq"]) for e in link.events()]
    names = [t for t, _ in got]
    assert names == ["cartridge_inserted", "session_started", "area_changed", "error_raised", "session_ended",
                     "error_cleared"], names
    assert got[0][1] == 1000, "first-seq"
    ev = link.events()
    assert ev[0]["cartridge"] == 0xC0FFEE and ev[1]["use_count"] == 1 and ev[2]["area"] == 4
    assert ev[3]["code"] == 2 and ev[4]["reason"] == 2
    recs = link.records()
    assert recs and all(r["flags"] & nh.FLAG_CRC and not r["flags"] & nh.FLAG_AREA for r in recs)


def check_bad_files(tmp):
    for text, message in BAD.items():
        path = os.path.join(tmp, "bad.ini")
        with open(path, "w") as f:
            f.write(text)
        out = subprocess.run([nh.program("NEEDLE_PENSIM", "needle-pensim"), "--bus", "unix:path=/nonexistent",
                              "--scenario", path], capture_output=True, text=True, timeout=10)
        assert out.returncode == 1, (text, out.returncode)
        assert f"scenario {path}: {message}" in out.stderr, (message, out.stderr)


def main():
    with tempfile.TemporaryDirectory(prefix="pensim-scenario-") as tmp:
        path = os.path.join(tmp, "scenario.ini")
        with open(path, "w") as f:
            f.write(SCENARIO)
        with Harness(pens=1, scenario=path, pensim_args=["--manual"]) as h:
            check_scripted(h)
        check_bad_files(tmp)
    print("scenario: settings, timeline, bad files named: ok")


if __name__ == "__main__":
    main()
