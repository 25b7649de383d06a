#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fails when the layers of gateway/ include each other in a cycle, or a layer includes one above it.

The layers (README, "Source layout"): front-ends (dbus, mqtt/requests) -> hub -> ble, mqtt, store,
core; mqtt -> store -> core; ble -> core (and proto/). A file may include headers of its own folder
and of the folders its folder reaches through these edges, nothing else: an include that points
upward or sideways (mqtt -> ble, say), or an include cycle between folders, is an error naming the
file and the header.
"""
import os
import re
import sys
from collections import defaultdict

# folder -> the folders it may include directly; what those reach is allowed too
DEPENDS = {"core": [], "store": ["core"], "ble": ["core"], "mqtt": ["store"], "hub": ["ble", "mqtt", "store"],
           "dbus": ["hub"], "mqtt/requests": ["hub"], "": ["dbus", "mqtt/requests"], "ctl": ["mqtt"]}


def below(folder):
    out = set()
    for d in DEPENDS.get(folder, []):
        out |= {d} | below(d)
    return out

top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
gw = os.path.join(top, "gateway")
where = {}
for d, _, fs in os.walk(gw):
    for f in fs:
        if f.endswith((".c", ".h")):
            where[f] = os.path.relpath(d, gw).replace(os.sep, "/").replace(".", "")
errors = []
edges = defaultdict(set)
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
for name, folder in sorted(where.items()):
    text = open(os.path.join(gw, folder, name), errors="replace").read()
    for h in inc.findall(text):
        target = where.get(os.path.basename(h))
        if target is None or target == folder:
            continue
        edges[folder].add(target)
        if target not in below(folder):
            errors.append("gateway/%s/%s includes %s (gateway/%s): a layer may only include layers below it"
                          % (folder, name, h, target))


def reaches(a, b, seen=()):
    return any(n == b or (n not in seen and reaches(n, b, seen + (n,))) for n in edges[a])


for a in sorted(edges):
    if reaches(a, a):
        errors.append("include cycle through gateway/%s" % a)
for e in errors:
    print("layers:", e)
print("layers: %d folders, %d errors" % (len(set(where.values())), len(errors)))
sys.exit(1 if errors else 0)
