# SPDX-License-Identifier: LGPL-2.1-or-later
"""needleharness: the one test harness of needlegate's Python tests, the demo and the benchmark.

    import os, sys
    sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])   # meson test sets it (tests/meson.build)
    import needleharness as nh

    with nh.Harness(pens=2, unpaired=1, pensim_args=["--manual"]) as h:
        pen = h.pen("NP5EED0001")
        pen.call("StartSession")
        nh.wait_until(lambda: pen.prop("State") == "session_active")

Modules: core (HarnessError, program paths, free ports, waiting, test output), process (a child
in its own process group), sanitizers (the one check of a program's output), bus (the private
system bus: configurations, calls, signals, an agent), pensim (simulated pens and a subscribed
link), profile (the NeedlePen profile: UUIDs, codes, encoders, decoders), terminal (programs on a
pseudo-terminal: needlectl, bluetoothctl), mqtt (the one MQTT client), daemon (needlegated's
configuration, its D-Bus API, needlectl), payloads (what the daemon publishes, checked), contract
(every message the daemon publishes checked against docs/schemas, the MQTT contract), harness
(Harness, which starts and stops all of it). Paths of the built programs come from the
environment: NEEDLE_PENSIM, NEEDLEGATED, NEEDLECTL (else PATH); DBUS_DAEMON, MOSQUITTO likewise.

Needs python3-gi (Gio), python3-paho-mqtt 1.6 and python3-jsonschema (contract): the system's
/usr/bin/python3. The profile and mqtt modules need no GLib (the real-bluetoothd guest checks use
them alone).
"""

# flake8: noqa: F401 (this file re-exports what the tests use)
from .core import HarnessError, check, free_port, log, program, pump, run_named, wait_until
from .profile import *  # noqa: F403 (the profile's names are the tests' vocabulary)
from .sanitizers import check_clean

try:
    from gi.repository import Gio, GLib
except ImportError:  # profile and mqtt alone (the realbluez guest checks)
    pass
else:
    from . import payloads
    from .bus import (ADAPTER_IFACE, ADAPTER_PATH, BLUEZ, CHAR_IFACE, DEVICE_IFACE, OBJECT_MANAGER_IFACE,
                      PROPS_IFACE, SYSTEM_POLICY, BLUEZ_POLICY, Agent, AsyncCall, bus_config, connect,
                      expect_error)
    from .daemon import GW, GW_PATH, PEN_IFACE
    from .harness import Harness
    from .pensim import PENSIM_IFACE, PENSIM_MANAGER_IFACE, PENSIM_PATH, Link, Pen
    from .process import Process, wait_listening
    from .terminal import Bluetoothctl, Terminal


def __getattr__(name):
    # paho is imported only by those who use MQTT.
    if name in ("MqttClient", "Message"):
        from . import mqtt
        return getattr(mqtt, name)
    raise AttributeError(name)
