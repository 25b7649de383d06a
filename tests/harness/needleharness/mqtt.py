# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one MQTT client of the tests: subscribes, keeps what arrives, publishes, waits.

paho-mqtt 1.6 (Debian 12's python3-paho-mqtt) calls back from its own thread; every list here is
read under the lock.
"""

import json
import os
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .core import HarnessError

DEADLINE_S = 15.0


class Message:
    """One message as it arrived: receive time (CLOCK_MONOTONIC ns), topic, payload bytes, retain,
    MQTT 5 properties; .data is the payload parsed as JSON (else its text), parsed when first asked."""

    __slots__ = ("t", "topic", "payload", "retain", "properties", "_data")

    def __init__(self, t, topic, payload, retain, properties):
        self.t, self.topic, self.payload, self.retain, self.properties = t, topic, payload, retain, properties
        self._data = self

    @property
    def text(self):
        return self.payload.decode(errors="replace")

    @property
    def data(self):
        if self._data is self:
            try:
                self._data = json.loads(self.payload)
            except (ValueError, RecursionError):  # not JSON, or nested too deep for Python
                self._data = self.text
        return self._data

    def __repr__(self):
        return f"Message({self.topic!r}, {self.payload[:200]!r}, retain={self.retain})"


class MqttClient:
    """A paho client on 127.0.0.1:@port that subscribes to @topics (QoS 1) each time it connects
    and keeps every message (unless keep=False; on_message(Message) sees each one either way).

    base: the hub's topic prefix (needlegate/HUB): on(), last() and request() take topics below it.
    clean_session=False keeps the session on the broker across a broker restart (MQTT 3.1.1).
    With connect=True (the default) the constructor connects and waits for the SUBACKs, and
    fails unless the broker accepted it; else connect() returns the CONNACK code.
    contract: a contract.ContractChecker that sees every message received (a Harness passes its
    own: what the gateway publishes is checked against docs/schemas)."""

    def __init__(self, port, topics=(), base=None, client_id=None, version=4, clean_session=None,
                 user=None, tls_ca=None, transport="tcp", keepalive=30, on_message=None, keep=True,
                 connect=True, contract=None):
        self.port = port
        self.base = base
        self.topics = list(topics)
        self.keep = keep
        self.hook = on_message
        self.contract = contract
        self.cond = threading.Condition()
        self.messages_ = []
        self.connack = None
        self.pending_subs = set()
        client_id = client_id or f"needle-harness-{os.getpid()}-{time.monotonic_ns()}"
        protocol = paho.MQTTv5 if version == 5 else paho.MQTTv311
        kwargs = {} if clean_session is None else {"clean_session": clean_session}
        self.client = paho.Client(client_id=client_id, protocol=protocol, transport=transport, **kwargs)
        if user:
            self.client.username_pw_set(user[0], user[1])
        if tls_ca:
            self.client.tls_set(ca_certs=tls_ca)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.keepalive = keepalive
        if connect:
            code = self.connect()
            if code != 0:
                self.close()
                raise HarnessError(f"the broker on {port} refused the MQTT client: {code}")

    # ---- paho's thread --------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            if rc == 0:
                for topic in self.topics:
                    result, mid = client.subscribe(topic, qos=1)
                    if result == paho.MQTT_ERR_SUCCESS:
                        self.pending_subs.add(mid)
            self.connack = rc
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, *granted):
        with self.cond:
            self.pending_subs.discard(mid)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        m = Message(time.monotonic_ns(), msg.topic, msg.payload, msg.retain, getattr(msg, "properties", None))
        if self.contract is not None:
            self.contract.check(m.topic, m.payload)
        if self.keep:
            with self.cond:
                self.messages_.append(m)
                self.cond.notify_all()
        if self.hook:
            self.hook(m)

    # ---- the test's side ------------------------------------------------------------------

    def connect(self, timeout=DEADLINE_S):
        """Connects; returns the CONNACK code (0: accepted) once the subscriptions are in place."""
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive)
        self.client.loop_start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.connack is not None and not self.pending_subs, timeout):
                raise HarnessError(f"MQTT client on {self.port}: no CONNACK and SUBACK within {timeout:.0f} s")
            return self.connack

    def subscribe(self, topic, timeout=DEADLINE_S):
        """Subscribes (QoS 1) now and on every reconnection; returns once the broker acknowledged."""
        self.topics.append(topic)
        with self.cond:
            result, mid = self.client.subscribe(topic, qos=1)
            if result != paho.MQTT_ERR_SUCCESS:
                raise HarnessError(f"subscribe {topic} failed: {result}")
            self.pending_subs.add(mid)
            if not self.cond.wait_for(lambda: mid not in self.pending_subs, timeout):
                raise HarnessError(f"no SUBACK for {topic} within {timeout:.0f} s")

    def full(self, topic):
        return f"{self.base}/{topic}" if self.base else topic

    def publish(self, topic, payload, qos=1, retain=False, properties=None, timeout=DEADLINE_S):
        """Publishes @topic (as given, not below base) and waits until the broker has it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise HarnessError(f"PUBACK for {topic} not received within {timeout:.0f} s")

    def request(self, command, payload, response_topic=None, correlation=None):
        """bridge/request/@command: a dict goes as JSON, bytes or text as they are; MQTT 5 response
        topic and correlation data when given."""
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.publish(self.full("bridge/request/" + command), data, properties=props)

    def messages(self):
        """Every message so far, in arrival order."""
        with self.cond:
            return list(self.messages_)

    def on(self, topic):
        """Payloads (.data) on @topic below base, in arrival order."""
        full = self.full(topic)
        return [m.data for m in self.messages() if m.topic == full]

    def last(self, topic):
        got = self.on(topic)
        return got[-1] if got else None

    def received(self, topic, text):
        """Messages on @topic (as given) with that payload text."""
        return [m for m in self.messages() if m.topic == topic and m.text == text]

    def poll(self, predicate, timeout=DEADLINE_S):
        """The first message for which predicate(message) holds, waiting up to timeout; else None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages_:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.1))

    def wait(self, predicate, what="an MQTT message", timeout=DEADLINE_S):
        """The first message for which predicate(message) holds; HarnessError after timeout."""
        m = self.poll(predicate, timeout)
        if m is None:
            raise HarnessError(f"timed out after {timeout} s waiting for {what}; got {len(self.messages())} messages")
        return m

    def wait_online(self, timeout=DEADLINE_S):
        """Until the hub says bridge/state online: it subscribes to its requests before it
        publishes that, so a request sent after this is heard (what a dashboard should do too)."""
        self.wait(lambda m: m.topic == self.full("bridge/state") and m.data == {"state": "online"},
                  "bridge/state online", timeout)

    def response(self, command, transaction, timeout=30):
        """The answer (parsed) on bridge/response/@command that echoes @transaction."""
        topic = self.full("bridge/response/" + command)
        return self.wait(lambda m: m.topic == topic and isinstance(m.data, dict)
                         and m.data.get("transaction") == transaction,
                         f"the response to {command} #{transaction}", timeout).data

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

