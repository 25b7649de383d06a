# SPDX-License-Identifier: LGPL-2.1-or-later
"""The MQTT contract, checked: every message the gateway publishes against its JSON Schema.

docs/schemas/*.schema.json (JSON Schema 2020-12) describe every payload of docs/mqtt-api.md;
docs/mqtt-api.yaml (AsyncAPI) names the topics. A Contract loads the schemas once and maps a
topic below <base_topic>/<hub_id>/ to its schema by the topic's suffix:

    c = Contract("needlegate/e2e")
    c.problems("needlegate/e2e/pens/NP5EED0001/state", payload_bytes)   # [] when it conforms

A ContractChecker (one per Harness) checks, on a thread of its own, the messages the Harness's
MqttClients receive (check(topic, payload)); problems() waits until every one is checked.
Empty payloads (they clear a retained topic), requests (bridge/request/..., the tests' own) and
topics not below the base are not checked.

Needs python3-jsonschema (Debian 12: 4.10; referencing-based $ref resolution from 4.18 on, the
older RefResolver before).
"""

import datetime
import json
import os
import queue
import re
import threading

# NEEDLE_MQTT_SCHEMAS: another folder of schemas (e.g. a deliberately broken copy, to see a check fail)
SCHEMA_DIR = os.environ.get("NEEDLE_MQTT_SCHEMAS") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "schemas"))

# (the topic below <base>/ as a regular expression, its schema); a command may span levels (plan/assign)
TOPICS = (
    (r"bridge/state", "bridge-state"),
    (r"bridge/info", "bridge-info"),
    (r"bridge/devices", "bridge-devices"),
    (r"bridge/event", "bridge-event"),
    (r"bridge/response/.+", "bridge-response"),
    (r"pens/[^/]+/state", "pen-state"),
    (r"pens/[^/]+/telemetry", "telemetry"),
    (r"pens/[^/]+/session", "session"),
    (r"pens/[^/]+/event", "pen-event"),
    (r"pens/[^/]+/alert", "alert"),
)
NOT_CHECKED = re.compile(r"bridge/request/.*")
_TOPIC_RES = [(re.compile(pattern), name) for pattern, name in TOPICS]


def schema_for(suffix):
    """The schema's name (e.g. "pen-state") for a topic suffix below <base>/, or None."""
    for rx, name in _TOPIC_RES:
        if rx.fullmatch(suffix):
            return name
    return None


def _load_schemas(directory):
    schemas = {}
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".schema.json"):
            with open(os.path.join(directory, entry), encoding="utf-8") as f:
                schemas[entry[:-len(".schema.json")]] = json.load(f)
    return schemas


def _json_path(error):
    """$.a.b[0] for the error's place in the payload (jsonschema's json_path, kept for old versions)."""
    path = "$"
    for part in error.absolute_path:
        path += "[%d]" % part if isinstance(part, int) else "." + str(part)
    return path


