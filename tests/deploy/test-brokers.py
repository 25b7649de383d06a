#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs deploy/mosquitto's hub and central configs as two real brokers and checks the bridge and the ACLs.
"""usage: test-brokers.py MOSQUITTO_CONFIG_DIR

Starts a central Mosquitto from central.conf/central.acl and a hub Mosquitto
from hub.conf + central-bridge.conf/hub.acl, both rewritten to free loopback
ports and to certificates made here, then checks what a clinic would:
 - a message the daemon publishes on the hub's loopback listener reaches a
   dashboard on the central broker through the bridge, and retained state
   stays retained there;
 - a dashboard reads over TLS and over WebSockets but its requests never
   reach the daemon, while a technician's do;
 - wrong passwords and anonymous clients are refused on the remote listeners;
 - on the central broker a hub cannot publish as another hub;
 - with the bridge's optional "in" line enabled, a technician at the central
   site reaches the hub's daemon, exactly once (no bridge loop), and a
   central dashboard does not.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

HUB = 'hub-01'
DEADLINE_S = 15.0
PASSWORDS = {'dashboard': 'dash-pw', 'technician': 'tech-pw', HUB: 'bridge-pw', 'hub-02': 'other-pw'}


def log(msg):
    print('test-brokers: ' + msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60, **kw)


def make_certs(d):
    """A CA and one server certificate valid for 127.0.0.1 and localhost."""
    run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
         '-subj', '/CN=needlegate test CA', '-keyout', d + '/ca.key', '-out', d + '/ca.crt'])
    with open(d + '/ext.cnf', 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    run(['openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
         '-keyout', d + '/server.key', '-out', d + '/server.csr'])
    run(['openssl', 'x509', '-req', '-in', d + '/server.csr', '-CA', d + '/ca.crt', '-CAkey', d + '/ca.key',
         '-CAcreateserial', '-days', '2', '-extfile', d + '/ext.cnf', '-out', d + '/server.crt'])
    for name in ('server.key', 'server.crt', 'ca.crt'):
        os.chmod(d + '/' + name, 0o644)


def make_passwd(path, users):
    for i, user in enumerate(users):
        run(['mosquitto_passwd', '-b'] + (['-c'] if i == 0 else []) + [path, user, PASSWORDS[user]])
    os.chmod(path, 0o644)


def adapt(text, replacements, what):
    """Apply each (old, new) once or more; a config that no longer has a line we rely on fails loudly."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError('%s: expected line or value %r is gone; update this test' % (what, old))
        text = text.replace(old, new)
    return text


