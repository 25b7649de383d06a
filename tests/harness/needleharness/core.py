# SPDX-License-Identifier: LGPL-2.1-or-later
"""What every part of the harness uses: its error, program paths, free ports, waiting, test output."""

import os
import random
import shutil
import socket
import sys
import time

try:
    from gi.repository import GLib
except ImportError:  # the realbluez guest checks use only the MQTT parts
    GLib = None


class HarnessError(AssertionError):
    """A part of the fixture did not start or did not behave in time: the test fails."""


# Debian keeps mosquitto in /usr/sbin, which a user's PATH may lack.
SBIN_DIRS = ("/usr/sbin", "/sbin")


def program(env_name, default_name):
    """Path of a program from the environment meson test sets, else PATH (and /usr/sbin)."""
    path = os.environ.get(env_name) or shutil.which(default_name) or shutil.which(
        default_name, path=os.pathsep.join(SBIN_DIRS))
    if not path:
        raise HarnessError(f"{env_name} is not set and {default_name} is not on PATH")
    return path


def _ephemeral_low():
    """The first port the kernel gives outgoing connections (net.ipv4.ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Taken below the kernel's ephemeral range: a port from that range can be
    given to any process's outgoing connection (or to a client's connection to
    itself) while a test's broker is stopped, and the broker could not listen
    on it again when the test restarts it. (With a range starting too low to
    leave room below it, any free port.)"""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randint(10000, low - 1) if low > 12000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise HarnessError("no free TCP port on 127.0.0.1 below the ephemeral range")


def _dispatch():
    """Runs what is pending on the GLib main context (D-Bus signals, async replies)."""
    if GLib is None:
        return False
    ctx = GLib.MainContext.default()
    while ctx.pending():
        ctx.iteration(False)
    return True


def wait_until(predicate, timeout=10.0, what="condition", interval=0.02):
    """Polls predicate() (running the GLib main context) until it returns something true, which
    it returns; HarnessError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        _dispatch()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def pump(seconds):
    """Lets signals arrive for a while."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _dispatch()
        time.sleep(0.01)


def log(msg):
    """A line of test output, prefixed with the script's name."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print(f"{name}: {msg}", flush=True)


def check(cond, what):
    """Fails the test with @what unless @cond; logs "ok: @what" otherwise."""
    if not cond:
        raise AssertionError(what)
    log("ok: " + what)


def run_named(tests, names):
    """Runs the tests named (all of @tests, a dict name -> function, when none is), in order,
    printing "ok NAME (S s)" after each; a failure raises."""
    for name in names or list(tests):
        start = time.monotonic()
        tests[name]()
        print("ok %s (%.1f s)" % (name, time.monotonic() - start))
