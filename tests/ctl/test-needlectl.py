#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""needlectl decode as a user runs it: exit codes, stdout JSON lines and stderr messages."""

import json
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import program  # noqa: E402

NEEDLECTL = program("NEEDLECTL", "needlectl")

VECTOR_1 = "10 18 2a000000 0700 e8030000 9600 b004"
VECTOR_2 = "15 3b 2b000000 0700 04040000 9600 b004 04 fa00 352b"
VECTOR_3B = "10182b0000000700100400009600b004"
VECTOR_4 = "11 18 2a000000 0700 e8030000 9600 b004"

RECORD_1 = {"session": 7, "seq": 42, "offset_ms": 1000, "depth_mm": 1.5, "speed_hz": 120.0,
            "motor": True, "contact": True, "replayed": False}
RECORD_2 = {"session": 7, "seq": 43, "offset_ms": 1028, "depth_mm": 1.5, "speed_hz": 120.0,
            "area": "cheeks", "pressure_gf": 250, "motor": True, "contact": True, "replayed": False}


def run(*args):
    proc = subprocess.run([NEEDLECTL, *args], capture_output=True, text=True, timeout=10, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def json_lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


class Decode(unittest.TestCase):
    def decode_ok(self, *args):
        rc, out, err = run("decode", *args)
        self.assertEqual((rc, err), (0, ""), out)
        return json_lines(out)

    def decode_fault(self, *args):
        rc, out, err = run("decode", *args)
        self.assertEqual(rc, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        return json_lines(out), err.rstrip("\n")

    def decode_usage(self, *args):
        rc, out, err = run("decode", *args)
        self.assertEqual(rc, 2, err)
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("needlectl: decode: "), err)
        return err

    def test_vector_1(self):
        self.assertEqual(self.decode_ok("telemetry", VECTOR_1), [RECORD_1])
        # The text itself: depth with two decimals, speed with one.
        rc, out, _ = run("decode", "telemetry", VECTOR_1)
        self.assertIn('"depth_mm":1.50,"speed_hz":120.0', out)

    def test_vector_2(self):
        self.assertEqual(self.decode_ok("telemetry", *VECTOR_2.split()), [RECORD_2])

    def test_vector_3(self):
        recs = self.decode_ok("telemetry", VECTOR_1.replace(" ", ""), VECTOR_3B)
        self.assertEqual([r["seq"] for r in recs], [42, 43])
        self.assertEqual([r["offset_ms"] for r in recs], [1000, 1040])

    def test_vector_4(self):
        recs, err = self.decode_fault("telemetry", VECTOR_4)
        self.assertEqual(recs, [])
        self.assertEqual(err, "needlectl: telemetry: malformed record at byte 0: "
                              "record_size_mismatch (the size byte disagrees with the flags)")

    def test_good_records_before_fault_stand(self):
        recs, err = self.decode_fault("telemetry", VECTOR_1, VECTOR_4, VECTOR_3B)
        self.assertEqual(recs, [RECORD_1])
        self.assertEqual(err, "needlectl: telemetry: malformed record at byte 16: "
                              "record_size_mismatch (the size byte disagrees with the flags)")

    def test_bad_crc(self):
        bad = VECTOR_2[:-4] + "352c"
        recs, err = self.decode_fault("telemetry", VECTOR_1, bad)
        self.assertEqual(recs, [RECORD_1])
        self.assertTrue(err.startswith("needlectl: telemetry: malformed record at byte 35: bad_crc ("), err)

    def test_overrun(self):
        recs, err = self.decode_fault("telemetry", VECTOR_1, VECTOR_2[:-2])
        self.assertEqual(recs, [RECORD_1])
        self.assertTrue(err.startswith("needlectl: telemetry: malformed record at byte 16: record_overrun ("), err)

    def test_empty(self):
        recs, err = self.decode_fault("telemetry", "")
        self.assertEqual(recs, [])
        self.assertTrue(err.startswith("needlectl: telemetry: malformed record at byte 0: empty ("), err)

    def test_separators(self):
        colons = ":".join(bytes.fromhex(VECTOR_1.replace(" ", "")).hex(":").split(":"))
        self.assertEqual(self.decode_ok("telemetry", colons), [RECORD_1])
        self.assertEqual(self.decode_ok("telemetry", VECTOR_1.upper()), [RECORD_1])
        # A hex dump pasted with its line breaks.
        self.assertEqual(self.decode_ok("telemetry", "10 18 2a000000\n0700 e8030000\t9600 b004\n"), [RECORD_1])
        # A byte may even be split between arguments: digits are joined.
        self.assertEqual(self.decode_ok("telemetry", "1", "0182a0000000700e80300009600b004"), [RECORD_1])

    def test_max_depth(self):
        recs, err = self.decode_fault("--max-depth", "1.2", "telemetry", VECTOR_1)
        self.assertEqual(recs, [])
        self.assertTrue(err.startswith("needlectl: telemetry: malformed record at byte 12: depth_out_of_range ("),
                        err)
        self.assertEqual(self.decode_ok("--max-depth=1.5", "telemetry", VECTOR_1), [RECORD_1])
        self.assertEqual(self.decode_ok("--max-depth", "3", "telemetry", VECTOR_1), [RECORD_1])
        for bad in ("4", "0", "-1", "abc", "1.5mm", ""):
            err = self.decode_usage("--max-depth", bad, "telemetry", VECTOR_1)
            self.assertIn("--max-depth", err)
        self.assertIn("--max-depth needs a value", self.decode_usage("--max-depth"))

    def test_bad_hex(self):
        err = self.decode_usage("telemetry", "10 18", "2a0g")
        self.assertIn("HEX argument 2, character 4: 'g' is not a hex digit", err)
        err = self.decode_usage("telemetry", "0x10")
        self.assertIn("HEX argument 1, character 2: 'x'", err)
        err = self.decode_usage("telemetry", "101")
        self.assertIn("odd number of hex digits (3)", err)

    def test_usage_errors(self):
        self.assertIn("unknown characteristic 'telemetri'", self.decode_usage("telemetri", VECTOR_1))
        self.assertIn("no CHARACTERISTIC", self.decode_usage())
        self.assertIn("no HEX", self.decode_usage("telemetry"))
        self.assertIn("unknown option '--frobnicate'", self.decode_usage("--frobnicate", "telemetry", "00"))

    def test_event(self):
        (ev,) = self.decode_ok("event", "01 2c000000 0700 00e8f5a3b5010000 78563412 0c 0100 04")
        self.assertEqual(ev, {"event": "session_started", "seq": 44, "session": 7,
                              "pen_clock": "2029-07-25T05:25:10.272Z", "pen_clock_ms": 1879651510272,
                              "cartridge": {"id": 0x12345678, "needles": 12, "use_count": 1}, "area": "cheeks"})
        (ev,) = self.decode_ok("event", "08 2d000000 0700 0000000000000000 9600 ffff e803")
        self.assertEqual(ev["limits"], {"max_depth_mm": 1.5, "min_speed_hz": None, "max_speed_hz": 100.0})
        self.assertIsNone(ev["pen_clock"])
        recs, err = self.decode_fault("event", "09 2c000000 0700 0000000000000000")
        self.assertEqual(recs, [])
        self.assertTrue(err.startswith("needlectl: event: malformed event at byte 0: unknown_event ("), err)
        recs, err = self.decode_fault("event", "03 2c000000 0700 0000000000000000")
        self.assertTrue(err.startswith("needlectl: event: malformed event at byte 15: truncated ("), err)
        recs, err = self.decode_fault("event", "05 2c000000 0700 0000000000000000 00")
        self.assertTrue(err.startswith("needlectl: event: malformed event at byte 15: trailing_bytes ("), err)

    def test_control_point(self):
        self.assertEqual(self.decode_ok("control-point", "04 2a000000"),
                         [{"op": "report_stored_records", "op_code": 4, "first_seq": 42}])
        self.assertEqual(self.decode_ok("control-point", "80 04 01 0c000000"),
                         [{"response_to": "report_stored_records", "op_code": 4, "result": "success",
                           "result_code": 1, "records_sent": 12}])
        self.assertEqual(self.decode_ok("control-point", "80 07 06"),
                         [{"response_to": "identify", "op_code": 7, "result": "busy", "result_code": 6}])
        _, err = self.decode_fault("control-point", "08")
        self.assertTrue(err.startswith("needlectl: control-point: malformed value at byte 0: unknown_opcode ("), err)
        _, err = self.decode_fault("control-point", "80 04 01")
        self.assertTrue(err.startswith("needlectl: control-point: malformed value at byte 3: truncated ("), err)

    def test_status_features_battery_adv(self):
        self.assertEqual(self.decode_ok("status", "01 0000 78563412 0c 0700 03 00"),
                         [{"state": "session_active", "error": None,
                           "cartridge": {"id": 0x12345678, "needles": 12}, "session": 7,
                           "limits_active": True, "clock_set": True}])
        (f,) = self.decode_ok("features", "01 1f00 19 0010 2c01")
        self.assertEqual(f["max_depth_mm"], 3.0)
        self.assertEqual(f["features"], ["e2e_crc", "pressure", "area_selector", "stored_records",
                                         "limit_enforcement"])
        _, err = self.decode_fault("features", "02 1f00 19 0010 2c01")
        self.assertTrue(err.startswith("needlectl: features: malformed value at byte 0: unsupported_version ("), err)
        _, err = self.decode_fault("status", "01 0000 78563412 0c 0700 03")
        self.assertTrue(err.startswith("needlectl: status: malformed value at byte 11: truncated ("), err)
        self.assertEqual(self.decode_ok("battery", "64"), [{"battery_percent": 100}])
        _, err = self.decode_fault("battery", "65")
        self.assertTrue(err.startswith("needlectl: battery: malformed value at byte 0: value_out_of_range ("), err)
        self.assertEqual(self.decode_ok("adv", "07 02 55"),
                         [{"model_code": 7, "state": "charging", "battery_percent": 85}])


class Help(unittest.TestCase):
    def test_main_help(self):
        rc, out, err = run("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Usage: needlectl", out)
        self.assertIn("decode", out)
        self.assertIn("Exit status", out)
        self.assertEqual(run("-h"), (0, out, ""))
        self.assertEqual(run("help"), (0, out, ""))

    def test_decode_help(self):
        rc, out, err = run("help", "decode")
        self.assertEqual((rc, err), (0, ""))
        for word in ("telemetry", "event", "control-point", "status", "features", "battery", "adv",
                     "--max-depth", "Exit status", "Examples"):
            self.assertIn(word, out)
        self.assertEqual(run("decode", "--help"), (0, out, ""))
        self.assertEqual(run("decode", "-h"), (0, out, ""))

    def test_help_examples_work(self):
        """Every example in the help does what the help says."""
        _, out, _ = run("help", "decode")
        lines = out.split("Examples")[1].splitlines()[1:]
        # Continuation lines: a trailing backslash, or a comment alone on the next line.
        joined = "\n".join(lines).replace("\\\n", " ")
        joined = re.sub(r"\n\s+\(", " (", joined)
        examples = [l.strip() for l in joined.splitlines() if l.strip().startswith("needlectl ")]
        self.assertGreaterEqual(len(examples), 8)
        for example in examples:
            malformed = "exit 1)" in example
            argv = shlex.split(example.split("(")[0])
            rc, stdout, stderr = run(*argv[1:])
            self.assertEqual(rc, 1 if malformed else 0, f"{example}: {stderr}")
            json_lines(stdout)

    def test_version(self):
        rc, out, err = run("--version")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^needlectl \d+\.\d+\.\d+\n$")

    def test_usage_errors(self):
        for args, text in ((), "no command given"), (("frobnicate",), "unknown command 'frobnicate'"), \
                (("--frobnicate",), "unknown option '--frobnicate'"), \
                (("help", "frobnicate"), "unknown command 'frobnicate'"):
            rc, out, err = run(*args)
            self.assertEqual((rc, out), (2, ""), args)
            self.assertIn(text, err)
            self.assertIn("--help", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