def _most_relevant(error):
    """For oneOf/anyOf, the error of the branch that came closest: the one whose first error lies
    deepest in the payload (the branch the payload meant), fewer errors on a tie."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)

        def closeness(errs):
            # a branch refused for its discriminator (a const at the top) or for the value's type
            # (null for a nullable number) is not the one the payload meant
            top = len(error.absolute_path) + 1
            wrong_kind = any(len(e.absolute_path) <= top and e.validator == "const" for e in errs)
            wrong_type = all(e.validator == "type" for e in errs)
            return (not wrong_kind, max(len(e.absolute_path) for e in errs), not wrong_type, -len(errs))

        best = max(branches.values(), key=closeness)
        error = sorted(best, key=lambda e: -len(e.absolute_path))[0]
    return error


class Contract:
    """The schemas of docs/schemas, and a validator for each topic below @base (needlegate/HUB)."""

    def __init__(self, base, directory=SCHEMA_DIR):
        import jsonschema  # python3-jsonschema: needed only by who checks the contract

        self.base = base.rstrip("/") + "/"
        self.directory = directory
        self.schemas = _load_schemas(directory)
        by_id = {s["$id"]: s for s in self.schemas.values()}
        cls = jsonschema.Draft202012Validator
        for s in self.schemas.values():
            cls.check_schema(s)
        checker = jsonschema.FormatChecker()
        if "date-time" not in checker.checkers:  # jsonschema checks it only with rfc3339-validator
            checker.checks("date-time", raises=ValueError)(_is_date_time)
        self.validators = {}
        try:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012
        except ImportError:  # jsonschema < 4.18: the RefResolver
            for name, s in self.schemas.items():
                resolver = jsonschema.RefResolver(base_uri=s["$id"], referrer=s, store=dict(by_id))
                self.validators[name] = cls(s, resolver=resolver, format_checker=checker)
        else:
            registry = Registry().with_resources(
                (sid, Resource.from_contents(s, default_specification=DRAFT202012)) for sid, s in by_id.items())
            for name, s in self.schemas.items():
                self.validators[name] = cls(s, registry=registry, format_checker=checker)

    def schema_name(self, topic):
        """The schema for @topic, or None when it is not checked (not below base, a request, unknown)."""
        if not topic.startswith(self.base):
            return None
        suffix = topic[len(self.base):]
        if NOT_CHECKED.fullmatch(suffix):
            return None
        return schema_for(suffix)

    def problems(self, topic, payload):
        """What is wrong with one message, one line each: [] when it conforms or is not checked."""
        return ["%s: %s" % (topic, what) for what in self.faults(topic, payload)]

    def faults(self, topic, payload):
        """problems() without the topic in front: "$.battery: 101 is greater ... (pen-state.schema.json, ...)"."""
        name = self.schema_name(topic)
        if name is None or not payload:
            return []
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as e:
            return ["not JSON (%s): %r" % (e, bytes(payload[:200]))]
        errors = [_most_relevant(e) for e in self.validators[name].iter_errors(data)]
        # jsonschema < 4.18 counts a property that broke its own rule as unevaluated too: that
        # second error says nothing new
        errors = [e for e in errors
                  if e.validator != "unevaluatedProperties"
                  or not any(len(o.absolute_path) > len(e.absolute_path)
                             and list(o.absolute_path)[:len(e.absolute_path)] == list(e.absolute_path) for o in errors)]
        errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
        return ["%s: %s (%s.schema.json, rule %s)" % (_json_path(e), _shorten(e.message), name, _rule(e))
                for e in errors]


def _is_date_time(text):
    """RFC 3339 date-time, for a jsonschema without rfc3339-validator (Debian 12's)."""
    if not isinstance(text, str):
        return True
    datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        raise ValueError("not an RFC 3339 date-time: %r" % text)
    return True


def _shorten(text, limit=300):
    return text if len(text) <= limit else text[:limit] + "..."


def _rule(error):
    """$ref/properties/battery/anyOf/0/maximum: the way through the schema to the broken rule."""
    return "/".join(str(p) for p in error.absolute_schema_path) or "(the whole payload)"


class ContractChecker:
    """Checks messages for one base on a thread of its own, so that paho's thread (and a test's
    timing) does not wait for jsonschema. check() queues; problems() waits for the queue to
    empty and returns every problem so far, one line per kind (the same field breaking the same
    rule in many messages is one line, with the first topic and how many more), at most
    @max_kept lines. n_checked: messages checked; n_bad: messages that do not conform."""

    def __init__(self, base, directory=SCHEMA_DIR, max_kept=20):
        self.contract = Contract(base, directory)
        self.max_kept = max_kept
        self.found = {}  # fault (with the topic's pen as <pen>) -> [first topic, first fault, how many]
        self.n_problems = 0
        self.n_checked = 0
        self.n_bad = 0
        self.by_schema = {}  # schema name -> messages checked against it
        self.queue = queue.Queue()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="mqtt-contract", daemon=True)
        self.thread.start()

    def wants(self, topic, payload):
        return bool(payload) and self.contract.schema_name(topic) is not None

    def check(self, topic, payload):
        """Queues one received message (a cheap test first: most topics of other hubs are skipped)."""
        if self.wants(topic, payload):
            self.queue.put((topic, bytes(payload)))

    def _run(self):
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                topic = item[0]
                try:
                    faults = self.contract.faults(*item)
                except Exception as e:  # a broken schema must not kill the thread: report it
                    faults = ["the contract check failed: %r" % e]
                kind = re.sub(r"^pens/[^/]+/", "pens/<pen>/", topic[len(self.contract.base):])
                name = self.contract.schema_name(topic)
                with self.lock:
                    self.n_checked += 1
                    self.by_schema[name] = self.by_schema.get(name, 0) + 1
                    self.n_problems += len(faults)
                    self.n_bad += bool(faults)
                    for fault in faults:
                        # the same fault in many messages (every state of every pen): one line
                        key = (kind, re.sub(r"\[\d+\]", "[]",
                                           re.sub(r"^(\S+): .*? (\(\S+\.schema\.json, rule \S+\))$", r"\1 \2", fault)))
                        if key in self.found:
                            self.found[key][2] += 1
                        else:
                            self.found[key] = [topic, fault, 1]
            finally:
                self.queue.task_done()

    def problems(self):
        """Every kind of problem so far, once the queue is empty: one line each."""
        self.queue.join()
        with self.lock:
            lines = []
            for topic, fault, n in self.found.values():
                more = " [and %d more like it]" % (n - 1) if n > 1 else ""
                lines.append("%s: %s%s" % (topic, fault, more))
            if len(lines) > self.max_kept:
                lines[self.max_kept:] = ["... and %d more kinds of fault" % (len(lines) - self.max_kept)]
            return lines

    def close(self):
        self.queue.put(None)
        self.thread.join(timeout=10)
