#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Turns a program's GOption --help text into a man page, so that the man page never drifts from the program.
"""usage: help2man.py HELP_TXT OUT_MAN NAME SECTION VERSION DESCRIPTION"""
import datetime
import os
import sys
import time


def roff_escape(line):
    """Escape what roff would read as requests or escapes."""
    line = line.replace('\\', '\\e')
    if line.startswith(('.', "'")):
        line = '\\&' + line
    return line.replace('-', '\\-')


def convert(help_text, name, section, version, description):
    # GOption prints "[OPTION?]" for "[OPTION…]" when the program runs without a UTF-8 locale.
    lines = help_text.replace('[OPTION?]', '[OPTION...]').rstrip('\n').split('\n')
    synopsis = name + ' [OPTION...]'
    body = lines
    for i, line in enumerate(lines):
        if not line.strip().lower().startswith('usage:'):
            continue
        # "Usage: prog ARGS" on one line, or GOption's "Usage:" then "  prog [OPTION…] - summary".
        rest = line.split(':', 1)[1].strip()
        used = 1
        if not rest and i + 1 < len(lines):
            rest, used = lines[i + 1].strip(), 2
        synopsis = rest.split(' - ', 1)[0] or synopsis
        body = lines[:i] + lines[i + used:]
        break
    # SOURCE_DATE_EPOCH (set by dpkg-buildpackage) keeps package builds reproducible.
    epoch = os.environ.get('SOURCE_DATE_EPOCH')
    stamp = datetime.datetime.fromtimestamp(int(epoch) if epoch else time.time(), datetime.timezone.utc)
    out = [
        '.TH %s %s "%s" "needlegate %s" "needlegate"' % (name.upper(), section, stamp.strftime('%Y-%m-%d'),
                                                          version),
        '.SH NAME',
        '%s \\- %s' % (name, description),
        '.SH SYNOPSIS',
        '.B ' + roff_escape(synopsis),
        '.SH DESCRIPTION',
        'The text below is what',
        '.B %s \\-\\-help' % name,
        'prints.',
        '.PP',
        '.nf',
    ]
    while body and not body[0].strip():
        body.pop(0)
    out += [roff_escape(l) for l in body]
    out += ['.fi', '.SH SEE ALSO', '/usr/share/doc/needlegate/README.md', '']
    return '\n'.join(out)


def main(argv):
    if len(argv) != 7:
        sys.exit(__doc__)
    help_txt, out_man, name, section, version, description = argv[1:]
    with open(help_txt, encoding='utf-8') as f:
        text = f.read()
    if not text.strip():
        sys.exit('%s: %s --help printed nothing' % (help_txt, name))
    with open(out_man, 'w', encoding='utf-8') as f:
        f.write(convert(text, name, section, version, description))


if __name__ == '__main__':
    main(sys.argv)
