# SPDX-License-Identifier: LGPL-2.1-or-later
"""A child of the harness: its own process group, its output in a file, a bounded stop."""

import os
import re
import signal
import socket
import subprocess
import time

from .core import HarnessError
from .sanitizers import reports


class Process:
    """A child in its own process group, with its output (stdout and stderr) kept in a file.

    check_exit: the harness fails the test if it does not exit 0 on SIGTERM or its output holds a
    sanitizer report (sanitizers.py)."""

    def __init__(self, argv, env, log_path, name, check_exit=False):
        self.name = name
        self.check_exit = check_exit
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "w+b")
        self.hung = False
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_output(self, pattern, timeout=10.0):
        """Waits until the output matches a regular expression; returns the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if self.popen.poll() is not None:
                raise HarnessError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()}")
            time.sleep(0.02)
        raise HarnessError(f"{self.name}: no '{pattern}' after {timeout} s:\n{self.output()}")

    def problems(self, code):
        """What is wrong with how a checked process ended (None if nothing)."""
        out = self.output()
        marks = reports(out)
        if code not in (0, None) or marks:
            return f"{self.name} ended with {code} {marks}:\n{out[-8000:]}"
        return None

    def running(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """@sig to the group, a bounded wait, then SIGKILL (self.hung tells). Returns the exit code
        (a negative signal number if it died of one)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.hung = sig != signal.SIGKILL
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout)
        if not self.log.closed:
            self.log.close()
        return self.popen.returncode


def wait_listening(proc, port, timeout=10.0):
    """Waits until @proc listens on 127.0.0.1:@port; HarnessError if it exits or after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if not proc.running():
                raise HarnessError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.output()}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{proc.name} did not listen on {port} within {timeout:.0f} s:\n{proc.output()}")
            time.sleep(0.05)