class Broker:
    def __init__(self, name, conf_text, workdir, ports):
        self.name = name
        self.ports = ports
        self.conf = os.path.join(workdir, name + '.conf')
        self.logfile = os.path.join(workdir, name + '.log')
        with open(self.conf, 'w') as f:
            f.write(conf_text)
            # Mosquitto started as root drops to user "mosquitto", which could
            # not read the temporary files; stay who we are.
            if os.geteuid() == 0:
                f.write('\nuser root\n')
        self.proc = None

    def start(self):
        self.log = open(self.logfile, 'w')
        self.proc = subprocess.Popen(['mosquitto', '-c', self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + DEADLINE_S
        for port in self.ports:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError('%s broker exited (%d):\n%s' % (self.name, self.proc.returncode,
                                                                           self.dump()))
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise AssertionError('%s broker: port %d not open after %.0f s' % (self.name, port,
                                                                                         DEADLINE_S))
                    time.sleep(0.05)

    def dump(self):
        self.log.flush()
        with open(self.logfile) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A paho client that records what it receives and waits for it with a deadline."""

    def __init__(self, name, port, user=None, tls_ca=None, transport='tcp', protocol=mqtt.MQTTv311):
        self.name = name
        self.messages = []
        self.cond = threading.Condition()
        self.connack = None
        self.c = mqtt.Client(client_id='test-' + name, protocol=protocol, transport=transport)
        if user:
            self.c.username_pw_set(user[0], user[1])
        if tls_ca:
            self.c.tls_set(ca_certs=tls_ca)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.port = port

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = rc
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload.decode(), msg.retain))
            self.cond.notify_all()

    def connect(self):
        """Returns the CONNACK code (0: accepted)."""
        self.c.connect('127.0.0.1', self.port, keepalive=30)
        self.c.loop_start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.connack is not None, DEADLINE_S):
                raise AssertionError('%s: no CONNACK within %.0f s' % (self.name, DEADLINE_S))
        return self.connack

    def subscribe(self, topic):
        result, mid = self.c.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS, '%s: subscribe %s failed: %d' % (self.name, topic, result)
        # A round trip to the broker proves the subscription is in place.
        self.publish_and_wait_sent('test/%s/sync' % self.name, 'sync')

    def publish_and_wait_sent(self, topic, payload, retain=False):
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(DEADLINE_S)
        assert info.is_published(), '%s: PUBACK for %s not received' % (self.name, topic)

    def wait_for(self, topic, payload, timeout=DEADLINE_S):
        with self.cond:
            return self.cond.wait_for(lambda: any(m[0] == topic and m[1] == payload for m in self.messages),
                                      timeout)

    def got(self, topic, payload):
        with self.cond:
            return [m for m in self.messages if m[0] == topic and m[1] == payload]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    log('ok: ' + msg)


def scenario(src, work, clients):
    certs = os.path.join(work, 'certs')
    os.mkdir(certs)
    make_certs(certs)
    hub_passwd = os.path.join(work, 'hub.passwd')
    central_passwd = os.path.join(work, 'central.passwd')
    make_passwd(hub_passwd, ['dashboard', 'technician'])
    make_passwd(central_passwd, ['dashboard', 'technician', HUB, 'hub-02'])
    for acl in ('hub.acl', 'central.acl'):
        shutil.copy(os.path.join(src, acl), os.path.join(work, acl))
        os.chmod(os.path.join(work, acl), 0o644)

    p_loop, p_tls, p_ws, p_central = free_port(), free_port(), free_port(), free_port()
    read = lambda name: open(os.path.join(src, name)).read()
    central_conf = adapt(read('central.conf'), [
        ('listener 8883\n', 'listener %d 127.0.0.1\n' % p_central),
        ('/etc/mosquitto/certs/central.crt', certs + '/server.crt'),
        ('/etc/mosquitto/certs/central.key', certs + '/server.key'),
        ('/etc/mosquitto/needlegate-central.passwd', central_passwd),
        ('/etc/mosquitto/needlegate-central.acl', work + '/central.acl'),
    ], 'central.conf')
    hub_conf = adapt(read('hub.conf'), [
        ('listener 1883 127.0.0.1\n', 'listener %d 127.0.0.1\n' % p_loop),
        ('listener 8883\n', 'listener %d 127.0.0.1\n' % p_tls),
        ('listener 9001\n', 'listener %d 127.0.0.1\n' % p_ws),
        ('/etc/mosquitto/certs/hub.crt', certs + '/server.crt'),
        ('/etc/mosquitto/certs/hub.key', certs + '/server.key'),
        ('/etc/mosquitto/certs/ca.crt', certs + '/ca.crt'),
        ('/etc/mosquitto/needlegate.passwd', hub_passwd),
        ('/etc/mosquitto/needlegate.acl', work + '/hub.acl'),
    ], 'hub.conf')
    bridge_conf = adapt(read('central-bridge.conf'), [
        ('address central.example.org:8883', 'address 127.0.0.1:%d' % p_central),
        ('/etc/mosquitto/certs/central-ca.crt', certs + '/ca.crt'),
        ('remote_password change-me', 'remote_password ' + PASSWORDS[HUB]),
        ('#topic needlegate/%s/bridge/request/# in 1' % HUB,
         'topic needlegate/%s/bridge/request/# in 1' % HUB),
    ], 'central-bridge.conf')

    central = Broker('central', central_conf, work, [p_central])
    hub = Broker('hub', hub_conf + '\n' + bridge_conf, work, [p_loop, p_tls, p_ws])
    clients.extend([central, hub])
    central.start()
    hub.start()
    log('central on %d, hub on %d (loopback) %d (TLS) %d (WebSockets)' % (p_central, p_loop, p_tls, p_ws))
    ca = certs + '/ca.crt'

    def client(*args, **kw):
        c = Client(*args, **kw)
        clients.append(c)
        return c

    # 1. The bridge: central dashboard sees what the daemon publishes on the hub.
    central_dash = client('central-dashboard', p_central, ('dashboard', PASSWORDS['dashboard']), ca)
    check(central_dash.connect() == 0, 'dashboard logs in on the central broker over TLS')
    central_dash.subscribe('needlegate/#')
    check(central_dash.wait_for('needlegate/%s/bridge/link' % HUB, '1'),
          'the hub bridge reports itself connected on the central broker')
    daemon = client('daemon', p_loop)
    check(daemon.connect() == 0, 'the daemon connects to the hub loopback listener without a password')
    daemon.subscribe('needlegate/+/bridge/request/#')
    alert = '{"pen":"NP-0001","session":7,"seq":42,"severity":"critical","rule":"depth_above_max"}'
    daemon.publish_and_wait_sent('needlegate/%s/pens/NP-0001/alert' % HUB, alert)
    check(central_dash.wait_for('needlegate/%s/pens/NP-0001/alert' % HUB, alert),
          'an alert published on the hub arrives at the central broker through the bridge')
    daemon.publish_and_wait_sent('needlegate/%s/bridge/state' % HUB, '{"state":"online"}', retain=True)
    check(central_dash.wait_for('needlegate/%s/bridge/state' % HUB, '{"state":"online"}'),
          'bridge/state arrives at the central broker')
    late = client('late-dashboard', p_central, ('dashboard', PASSWORDS['dashboard']), ca)
    late.connect()
    late.c.subscribe('needlegate/%s/bridge/state' % HUB, qos=1)
    check(late.wait_for('needlegate/%s/bridge/state' % HUB, '{"state":"online"}')
          and late.got('needlegate/%s/bridge/state' % HUB, '{"state":"online"}')[0][2],
          'a dashboard connecting later gets bridge/state as a retained message on the central broker')

    # 2. Hub ACL: dashboards read, technicians also send requests.
    hub_dash = client('hub-dashboard', p_tls, ('dashboard', PASSWORDS['dashboard']), ca, protocol=mqtt.MQTTv5)
    check(hub_dash.connect() == 0, 'dashboard logs in on the hub TLS listener')
    hub_dash.subscribe('needlegate/#')
    ws_dash = client('ws-dashboard', p_ws, ('dashboard', PASSWORDS['dashboard']), ca, transport='websockets')
    check(ws_dash.connect() == 0, 'browser-style dashboard logs in over WebSockets with TLS')
    ws_dash.subscribe('needlegate/#')
    telemetry = '{"pen":"NP-0001","session":7,"seq":43,"depth_mm":0.5}'
    daemon.publish_and_wait_sent('needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry)
    check(hub_dash.wait_for('needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry),
          'dashboard on the TLS listener reads telemetry')
    check(ws_dash.wait_for('needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry),
          'dashboard on the WebSockets listener reads telemetry')

    request_topic = 'needlegate/%s/bridge/request/pair' % HUB
    from_dash = '{"transaction":"from-dashboard","address":"AA:BB:CC:DD:EE:01"}'
    from_ws = '{"transaction":"from-websockets","address":"AA:BB:CC:DD:EE:02"}'
    from_tech = '{"transaction":"from-technician","address":"AA:BB:CC:DD:EE:03"}'
    hub_dash.publish_and_wait_sent(request_topic, from_dash)
    ws_dash.publish_and_wait_sent(request_topic, from_ws)
    tech = client('technician', p_tls, ('technician', PASSWORDS['technician']), ca)
    check(tech.connect() == 0, 'technician logs in on the hub TLS listener')
    tech.publish_and_wait_sent(request_topic, from_tech)
    check(daemon.wait_for(request_topic, from_tech), "the technician's pair request reaches the daemon")
    # The refused requests were sent before the technician's one: had the
    # broker let them through, they would be here by now; give them 1 s more.
    time.sleep(1.0)
    check(not daemon.got(request_topic, from_dash),
          "the TLS dashboard's pair request never reaches the daemon")
    check(not daemon.got(request_topic, from_ws),
          "the WebSockets dashboard's pair request never reaches the daemon")
    check(not hub_dash.got(request_topic, from_dash) and not hub_dash.got(request_topic, from_ws),
          'the refused requests are not delivered to any subscriber either')

    # 3. Authentication on the remote listeners.
    bad = client('bad-password', p_tls, ('dashboard', 'wrong'), ca)
    check(bad.connect() != 0, 'a wrong password is refused on the TLS listener')
    anon = client('anonymous', p_tls, None, ca)
    check(anon.connect() != 0, 'an anonymous client is refused on the TLS listener')
    anon_ws = client('anonymous-ws', p_ws, None, ca, transport='websockets')
    check(anon_ws.connect() != 0, 'an anonymous client is refused on the WebSockets listener')

    # 4. Central ACL: a hub writes only under its own hub id.
    imposter = client('imposter', p_central, (HUB, PASSWORDS[HUB]), ca)
    check(imposter.connect() == 0, 'hub-01 logs in on the central broker')
    forged = '{"pen":"NP-0002","severity":"critical","rule":"forged"}'
    own = '{"pen":"NP-0001","severity":"info","rule":"own"}'
    imposter.publish_and_wait_sent('needlegate/hub-02/pens/NP-0002/alert', forged)
    imposter.publish_and_wait_sent('needlegate/%s/pens/NP-0001/alert' % HUB, own)
    check(central_dash.wait_for('needlegate/%s/pens/NP-0001/alert' % HUB, own),
          'hub-01 publishes under its own hub id on the central broker')
    time.sleep(1.0)
    check(not central_dash.got('needlegate/hub-02/pens/NP-0002/alert', forged),
          'hub-01 cannot publish as hub-02 on the central broker')

    # 5. Requests from the central site, through the bridge's "in" line.
    central_tech = client('central-technician', p_central, ('technician', PASSWORDS['technician']), ca)
    check(central_tech.connect() == 0, 'technician logs in on the central broker')
    central_tech.subscribe('needlegate/#')
    from_central_dash = '{"transaction":"from-central-dashboard"}'
    from_central_tech = '{"transaction":"from-central-technician"}'
    identify = 'needlegate/%s/bridge/request/identify' % HUB
    central_dash.publish_and_wait_sent(identify, from_central_dash)
    central_tech.publish_and_wait_sent(identify, from_central_tech)
    check(daemon.wait_for(identify, from_central_tech),
          "a central technician's request reaches the hub's daemon through the bridge")
    time.sleep(1.0)
    copies = (len(daemon.got(identify, from_central_tech)),
              len(central_tech.got(identify, from_central_tech)))
    check(copies == (1, 1), 'the request arrives once on each side, no bridge loop (got %d and %d)' % copies)
    check(not daemon.got(identify, from_central_dash), "a central dashboard's request never reaches the hub")


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    src = os.path.abspath(argv[1])
    # mosquitto lives in /usr/sbin, which a user's PATH may lack.
    os.environ['PATH'] = os.environ.get('PATH', '/usr/bin:/bin') + ':/usr/sbin:/sbin'
    work = tempfile.mkdtemp(prefix='needlegate-brokers-')
    os.chmod(work, 0o755)
    started = []
    failed = False
    try:
        scenario(src, work, started)
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        failed = True
        log('FAIL: %s' % e)
        for thing in started:
            if isinstance(thing, Broker) and thing.proc:
                log('--- %s broker log ---\n%s' % (thing.name, thing.dump()))
    finally:
        for thing in reversed(started):
            try:
                thing.close() if isinstance(thing, Client) else thing.stop()
            except Exception as e:  # cleanup goes on for the others
                log('cleanup: %s' % e)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
