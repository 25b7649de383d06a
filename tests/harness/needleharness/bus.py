# SPDX-License-Identifier: LGPL-2.1-or-later
"""The private D-Bus system bus: its configurations, a client's calls, signals, an agent."""

from gi.repository import Gio, GLib

from .core import HarnessError, wait_until

BLUEZ = "org.bluez"
ADAPTER_PATH = "/org/bluez/hci0"
ADAPTER_IFACE = "org.bluez.Adapter1"
AGENT_MANAGER_IFACE = "org.bluez.AgentManager1"
DEVICE_IFACE = "org.bluez.Device1"
CHAR_IFACE = "org.bluez.GattCharacteristic1"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"

_BUS_HEAD = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>{listen}</listen>
  <auth>EXTERNAL</auth>
"""

# Anyone may do anything: the simulator and the daemon meet no policy.
OPEN_POLICY = """  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
"""

# The default context of Debian's /usr/share/dbus-1/system.conf: no method calls unless a rule
# allows them.
SYSTEM_POLICY = """  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Containers1"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
"""

# bluez's bluetooth.conf: root is bluetoothd (here needle-pensim).
BLUEZ_POLICY = """  <policy user="root">
    <allow own="org.bluez"/>
    <allow send_destination="org.bluez"/>
    <allow send_interface="org.bluez.Agent1"/>
  </policy>
"""


def bus_config(listen, policy=OPEN_POLICY, includes=()):
    """A dbus-daemon configuration listening on @listen (e.g. unix:dir=...) with @policy, then
    the policy files @includes (as /usr/share/dbus-1/system.d/ adds them)."""
    return (_BUS_HEAD.format(listen=listen) + policy + "".join(f"  <include>{p}</include>\n" for p in includes)
            + "</busconfig>\n")


def connect(address):
    """A client connection to the bus at @address."""
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)


def remote_error(e):
    """(D-Bus error name, message without the GDBus prefix) of a GLib.Error from a call."""
    msg = e.message.split(": ", 1)[1] if e.message.startswith("GDBus.Error:") else e.message
    return Gio.DBusError.get_remote_error(e), msg


def expect_error(name, fn, *args, **kwargs):
    """Calls fn and checks that it fails with the D-Bus error name given; returns the message."""
    try:
        fn(*args, **kwargs)
    except GLib.Error as e:
        got, msg = remote_error(e)
        assert got == name, f"expected {name}, got {got}: {msg}"
        return msg
    raise AssertionError(f"expected {name}, the call succeeded")


class BusClient:
    """Calls and signals on the harness's connection (self.conn); mixed into Harness."""

    conn = None
    _subs = ()

    def name_has_owner(self, name):
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                    "NameHasOwner", GLib.Variant("(s)", (name,)), None,
                                    Gio.DBusCallFlags.NONE, 5000, None)
        return reply.unpack()[0]

    def call(self, path, iface, method, params=None, dest=BLUEZ, timeout=10.0, fds=None):
        """A method call; returns the unpacked reply tuple (GLib.Error on a D-Bus error)."""
        if fds is not None:
            reply, out_fds = self.conn.call_with_unix_fd_list_sync(
                dest, path, iface, method, params, None, Gio.DBusCallFlags.NONE, int(timeout * 1000), fds, None)
            return reply.unpack(), out_fds
        reply = self.conn.call_sync(dest, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                                    int(timeout * 1000), None)
        return reply.unpack()

    def call_error(self, path, iface, method, params=None, dest=BLUEZ, timeout=10.0):
        """Calls and expects a D-Bus error; returns (name, message) (HarnessError if it succeeds)."""
        try:
            self.call(path, iface, method, params, dest=dest, timeout=timeout)
        except GLib.Error as e:
            return remote_error(e)
        raise HarnessError(f"{iface}.{method} on {path} succeeded, an error was expected")

    def get_property(self, path, iface, name, dest=BLUEZ):
        return self.call(path, PROPS_IFACE, "Get", GLib.Variant("(ss)", (iface, name)), dest=dest)[0]

    def set_property(self, path, iface, name, value):
        self.call(path, PROPS_IFACE, "Set", GLib.Variant("(ssv)", (iface, name, value)))

    def managed_objects(self, dest=BLUEZ, path="/"):
        return self.call(path, OBJECT_MANAGER_IFACE, "GetManagedObjects", dest=dest)[0]

    def subscribe(self, callback, iface=None, member=None, path=None, arg0=None, sender=BLUEZ):
        """Signal subscription; callback(path, member, params_tuple). Undone at close."""
        def on_signal(conn, sender_name, obj_path, iface_name, signal_name, params):
            callback(obj_path, signal_name, params.unpack())
        sub = self.conn.signal_subscribe(sender, iface, member, path, arg0, Gio.DBusSignalFlags.NONE, on_signal)
        self._subs = list(self._subs) + [sub]
        return sub

    def unsubscribe_all(self):
        for sub in self._subs:
            self.conn.signal_unsubscribe(sub)
        self._subs = []

    def collect_values(self, char_path):
        """List that fills with every Value a PropertiesChanged reports on char_path (bytes)."""
        values = []

        def on_changed(path, member, params):
            iface, changed, _ = params
            if iface == CHAR_IFACE and "Value" in changed:
                values.append(bytes(changed["Value"]))
        self.subscribe(on_changed, PROPS_IFACE, "PropertiesChanged", char_path)
        return values


