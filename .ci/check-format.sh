#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks that the C sources follow the committed .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror
