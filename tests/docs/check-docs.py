#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The documentation a user reads, checked as a user would: the README fits on a few screens and
links guides that exist; each man page renders with `man -l` without a warning; needlegated(8)
has FILES, SIGNALS, EXIT STATUS and ENVIRONMENT and every option of `needlegated --help`;
needlegated.conf(5) every group and key of the example configuration; needlectl(1) every
command of `needlectl --help`; needle-pensim(1) every option of its --help.

usage: check-docs.py SOURCE_ROOT MAN_DIR NEEDLEGATED NEEDLECTL NEEDLE_PENSIM"""
import os
import re
import subprocess
import sys

root, man_dir, needlegated, needlectl, pensim = sys.argv[1:6]
problems = []


def check(ok, what):
    print(("ok      " if ok else "MISSING ") + what)
    if not ok:
        problems.append(what)


def render(page):
    """The page as `man -l` shows it (plain text), and groff's warnings."""
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", os.path.join(man_dir, page)],
                       capture_output=True, text=True, env=env, timeout=60)
    # man's own bold/underline by overstriking, if any, removed
    return re.sub(r".\x08", "", p.stdout), p.stderr.strip(), p.returncode


def help_options(program):
    text = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, LC_ALL="C.UTF-8")).stdout
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", text)))


with open(os.path.join(root, "README.md")) as f:
    readme = f.read()
n = readme.count("\n")
check(n <= 200, "README.md is %d lines (at most 200)" % n)
for link in sorted(set(re.findall(r"\]\((docs/[^)#]+)", readme))):
    check(os.path.exists(os.path.join(root, link)), "README links %s, which exists" % link)

pages = {"needlegated.8": needlegated, "needlegated.conf.5": None, "needlectl.1": needlectl,
         "needle-pensim.1": pensim}
text = {}
for page in pages:
    out, warnings, code = render(page)
    check(code == 0 and "NAME" in out and "SYNOPSIS" in out, "man -l %s renders (NAME, SYNOPSIS)" % page)
    check(not warnings, "man -l %s: no warning%s" % (page, (": " + warnings) if warnings else ""))
    text[page] = out

for section in ("OPTIONS", "FILES", "SIGNALS", "EXIT STATUS", "ENVIRONMENT"):
    check(re.search(r"^%s$" % section, text["needlegated.8"], re.M) is not None, "needlegated(8) has %s" % section)
for page, program in (("needlegated.8", needlegated), ("needle-pensim.1", pensim)):
    for option in help_options(program):
        check(option in text[page], "%s names %s of its --help" % (page, option))

with open(os.path.join(root, "deploy", "needlegated.conf")) as f:
    conf = f.read()
groups = re.findall(r"^\[(\w+)\]$", conf, re.M)
keys = re.findall(r"^#(\w+)=", conf, re.M)
check(len(groups) == 3 and len(keys) > 20, "the example configuration has its groups and keys")
for group in groups:
    check("[%s]" % group in text["needlegated.conf.5"].lower(), "needlegated.conf(5) has [%s]" % group)
for key in keys:
    check(re.search(r"(?<![\w])%s(?![\w])" % key, text["needlegated.conf.5"]) is not None,
          "needlegated.conf(5) names %s" % key)

ctl_help = subprocess.run([needlectl, "--help"], capture_output=True, text=True, timeout=30).stdout
commands = re.findall(r"^  ([a-z][a-z-]+) +\S", ctl_help.split("Commands:")[1].split("Options:")[0], re.M)
check(len(commands) >= 10, "needlectl --help lists its commands (%d)" % len(commands))
for command in commands:
    check(re.search(r"^       %s\b" % re.escape(command), text["needlectl.1"], re.M) is not None,
          "needlectl(1) describes %s" % command)

if problems:
    print("%d problems" % len(problems))
    sys.exit(1)