class AsyncCall:
    """A method call that does not block the main context (so that our agent can answer)."""

    def __init__(self, h, path, iface, method, params=None, timeout=30.0, dest=BLUEZ):
        self.done = False
        self.result = None
        self.error = None

        def on_reply(conn, res):
            try:
                self.result = conn.call_finish(res).unpack()
            except GLib.Error as e:
                self.error = Gio.DBusError.get_remote_error(e)
            self.done = True
        h.conn.call(dest, path, iface, method, params, None, Gio.DBusCallFlags.NONE, int(timeout * 1000),
                    None, on_reply)

    def wait(self, timeout=30.0):
        wait_until(lambda: self.done, timeout, "a method reply")
        return self


AGENT_XML = """<node><interface name="org.bluez.Agent1">
<method name="Release"/>
<method name="RequestPasskey"><arg name="device" type="o" direction="in"/>
<arg name="passkey" type="u" direction="out"/></method>
<method name="DisplayPasskey"><arg type="o" direction="in"/><arg type="u" direction="in"/>
<arg type="q" direction="in"/></method>
<method name="RequestConfirmation"><arg type="o" direction="in"/><arg type="u" direction="in"/></method>
<method name="RequestAuthorization"><arg type="o" direction="in"/></method>
<method name="AuthorizeService"><arg type="o" direction="in"/><arg type="s" direction="in"/></method>
<method name="RequestPinCode"><arg type="o" direction="in"/><arg type="s" direction="out"/></method>
<method name="DisplayPinCode"><arg type="o" direction="in"/><arg type="s" direction="in"/></method>
<method name="Cancel"/>
</interface></node>"""


class Agent:
    """An org.bluez.Agent1 on the test's connection. answer(device_path) gives the
    passkey to reply, or None to leave the request pending."""

    def __init__(self, h, path="/test/agent", capability="KeyboardOnly", answer=None):
        self.h = h
        self.path = path
        self.answer = answer
        self.calls = []
        self.pending = []
        info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML).interfaces[0]
        self.reg = h.conn.register_object(path, info, self._on_call, None, None)
        h.call("/org/bluez", AGENT_MANAGER_IFACE, "RegisterAgent", GLib.Variant("(os)", (path, capability)))

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        self.calls.append((method, params.unpack()))
        if method == "RequestPasskey":
            value = self.answer(params.unpack()[0]) if self.answer else None
            if value is None:
                self.pending.append(invocation)
            else:
                invocation.return_value(GLib.Variant("(u)", (value,)))
        else:
            invocation.return_value(None)

    def unregister(self):
        self.h.call("/org/bluez", AGENT_MANAGER_IFACE, "UnregisterAgent", GLib.Variant("(o)", (self.path,)))
        self.h.conn.unregister_object(self.reg)
