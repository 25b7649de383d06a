#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The MQTT contract's documents agree with each other, and the schemas are strict enough to fail.

- every payload example of docs/mqtt-api.yaml conforms to the schema its message names;
- every ```json example of docs/mqtt-api.md and docs/plans.md is marked with the topic it shows
  (<!-- example: pens/<pen>/state -->, or "plan file") and conforms to that topic's schema
  (a plan file to deploy/plan.schema.json); an example marked ", shortened" may leave out
  required members, nothing else;
- every channel of the AsyncAPI document has a schema the tests check its messages with, and
  every such schema is used by a channel;
- messages a gateway must never publish are refused, with the topic, the field and the rule:
  an unknown field, an unknown rule, severity, area or state, a time that is not RFC 3339, a
  battery of 101 %, a telemetry record without its sequence number.

    python3 test-contract.py SOURCE_ROOT
"""

import copy
import json
import os
import re
import sys

import yaml

SRC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "harness"))
from needleharness.contract import Contract  # noqa: E402

BASE = "needlegate/hub"
PEN = "NP5EED0001"
failures = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def topic_of(example_topic):
    return "%s/%s" % (BASE, example_topic.replace("<pen>", PEN))


contract = Contract(BASE, os.path.join(SRC, "docs", "schemas"))
api = yaml.safe_load(open(os.path.join(SRC, "docs", "mqtt-api.yaml"), encoding="utf-8"))

# 1. The AsyncAPI document's examples, and its channels against the topics the tests check.
messages = api["components"]["messages"]
schema_of_message = {}
for name, msg in messages.items():
    ref = msg["payload"].get("schema", msg["payload"]).get("$ref", "")
    m = re.fullmatch(r"\./schemas/(.+)\.schema\.json", ref)
    schema_of_message[name] = m.group(1) if m else None
    for i, ex in enumerate(msg.get("examples", [])):
        if schema_of_message[name] is None:
            continue  # a request: the gateway's input, checked by the gateway itself
        errors = [e.message for e in contract.validators[schema_of_message[name]].iter_errors(ex["payload"])]
        check(not errors, "mqtt-api.yaml: %s example %d conforms to %s.schema.json %s"
              % (name, i + 1, schema_of_message[name], errors or ""))

used = set()
for name, ch in api["channels"].items():
    address = ch["address"].replace("{base_topic}/{hub_id}", BASE).replace("{pen_id}", PEN)
    address = address.replace("{command}", "plan/assign")
    for ref in ch.get("messages", {}).values():
        msg_name = ref["$ref"].rsplit("/", 1)[-1]
        want = schema_of_message.get(msg_name)
        got = contract.schema_name(address)
        used.add(want)
        check(want == got, "channel %s (%s): the tests check it with %s, the document names %s"
              % (name, ch["address"], got, want))
unused = set(contract.schemas) - used - {"common"}
check(not unused, "every payload schema belongs to a channel (unused: %s)" % sorted(unused))

# 2. The guides' examples.
plan_schema = json.load(open(os.path.join(SRC, "deploy", "plan.schema.json"), encoding="utf-8"))
n_examples = 0
for doc in ("docs/mqtt-api.md", "docs/plans.md"):
    text = open(os.path.join(SRC, doc), encoding="utf-8").read()
    for m in re.finditer(r"(?:<!-- example: (.+?) -->\n)?```json\n(.*?)```", text, re.S):
        line = text[:m.start()].count("\n") + 1
        what, body = m.group(1), m.group(2)
        check(what is not None, "%s:%d: the example says which topic it shows (<!-- example: TOPIC -->)" % (doc, line))
        if what is None:
            continue
        what, shortened = re.subn(r", shortened$", "", what)
        try:
            payloads = [json.loads(body)]
        except ValueError:
            payloads = [json.loads(x) for x in body.splitlines() if x.strip()]
        for p in payloads:
            n_examples += 1
            if what == "plan file":
                import jsonschema
                errors = [e.message for e in jsonschema.Draft202012Validator(plan_schema).iter_errors(p)]
            elif what.startswith("bridge/request/"):
                errors = [] if isinstance(p, dict) else ["not an object"]
            else:
                errors = contract.faults(topic_of(what), json.dumps(p).encode())
                if shortened:
                    errors = [e for e in errors if not re.search(r"rule \S*required\)$", e)]
            check(not errors, "%s:%d: the %s example conforms %s" % (doc, line, what, errors or ""))
check(n_examples >= 10, "the guides hold %d examples" % n_examples)

# 3. Strict enough to fail: each broken message is refused, naming the field and the rule.
state = json.loads(re.search(r"<!-- example: pens/<pen>/state -->\n```json\n(.*?)```",
                             open(os.path.join(SRC, "docs", "mqtt-api.md"), encoding="utf-8").read(), re.S).group(1))
alert = dict(state["open_alerts"][0], pen=PEN)
batch = json.loads(re.search(r"<!-- example: pens/<pen>/telemetry -->\n```json\n(.*?)```",
                             open(os.path.join(SRC, "docs", "mqtt-api.md"), encoding="utf-8").read(), re.S).group(1))


def broken(payload, path, change):
    p = copy.deepcopy(payload)
    obj = p
    for key in path[:-1]:
        obj = obj[key]
    change(obj, path[-1])
    return p


def setter(value):
    def f(obj, key):
        obj[key] = value
    return f


def deleter(obj, key):
    del obj[key]


cases = [
    ("pens/<pen>/state", state, ["firmware_build"], setter("x"), "$", ("additionalProperties", "unevaluatedProperties")),
    ("pens/<pen>/state", state, ["battery"], setter(101), "$.battery", ("maximum",)),
    ("pens/<pen>/state", state, ["link"], setter("up"), "$.link", ("enum",)),
    ("pens/<pen>/state", state, ["t"], setter("24/11/2026 10:00"), "$.t", ("format",)),
    ("pens/<pen>/alert", alert, ["rule"], setter("depth_too_deep"), "$.rule", ("enum",)),
    ("pens/<pen>/alert", alert, ["severity"], setter("fatal"), "$.severity", ("enum",)),
    ("pens/<pen>/alert", alert, ["area"], setter("ear"), "$.area", ("enum",)),
    ("pens/<pen>/alert", alert, ["state"], setter("open"), "$.state", ("enum",)),
    ("pens/<pen>/telemetry", batch, ["records", 0, "seq"], deleter, "$.records[0]", ("required",)),
]
for topic, payload, path, change, where, rules in cases:
    faults = contract.problems(topic_of(topic), json.dumps(broken(payload, path, change)).encode())
    named = [f for f in faults if f.startswith(topic_of(topic) + ": " + where + ":")
             and any(re.search(r"rule \S*%s\)" % r, f) for r in rules)]
    check(named, "%s with %s changed is refused at %s by %s: %s" % (topic, path, where, "/".join(rules), faults))

print("%d checks failed" % len(failures) if failures else "every check passed")
sys.exit(1 if failures else 0)
