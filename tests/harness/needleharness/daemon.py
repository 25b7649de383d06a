# SPDX-License-Identifier: LGPL-2.1-or-later
"""needlegated under test: its configuration, its D-Bus API (org.needlegate.Gateway1, Pen1) as a
client sees it, and needlectl run as a technician would."""

import subprocess

from .core import log, program, wait_until
from .sanitizers import check_clean
from .terminal import Terminal

GW = "org.needlegate.Gateway1"
GW_PATH = "/org/needlegate/Gateway1"
PEN_IFACE = "org.needlegate.Pen1"


def write_config(path, settings):
    """The daemon's key file from {group: {key: value}}, groups and keys in that order."""
    with open(path, "w") as f:
        for group, keys in settings.items():
            f.write(f"[{group}]\n" + "".join(f"{k}={v}\n" for k, v in keys.items()))


def config(hub, state_dir, mqtt_port, extra=None):
    """The settings every test starts from: a hub id, its state folder, the harness's broker and
    reconnection delays short enough for a test; @extra ({group: {key: value}}) adds or overrides."""
    settings = {"gateway": {"hub_id": hub, "state_dir": state_dir, "info_interval": "1"},
                "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}"},
                "bluetooth": {"connect_timeout": "5", "reconnect_min_delay": "1", "reconnect_max_delay": "2"}}
    for group, keys in (extra or {}).items():
        settings.setdefault(group, {}).update({k: str(v) for k, v in keys.items()})
    return settings


class GatewayClient:
    """The daemon's D-Bus API on the harness's connection; mixed into Harness."""

    def gw(self, method, params=None, timeout=30.0):
        return self.call(GW_PATH, GW, method, params, dest=GW, timeout=timeout)

    def gw_prop(self, name):
        return self.get_property(GW_PATH, GW, name, dest=GW)

    def gw_error(self, method, params=None, timeout=30.0):
        """(error name, message) of a Gateway1 call that must fail."""
        return self.call_error(GW_PATH, GW, method, params, dest=GW, timeout=timeout)

    def wait_gateway(self, timeout=15):
        """Until needlegated owns its name and has found the adapter."""
        wait_until(lambda: self.name_has_owner(GW), timeout, "needlegated on the bus")
        wait_until(lambda: self.gw_prop("Adapter") == "hci0", timeout, "needlegated to find the adapter")

    def pen_objects(self):
        objs = self.managed_objects(dest=GW, path=GW_PATH)
        return {path: ifaces[PEN_IFACE] for path, ifaces in objs.items() if PEN_IFACE in ifaces}

    def pen_object(self, serial):
        """(path, Pen1 properties) of the daemon's pen @serial, or None."""
        for path, props in self.pen_objects().items():
            if props.get("Serial") == serial:
                return path, props
        return None

    def gw_pen_call(self, path, method, params=None):
        return self.call(path, PEN_IFACE, method, params, dest=GW)

    def wait_served(self, serial, timeout=20):
        return wait_until(lambda: (self.pen_object(serial) or (None, {}))[1].get("Connected"), timeout,
                          "pen %s served and connected" % serial)

    # ---- needlectl ----------------------------------------------------------------------

    def ctl(self, *args, user=None, timeout=60, env=None):
        """needlectl ARGS (as @user through setpriv); the CompletedProcess, logged, and failed on a
        sanitizer report."""
        argv = [program("NEEDLECTL", "needlectl")] + list(args)
        if user:
            argv = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + argv
        p = subprocess.run(argv, env=env or self.env(), capture_output=True, text=True, timeout=timeout)
        log("$ needlectl %s -> %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        check_clean("needlectl", p.stderr)
        return p

    def ctl_terminal(self, *args):
        """needlectl ARGS on a pseudo-terminal (for the passkey prompt)."""
        return Terminal([program("NEEDLECTL", "needlectl")] + list(args), self.env(), "needlectl")
