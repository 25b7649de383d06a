# SPDX-License-Identifier: LGPL-2.1-or-later
"""A program driven through a pseudo-terminal, as a person types: needlectl's passkey prompt,
Debian's bluetoothctl (which reads its agent's passkey only from a terminal)."""

import os
import re
import select
import signal
import time

from .core import HarnessError
from .sanitizers import check_clean


class Terminal:
    """argv on a pseudo-terminal; `expect` waits for its output (colours stripped)."""

    ANSI = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z]|\x01|\x02")

    def __init__(self, argv, env, name=None):
        self.name = name or os.path.basename(argv[0])
        self.pid, self.fd = os.forkpty()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.buf = b""
        self.transcript = b""
        self.status = None

    def _read(self, timeout):
        """Reads what is there within timeout; False at the end of the output or on a timeout."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        data = self.ANSI.sub(b"", data)
        self.buf += data
        self.transcript += data
        return bool(data)

    def text(self):
        return self.transcript.decode(errors="replace")

    def expect(self, pattern, timeout=10.0):
        """Waits for a regular expression in the output; returns the match, consuming up to it."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError(f"{self.name}: no '{pattern}' after {timeout} s; transcript:\n"
                                   + self.text()[-4000:])
            self._read(min(left, 0.2))

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def finish(self, timeout=60.0):
        """Reads to the end of the output and reaps the program: (exit code, output after the last
        expect). Fails on a sanitizer report anywhere in its output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r and not self._read(0):
                break
        self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        os.close(self.fd)
        rest, self.buf = self.buf.decode(errors="replace"), b""
        check_clean(self.name, self.text())
        return self.status, rest

    def close(self, quit_line=None):
        """Ends the program: @quit_line typed, then SIGKILL after 3 s."""
        if self.status is not None:
            return
        if quit_line is not None:
            try:
                self.send(quit_line)
            except OSError:
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            self._read(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.status = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Bluetoothctl(Terminal):
    """Debian's bluetoothctl on the harness's private bus."""

    def __init__(self, harness, args=()):
        super().__init__(["bluetoothctl", *args], harness.env(TERM="dumb"), "bluetoothctl")

    def close(self, quit_line="quit"):
        super().close(quit_line)
