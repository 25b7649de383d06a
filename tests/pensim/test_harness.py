#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test fixture itself: Mosquitto on a free port, the MQTT collector, teardown even on failure."""

import os
import sys
import time

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
from needleharness import Harness, HarnessError  # noqa: E402


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill 0: look at its state
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def check_mqtt():
    with Harness(pens=1, mosquitto=True, pensim_args=["--manual"]) as h:
        assert h.mqtt_port and h.mqtt_port != 1883
        with h.mqtt_client(topics=["needlegate/#"]) as col, h.mqtt_client() as pub:
            deadline = time.monotonic() + 10
            msg = None
            while msg is None and time.monotonic() < deadline:
                pub.publish("needlegate/hub/bridge/state", b'{"state":"online"}', qos=1, retain=True)
                msg = col.poll(lambda m: m.topic == "needlegate/hub/bridge/state", 0.5)
            assert msg and msg.payload == b'{"state":"online"}'
        pids = [p.popen.pid for p in h.processes]
        tmp = h.dir
    assert not any(alive(pid) for pid in pids), "everything stopped"
    assert not os.path.exists(tmp), "the temporary directory is removed"


def check_teardown_on_failure():
    pids = []
    t0 = time.monotonic()
    try:
        with Harness(pens=1, pensim_args=["--manual"]) as h:
            stubborn = h.spawn([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                "print('up', flush=True); time.sleep(60)"], name="stubborn")
            stubborn.wait_output("up")
            pids = [p.popen.pid for p in h.processes]
            assert stubborn.running()
            raise RuntimeError("a failing test")
    except RuntimeError as e:
        assert str(e) == "a failing test", "the test's own error comes through"
    else:
        raise AssertionError("the error was swallowed")
    assert len(pids) == 3 and not any(alive(pid) for pid in pids), "SIGKILL after the bounded wait"
    assert 5 <= time.monotonic() - t0 < 20, "SIGTERM was ignored: 5 s wait, then SIGKILL"


def check_bad_exit_detected():
    try:
        with Harness(pens=1, pensim_args=["--manual"]) as h:
            h.spawn(["sh", "-c", "echo 'runtime error: fake report'; sleep 60"], name="fake", check_exit=True)
            h.processes[-1].wait_output("runtime error")
    except HarnessError as e:
        assert "fake ended with" in str(e)
    else:
        raise AssertionError("a sanitizer report went unnoticed")


def main():
    check_mqtt()
    check_teardown_on_failure()
    check_bad_exit_detected()
    print("harness: mosquitto + collector, teardown on failure, bad exits caught: ok")


if __name__ == "__main__":
    main()
