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
 - the WebSockets listener serves the dashboard's page over https (http_dir);
 - wrong passwords and anonymous clients are refused on the remote listeners;
 - on the central broker a hub cannot publish as another hub;
 - with the bridge's optional "in" line enabled, a technician at the central
   site reaches the hub's daemon, exactly once (no bridge loop), and a
   central dashboard does not.
"""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.environ["NEEDLE_HARNESS_DIR"])
import needleharness as nh  # noqa: E402
from needleharness import check, free_port, log  # noqa: E402
from needleharness.mqtt import MqttClient  # noqa: E402

HUB = 'hub-01'
DEADLINE_S = 15.0
PASSWORDS = {'dashboard': 'dash-pw', 'technician': 'tech-pw', HUB: 'bridge-pw', 'hub-02': 'other-pw'}


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
        self.proc = nh.Process(['mosquitto', '-c', self.conf], dict(os.environ), self.logfile, self.name)
        for port in self.ports:
            nh.wait_listening(self.proc, port, DEADLINE_S)

    def dump(self):
        return self.proc.output()

    def stop(self):
        if self.proc:
            self.proc.stop()


def arrives(client, topic, payload):
    """Whether @payload arrives on @topic at @client within the deadline."""
    return client.poll(lambda m: m.topic == topic and m.text == payload, DEADLINE_S) is not None


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
        ('http_dir /usr/share/needlegate/dashboard', 'http_dir ' + work + '/dashboard'),
    ], 'hub.conf')
    os.mkdir(work + '/dashboard')
    page = '<!doctype html><title>needlegate dashboard (test page)</title>'
    with open(work + '/dashboard/index.html', 'w') as f:
        f.write(page)
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

    def client(name, port, user=None, tls_ca=None, transport='tcp', version=4):
        c = MqttClient(port, client_id='test-' + name, user=user, tls_ca=tls_ca, transport=transport,
                       version=version, connect=False)
        clients.append(c)
        return c

    # 1. The bridge: central dashboard sees what the daemon publishes on the hub.
    central_dash = client('central-dashboard', p_central, ('dashboard', PASSWORDS['dashboard']), ca)
    check(central_dash.connect() == 0, 'dashboard logs in on the central broker over TLS')
    central_dash.subscribe('needlegate/#')
    check(arrives(central_dash, 'needlegate/%s/bridge/link' % HUB, '1'),
          'the hub bridge reports itself connected on the central broker')
    daemon = client('daemon', p_loop)
    check(daemon.connect() == 0, 'the daemon connects to the hub loopback listener without a password')
    daemon.subscribe('needlegate/+/bridge/request/#')
    alert = '{"pen":"NP-0001","session":7,"seq":42,"severity":"critical","rule":"depth_above_max"}'
    daemon.publish('needlegate/%s/pens/NP-0001/alert' % HUB, alert)
    check(arrives(central_dash, 'needlegate/%s/pens/NP-0001/alert' % HUB, alert),
          'an alert published on the hub arrives at the central broker through the bridge')
    daemon.publish('needlegate/%s/bridge/state' % HUB, '{"state":"online"}', retain=True)
    check(arrives(central_dash, 'needlegate/%s/bridge/state' % HUB, '{"state":"online"}'),
          'bridge/state arrives at the central broker')
    late = client('late-dashboard', p_central, ('dashboard', PASSWORDS['dashboard']), ca)
    late.connect()
    late.subscribe('needlegate/%s/bridge/state' % HUB)
    check(arrives(late, 'needlegate/%s/bridge/state' % HUB, '{"state":"online"}')
          and late.received('needlegate/%s/bridge/state' % HUB, '{"state":"online"}')[0].retain,
          'a dashboard connecting later gets bridge/state as a retained message on the central broker')

    # 2. Hub ACL: dashboards read, technicians also send requests.
    hub_dash = client('hub-dashboard', p_tls, ('dashboard', PASSWORDS['dashboard']), ca, version=5)
    check(hub_dash.connect() == 0, 'dashboard logs in on the hub TLS listener')
    hub_dash.subscribe('needlegate/#')
    ws_dash = client('ws-dashboard', p_ws, ('dashboard', PASSWORDS['dashboard']), ca, transport='websockets')
    check(ws_dash.connect() == 0, 'browser-style dashboard logs in over WebSockets with TLS')
    ws_dash.subscribe('needlegate/#')
    telemetry = '{"pen":"NP-0001","session":7,"seq":43,"depth_mm":0.5}'
    daemon.publish('needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry)
    check(arrives(hub_dash, 'needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry),
          'dashboard on the TLS listener reads telemetry')
    check(arrives(ws_dash, 'needlegate/%s/pens/NP-0001/telemetry' % HUB, telemetry),
          'dashboard on the WebSockets listener reads telemetry')
    tls = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen('https://127.0.0.1:%d/' % p_ws, context=tls, timeout=DEADLINE_S) as r:
        served = r.read().decode()
    check(served == page, 'the WebSockets listener serves the dashboard over https (http_dir)')

    request_topic = 'needlegate/%s/bridge/request/pair' % HUB
    from_dash = '{"transaction":"from-dashboard","address":"AA:BB:CC:DD:EE:01"}'
    from_ws = '{"transaction":"from-websockets","address":"AA:BB:CC:DD:EE:02"}'
    from_tech = '{"transaction":"from-technician","address":"AA:BB:CC:DD:EE:03"}'
    hub_dash.publish(request_topic, from_dash)
    ws_dash.publish(request_topic, from_ws)
    tech = client('technician', p_tls, ('technician', PASSWORDS['technician']), ca)
    check(tech.connect() == 0, 'technician logs in on the hub TLS listener')
    tech.publish(request_topic, from_tech)
    check(arrives(daemon, request_topic, from_tech), "the technician's pair request reaches the daemon")
    # The refused requests were sent before the technician's one: had the
    # broker let them through, they would be here by now; give them 1 s more.
    time.sleep(1.0)
    check(not daemon.received(request_topic, from_dash),
          "the TLS dashboard's pair request never reaches the daemon")
    check(not daemon.received(request_topic, from_ws),
          "the WebSockets dashboard's pair request never reaches the daemon")
    check(not hub_dash.received(request_topic, from_dash) and not hub_dash.received(request_topic, from_ws),
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
    imposter.publish('needlegate/hub-02/pens/NP-0002/alert', forged)
    imposter.publish('needlegate/%s/pens/NP-0001/alert' % HUB, own)
    check(arrives(central_dash, 'needlegate/%s/pens/NP-0001/alert' % HUB, own),
          'hub-01 publishes under its own hub id on the central broker')
    time.sleep(1.0)
    check(not central_dash.received('needlegate/hub-02/pens/NP-0002/alert', forged),
          'hub-01 cannot publish as hub-02 on the central broker')

    # 5. Requests from the central site, through the bridge's "in" line.
    central_tech = client('central-technician', p_central, ('technician', PASSWORDS['technician']), ca)
    check(central_tech.connect() == 0, 'technician logs in on the central broker')
    central_tech.subscribe('needlegate/#')
    from_central_dash = '{"transaction":"from-central-dashboard"}'
    from_central_tech = '{"transaction":"from-central-technician"}'
    identify = 'needlegate/%s/bridge/request/identify' % HUB
    central_dash.publish(identify, from_central_dash)
    central_tech.publish(identify, from_central_tech)
    check(arrives(daemon, identify, from_central_tech),
          "a central technician's request reaches the hub's daemon through the bridge")
    time.sleep(1.0)
    copies = (len(daemon.received(identify, from_central_tech)),
              len(central_tech.received(identify, from_central_tech)))
    check(copies == (1, 1), 'the request arrives once on each side, no bridge loop (got %d and %d)' % copies)
    check(not daemon.received(identify, from_central_dash), "a central dashboard's request never reaches the hub")


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
                thing.close() if isinstance(thing, MqttClient) else thing.stop()
            except Exception as e:  # cleanup goes on for the others
                log('cleanup: %s' % e)
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
