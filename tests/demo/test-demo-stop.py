#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""deploy/demo.sh stops everything it started, however it is stopped.

    test-demo-stop.py SRCDIR BUILDDIR SCENARIO

The demo runs as a terminal would run it (in a session and process group of its own, its output
into a pipe, NEEDLEGATE_DEMO_BUILD=BUILDDIR so that it installs and builds nothing) until its
pens are on screen; then SCENARIO ends it:

  pipe       the pipe its output goes into closes (`| head`, a tee that died)
  int-pipe   Ctrl-C with its output and errors into `2>&1 | tee`: SIGINT to the group, the pipe
             closes
  hup        the terminal closes or the SSH link drops: SIGHUP to the group
  term       `kill PID` of the script alone
  kill       deploy/demo/demo.py dies of SIGKILL: the script must clean up after it

Every process of the run carries a mark in its environment (set here, inherited by all): within
a bounded time the script must exit and no process with the mark may be left. The demo's last line
must name no folder that does not exist (its logs), and, except after `kill`, demo.py must have
stopped everything itself (the script's fallback found nothing).
"""

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid

READY_TIMEOUT = 40   # until the pens are on screen
STOP_TIMEOUT = 60    # from the scenario's signal until the script has exited


def log(msg):
    print(f"test-demo-stop: {msg}", flush=True)


def marked(tag):
    """PIDs of the live processes whose environment holds @tag (zombies have none)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if tag in f.read().split(b"\0"):
                    pids.append(int(name))
        except OSError:
            pass
    return pids


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmdline}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return "\n  ".join(out)


def read_until(fd, pattern, timeout, proc):
    """Reads the pipe until @pattern shows; returns what was read."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if re.search(pattern, data):
                return data
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no {pattern!r} from the demo within {timeout} s (exit {proc.poll()}):\n"
                         + data[-3000:].decode(errors="replace"))


def read_rest(fd, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    return data


def last_line(text):
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip()]
    return lines[-1] if lines else ""


def main():
    src, build, scenario = sys.argv[1:4]
    if scenario not in ("pipe", "int-pipe", "hup", "term", "kill"):
        raise SystemExit(f"unknown scenario {scenario}")
    run = uuid.uuid4().hex
    tag = f"NEEDLE_DEMO_STOP_TEST={run}".encode()
    work = tempfile.mkdtemp(prefix="needle-demo-stop-")
    logs = os.path.join(work, "logs")
    env = dict(os.environ, NEEDLE_DEMO_STOP_TEST=run, NEEDLEGATE_DEMO_BUILD=build)
    err_path = os.path.join(work, "stderr")
    rfd, wfd = os.pipe()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(["bash", os.path.join(src, "deploy", "demo.sh"), "--pens", "2",
                                 "--seconds", "300", "--logs", logs],
                                stdin=subprocess.DEVNULL, stdout=wfd,
                                stderr=wfd if scenario == "int-pipe" else err, env=env,
                                start_new_session=True)
    os.close(wfd)
    try:
        read_until(rfd, rb"NP5EED0002 +connected", READY_TIMEOUT, proc)
        started = marked(tag)
        log(f"demo up, {len(started)} processes of the run:\n  {describe(started)}")
        names = describe(started)
        for want in ("demo.py", "dbus-daemon", "mosquitto", "needle-pensim", "needlegated"):
            assert want in names, f"no {want} among the run's processes"

        stop = time.monotonic()
        if scenario == "pipe":
            os.close(rfd)
            rfd = None
        elif scenario == "int-pipe":
            os.killpg(proc.pid, signal.SIGINT)
            os.close(rfd)
            rfd = None
        elif scenario == "hup":
            os.killpg(proc.pid, signal.SIGHUP)
        elif scenario == "term":
            os.kill(proc.pid, signal.SIGTERM)
        elif scenario == "kill":
            demo_py = [pid for pid in started if "demo.py" in describe([pid])]
            assert len(demo_py) == 1, f"demo.py: {demo_py}"
            os.kill(demo_py[0], signal.SIGKILL)

        out = read_rest(rfd, STOP_TIMEOUT) if rfd is not None else b""
        try:
            code = proc.wait(max(1.0, STOP_TIMEOUT - (time.monotonic() - stop)))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"deploy/demo.sh still runs {STOP_TIMEOUT} s after the {scenario}:\n  "
                                 + describe(marked(tag)))
        took = time.monotonic() - stop
        left = marked(tag)
        grace = time.monotonic() + 5
        while left and time.monotonic() < grace:  # processes just killed may take a moment to go
            time.sleep(0.1)
            left = marked(tag)
        with open(err_path, "rb") as f:
            err_text = f.read().decode(errors="replace")
        log(f"demo.sh exited with {code} {took:.1f} s after the {scenario}; stderr:\n{err_text[-2000:]}")
        assert not left, f"processes of the demo survived the {scenario}:\n  {describe(left)}"
        log(f"ok: nothing of the demo survived the {scenario}")

        if scenario == "int-pipe":
            log("ok: (the demo's output and errors went into the pipe that closed: no last line to check)")
            return 0
        # The last line, on stdout when it is still open, else on stderr.
        final = last_line(out.decode(errors="replace")) if out.strip() else last_line(err_text)
        log(f"last line: {final}")
        for path in re.findall(r"(?:^|\s)(/[^\s;:,()]+)", final):
            assert os.path.exists(path.rstrip(".")), f"the last line names {path}, which does not exist"
        if scenario != "kill":
            assert "demo stopped" in final, f"the demo's last line is not its own: {final!r}"
            assert os.path.exists(os.path.join(logs, "needlegated.conf")), "no logs kept in " + logs
            assert "left running" not in err_text, "demo.py left processes for the script to kill"
            log("ok: demo.py stopped everything itself and its last line names its logs, which exist")
        else:
            assert "left running" in err_text, "the script did not say that it cleaned up after demo.py"
            log("ok: the script stopped what demo.py left behind")
    finally:
        if rfd is not None:
            os.close(rfd)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in marked(tag):  # never leave anything behind, even when failing
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
