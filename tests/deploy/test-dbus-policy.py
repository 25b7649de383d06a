#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Loads deploy/dbus's policy into a private system-style dbus-daemon and checks who may read, change and own.
"""usage: test-dbus-policy.py POLICY_FILE DBUS_XML_DIR

Needs root: the service and the clients run under other uids (setpriv).
The policy names the user and group "needlegate", which a build machine does
not have; the test loads a copy where they read "daemon" (uid and gid 1 on
every Debian system), so the service runs as that stand-in and a technician
is a process with that supplementary group. The bus's default context is the
one from Debian's system.conf: deny every method call unless allowed.

A small Gio service stands in for needlegated: it owns org.needlegate.Gateway1
and exports the real org.needlegate.Gateway1 and org.needlegate.Pen1
interfaces from dbus/*.xml at the daemon's paths, plus the ObjectManager and a
pairing agent (org.bluez.Agent1). It answers every method call with an error
of its own (or nothing), so a call "passes the bus" when the answer is
anything but the bus's org.freedesktop.DBus.Error.AccessDenied. Every method
and property of the real XML is tried, so a new method is covered as soon as
it is declared.
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import Gio, GLib, check, connect, log  # noqa: E402

STANDIN = 'daemon'
NAME = 'org.needlegate.Gateway1'
PATH = '/org/needlegate/Gateway1'
PEN_PATH = '/org/needlegate/Gateway1/pens/C0_4E_50_5E_00_01'
AGENT_PATH = '/org/needlegate/Gateway1/agent'
DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
DEADLINE_S = 10.0
PY = '/usr/bin/python3'

EXTRA_XML = '''
<node>
  <interface name="org.bluez.Agent1">
    <method name="RequestPasskey">
      <arg name="device" type="o" direction="in"/><arg name="passkey" type="u" direction="out"/>
    </method>
  </interface>
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects"><arg type="a{oa{sa{sv}}}" direction="out"/></method>
  </interface>
</node>
'''

def load_interfaces(xml_dir):
    """The real interfaces, by name, from dbus/org.needlegate.*.xml, plus the agent and ObjectManager."""
    ifaces = {}
    texts = [EXTRA_XML]
    for name in ('org.needlegate.Gateway1.xml', 'org.needlegate.Pen1.xml'):
        with open(os.path.join(xml_dir, name)) as f:
            texts.append(f.read())
    for text in texts:
        for iface in Gio.DBusNodeInfo.new_for_xml(text).interfaces:
            ifaces[iface.name] = iface
    return ifaces


def run_service(address, xml_dir):
    """The stand-in daemon: owns the name, prints READY, serves until killed."""
    conn = connect(address)
    ifaces = load_interfaces(xml_dir)

    def call(conn, sender, path, iface, method, params, inv):
        if method == 'GetManagedObjects':
            inv.return_value(GLib.Variant('(a{oa{sa{sv}}})', ({},)))
        elif method == 'RequestPasskey':
            inv.return_value(GLib.Variant('(u)', (123456,)))
        else:
            inv.return_dbus_error('org.needlegate.Test.StandIn', 'the stand-in got %s.%s' % (iface, method))

    def get_prop(conn, sender, path, iface, prop):
        sig = ifaces[iface].lookup_property(prop).signature
        return GLib.Variant.parse(GLib.VariantType(sig), ZERO.get(sig[0], '@%s []' % sig), None, None)

    for path, names in ((PATH, ('org.needlegate.Gateway1', 'org.freedesktop.DBus.ObjectManager')),
                        (PEN_PATH, ('org.needlegate.Pen1',)), (AGENT_PATH, ('org.bluez.Agent1',))):
        for name in names:
            conn.register_object(path, ifaces[name], call, get_prop, None)
    reply = conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                           'RequestName', GLib.Variant('(su)', (NAME, 4)), GLib.VariantType('(u)'), 0, 5000,
                           None)
    print('READY' if reply.unpack()[0] == 1 else 'NOT-OWNER %d' % reply.unpack()[0], flush=True)
    GLib.MainLoop().run()


# Text of a zero value per leading type character; containers fall back to an empty array.
ZERO = {'s': "''", 'o': "'/'", 'b': 'false', 'y': '0', 'n': '0', 'q': '0', 'i': '0', 'u': '0', 'x': '0',
        't': '0', 'd': '0.0'}


def run_client(address, calls):
    """Makes each call (path, interface, member, GVariant text or ''); prints one answer per line."""
    conn = connect(address)
    for path, iface, member, args in calls:
        try:
            if member == 'RequestName':
                bus = ('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus')
                reply = conn.call_sync(*bus, 'RequestName', GLib.Variant('(su)', (NAME, 4)),
                                       GLib.VariantType('(u)'), 0, 5000, None)
                print('ok' if reply.unpack()[0] == 1 else 'not-primary-owner')
                continue
            params = GLib.Variant.parse(None, args, None, None) if args else None
            conn.call_sync(NAME, path, iface, member, params, None, 0, 5000, None)
            print('ok')
        except GLib.Error as e:
            print(Gio.DBusError.get_remote_error(e) or e.message)
        sys.stdout.flush()


def as_user(user, groups=None):
    """setpriv prefix: run as USER with exactly GROUPS as supplementary groups."""
    pw = pwd.getpwnam(user)
    cmd = ['setpriv', '--reuid=%d' % pw.pw_uid, '--regid=%d' % pw.pw_gid]
    return cmd + (['--groups=' + ','.join(groups)] if groups else ['--clear-groups'])


def scenario(policy, xml_dir, work):
    text = open(policy).read()
    for old in ('user="needlegate"', 'group="needlegate"'):
        if old not in text:
            raise AssertionError('policy: %s is gone; update this test' % old)
    text = text.replace('user="needlegate"', 'user="%s"' % STANDIN).replace('group="needlegate"',
                                                                             'group="%s"' % STANDIN)
    with open(work + '/policy.conf', 'w') as f:
        f.write(text)
    os.chmod(work + '/policy.conf', 0o644)
    with nh.Harness(pensim=False, bus_policy=nh.SYSTEM_POLICY, bus_includes=[work + '/policy.conf']) as h:
        os.chmod(h.dir, 0o755)  # the other users reach the bus socket
        check_policy(h, xml_dir)


def check_policy(h, xml_dir):
    address = h.bus_address
    log('private bus at ' + address)
    me = os.path.abspath(__file__)

    svc = h.spawn(as_user(STANDIN) + [PY, me, '--service', address, xml_dir], name='stand-in')
    line = svc.wait_output(r'READY|NOT-OWNER \d+', DEADLINE_S).group(0)
    check(line == 'READY', 'the service user owns %s (got %r)' % (NAME, line))

    def answers(prefix, calls):
        out = subprocess.run(prefix + [PY, me, '--client', address, json.dumps(calls)],
                             stdout=subprocess.PIPE, text=True, timeout=DEADLINE_S * 3)
        got = out.stdout.splitlines()
        if len(got) != len(calls):
            raise AssertionError('client answered %d of %d calls: %r' % (len(got), len(calls), got))
        return dict(zip(('%s.%s' % (c[1], c[2]) for c in calls), got))

    ifaces = load_interfaces(xml_dir)
    props = 'org.freedesktop.DBus.Properties'
    reads = [(PATH, 'org.freedesktop.DBus.Introspectable', 'Introspect', ''),
             (PATH, 'org.freedesktop.DBus.Peer', 'Ping', ''),
             (PATH, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects', '')]
    for path, iface in ((PATH, 'org.needlegate.Gateway1'), (PEN_PATH, 'org.needlegate.Pen1')):
        reads.append((path, props, 'GetAll', "('%s',)" % iface))
        reads += [(path, props, 'Get', "('%s', '%s')" % (iface, p.name)) for p in ifaces[iface].properties]
    # Every method, the listing ones too: the policy lets only the group call them.
    changes = [(path, iface, m.name, '') for path, iface in ((PATH, 'org.needlegate.Gateway1'),
                                                            (PEN_PATH, 'org.needlegate.Pen1'))
               for m in ifaces[iface].methods]
    changes.append((PATH, props, 'Set', "('org.needlegate.Gateway1', 'HubId', <'hub-99'>)"))
    agent = [(AGENT_PATH, 'org.bluez.Agent1', 'RequestPasskey', "(objectpath '/org/bluez/hci0/dev_X',)")]
    own = [('/', 'org.freedesktop.DBus', 'RequestName', '')]
    check(len(changes) >= 8, '%d changing methods found in the real XML' % (len(changes) - 1))

    names = lambda calls: ['%s.%s' % (c[1], c[2]) for c in calls]
    nobody = answers(as_user('nobody'), reads + changes + agent + own)
    member = answers(as_user('nobody', [STANDIN]), changes + agent + own)
    root = answers([], changes + agent)
    refused = [(c, nobody[c]) for c in names(reads) if nobody[c] != 'ok']
    check(not refused, 'any user may read: %d reads (introspect, every property, objects); refused: %r'
          % (len(reads), refused))
    let_through = [c for c in names(changes + agent + own) if nobody[c] != DENIED]
    check(not let_through, 'a user outside the group is refused every changing method, Set, the agent and the'
          ' name; let through: %r' % let_through)
    member_refused = [c for c in names(changes) if member[c] == DENIED]
    check(not member_refused, 'a member of the group passes the bus for every changing method and Set (%d);'
          ' refused: %r' % (len(changes), member_refused))
    check(member['org.bluez.Agent1.RequestPasskey'] == DENIED,
          'a group member cannot answer as bluetoothd on the pairing agent')
    check(member['org.freedesktop.DBus.RequestName'] == DENIED, 'a group member cannot take the name')
    root_denied = [c for c in root if root[c] == DENIED]
    check(not root_denied, 'root passes the bus for everything, and so bluetoothd reaches the agent: %r'
          % root_denied)
    check(root['org.bluez.Agent1.RequestPasskey'] == 'ok', "the agent answers root's RequestPasskey")


def main(argv):
    if len(argv) == 4 and argv[1] == '--service':
        return run_service(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == '--client':
        return run_client(argv[2], json.loads(argv[3]))
    if len(argv) != 3:
        sys.exit(__doc__)
    if os.geteuid() != 0:
        log('FAIL: needs root to run clients under other uids (CI and the dev machines run as root)')
        return 1
    work = tempfile.mkdtemp(prefix='needlegate-dbus-')
    os.chmod(work, 0o755)
    failed = False
    try:
        scenario(os.path.abspath(argv[1]), os.path.abspath(argv[2]), work)
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        failed = True
        log('FAIL: %s' % e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
