#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""needle-pensim --peripheral refuses what it cannot do with an error that names the cause.

The peripheral mode itself needs a real bluetoothd: tests/realbluez runs it (realbluez-gateway).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import Harness, program  # noqa: E402


def run(args, env=None):
    done = subprocess.run([program("NEEDLE_PENSIM", "needle-pensim")] + args, capture_output=True, text=True,
                          timeout=20, env=env, check=False)
    return done.returncode, done.stderr


def main():
    status, err = run(["--peripheral", "--pens", "2"])
    assert status == 1 and "--peripheral serves exactly one pen" in err and "--pens" in err, err
    status, err = run(["--peripheral", "--scenario", "x.ini"])
    assert status == 1 and "--scenario" in err, err
    with Harness(pensim=False) as h:
        status, err = run(["--peripheral", "--bus", h.bus_address, "--adapter", "hci 1"])
        assert status == 1 and "--adapter: 'hci 1' is not an adapter name" in err, err
        # No bluetoothd on this bus: the first call says so, naming the adapter.
        status, err = run(["--peripheral", "--bus", h.bus_address, "--adapter", "hci1"])
        assert status == 1 and "peripheral on hci1" in err and "is bluetoothd running" in err, err
    print("peripheral: option and environment errors: ok")


if __name__ == "__main__":
    main()
