#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Load mode: N pens at R records/s for T seconds, every record on the AcquireNotify sockets."""

import os
import select
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import UUID_TELEMETRY, Harness, decode_records, expect_error, wait_until  # noqa: E402

PENS, RATE, SECONDS = 6, 100, 2


def main():
    args = ["--load", "--rate", str(RATE), "--duration", str(SECONDS), "--load-delay", "-1"]
    with Harness(pens=PENS, pensim_args=args) as h:
        socks = {}
        for pen in h.pens():
            pen.connect()
            socks[pen.serial] = pen.acquire_notify(UUID_TELEMETRY)[0]
        assert "pens started" not in h.pensim.output(), "with a delay of -1 the load waits for StartLoad"
        h.call("/org/needlegate/PenSim", "org.needlegate.PenSimManager1", "StartLoad")
        h.pensim.wait_output(r"load: \d+ pens started", 10)
        expect_error("org.needlegate.PenSim.Error.Failed", h.call, "/org/needlegate/PenSim",
                     "org.needlegate.PenSimManager1", "StartLoad")
        got = {serial: [] for serial in socks}
        deadline = time.monotonic() + SECONDS + 5
        while time.monotonic() < deadline:
            ready, _, _ = select.select(list(socks.values()), [], [], 0.2)
            for serial, sock in socks.items():
                if sock in ready:
                    got[serial] += decode_records(sock.recv(4096))
            if h.pensim.output().find("load: done") >= 0 and not ready:
                break
        m = h.pensim.wait_output(r"load: done, (\d+) records from (\d+) pens", 5)
        total = int(m.group(1))
        assert int(m.group(2)) == PENS
        mgr = wait_until(lambda: h.get_property("/org/needlegate/PenSim", "org.needlegate.PenSimManager1",
                                                "LoadFinished"), 5, "LoadFinished")
        assert mgr is True
        for serial, recs in got.items():
            seqs = [r["seq"] for r in recs]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{serial}: no record lost"
            generated = int(h.pensim.wait_output(rf"pen {serial} generated (\d+) records, socket dropped 0").group(1))
            assert len(recs) == generated, f"{serial}: {len(recs)} of {generated} records arrived"
            assert RATE * SECONDS * 0.95 <= generated <= RATE * SECONDS * 1.5, f"{serial}: {generated} records"
        assert sum(len(r) for r in got.values()) == total
        for sock in socks.values():
            sock.close()
    print(f"load: {PENS} pens x {RATE} records/s x {SECONDS} s, {total} records, none lost: ok")


if __name__ == "__main__":
    main()
