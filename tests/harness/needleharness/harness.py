# SPDX-License-Identifier: LGPL-2.1-or-later
"""Harness: one test's private world, a context manager.

A private D-Bus system bus, needle-pensim serving org.bluez on it, Mosquitto on a free loopback
port, needlegated with a configuration of its own, an MQTT subscriber: each on request, started
in that order and stopped in the reverse one, even when the test fails (every child runs in its
own process group: SIGTERM, a bounded wait, SIGKILL). A test fails when a checked program (the
simulator, the daemon) does not exit 0 on SIGTERM or prints a sanitizer report, and when a message
one of its MQTT clients received from the gateway does not conform to the MQTT contract
(docs/schemas, see contract.py): every message below needlegate/HUB/ with a payload, requests
excepted, is checked.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

from gi.repository import GLib

from . import daemon, mqtt
from .bus import BLUEZ, OPEN_POLICY, BusClient, bus_config, connect
from .core import HarnessError, free_port, log, program, pump, wait_until
from .daemon import GatewayClient
from .pensim import PENSIM_MANAGER_IFACE, PENSIM_PATH, Pen
from .process import Process, wait_listening
from .sanitizers import reports


class Harness(BusClient, GatewayClient):
    """pens, unpaired, pensim_args, scenario (a file) or scenario_text: needle-pensim's pens;
    pensim=False leaves it to start_pensim(). mosquitto: a broker; persistent_broker keeps its
    sessions across a restart; mosquitto_tls adds a TLS listener on self.mqtt_tls_port whose
    certificate (for localhost) self.tls_ca signs; mosquitto_ws_dir (a folder) adds a WebSockets
    listener on self.mqtt_ws_port that also serves a copy of that folder over HTTP (http_dir: the
    dashboard). daemon: needlegated with daemon.config() plus daemon_config, run
    with daemon_args; subscribe: self.sub, an MqttClient on needlegate/HUB/# with a session kept
    on the broker, made before the daemon starts. bus_policy: the bus's policy (bus.py).
    contract: check what the MQTT clients of mqtt_client() (and self.sub) receive below
    needlegate/HUB/ against docs/schemas (contract.py); a message that does not conform fails
    the test at the end with an AssertionError naming the topic, the field and the rule broken.
    On by default; NEEDLE_MQTT_CONTRACT=0 in the environment turns it off."""

    def __init__(self, pens=1, unpaired=0, pensim_args=(), scenario=None, scenario_text=None, pensim=True,
                 mosquitto=False, persistent_broker=False, mosquitto_tls=False, mosquitto_ws_dir=None, daemon=False, hub="harness", daemon_config=None,
                 daemon_args=("-v",), subscribe=False, bus_policy=OPEN_POLICY, bus_includes=(), keep_dir=False,
                 contract=True):
        self.n_pens = pens
        self.unpaired = unpaired
        self.pensim_args = list(pensim_args)
        self.scenario = scenario
        self.scenario_text = scenario_text
        self.want_pensim = pensim
        self.want_daemon = daemon
        self.want_sub = subscribe
        self.want_mosquitto = mosquitto or daemon or subscribe or bool(mosquitto_ws_dir)
        self.persistent_broker = persistent_broker
        self.mosquitto_tls = mosquitto_tls
        self.mosquitto_ws_dir = mosquitto_ws_dir
        self.hub = hub
        self.base = "needlegate/" + hub
        self.daemon_config = daemon_config or {}
        self.daemon_args = list(daemon_args)
        self.bus_policy = bus_policy
        self.bus_includes = list(bus_includes)
        self.keep_dir = keep_dir or bool(os.environ.get("NEEDLE_KEEP_TMP"))
        self.dir = None
        self.processes = []   # running, in start order
        self.spawned = []     # every one ever started, for the logs
        self.problems = []    # of checked processes stopped before the end
        self.bus = self.bus_address = self.conn = None
        self.pensim = self.mosquitto = self.daemon = self.sub = None
        self.mqtt_port = self.mqtt_tls_port = self.mqtt_ws_port = self.tls_ca = None
        self.state_dir = self.config_path = None
        self.want_contract = contract and os.environ.get("NEEDLE_MQTT_CONTRACT", "1") != "0"
        self.contract = None  # a ContractChecker, made with the first MQTT client
        self.contract_breaches = 0

    # ---- lifetime -------------------------------------------------------------

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="needle-harness-")
        try:
            self.start_bus()
            if self.want_mosquitto:
                self.start_mosquitto()
            if self.scenario_text is not None:
                self.scenario = self.write("pensim.scenario", self.scenario_text)
            if self.want_pensim:
                self.start_pensim()
            if self.want_sub:
                self.sub = self.mqtt_client(topics=[self.base + "/#"], clean_session=False)
            if self.want_daemon:
                self.start_daemon()
        except BaseException:
            self.dump_logs()
            self.close()
            self.close_contract()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                self.dump_logs()
        finally:
            problems = self.close()
            breaches = self.contract_problems()
            self.close_contract()
        if breaches:
            text = ("MQTT contract: %d of the %d messages checked do not conform to docs/schemas:\n  %s"
                    % (self.contract_breaches, self.contract.n_checked, "\n  ".join(breaches)))
            if exc_type is not None or problems:
                print(text, file=sys.stderr)  # the test failed already: said, but not raised
        elif self.contract is not None:
            log("MQTT contract: the %d messages checked conform to docs/schemas (%s)"
                % (self.contract.n_checked,
                   ", ".join("%s %d" % kv for kv in sorted(self.contract.by_schema.items()))))
        if exc_type is None and problems:
            raise HarnessError("\n".join(problems))
        if exc_type is None and breaches:
            raise AssertionError(text)
        return False

    def contract_problems(self):
        """What the contract check found so far (once every message received is checked), one
        line each; sets self.contract_breaches (how many). [] without a check."""
        self.contract_breaches = 0
        if self.contract is None:
            return []
        found = self.contract.problems()
        self.contract_breaches = self.contract.n_bad
        return found

    def close_contract(self):
        if self.contract is not None:
            self.contract.close()

    def close(self):
        """Stops everything; returns the problems of checked processes (see spawn)."""
        problems, self.problems = self.problems, []
        try:
            if self.sub is not None:
                sub, self.sub = self.sub, None
                sub.close()
            if self.conn is not None:
                try:
                    self.unsubscribe_all()
                    self.conn.close_sync(None)
                except GLib.Error:
                    pass
                finally:
                    self.conn = None
        finally:
            # Whatever failed above, no child outlives the harness.
            for proc in reversed(self.processes):
                code = proc.stop()
                if proc.check_exit and proc.problems(code):
                    problems.append(proc.problems(code))
            self.processes = []
        if problems:
            self.dump_logs(self.spawned)
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems

    def dump_logs(self, procs=None):
        """The children's output on stderr; never fails (stderr may be a closed pipe or terminal:
        what comes next, the teardown, must still run)."""
        try:
            for proc in procs or self.processes:
                print(f"---- {proc.name} ({' '.join(proc.argv)}) ----", file=sys.stderr)
                print(proc.output()[-8000:], file=sys.stderr)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def env(self, **extra):
        """Environment for a client of the private bus (DBUS_SYSTEM_BUS_ADDRESS set)."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def write(self, name, text):
        """A file in the harness's folder; returns its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def spawn(self, argv, name=None, env=None, check_exit=False):
        """Starts a child that the harness stops at the end. With check_exit, the test fails
        if it does not exit 0 on SIGTERM or if its output shows a sanitizer report."""
        name = name or os.path.basename(argv[0])
        log = os.path.join(self.dir, f"{name}-{len(self.spawned)}.log")
        proc = Process(argv, env or self.env(), log, name, check_exit)
        self.processes.append(proc)
        self.spawned.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=10.0):
        """Stops one child before the end; returns its exit code (a negative signal number if it died
        of one). HarnessError if it had to be killed; a checked one's sanitizer reports fail the
        test at the end."""
        if proc is None or proc not in self.processes:
            return None
        code = proc.stop(sig, timeout)
        self.processes.remove(proc)
        if proc.check_exit and reports(proc.output()):
            self.problems.append(proc.problems(code))
        if proc.hung:
            raise HarnessError(f"{proc.name} did not stop within {timeout:.0f} s of signal {sig}")
        return code

    def log_text(self, name):
        """The output of every child called @name so far, in start order."""
        return "".join(p.output() for p in self.spawned if p.name == name)

    # ---- parts ------------------------------------------------------------------

    def start_bus(self):
        conf = self.write("bus.conf", bus_config("unix:dir=" + self.dir, self.bus_policy, self.bus_includes))
        self.bus = self.spawn([program("DBUS_DAEMON", "dbus-daemon"), "--config-file=" + conf, "--nofork",
                               "--print-address=1"], name="dbus-daemon", env=dict(os.environ))
        m = self.bus.wait_output(r"(unix:[^\s]+)\n", timeout=10)
        self.bus_address = m.group(1)
        self.conn = connect(self.bus_address)

    def start_pensim(self, extra_args=()):
        argv = [program("NEEDLE_PENSIM", "needle-pensim"), "--bus", self.bus_address,
                "--pens", str(self.n_pens), "--unpaired", str(self.unpaired), "--verbose"]
        if self.scenario:
            argv += ["--scenario", self.scenario]
        argv += self.pensim_args + list(extra_args)
        self.pensim = self.spawn(argv, name="needle-pensim", check_exit=True)
        self.pensim.wait_output(r"needle-pensim: ready", timeout=15)
        wait_until(lambda: self.name_has_owner(BLUEZ), 10, "org.bluez on the bus")
        return self.pensim

    def stop_pensim(self):
        """Stops needle-pensim (bluetoothd going away); returns its exit code, HarnessError unless
        it ended well."""
        if self.pensim is None:
            return None
        proc, self.pensim = self.pensim, None
        code = self.stop(proc)
        problems = proc.problems(code)
        if problems:
            raise HarnessError(problems)
        return code

    def start_mosquitto(self):
        """Mosquitto on a free loopback port (the same one again after a stop)."""
        self.mqtt_port = self.mqtt_port or free_port()
        text = f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n"
        if self.persistent_broker:
            store = os.path.join(self.dir, "mosquitto")
            os.makedirs(store, exist_ok=True)
            # run as root, mosquitto drops to its own user: let it write its persistence file
            os.chmod(self.dir, 0o755)
            os.chmod(store, 0o777)
            text += f"persistence true\npersistence_location {store}/\n"
        else:
            text += "persistence false\n"
        if self.mosquitto_tls:
            self.mqtt_tls_port = self.mqtt_tls_port or free_port()
            tls = self.make_certs()
            text += (f"listener {self.mqtt_tls_port} 127.0.0.1\ncafile {tls}/ca.pem\n"
                     f"certfile {tls}/server.pem\nkeyfile {tls}/server.key\n")
        if self.mosquitto_ws_dir:
            self.mqtt_ws_port = self.mqtt_ws_port or free_port()
            text += f"listener {self.mqtt_ws_port} 127.0.0.1\nprotocol websockets\nhttp_dir {self.http_dir()}\n"
        conf = self.write("mosquitto.conf", text)
        self.mosquitto = self.spawn([program("MOSQUITTO", "mosquitto"), "-c", conf], name="mosquitto",
                                    env=dict(os.environ))
        wait_listening(self.mosquitto, self.mqtt_port)
        for port in (self.mqtt_tls_port, self.mqtt_ws_port):
            if port:
                wait_listening(self.mosquitto, port)
        return self.mosquitto

    def http_dir(self):
        """A copy of mosquitto_ws_dir in the harness's folder, made once: Mosquitto started as root
        drops to its own user, who may not read the original (a build folder under /root)."""
        d = os.path.join(self.dir, "http")
        if not os.path.isdir(d):
            shutil.copytree(self.mosquitto_ws_dir, d)
            os.chmod(self.dir, 0o755)
            for root, dirs, files in os.walk(d):
                os.chmod(root, 0o755)
                for name in files:
                    os.chmod(os.path.join(root, name), 0o644)
        return d

    def make_certs(self):
        """A CA (self.tls_ca) and a server certificate for localhost and 127.0.0.1 it signs, made
        once; returns their directory."""
        d = os.path.join(self.dir, "tls")
        if self.tls_ca is not None:
            return d
        os.makedirs(d)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for cmd in (["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                                              "-subj", "/CN=needlegate test CA"],
                    ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
                    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-days", "2", "-out", "server.pem", "-extfile", "ext.cnf"]):
            if cmd[0] == "x509":
                with open(os.path.join(d, "ext.cnf"), "w") as f:
                    f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            subprocess.run(["openssl"] + cmd, cwd=d, check=True, capture_output=True, timeout=60)
        for name in os.listdir(d):
            os.chmod(os.path.join(d, name), 0o644)  # mosquitto may drop to its own user
        os.chmod(d, 0o755)
        os.chmod(self.dir, 0o755)
        self.tls_ca = os.path.join(d, "ca.pem")
        return d

    def stop_mosquitto(self):
        proc, self.mosquitto = self.mosquitto, None
        return self.stop(proc)

    def mqtt_client(self, **kwargs):
        """An MqttClient on the harness's broker with base needlegate/HUB (see mqtt.py); what it
        receives below needlegate/HUB/ is checked against the MQTT contract (see contract)."""
        kwargs.setdefault("base", self.base)
        if self.want_contract and "contract" not in kwargs:
            if self.contract is None:
                from .contract import ContractChecker
                try:
                    self.contract = ContractChecker(self.base)
                except ImportError as e:
                    raise HarnessError("the MQTT contract check needs python3-jsonschema (%s); "
                                       "NEEDLE_MQTT_CONTRACT=0 turns it off" % e) from e
            kwargs["contract"] = self.contract
        return mqtt.MqttClient(self.mqtt_port, **kwargs)

    def start_daemon(self, extra_args=(), env=None):
        """needlegated with its configuration (written on the first start); does not wait."""
        if self.config_path is None:
            self.state_dir = os.path.join(self.dir, "state")
            self.config_path = os.path.join(self.dir, "needlegated.conf")
            daemon.write_config(self.config_path, daemon.config(self.hub, self.state_dir, self.mqtt_port,
                                                                self.daemon_config))
        self.daemon = self.spawn([program("NEEDLEGATED", "needlegated"), "--config", self.config_path]
                                 + self.daemon_args + list(extra_args), name="needlegated", env=env,
                                 check_exit=True)
        return self.daemon

    def stop_daemon(self, sig=signal.SIGTERM):
        proc, self.daemon = self.daemon, None
        return self.stop(proc, sig)

    # ---- pens ----------------------------------------------------------------------

    def pens(self):
        reply = self.call(PENSIM_PATH, PENSIM_MANAGER_IFACE, "ListPens")[0]
        return [Pen(self, serial, ctl, dev) for serial, ctl, dev in reply]

    def pen(self, serial_or_index=0):
        pens = self.pens()
        if isinstance(serial_or_index, int):
            return pens[serial_or_index]
        for p in pens:
            if p.serial == serial_or_index:
                return p
        raise HarnessError(f"no pen {serial_or_index}")

    def bonded_and_unbonded(self):
        """(sorted serials of the bonded pens, of the others)."""
        bonded, unbonded = [], []
        for p in self.pens():
            (bonded if p.prop("Paired") else unbonded).append(p.serial)
        return sorted(bonded), sorted(unbonded)

    wait_until = staticmethod(wait_until)
    pump = staticmethod(pump)
