# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one check of a program's output for sanitizer reports, GLib criticals and failed assertions.

UBSan reports without failing the process, LeakSanitizer only at exit and GLib criticals not at
all: a test whose program printed one fails even when the program exited 0.
"""

from .core import HarnessError

MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "-CRITICAL", "g_assert")


def reports(text):
    """The marks of a report that @text holds (an empty list when it is clean)."""
    return [m for m in MARKS if m in text]


def check_clean(name, text):
    """HarnessError naming @name when @text holds a report."""
    found = reports(text)
    if found:
        raise HarnessError(f"{name}: {found} in its output:\n{text[-8000:]}")
